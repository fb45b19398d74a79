//! Many clients, rude clients, slow clients: 200 concurrent sessions each
//! transferring their own file intact; uploads interrupted by a reset, an
//! `ABOR` or a killed client process leave the previous file byte-identical
//! and nothing else behind; a slow reader does not stall others; sessions
//! beyond `max_sessions` get `421`; idle sessions time out with `421`;
//! shutdown says `421` to everyone.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a panic is how a test fails"
)]

use std::fs;
use std::io::Read;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use ftpsh_tests::{
    Options, PASSWORD, RawControl, SeededReader, TestServer, USER, assert_file_is_seeded,
    compare_streams, connect_suppaftp, raise_fd_limit, reply_code, require_tool, seeded_bytes,
    wait_until, write_seeded,
};
use socket2::SockRef;
use suppaftp::FtpError;

const SESSIONS: usize = 200;

#[test]
fn two_hundred_concurrent_sessions_each_transfer_their_own_file() {
    // Both ends of ~5 sockets per session live in this process.
    let limit = raise_fd_limit(8192);
    assert!(
        limit >= (SESSIONS * 6) as u64,
        "open-file limit {limit} too low for {SESSIONS} sessions; raise `ulimit -n`"
    );
    let srv = TestServer::with(Options {
        max_sessions: SESSIONS + 50,
        ..Options::default()
    });
    let addr = srv.addr();
    let logged_in = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicBool::new(false));

    let threads: Vec<_> = (0..SESSIONS)
        .map(|i| {
            let logged_in = logged_in.clone();
            let failed = failed.clone();
            thread::Builder::new()
                .name(format!("session-{i}"))
                .stack_size(256 * 1024)
                .spawn(move || -> Result<(), String> {
                    let run = || -> Result<(), String> {
                        let mut ftp =
                            connect_suppaftp(addr).map_err(|e| format!("connect: {e}"))?;
                        ftp.login(USER, PASSWORD)
                            .map_err(|e| format!("login: {e}"))?;
                        ftp.transfer_type(suppaftp::types::FileType::Binary)
                            .map_err(|e| format!("TYPE: {e}"))?;
                        // Hold every session open at once before any transfer,
                        // so the 200 really are concurrent.
                        logged_in.fetch_add(1, Ordering::SeqCst);
                        let all_in = wait_until(Duration::from_secs(120), || {
                            logged_in.load(Ordering::SeqCst) == SESSIONS
                                || failed.load(Ordering::SeqCst)
                        });
                        if !all_in || failed.load(Ordering::SeqCst) {
                            return Err("not all sessions logged in".into());
                        }
                        let seed = 1000 + i as u64;
                        let len = 256 * 1024 + (i as u64) * 1031;
                        let name = format!("session-{i}.bin");
                        ftp.put_file(&name, &mut SeededReader::new(seed, len))
                            .map_err(|e| format!("STOR: {e}"))?;
                        let n = ftp
                            .retr(&name, |s| {
                                compare_streams(s, SeededReader::new(seed, len)).map_err(|e| {
                                    FtpError::ConnectionError(std::io::Error::other(e))
                                })
                            })
                            .map_err(|e| format!("RETR: {e}"))?;
                        if n != len {
                            return Err(format!("RETR gave {n} bytes, want {len}"));
                        }
                        ftp.quit().map_err(|e| format!("QUIT: {e}"))?;
                        Ok(())
                    };
                    let r = run();
                    if r.is_err() {
                        failed.store(true, Ordering::SeqCst);
                    }
                    r.map_err(|e| format!("session {i}: {e}"))
                })
                .unwrap()
        })
        .collect();
    let errors: Vec<String> = threads
        .into_iter()
        .filter_map(|t| t.join().unwrap().err())
        .collect();
    assert!(
        errors.is_empty(),
        "{} sessions failed: {errors:#?}",
        errors.len()
    );

    for i in 0..SESSIONS {
        assert_file_is_seeded(
            &srv.path(&format!("session-{i}.bin")),
            1000 + i as u64,
            256 * 1024 + (i as u64) * 1031,
        );
    }
    assert_eq!(srv.entries("").len(), SESSIONS);
}

/// The previous content of the target in the interrupted-upload tests.
const OLD_SEED: u64 = 501;
const OLD_LEN: u64 = (1 << 20) + 3;
/// What the interrupted uploads try to write instead (never completely).
const NEW_SEED: u64 = 502;
const NEW_LEN: u64 = 64 << 20;

/// Checks, for a while, that the interrupted upload never shows: the old
/// file stays byte-identical and no other entry appears. Polling bounds the
/// wait for a late (wrong) commit; it asserts nothing about timing.
fn assert_previous_file_survives(srv: &TestServer) {
    let mut rounds = 0;
    wait_until(Duration::from_secs(3), || {
        rounds += 1;
        assert_eq!(
            srv.entries(""),
            ["keep.bin"],
            "stray file after the interrupted upload"
        );
        false
    });
    assert!(rounds > 1);
    let len = fs::metadata(srv.path("keep.bin")).unwrap().len();
    assert_eq!(
        len, OLD_LEN,
        "the interrupted upload replaced keep.bin: {len} bytes now, {OLD_LEN} before"
    );
    assert_file_is_seeded(&srv.path("keep.bin"), OLD_SEED, OLD_LEN);
    // And the server still serves it, from a new session.
    let mut ftp = srv.login();
    assert_eq!(ftp.size("keep.bin").unwrap() as u64, OLD_LEN);
    let n = ftp
        .retr("keep.bin", |s| {
            compare_streams(s, SeededReader::new(OLD_SEED, OLD_LEN))
                .map_err(|e| FtpError::ConnectionError(std::io::Error::other(e)))
        })
        .unwrap();
    assert_eq!(n, OLD_LEN);
}

/// Starts `STOR keep.bin` on a raw session and sends `bytes` of new content.
fn start_stor(srv: &TestServer, bytes: u64) -> (RawControl, TcpStream) {
    let mut c = RawControl::login(srv.addr(), USER, PASSWORD);
    c.cmd("TYPE I", 200);
    let mut data = c.epsv();
    c.send("STOR keep.bin");
    let r = c.reply();
    assert!(r.code == 150 || r.code == 125, "STOR: {:?}", r.text);
    let mut src = SeededReader::new(NEW_SEED, bytes);
    std::io::copy(&mut src, &mut data).unwrap();
    (c, data)
}

#[test]
fn upload_reset_mid_transfer_leaves_the_previous_file() {
    let srv = TestServer::start();
    write_seeded(&srv.path("keep.bin"), OLD_SEED, OLD_LEN);
    let (c, data) = start_stor(&srv, 5 << 20);
    // SO_LINGER 0: close() sends RST on both connections, as when a client
    // host vanishes.
    SockRef::from(&data)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    SockRef::from(c.stream())
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(data);
    drop(c);
    assert_previous_file_survives(&srv);
}

#[test]
fn data_reset_with_control_open_gets_426_and_leaves_the_previous_file() {
    let srv = TestServer::start();
    write_seeded(&srv.path("keep.bin"), OLD_SEED, OLD_LEN);
    let (mut c, data) = start_stor(&srv, 3 << 20);
    SockRef::from(&data)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(data);
    // A reset data connection is a failed transfer (RFC 959 §4.2: 426).
    let r = c.reply();
    assert!(
        r.code == 426 || r.code == 451,
        "after a reset: {:?}",
        r.text
    );
    c.cmd("NOOP", 200);
    drop(c);
    assert_previous_file_survives(&srv);
}

#[test]
fn abor_mid_upload_leaves_the_previous_file() {
    let srv = TestServer::start();
    write_seeded(&srv.path("keep.bin"), OLD_SEED, OLD_LEN);
    let (mut c, data) = start_stor(&srv, 2 << 20);
    // ABOR while the data connection is still open (RFC 959 §4.1.3):
    // 426 for the aborted transfer then 226, or just 226.
    c.send("ABOR");
    let r = c.reply();
    if r.code == 426 {
        c.expect(226);
    } else {
        assert_eq!(r.code, 226, "ABOR: {:?}", r.text);
    }
    drop(data);
    c.cmd("NOOP", 200);
    c.cmd("QUIT", 221);
    assert_previous_file_survives(&srv);
}

#[test]
fn killed_curl_mid_upload_leaves_the_previous_file() {
    let curl = require_tool("curl");
    let srv = TestServer::start();
    write_seeded(&srv.path("keep.bin"), OLD_SEED, OLD_LEN);
    let work = tempfile::tempdir().unwrap();
    let big = work.path().join("new.bin");
    write_seeded(&big, NEW_SEED, NEW_LEN);
    let mut child = Command::new(curl)
        .args(["-sS", "--limit-rate", "2M", "-T"])
        .arg(&big)
        .arg(srv.url("keep.bin"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until curl is well into the upload: it has read more than 1 MiB
    // of the file (/proc/PID/io `rchar`; socket sends are not in `wchar`)
    // and, rate-limited, sends what it reads.
    let pid = child.id();
    let started = wait_until(Duration::from_secs(60), || {
        fs::read_to_string(format!("/proc/{pid}/io"))
            .ok()
            .and_then(|io| {
                io.lines()
                    .find_map(|l| l.strip_prefix("rchar: ").map(|v| v.trim().parse::<u64>()))
            })
            .and_then(Result::ok)
            .is_some_and(|w| w > 1 << 20)
    });
    // SIGKILL by PID: the client dies without a word on the control
    // connection.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(started, "curl did not start uploading");
    assert_previous_file_survives(&srv);
}

#[test]
fn slow_reader_does_not_stall_other_sessions() {
    let srv = TestServer::start();
    write_seeded(&srv.path("big.bin"), 61, 64 << 20);
    fs::write(srv.path("small.txt"), b"small").unwrap();
    // A session whose data connection is never read: the daemon's send
    // buffer fills and stays full.
    let mut slow = RawControl::login(srv.addr(), USER, PASSWORD);
    let stalled = slow.epsv();
    slow.send("RETR big.bin");
    let r = slow.reply();
    assert!(r.code == 150 || r.code == 125, "{:?}", r.text);

    let mut ftp = srv.login();
    for i in 0..20 {
        let name = format!("f{i}.bin");
        let content = seeded_bytes(70 + i, 100_000);
        ftp.put_file(&name, &mut &content[..]).unwrap();
        assert!(ftp.retr_as_buffer(&name).unwrap().into_inner() == content);
        assert_eq!(ftp.list(None).unwrap().len() as u64, 3 + i);
    }
    // The stalled transfer itself is still intact once read.
    let n = compare_streams(&stalled, SeededReader::new(61, 64 << 20)).unwrap();
    assert_eq!(n, 64 << 20);
    slow.expect(226);
}

#[test]
fn sessions_beyond_max_sessions_get_421() {
    let max = 3;
    let srv = TestServer::with(Options {
        max_sessions: max,
        ..Options::default()
    });
    let mut held: Vec<RawControl> = (0..max)
        .map(|_| RawControl::login(srv.addr(), USER, PASSWORD))
        .collect();
    for _ in 0..3 {
        let mut extra = RawControl::connect(srv.addr());
        let r = extra.reply();
        assert_eq!(
            r.code,
            421,
            "session {} of max {max}: {:?}",
            max + 1,
            r.text
        );
        // And the connection is closed after the 421.
        assert!(
            extra.try_reply().is_err(),
            "connection stayed open after 421"
        );
    }
    // Through a real client: the greeting is refused.
    let err = connect_suppaftp(srv.addr())
        .err()
        .expect("connected beyond max");
    assert_eq!(reply_code(&err), Some(421), "{err}");
    // The held sessions still work.
    for c in &mut held {
        c.cmd("PWD", 257);
    }
    // One leaves; a slot frees up (once the daemon has seen the close).
    let mut first = held.remove(0);
    first.cmd("QUIT", 221);
    drop(first);
    let freed = wait_until(Duration::from_secs(20), || {
        let mut c = RawControl::connect(srv.addr());
        c.try_reply().is_ok_and(|r| r.code == 220)
    });
    assert!(freed, "no slot freed after a QUIT");
}

#[test]
fn idle_session_times_out_with_421() {
    let srv = TestServer::with(Options {
        idle_timeout: Duration::from_secs(1),
        ..Options::default()
    });
    let mut c = RawControl::login(srv.addr(), USER, PASSWORD);
    // Say nothing; the daemon ends the session (RFC 959: 421).
    let r = c.reply();
    assert_eq!(r.code, 421, "{:?}", r.text);
    assert!(
        c.try_reply().is_err(),
        "connection stayed open after the idle 421"
    );
    // New sessions are unaffected.
    let mut ftp = srv.login();
    assert_eq!(ftp.pwd().unwrap(), "/");
}

#[test]
fn shutdown_says_421_to_every_session() {
    let srv = TestServer::start();
    let mut a = RawControl::login(srv.addr(), USER, PASSWORD);
    let mut b = RawControl::connect(srv.addr());
    b.expect(220);
    let addr = srv.addr();
    srv.shutdown();
    assert_eq!(a.reply().code, 421);
    assert_eq!(b.reply().code, 421);
    assert!(a.try_reply().is_err());
    // The listener is gone too.
    let refused = TcpStream::connect(addr).map_or(true, |mut s| {
        let mut buf = [0u8; 64];
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.read(&mut buf).map_or(true, |n| n == 0)
    });
    assert!(refused, "the listener still accepts after shutdown");
}

#[test]
fn abrupt_closes_before_login_do_not_disturb_the_daemon() {
    let srv = TestServer::start();
    // Connections that close at every early stage.
    for stage in 0..4 {
        let mut c = RawControl::connect(srv.addr());
        if stage > 0 {
            c.expect(220);
        }
        if stage > 1 {
            c.send(&format!("USER {USER}"));
        }
        if stage > 2 {
            c.send_raw(b"PASS sec");
        }
        drop(c);
    }
    let mut ftp = srv.login();
    assert_eq!(ftp.pwd().unwrap(), "/");
}
