//! Transfers whose storage side runs on a thread of its own (object-store
//! reads and uploads, see the daemon's `bridge` module), driven through
//! real sockets: the test commands GETS/GETX (a slow reader) and PUTS (a
//! slow, blocking sink) stand in for a store.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Client, pattern, read_all, start};

#[test]
fn slow_reader_sends_the_whole_file_while_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let content = pattern(6 * 1024 * 1024 + 5);
    std::fs::write(dir.path().join("big.bin"), &content).unwrap();
    let server = start(dir.path(), |_| {});
    let mut c = Client::login(server.local_addr());
    let mut other = Client::login(server.local_addr());
    let data = c.pasv();
    // GETW's reader waits, like a store that does not answer, until
    // `release` exists; the test creates it only once another session was
    // served. A loop waiting for the reader would never answer that NOOP
    // (the client's read times out and the test fails).
    assert_eq!(c.cmd("GETW big.bin").0, 150);
    assert_eq!(other.cmd("NOOP").0, 200);
    std::fs::write(dir.path().join("release"), b"").unwrap();
    assert!(read_all(data) == content, "file differs");
    assert_eq!(c.reply().0, 226);
}

#[test]
fn reader_error_is_a_451_not_a_complete_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.bin"), pattern(300_000)).unwrap();
    let server = start(dir.path(), |_| {});
    let mut c = Client::login(server.local_addr());
    let data = c.pasv();
    assert_eq!(c.cmd("GETX f.bin").0, 150);
    let got = read_all(data);
    assert!(got.len() <= 300_000);
    let (code, text) = c.reply();
    assert_eq!(code, 451, "{text}");
    assert!(text.contains("reset"), "{text}");
    assert_eq!(c.cmd("NOOP").0, 200);
}

#[test]
fn slow_sink_receives_everything_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {});
    let mut c = Client::login(server.local_addr());
    let content = pattern(9 * 1024 * 1024 + 11);
    let mut data = c.pasv();
    assert_eq!(c.cmd("PUTS up.bin").0, 150);
    for chunk in content.chunks(64 * 1024) {
        data.write_all(chunk).unwrap();
    }
    drop(data);
    let (code, text) = c.reply();
    assert_eq!(code, 226, "{text}");
    assert!(std::fs::read(dir.path().join("up.bin")).unwrap() == content);
}

#[test]
fn aborted_and_reset_bridged_uploads_leave_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keep.txt"), b"old contents").unwrap();
    let server = start(dir.path(), |_| {});
    let mut c = Client::login(server.local_addr());
    // ABOR in the middle.
    let data = c.pasv();
    assert_eq!(c.cmd("PUTS keep.txt").0, 150);
    (&data).write_all(&pattern(2_000_000)).unwrap();
    c.send(b"ABOR\r\n");
    assert_eq!(c.reply().0, 426);
    assert_eq!(c.reply().0, 226);
    // A reset data connection.
    let data = c.pasv();
    assert_eq!(c.cmd("PUTS keep.txt").0, 150);
    (&data).write_all(&pattern(1_000_000)).unwrap();
    socket2::SockRef::from(&data)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(data);
    assert_eq!(c.reply().0, 426);
    // The writer threads drop their sinks uncommitted: the temp files go.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_dir(dir.path()).unwrap().count() != 1 {
        assert!(Instant::now() < deadline, "a temp file stayed");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        std::fs::read(dir.path().join("keep.txt")).unwrap(),
        b"old contents"
    );
    assert_eq!(c.cmd("NOOP").0, 200);
}

#[test]
fn a_client_that_reads_nothing_does_not_hold_the_loop() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("big.bin"), pattern(20 * 1024 * 1024)).unwrap();
    let server = start(dir.path(), |_| {});
    let mut c = Client::login(server.local_addr());
    let data: TcpStream = c.pasv();
    assert_eq!(c.cmd("GETS big.bin").0, 150);
    // The reader thread fills the pipe and waits; the loop serves others.
    std::thread::sleep(Duration::from_millis(300));
    let mut other = Client::login(server.local_addr());
    assert_eq!(other.cmd("NOOP").0, 200);
    c.send(b"ABOR\r\n");
    assert_eq!(c.reply().0, 426);
    assert_eq!(c.reply().0, 226);
    let mut rest = Vec::new();
    let _ = (&data).read_to_end(&mut rest);
    assert!(rest.len() < 20 * 1024 * 1024);
}
