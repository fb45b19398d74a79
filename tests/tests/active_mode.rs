//! Active mode (RFC 959 §4.1.2 PORT, RFC 2428 §2 EPRT) with real clients:
//! curl with `-P 127.0.0.1 --disable-eprt` (PORT) and `--ftp-port -` (EPRT),
//! Python ftplib with `set_pasv(False)`, lftp with `ftp:passive-mode off`;
//! every transfer byte-identical. And the bounce protection of RFC 2577 §3:
//! a PORT/EPRT naming another address or a privileged port is refused and
//! the listener there sees no connection.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a panic is how a test fails"
)]

use std::fs;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use ftpsh_tests::{
    IO_TIMEOUT, PASSWORD, RawControl, TestServer, USER, assert_file_is_seeded, assert_same_file,
    assert_success, require_tool, run_with_timeout, seeded_bytes, write_seeded,
};

fn curl(args: &[&str]) -> Output {
    let curl = require_tool("curl");
    run_with_timeout(
        Command::new(curl)
            .args(["-sS", "-v", "--max-time", "120", "--connect-timeout", "20"])
            .args(args),
        Duration::from_secs(150),
    )
}

/// Runs curl, asserts success and that it sent `verb` (from its `-v` log).
fn curl_with(verb: &str, args: &[&str]) {
    let out = curl(args);
    assert_success(&format!("curl {}", args.join(" ")), &out);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains(&format!("> {verb} ")),
        "curl did not use {verb}:\n{log}"
    );
    assert!(!log.contains("> EPSV") && !log.contains("> PASV"), "{log}");
}

#[test]
fn curl_port_and_eprt_download_and_upload() {
    let srv = TestServer::start();
    let len = (3 << 20) + 5;
    write_seeded(&srv.path("down.bin"), 41, len);
    let local = tempfile::tempdir().unwrap();
    let up = local.path().join("up.bin");
    write_seeded(&up, 42, (2 << 20) + 9);
    let modes: [(&str, &[&str]); 2] = [
        ("PORT", &["-P", "127.0.0.1", "--disable-eprt"]),
        ("EPRT", &["--ftp-port", "-"]),
    ];
    for (i, (verb, flags)) in modes.into_iter().enumerate() {
        let out = local.path().join(format!("down{i}.bin"));
        let url = srv.url("down.bin");
        let mut args = flags.to_vec();
        args.extend(["-o", out.to_str().unwrap(), &url]);
        curl_with(verb, &args);
        assert_file_is_seeded(&out, 41, len);

        let name = format!("up{i}.bin");
        let url = srv.url(&name);
        let mut args = flags.to_vec();
        args.extend(["-T", up.to_str().unwrap(), &url]);
        curl_with(verb, &args);
        assert_same_file(&up, &srv.path(&name));
    }
}

#[test]
fn python_ftplib_active_mode() {
    let python = require_tool("python3");
    let srv = TestServer::start();
    let work = tempfile::tempdir().unwrap();
    write_seeded(&work.path().join("up.bin"), 43, (4 << 20) + 1);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("py/active_mode.py");
    let out = run_with_timeout(
        Command::new(python)
            .arg(&script)
            .arg("127.0.0.1")
            .arg(srv.port().to_string())
            .arg(USER)
            .arg(PASSWORD)
            .arg(work.path()),
        Duration::from_secs(120),
    );
    let stdout = assert_success("python3 active_mode.py", &out);
    assert!(stdout.contains("active mode ok"), "{stdout}");
    assert_same_file(&work.path().join("up.bin"), &srv.path("up.bin"));
    assert_same_file(&work.path().join("up.bin"), &work.path().join("back.bin"));
}

#[test]
fn lftp_active_mode() {
    let lftp = require_tool("lftp");
    let srv = TestServer::start();
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src.bin");
    write_seeded(&src, 44, (3 << 20) + 77);
    let back = work.path().join("back.bin");
    let script = format!(
        "set cmd:fail-exit yes; set ftp:passive-mode off; set ftp:prefer-epsv no; \
         set net:max-retries 1; set net:timeout 10; set xfer:clobber on; \
         debug -o {log} 5; \
         open -u {USER},{PASSWORD} -p {port} 127.0.0.1; \
         put {src} -o lftp.bin; get lftp.bin -o {back}; ls; bye",
        log = work.path().join("lftp.log").display(),
        port = srv.port(),
        src = src.display(),
        back = back.display(),
    );
    let out = run_with_timeout(
        Command::new(lftp)
            .env("HOME", srv.outside())
            .args(["-c", &script]),
        Duration::from_secs(120),
    );
    let listing = assert_success("lftp (active mode)", &out);
    assert!(listing.contains("lftp.bin"), "{listing}");
    assert_same_file(&src, &srv.path("lftp.bin"));
    assert_same_file(&src, &back);
    let log = fs::read_to_string(work.path().join("lftp.log")).unwrap();
    assert!(
        log.contains("---> PORT ") || log.contains("---> EPRT "),
        "lftp did not use active mode:\n{log}"
    );
    assert!(
        !log.contains("---> PASV") && !log.contains("---> EPSV"),
        "{log}"
    );
}

/// A listener that must never see a connection.
struct Trap {
    listener: TcpListener,
}

impl Trap {
    fn bind(addr: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        Ok(Self { listener })
    }

    fn addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap()
    }

    /// Waits a moment (the loop would connect within microseconds), then
    /// asserts that nothing connected.
    fn assert_untouched(&self, what: &str) {
        std::thread::sleep(Duration::from_millis(300));
        match self.listener.accept() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            other => panic!("{what}: the listener at {} saw {other:?}", self.addr()),
        }
    }
}

fn port_arg(addr: SocketAddr) -> String {
    let SocketAddr::V4(v4) = addr else {
        panic!("IPv4 only")
    };
    let [a, b, c, d] = v4.ip().octets();
    let [p1, p2] = v4.port().to_be_bytes();
    format!("{a},{b},{c},{d},{p1},{p2}")
}

#[test]
fn bounce_to_another_address_or_privileged_port_is_refused() {
    let srv = TestServer::start();
    fs::write(srv.path("f.txt"), b"secret").unwrap();
    let mut c = RawControl::login(srv.addr(), USER, PASSWORD);
    // RFC 2577 §3: another host (127.0.0.2 is loopback too, but not the
    // client's address).
    let trap = Trap::bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let r = c.cmd(&format!("PORT {}", port_arg(trap.addr())), 501);
    assert!(r.text.contains("only to the client's own address"), "{r:?}");
    c.cmd(&format!("EPRT |1|127.0.0.2|{}|", trap.addr().port()), 501);
    // Nothing was prepared: the transfer is refused, nothing connects.
    c.cmd("RETR f.txt", 425);
    trap.assert_untouched("PORT/EPRT to another address");

    // A privileged port of the client's own address. Binding one needs
    // root (as in CI); without it the reply is still checked.
    let privileged =
        (1000..1024).find_map(|p| Trap::bind(SocketAddr::from(([127, 0, 0, 1], p))).ok());
    let target = privileged
        .as_ref()
        .map_or_else(|| SocketAddr::from(([127, 0, 0, 1], 1000)), Trap::addr);
    let r = c.cmd(&format!("PORT {}", port_arg(target)), 501);
    assert!(r.text.contains("privileged port"), "{r:?}");
    c.cmd(&format!("EPRT |1|127.0.0.1|{}|", target.port()), 501);
    c.cmd("RETR f.txt", 425);
    if let Some(trap) = privileged {
        trap.assert_untouched("PORT/EPRT to a privileged port");
    }

    // EPSV ALL (RFC 2428 §4) refuses active mode from then on.
    let ok = Trap::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    c.cmd("EPSV ALL", 200);
    c.cmd(&format!("PORT {}", port_arg(ok.addr())), 503);
    c.cmd(&format!("EPRT |1|127.0.0.1|{}|", ok.addr().port()), 503);
    ok.assert_untouched("PORT after EPSV ALL");
}

/// Accepts the server's data connection on `listener` within [`IO_TIMEOUT`].
fn accept(listener: &TcpListener) -> std::net::TcpStream {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                return s;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("no data connection: {e}"),
        }
    }
}

#[test]
fn raw_port_transfers_and_a_refused_connect() {
    let srv = TestServer::start();
    let data = seeded_bytes(45, 200_000);
    fs::write(srv.path("f.bin"), &data).unwrap();
    let mut c = RawControl::login(srv.addr(), USER, PASSWORD);

    // RETR: the data connection comes from the control connection's
    // local address.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    c.cmd(&format!("PORT {}", port_arg(l.local_addr().unwrap())), 200);
    c.send("RETR f.bin");
    let mut d = accept(&l);
    assert_eq!(d.peer_addr().unwrap().ip(), srv.addr().ip());
    c.expect(150);
    let mut got = Vec::new();
    d.read_to_end(&mut got).unwrap();
    c.expect(226);
    assert!(got == data, "RETR over PORT gave other bytes");

    // STOR over EPRT.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    c.cmd(
        &format!("EPRT |1|127.0.0.1|{}|", l.local_addr().unwrap().port()),
        200,
    );
    c.send("STOR up.bin");
    let mut d = accept(&l);
    c.expect(150);
    d.write_all(&data).unwrap();
    drop(d);
    c.expect(226);
    assert!(fs::read(srv.path("up.bin")).unwrap() == data);

    // A port nobody listens on: the 200 comes at once, the transfer
    // reports the failed connection with 425, and the session goes on.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    c.cmd(&format!("PORT {}", port_arg(closed)), 200);
    c.send("LIST");
    let r = c.reply();
    assert_eq!(r.code, 425, "{r:?}");
    c.cmd("NOOP", 200);
    // A data connection is used once (stream mode, RFC 959 §3.4.1).
    c.cmd("LIST", 425);
}

/// EPRT with IPv6 (RFC 2428 §2, net-prt 2): a daemon on `[::1]`, a raw
/// EPRT transfer and curl's `--ftp-port -` (which sends EPRT |2|…).
#[test]
fn eprt_over_ipv6() {
    use ftpsh_core::{ServerConfig, User, Users};
    use ftpsh_daemon::{DaemonConfig, Server};
    let Ok(probe) = TcpListener::bind("[::1]:0") else {
        eprintln!("no IPv6 loopback on this machine: skipped");
        return;
    };
    drop(probe);
    let root = tempfile::tempdir().unwrap();
    let data = seeded_bytes(46, 300_000);
    fs::write(root.path().join("v6.bin"), &data).unwrap();
    let mut users = Users::new();
    users.add(User::from_spec(&format!("{USER}:{PASSWORD}"), root.path().to_path_buf()).unwrap());
    let config = DaemonConfig {
        listen: "[::1]:0".parse().unwrap(),
        server: ServerConfig {
            users,
            ..ServerConfig::default()
        },
        ..DaemonConfig::default()
    };
    let server = Server::bind(config, ftpsh_daemon::builtin_registry())
        .unwrap()
        .spawn()
        .unwrap();
    let addr = server.local_addr();
    let mut c = RawControl::login(addr, USER, PASSWORD);
    // PORT cannot name an IPv6 host; EPRT with IPv4 is the wrong protocol.
    c.cmd("PORT 127,0,0,1,39,16", 501);
    c.cmd("EPRT |1|127.0.0.1|10000|", 522);
    let l = TcpListener::bind("[::1]:0").unwrap();
    c.cmd(
        &format!("EPRT |2|::1|{}|", l.local_addr().unwrap().port()),
        200,
    );
    c.send("RETR v6.bin");
    let mut d = accept(&l);
    assert_eq!(d.peer_addr().unwrap().ip(), addr.ip());
    c.expect(150);
    let mut got = Vec::new();
    d.read_to_end(&mut got).unwrap();
    c.expect(226);
    assert!(got == data, "RETR over EPRT |2| gave other bytes");

    let local = tempfile::tempdir().unwrap();
    let out = local.path().join("v6.bin");
    let url = format!("ftp://{USER}:{PASSWORD}@[::1]:{}/v6.bin", addr.port());
    curl_with(
        "EPRT",
        &["-g", "--ftp-port", "-", "-o", out.to_str().unwrap(), &url],
    );
    assert!(fs::read(&out).unwrap() == data);
    server.shutdown().unwrap();
}

/// A connect that never completes (the client's listen queue is full, so
/// its SYNs go unanswered) ends with the data timeout, as a passive
/// listener nobody connects to does: the transfer gets `425`, the session
/// goes on.
#[test]
fn a_connect_that_hangs_ends_with_the_data_timeout() {
    use socket2::{Domain, Socket, Type};
    let srv = TestServer::with(ftpsh_tests::Options {
        data_timeout: Duration::from_secs(2),
        ..ftpsh_tests::Options::default()
    });
    fs::write(srv.path("f.txt"), b"f").unwrap();
    // A listener that never accepts, with its queue filled.
    let l = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    l.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    l.listen(0).unwrap();
    let addr = l.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        s.set_nonblocking(true).unwrap();
        let _ = s.connect(&addr.into());
        fillers.push(s);
    }
    std::thread::sleep(Duration::from_millis(200));
    let mut c = RawControl::login(srv.addr(), USER, PASSWORD);
    c.cmd(&format!("PORT {}", port_arg(addr)), 200);
    c.send("RETR f.txt");
    let r = c.reply();
    assert_eq!(r.code, 425, "{r:?}");
    assert!(r.text.contains("within 2 s"), "{r:?}");
    c.cmd("NOOP", 200);
    drop(fillers);
}
