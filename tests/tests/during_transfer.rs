//! Commands sent while a transfer is in progress (issue #8 item 9): a
//! client that waits for a reply before reading the data connection must
//! get it at once, not after the data timeout; the next transfer's PASV or
//! EPSV still waits for the current transfer's `226`, in order.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a panic is how a test fails"
)]

use std::io::Read;
use std::time::Duration;

use ftpsh_tests::{
    Options, PASSWORD, RawControl, TestServer, USER, assert_file_is_seeded, write_seeded,
};

/// Larger than any loopback socket buffers, so a RETR nobody reads stays
/// in progress.
const BIG: u64 = 48 << 20;

#[test]
fn commands_are_answered_while_the_client_does_not_read() {
    // A data timeout longer than the client's read timeout (60 s): a reply
    // held until the transfer ends would make `expect` fail, not wait.
    let srv = TestServer::with(Options {
        data_timeout: Duration::from_secs(300),
        ..Options::default()
    });
    write_seeded(&srv.path("big.bin"), 9, BIG);
    let mut c = RawControl::login(srv.addr(), USER, PASSWORD);
    let mut data = c.epsv();
    c.cmd("RETR big.bin", 150);
    // Not reading `data`: the transfer cannot end.
    c.cmd("PWD", 257);
    c.cmd("SIZE big.bin", 213);
    c.cmd("NOOP", 200);
    c.cmd("BOGUS", 500);
    // RFC 959 §4.1.1: a new USER may come at any point; REIN lets the
    // transfer complete. Both are answered now.
    c.cmd(&format!("USER {USER}"), 331);
    c.cmd(&format!("PASS {PASSWORD}"), 230);
    c.cmd("REIN", 220);
    c.cmd(&format!("USER {USER}"), 331);
    c.cmd(&format!("PASS {PASSWORD}"), 230);
    // The next transfer's EPSV waits for this one: its 229 comes after
    // the 226.
    c.send("EPSV");
    let local = tempfile::tempdir().unwrap();
    let path = local.path().join("big.bin");
    let mut out = std::fs::File::create(&path).unwrap();
    std::io::copy(&mut data, &mut out).unwrap();
    drop(out);
    assert_file_is_seeded(&path, 9, BIG);
    c.expect(226);
    c.expect(229);
    // QUIT during the next transfer is answered after it (RFC 959 §4.1.1).
    let port = {
        let r = c.cmd("EPSV", 229);
        r.text
            .split("|||")
            .nth(1)
            .and_then(|s| s.split('|').next())
            .unwrap()
            .parse::<u16>()
            .unwrap()
    };
    let mut data = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.cmd("RETR big.bin", 150);
    c.send("QUIT");
    let mut sink = Vec::new();
    data.read_to_end(&mut sink).unwrap();
    assert_eq!(sink.len() as u64, BIG);
    c.expect(226);
    c.expect(221);
}
