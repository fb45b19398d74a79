//! Plugins inside a real, in-process ftpshd: the built plugin libraries are
//! copied into a temp plugin directory, registered next to the built-in
//! commands with `ftpsh_plugin_host::register_all` (the call `ftpshd
//! --plugin-dir` makes), and driven over real sockets on 127.0.0.1 by a
//! hand-written control-connection client, curl and Python's ftplib.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ftpsh_core::User;
use ftpsh_daemon::{DaemonConfig, Server, ServerHandle, builtin_registry};
use ftpsh_plugin_host::{LoadError, register_all};
use ftpsh_plugin_tests::plugin_dir;
use sha2::{Digest, Sha256};

const HASH: &str = "ftpsh-plugin-hash";
const PANICKY: &str = "ftpsh-plugin-test-panicky";
const WRONG_ABI: &str = "ftpsh-plugin-test-wrong-abi";
const COLLIDE: &str = "ftpsh-plugin-test-collide";

/// A daemon serving `base/root` to `alice`/`secret`, with `plugins`
/// loaded; `base/outside.txt` sits right outside the root.
struct Daemon {
    handle: Option<ServerHandle>,
    base: tempfile::TempDir,
    _plugins: tempfile::TempDir,
}

impl Daemon {
    fn start(plugins: &[&str]) -> Self {
        let base = tempfile::tempdir().unwrap();
        let root = base.path().join("root");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(root.join("hello.txt"), b"hello, world\n").unwrap();
        std::fs::create_dir(root.join("docs")).unwrap();
        std::fs::write(base.path().join("outside.txt"), b"outside the root").unwrap();
        let dir = plugin_dir(plugins);
        let mut config = DaemonConfig::default();
        config
            .server
            .users
            .add(User::from_spec("alice:secret", root).unwrap());
        let mut registry = builtin_registry();
        let log = register_all(&mut registry, dir.path()).unwrap();
        assert_eq!(log.len(), plugins.len(), "{log:?}");
        let handle = Server::bind(config, registry).unwrap().spawn().unwrap();
        Self {
            handle: Some(handle),
            base,
            _plugins: dir,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.handle.as_ref().unwrap().local_addr()
    }

    fn root(&self) -> PathBuf {
        self.base.path().join("root")
    }

    /// A logged-in control connection.
    fn login(&self) -> Ftp {
        let mut ftp = Ftp::connect(self.addr());
        assert_eq!(ftp.cmd("USER alice").0, 331);
        assert_eq!(ftp.cmd("PASS secret").0, 230);
        ftp
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            let _ = h.shutdown();
        }
    }
}

/// A minimal FTP control-connection client (RFC 959 §4.2 reply framing).
struct Ftp {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Ftp {
    fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).unwrap();
        // Bounds a hung test; never asserted on.
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut ftp = Self {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        };
        assert_eq!(ftp.reply().0, 220);
        ftp
    }

    /// One reply: its code and its lines joined by `\n`.
    fn reply(&mut self) -> (u16, String) {
        let mut lines = Vec::new();
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let first = line.trim_end().to_owned();
        assert!(first.len() >= 3, "short reply line {first:?}");
        let code: u16 = first[..3].parse().unwrap();
        lines.push(first.clone());
        if first.as_bytes().get(3) == Some(&b'-') {
            let end = format!("{code} ");
            for _ in 0..10_000 {
                line.clear();
                assert!(
                    self.reader.read_line(&mut line).unwrap() > 0,
                    "EOF in reply"
                );
                let l = line.trim_end().to_owned();
                let done = l.starts_with(&end);
                lines.push(l);
                if done {
                    break;
                }
            }
        }
        (code, lines.join("\n"))
    }

    fn cmd(&mut self, line: &str) -> (u16, String) {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .unwrap();
        self.reply()
    }
}

/// `len` deterministic pseudo-random bytes (xorshift64), so the file is
/// not a repeating pattern a broken chunking could hash correctly by luck.
fn data(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes a 5 MiB + 12345 byte file `big.bin` and returns the expected
/// `213` reply text for `HASH big.bin`.
fn big_file(root: &Path) -> String {
    let bytes = data(5 * 1024 * 1024 + 12345);
    std::fs::write(root.join("big.bin"), &bytes).unwrap();
    format!(
        "213 SHA-256 0-{} {} big.bin",
        bytes.len(),
        sha256_hex(&bytes)
    )
}

#[test]
fn hash_of_a_multi_mib_file_equals_a_local_sha256() {
    let d = Daemon::start(&[HASH]);
    let want = big_file(&d.root());
    let mut ftp = d.login();
    assert_eq!(ftp.cmd("HASH big.bin").1, want);
    assert_eq!(ftp.cmd("CWD docs").0, 250);
    assert_eq!(
        ftp.cmd("HASH ../big.bin").1,
        want.replace(" big.bin", " ../big.bin")
    );
    assert_eq!(ftp.cmd("HASH missing.bin").0, 550);
    assert_eq!(ftp.cmd("HASH /docs").0, 553);

    // Several sessions hashing at once, on the daemon's worker pool.
    let addr = d.addr();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let mut ftp = Ftp::connect(addr);
                ftp.cmd("USER alice");
                ftp.cmd("PASS secret");
                ftp.cmd("HASH big.bin").1
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), want);
    }
}

#[test]
fn hash_cannot_reach_outside_the_root() {
    let d = Daemon::start(&[HASH]);
    std::os::unix::fs::symlink("../outside.txt", d.root().join("link.txt")).unwrap();
    std::os::unix::fs::symlink(d.base.path(), d.root().join("up")).unwrap();
    assert!(d.base.path().join("outside.txt").exists());
    let mut ftp = d.login();
    for line in [
        "HASH ../outside.txt",
        "HASH /../outside.txt",
        "HASH ../../../../../../outside.txt",
        "HASH link.txt",
        "HASH up/outside.txt",
    ] {
        let (code, text) = ftp.cmd(line);
        assert_eq!(code, 550, "{line}: {text}");
        assert!(!text.contains(&sha256_hex(b"outside the root")), "{text}");
    }
}

#[test]
fn a_panicking_plugin_gets_451_and_the_session_keeps_working() {
    let d = Daemon::start(&[HASH, PANICKY]);
    let mut ftp = d.login();
    for _ in 0..3 {
        let (code, text) = ftp.cmd("PANIC");
        assert_eq!(code, 451, "{text}");
        assert_eq!(text, "451 PANIC: plugin panicky failed: it panicked");
        assert_eq!(ftp.cmd("NOOP").0, 200);
        let (code, text) = ftp.cmd("PWD");
        assert_eq!(code, 257, "{text}");
        assert_eq!(ftp.cmd("HASH hello.txt").0, 213);
    }
    assert_eq!(
        ftp.cmd("FAIL"),
        (
            451,
            "451 FAIL: plugin panicky failed: deliberate failure".to_owned()
        )
    );
    // Other sessions were never affected.
    assert_eq!(d.login().cmd("NOOP").0, 200);
}

#[test]
fn feat_and_help_advertise_hash() {
    let d = Daemon::start(&[HASH]);
    let mut ftp = d.login();
    let (code, feat) = ftp.cmd("FEAT");
    assert_eq!(code, 211, "{feat}");
    assert!(feat.lines().any(|l| l == " HASH SHA-256*"), "{feat}");
    let (code, help) = ftp.cmd("HELP");
    assert_eq!(code, 214, "{help}");
    assert!(help.split_whitespace().any(|w| w == "HASH"), "{help}");
    let (code, help) = ftp.cmd("HELP HASH");
    assert_eq!(code, 214, "{help}");
    assert!(help.contains("HASH <SP> pathname"), "{help}");
    // Before login the verb exists but needs a login.
    let mut anon = Ftp::connect(d.addr());
    assert_eq!(anon.cmd("HASH hello.txt").0, 530);
}

#[test]
fn wrong_abi_and_collisions_are_refused_at_start() {
    let dir = plugin_dir(&[WRONG_ABI]);
    let mut registry = builtin_registry();
    let err = register_all(&mut registry, dir.path()).unwrap_err();
    assert!(matches!(err, LoadError::AbiMismatch { .. }), "{err:?}");
    let msg = err.to_string();
    let file = dir.path().join("libftpsh_plugin_test_wrong_abi.so");
    assert!(msg.contains(&file.display().to_string()), "{msg}");
    assert!(
        msg.contains("version 2") && msg.contains("version 1"),
        "{msg}"
    );

    let dir = plugin_dir(&[COLLIDE]);
    let err = register_all(&mut registry, dir.path()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, LoadError::Collision { .. }), "{err:?}");
    assert!(msg.contains("verb LIST"), "{msg}");
    assert!(msg.contains("libftpsh_plugin_test_collide.so"), "{msg}");
}

#[test]
fn curl_quote_hash() {
    let d = Daemon::start(&[HASH]);
    let want = big_file(&d.root());
    let url = format!("ftp://127.0.0.1:{}/hello.txt", d.addr().port());
    let curl = |quote: &str| {
        Command::new("curl")
            .args(["-sS", "-v", "--max-time", "60", "--user", "alice:secret"])
            .args(["-Q", quote, &url])
            .output()
            .expect("curl is installed")
    };
    let out = curl("HASH big.bin");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(out.stdout, b"hello, world\n");
    assert!(
        stderr.lines().any(|l| l.trim_end() == format!("< {want}")),
        "{stderr}"
    );
    // A refused quote command makes curl fail (exit 21, "quote error").
    let out = curl("HASH nothere.bin");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(21), "{stderr}");
    assert!(stderr.contains("< 550 "), "{stderr}");
}

#[test]
fn python_ftplib_sendcmd_hash() {
    let d = Daemon::start(&[HASH, PANICKY]);
    let want = big_file(&d.root());
    let script = r#"
import ftplib, sys
ftp = ftplib.FTP()
ftp.connect("127.0.0.1", int(sys.argv[1]), timeout=60)
ftp.login("alice", "secret")
print(ftp.sendcmd("HASH big.bin"))
try:
    ftp.sendcmd("PANIC")
except ftplib.error_temp as e:
    print("error_temp", e)
print(ftp.sendcmd("NOOP"))
try:
    ftp.sendcmd("HASH nothere.bin")
except ftplib.error_perm as e:
    print("error_perm", e)
print([l.strip() for l in ftp.sendcmd("FEAT").splitlines() if "HASH" in l])
ftp.quit()
"#;
    let out = Command::new("python3")
        .args(["-c", script, &d.addr().port().to_string()])
        .output()
        .expect("python3 is installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], want);
    assert_eq!(
        lines[1],
        "error_temp 451 PANIC: plugin panicky failed: it panicked"
    );
    assert!(lines[2].starts_with("200"), "{stdout}");
    assert_eq!(
        lines[3],
        "error_perm 550 nothere.bin: no such file or directory"
    );
    assert_eq!(lines[4], "['HASH SHA-256*']");
}
