//! FTPS under hostile clients: hundreds of connections that send `AUTH TLS`
//! (or connect to the implicit listener) and then stall do not stop a
//! normal client; a garbage `ClientHello` gets a clean close and the server
//! keeps serving; a stalled handshake is closed after the data timeout, on
//! the control connection and on a data connection alike.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a panic is how a test fails"
)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use ftpsh_tests::ftps::{TlsControl, client_config};
use ftpsh_tests::{IO_TIMEOUT, Options, PASSWORD, RawControl, TestServer, USER, raise_fd_limit};

const FLOOD: usize = 300;

fn tls_server(data_timeout: Duration) -> TestServer {
    TestServer::with(Options {
        tls: true,
        implicit_tls: true,
        max_sessions: 2 * FLOOD + 50,
        data_timeout,
        ..Options::default()
    })
}

/// A normal FTPS session: login, PBSZ, PROT P, a listing over TLS.
fn normal_session(srv: &TestServer) {
    let mut c = TlsControl::connect(srv.addr(), client_config(&srv.cert_path()));
    c.cmd(&format!("USER {USER}"), 331);
    c.cmd(&format!("PASS {PASSWORD}"), 230);
    c.cmd("PBSZ 0", 200);
    c.cmd("PROT P", 200);
    c.cmd("NOOP", 200);
    c.cmd("QUIT", 221);
}

/// Reads until EOF (or error); true when the server closed within `limit`.
fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    s.set_read_timeout(Some(limit)).unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    // Bounded by the deadline: every read waits at most `limit`.
    while start.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
    false
}

#[test]
fn a_handshake_flood_does_not_stop_a_normal_client() {
    let limit = raise_fd_limit(8192);
    assert!(
        limit >= (4 * FLOOD) as u64,
        "open-file limit {limit} too low"
    );
    let srv = tls_server(Duration::from_secs(60));
    let mut stalled = Vec::new();
    for _ in 0..FLOOD {
        let mut c = RawControl::connect(srv.addr());
        c.expect(220);
        c.cmd("AUTH TLS", 234);
        stalled.push(c);
    }
    // Implicit-TLS connections that never send their ClientHello.
    for _ in 0..FLOOD {
        stalled.push(RawControl::connect(srv.implicit_addr()));
    }
    let start = Instant::now();
    normal_session(&srv);
    assert!(start.elapsed() < IO_TIMEOUT);
    drop(stalled);
    normal_session(&srv);
}

#[test]
fn garbage_client_hello_gets_a_clean_close() {
    let srv = tls_server(Duration::from_secs(60));
    let garbage: Vec<u8> = (0..2048u32).map(|i| (i * 7 + 3) as u8).collect();

    let mut c = RawControl::connect(srv.addr());
    c.expect(220);
    c.cmd("AUTH TLS", 234);
    let mut s = c.stream().try_clone().unwrap();
    s.write_all(&garbage).unwrap();
    assert!(
        closed_within(&mut s, Duration::from_secs(20)),
        "explicit: not closed"
    );

    let mut s = TcpStream::connect(srv.implicit_addr()).unwrap();
    s.write_all(b"USER alice\r\n").unwrap();
    assert!(
        closed_within(&mut s, Duration::from_secs(20)),
        "implicit: not closed"
    );

    normal_session(&srv);
}

#[test]
fn a_stalled_handshake_is_closed_after_the_data_timeout() {
    let srv = tls_server(Duration::from_secs(1));
    let mut c = RawControl::connect(srv.addr());
    c.expect(220);
    c.cmd("AUTH TLS", 234);
    let mut s = c.stream().try_clone().unwrap();
    assert!(
        closed_within(&mut s, Duration::from_secs(30)),
        "explicit: not closed"
    );
    let mut s = TcpStream::connect(srv.implicit_addr()).unwrap();
    assert!(
        closed_within(&mut s, Duration::from_secs(30)),
        "implicit: not closed"
    );
    normal_session(&srv);
}

#[test]
fn implicit_tls_serves_the_banner_over_tls() {
    let srv = tls_server(Duration::from_secs(60));
    let socket = TcpStream::connect(srv.implicit_addr()).unwrap();
    let mut c = TlsControl::over(socket, client_config(&srv.cert_path()));
    let banner = c.try_reply().unwrap();
    assert_eq!(banner.code, 220, "{}", banner.text);
    c.cmd("AUTH TLS", 503);
    c.cmd(&format!("USER {USER}"), 331);
    c.cmd(&format!("PASS {PASSWORD}"), 230);
}

/// A `PROT P` session whose data connections come from `data` (a raw TCP
/// socket the test controls): the reply after `150`.
fn retr_over(srv: &TestServer, data: impl FnOnce(&mut TcpStream)) -> ftpsh_tests::RawReply {
    std::fs::write(srv.path("f.txt"), b"file").unwrap();
    let mut c = TlsControl::connect(srv.addr(), client_config(&srv.cert_path()));
    c.cmd(&format!("USER {USER}"), 331);
    c.cmd(&format!("PASS {PASSWORD}"), 230);
    c.cmd("PBSZ 0", 200);
    c.cmd("PROT P", 200);
    let r = c.cmd("EPSV", 229);
    let port: u16 = r
        .text
        .split("|||")
        .nth(1)
        .and_then(|s| s.split('|').next())
        .and_then(|p| p.parse().ok())
        .unwrap();
    let mut socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.cmd("RETR f.txt", 150);
    data(&mut socket);
    let r = c.try_reply().unwrap();
    drop(socket);
    c.cmd("NOOP", 200);
    r
}

#[test]
fn a_data_connection_whose_handshake_stalls_is_aborted_after_the_data_timeout() {
    let srv = tls_server(Duration::from_secs(1));
    // The socket stays open, without a ClientHello, until the reply came.
    let r = retr_over(&srv, |_| {});
    assert_eq!(r.code, 426, "{}", r.text);
}

#[test]
fn garbage_on_a_protected_data_connection_fails_that_transfer_only() {
    let srv = tls_server(Duration::from_secs(60));
    let r = retr_over(&srv, |socket| {
        socket
            .write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5])
            .unwrap();
        let mut buf = Vec::new();
        let _ = socket.read_to_end(&mut buf);
    });
    assert_eq!(r.code, 425, "{}", r.text);
    assert!(r.text.contains("TLS handshake failed"), "{}", r.text);
    normal_session(&srv);
}
