//! The passive-port race in plain FTP (RFC 2577 §5, RFC 4217 §10): a
//! process on the client's host that connects to the session's passive port
//! first must not silently receive a download or supply an upload. The
//! listener stays open until the transfer ends; a second connection aborts
//! the transfer (`425` before it starts, `426` during it, naming the reason)
//! and an upload is never committed. The legitimate client retries.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a panic is how a test fails"
)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use ftpsh_tests::{
    PASSWORD, RawControl, TestServer, USER, assert_file_is_seeded, wait_until, write_seeded,
};

fn epsv_port(c: &mut RawControl) -> SocketAddr {
    let r = c.cmd("EPSV", 229);
    let port: u16 = r
        .text
        .split("|||")
        .nth(1)
        .and_then(|s| s.split('|').next())
        .and_then(|p| p.parse().ok())
        .unwrap();
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Reads everything the server sends on `s` (until it closes).
fn drain(s: &mut TcpStream) -> usize {
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut n = 0;
    let mut buf = [0u8; 65536];
    // Bounded by the server closing (or the read timeout erroring).
    while let Ok(k) = s.read(&mut buf) {
        if k == 0 {
            break;
        }
        n += k;
    }
    n
}

#[test]
fn two_connections_before_retr_refuse_the_transfer() {
    let srv = TestServer::start();
    write_seeded(&srv.path("secret.bin"), 5, 100_000);
    let mut c = RawControl::login(srv.addr(), USER, PASSWORD);
    let port = epsv_port(&mut c);
    let mut thief = TcpStream::connect(port).unwrap();
    let mut client = TcpStream::connect(port).unwrap();
    // Let the server accept both before the command arrives.
    c.cmd("NOOP", 200);
    c.send("RETR secret.bin");
    let r = c.reply();
    assert_eq!(r.code, 425, "{}", r.text);
    assert!(r.text.contains("second connection"), "{}", r.text);
    assert_eq!(drain(&mut thief), 0, "the racing connection got file data");
    assert_eq!(drain(&mut client), 0);
    // The client retries and gets its file.
    let mut data = c.epsv();
    c.cmd("RETR secret.bin", 150);
    assert_eq!(drain(&mut data), 100_000);
    c.expect(226);
}

#[test]
fn a_second_connection_during_retr_aborts_it() {
    let srv = TestServer::start();
    // Large enough that the transfer cannot finish while the first
    // connection does not read.
    write_seeded(&srv.path("big.bin"), 6, 64 << 20);
    let mut c = RawControl::login(srv.addr(), USER, PASSWORD);
    let port = epsv_port(&mut c);
    let thief = TcpStream::connect(port).unwrap();
    c.cmd("RETR big.bin", 150);
    let client = TcpStream::connect(port).unwrap();
    let r = c.reply();
    assert_eq!(r.code, 426, "{}", r.text);
    assert!(r.text.contains("second connection"), "{}", r.text);
    drop((thief, client));
    c.cmd("NOOP", 200);
}

#[test]
fn a_racing_upload_is_never_committed() {
    let srv = TestServer::start();
    write_seeded(&srv.path("target.bin"), 7, 5000);
    let mut c = RawControl::login(srv.addr(), USER, PASSWORD);
    let port = epsv_port(&mut c);
    // The thief connects first and keeps writing its own bytes.
    let mut thief = TcpStream::connect(port).unwrap();
    c.cmd("STOR target.bin", 150);
    thief.write_all(&[b'X'; 64 * 1024]).unwrap();
    let client = TcpStream::connect(port).unwrap();
    let r = c.reply();
    assert_eq!(r.code, 426, "{}", r.text);
    assert!(r.text.contains("second connection"), "{}", r.text);
    drop((thief, client));
    c.cmd("NOOP", 200);
    // The previous content is still there, and no temporary file is left.
    assert_file_is_seeded(&srv.path("target.bin"), 7, 5000);
    assert!(wait_until(Duration::from_secs(10), || srv.entries("")
        == ["target.bin"]));
}
