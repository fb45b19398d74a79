//! A real HAProxy in front of `ftpshd --proxy-protocol`, as a deployment
//! would run it: the control port with `send-proxy` (v1) or
//! `send-proxy-v2`, and the passive port range relayed as plain TCP to the
//! same ports of the daemon. Python's ftplib logs in, uploads and
//! downloads through it from a loopback address of its own (127.0.0.5);
//! the balancer listens on 127.0.0.2 and reaches the daemon, on 127.0.0.1,
//! from 127.0.0.1.

use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use ftpsh_tests::{assert_same_file, assert_success, run_with_timeout, write_seeded};

use super::*;

/// Where HAProxy listens: the balancer's "public" address.
const BALANCER: [u8; 4] = [127, 0, 0, 2];
/// The same, as a host name for URLs.
pub(super) const BALANCER_HOST: &str = "127.0.0.2";
/// Where the FTP client connects from.
pub(super) const CLIENT: &str = "127.0.0.5";
/// Passive ports relayed (one per concurrent session, and some to spare).
const PASSIVE_PORTS: u16 = 12;

/// `haproxy` on PATH (or /usr/sbin, where Debian puts it). Missing: fails
/// under CI (which installs it, .ci/run), skips loudly elsewhere.
fn haproxy() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|d| d.join("haproxy"))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "haproxy is not installed; CI installs it (bash .ci/run), so this test must not be skipped there"
        );
        eprintln!(
            "\n*** SKIPPED: haproxy is not installed (Debian: apt-get install haproxy) ***\n"
        );
    }
    found
}

/// A free port on both 127.0.0.1 and the balancer's address.
fn free_port() -> u16 {
    for _ in 0..20 {
        let l = TcpListener::bind(SocketAddr::from((BALANCER, 0))).unwrap();
        let port = l.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free on both 127.0.0.1 and 127.0.0.2");
}

/// `PASSIVE_PORTS` consecutive ports free on both addresses (checked, not
/// reserved: another process could take one before the daemon does, and
/// the test then fails loudly).
fn free_range() -> u16 {
    for _ in 0..50 {
        let low = free_port();
        let Some(high) = low.checked_add(PASSIVE_PORTS - 1) else {
            continue;
        };
        let free = (low..=high).all(|p| {
            TcpListener::bind(SocketAddr::from((BALANCER, p))).is_ok()
                && TcpListener::bind(("127.0.0.1", p)).is_ok()
        });
        if free {
            return low;
        }
    }
    panic!("no {PASSIVE_PORTS} consecutive free ports");
}

/// A running HAProxy, stopped by its PID on drop.
struct Haproxy {
    child: Child,
    log: PathBuf,
}

impl Haproxy {
    fn start(bin: &Path, dir: &Path, config: &str) -> Self {
        let cfg = dir.join("haproxy.cfg");
        fs::write(&cfg, config).unwrap();
        let log = dir.join("haproxy.log");
        let child = Command::new(bin)
            .arg("-db")
            .arg("-f")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&log).unwrap())
            .stderr(fs::File::create(dir.join("haproxy.err")).unwrap())
            .spawn()
            .unwrap();
        Self { child, log }
    }

    fn output(&self) -> String {
        let err = self.log.with_file_name("haproxy.err");
        format!(
            "{}{}",
            fs::read_to_string(&self.log).unwrap_or_default(),
            fs::read_to_string(err).unwrap_or_default()
        )
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        // By PID: Child::kill signals exactly this process.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// ftpshd behind a running HAProxy.
pub(super) struct Balanced {
    dir: tempfile::TempDir,
    /// The daemon (kept running until dropped).
    _daemon: Ftpshd,
    /// Stopped (by PID) when this is dropped.
    _haproxy: Haproxy,
    /// HAProxy's control-connection port on [`BALANCER`].
    pub(super) front: u16,
}

impl Balanced {
    pub(super) fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn xferlog(&self) -> PathBuf {
        self.dir.path().join("xferlog")
    }

    fn cert(&self) -> PathBuf {
        self.dir.path().join("keycert.pem")
    }

    /// Waits until the transfer log has at least `lines` lines (a transfer
    /// is logged, complete or not, when its final reply is sent).
    pub(super) fn wait_xferlog(&self, lines: usize) {
        let xferlog = self.xferlog();
        assert!(
            wait_until(Duration::from_secs(20), || fs::read_to_string(&xferlog)
                .is_ok_and(|l| l.lines().count() >= lines)),
            "xferlog has not {lines} lines: {:?}",
            fs::read_to_string(&xferlog)
        );
    }

    /// Waits until the transfer log has `lines` lines, all naming [`CLIENT`].
    fn assert_xferlog(&self, lines: usize) {
        let xferlog = self.xferlog();
        assert!(
            wait_until(Duration::from_secs(10), || fs::read_to_string(&xferlog)
                .is_ok_and(|l| l.lines().count() == lines
                    && l.lines().all(|l| l.contains(&format!(" {CLIENT} "))))),
            "xferlog: {:?}",
            fs::read_to_string(&xferlog)
        );
    }
}

/// Starts ftpshd and, in front of it, HAProxy with `send_proxy` to its
/// control listener, or with `implicit` to its implicit-TLS listener (a
/// certificate for 127.0.0.2 is made); `None` when haproxy is missing
/// outside CI.
pub(super) fn behind_haproxy(send_proxy: &str, implicit: bool) -> Option<Balanced> {
    let bin = haproxy()?;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir(&root).unwrap();
    let xferlog = dir.path().join("xferlog");
    let pem = dir.path().join("keycert.pem");
    let low = free_range();
    let range = format!("{low}-{}", low + PASSIVE_PORTS - 1);
    let mut args = vec![
        "--passive-ports".to_owned(),
        range.clone(),
        // No --passive-address 127.0.0.2 here, as a deployment would give:
        // with it the daemon listens on the wildcard address, and on one
        // host that collides with HAProxy's own listeners. ftplib and
        // curl connect to the control connection's host anyway.
        "--xferlog".to_owned(),
        xferlog.to_str().unwrap().to_owned(),
    ];
    if implicit {
        let cert = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.2".to_owned(),
        ])
        .unwrap();
        fs::write(
            &pem,
            format!("{}{}", cert.cert.pem(), cert.signing_key.serialize_pem()),
        )
        .unwrap();
        args.extend(
            [
                "--tls-cert",
                pem.to_str().unwrap(),
                "--implicit-tls-listen",
                "127.0.0.1:0",
            ]
            .map(str::to_owned),
        );
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut d = daemon(&root, &args);
    let port = if implicit {
        let line = d.line_matching(|l| l.starts_with("ftpshd listening for implicit TLS on "));
        let addr: SocketAddr = line.rsplit(' ').next().unwrap().parse().unwrap();
        addr.port()
    } else {
        d.addr.port()
    };
    let front = free_port();
    let config = format!(
        "global\n\
         \x20   maxconn 100\n\
         defaults\n\
         \x20   mode tcp\n\
         \x20   timeout connect 10s\n\
         \x20   timeout client 60s\n\
         \x20   timeout server 60s\n\
         frontend ftp_control\n\
         \x20   bind 127.0.0.2:{front}\n\
         \x20   default_backend ftpshd_control\n\
         backend ftpshd_control\n\
         \x20   server ftpshd 127.0.0.1:{port} {send_proxy} source 127.0.0.1\n\
         frontend ftp_passive\n\
         \x20   bind 127.0.0.2:{range}\n\
         \x20   default_backend ftpshd_passive\n\
         backend ftpshd_passive\n\
         \x20   # no port: the one the client connected to\n\
         \x20   server ftpshd 127.0.0.1 source 127.0.0.1\n",
    );
    let haproxy = Haproxy::start(&bin, dir.path(), &config);
    let front_addr = SocketAddr::from((BALANCER, front));
    let ready = wait_until(Duration::from_secs(30), || {
        let Ok(mut s) = TcpStream::connect_timeout(&front_addr, Duration::from_secs(2)) else {
            return false;
        };
        if implicit {
            // The greeting is behind a handshake: listening is enough.
            return true;
        }
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let mut buf = [0u8; 3];
        s.read_exact(&mut buf).is_ok() && &buf == b"220"
    });
    assert!(ready, "haproxy did not come up: {}", haproxy.output());
    Some(Balanced {
        dir,
        _daemon: d,
        _haproxy: haproxy,
        front,
    })
}

fn ftplib_through_haproxy(send_proxy: &str) {
    let Some(b) = behind_haproxy(send_proxy, false) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    write_seeded(&work.path().join("up.bin"), 12, (1 << 20) + 3);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("py/proxied_session.py");
    let out = run_with_timeout(
        Command::new(ftpsh_tests::require_tool("python3"))
            .arg(&script)
            .arg("127.0.0.2")
            .arg(b.front.to_string())
            .arg(CLIENT)
            .arg("alice")
            .arg("secret")
            .arg(work.path()),
        Duration::from_secs(120),
    );
    let stdout = assert_success("python3 proxied_session.py", &out);
    assert!(stdout.contains("proxied session ok"), "{stdout}");
    // The daemon saw the client's address, not the balancer's.
    assert!(
        stdout.contains(&format!("STAT: connected from {CLIENT}:")),
        "{stdout}"
    );
    assert_same_file(&work.path().join("up.bin"), &b.root().join("up.bin"));
    assert_same_file(&work.path().join("up.bin"), &work.path().join("back.bin"));
    b.assert_xferlog(2);
}

#[test]
fn haproxy_send_proxy_v1_full_session() {
    ftplib_through_haproxy("send-proxy");
}

#[test]
fn haproxy_send_proxy_v2_full_session() {
    ftplib_through_haproxy("send-proxy-v2");
}

#[test]
fn haproxy_send_proxy_v2_implicit_ftps_with_curl() {
    let Some(b) = behind_haproxy("send-proxy-v2", true) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let up = work.path().join("up.bin");
    let back = work.path().join("back.bin");
    write_seeded(&up, 13, (1 << 20) + 5);
    let url = format!("ftps://alice:secret@127.0.0.2:{}/up.bin", b.front);
    let cert = b.cert();
    let common = ["--cacert", cert.to_str().unwrap(), "--interface", CLIENT];
    let out = ftpsh_tests::curl(&[&common[..], &["-T", up.to_str().unwrap(), &url]].concat());
    assert_success("curl upload", &out);
    let out = ftpsh_tests::curl(&[&common[..], &["-o", back.to_str().unwrap(), &url]].concat());
    assert_success("curl download", &out);
    assert_same_file(&up, &b.root().join("up.bin"));
    assert_same_file(&up, &back);
    b.assert_xferlog(2);
}
