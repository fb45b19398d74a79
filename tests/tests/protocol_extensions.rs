//! STOU, MFMT, SITE (and, with them, OPTS MLST) driven by Python's stdlib
//! ftplib: the extensions sync tools and old clients use, checked on the
//! server's disk.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a panic is how a test fails"
)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use ftpsh_tests::{PASSWORD, TestServer, USER, assert_success, require_tool, run_with_timeout};

fn python(script: &str, srv: &TestServer, extra: &[&str]) -> String {
    let python = require_tool("python3");
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("py")
        .join(script);
    let out = run_with_timeout(
        Command::new(python)
            .arg(&path)
            .arg("127.0.0.1")
            .arg(srv.port().to_string())
            .arg(USER)
            .arg(PASSWORD)
            .args(extra),
        Duration::from_secs(180),
    );
    assert_success(&format!("python3 {script}"), &out)
}

#[test]
fn stou_mfmt_and_site_chmod_with_ftplib() {
    let srv = TestServer::start();
    let stdout = python("extensions.py", &srv, &[]);
    let last = stdout.lines().last().unwrap();
    let (first, second) = last.split_once(' ').unwrap();
    assert_eq!(fs::read(srv.path(first)).unwrap(), b"first unique upload\n");
    assert_eq!(
        fs::read(srv.path(second)).unwrap(),
        b"second unique upload\n"
    );
    let meta = fs::metadata(srv.path(first)).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let mtime = meta.modified().unwrap().duration_since(UNIX_EPOCH).unwrap();
    assert_eq!(mtime.as_secs(), 1_026_940_035);
    assert_eq!(srv.entries("").len(), 2, "{:?}", srv.entries(""));
}

/// A text file of about `len` bytes with LF line ends: lines of 0 to 199
/// printable characters, one line of 8000 (ftplib refuses lines over
/// 8192), and a final LF. At 5 MiB, line ends fall on every kind of chunk
/// boundary of the conversion and of the sockets.
fn text_file(len: usize) -> Vec<u8> {
    let noise = ftpsh_tests::seeded_bytes(77, len);
    let mut out = Vec::with_capacity(len + 200_000);
    let mut i = 0;
    while out.len() < len {
        let line = usize::from(noise[i % noise.len()]) % 200;
        for k in 0..line {
            out.push(b' ' + noise[(i + k) % noise.len()] % 95);
        }
        out.push(b'\n');
        i += line + 1;
        if out.len() > len / 2 && out.len() < len / 2 + 300 {
            out.extend(std::iter::repeat_n(b'x', 8000));
            out.push(b'\n');
        }
    }
    out
}

#[test]
fn type_a_round_trip_with_ftplib_storlines_retrlines() {
    let srv = TestServer::start();
    let work = tempfile::tempdir().unwrap();
    let local = text_file(5 << 20);
    assert!(!local.contains(&b'\r'));
    fs::write(work.path().join("local.txt"), &local).unwrap();
    let w = work.path().to_str().unwrap().to_owned();
    let stdout = python("ascii_roundtrip.py", &srv, &[&w]);
    assert!(stdout.contains("ascii round trip ok"), "{stdout}");
    // STOR in TYPE A stored LF line ends: byte-identical to the local file.
    assert!(
        fs::read(srv.path("text.txt")).unwrap() == local,
        "the stored file differs from the LF original"
    );
    assert!(fs::read(work.path().join("lines.txt")).unwrap() == local);
    // RETR in TYPE A sent CRLF for every LF.
    let wire = fs::read(work.path().join("wire.txt")).unwrap();
    let lines = local.iter().filter(|&&b| b == b'\n').count();
    assert_eq!(wire.len(), local.len() + lines);
    let mut expected = Vec::with_capacity(wire.len());
    for &b in &local {
        if b == b'\n' {
            expected.push(b'\r');
        }
        expected.push(b);
    }
    assert!(wire == expected, "the TYPE A wire form is not LF -> CRLF");
}

/// curl's `--use-ascii` (`TYPE A`): 17 bytes go over the wire for the
/// 14-byte file (three LFs sent as CRLF, counted in the `226`), curl turns
/// them back into LF, and it copes with SIZE being refused in TYPE A.
#[test]
fn curl_use_ascii_gets_crlf() {
    let srv = TestServer::start();
    fs::write(srv.path("t.txt"), b"one\ntwo\n\nthree").unwrap();
    let curl = require_tool("curl");
    let out = run_with_timeout(
        Command::new(curl)
            .args(["-sS", "-v", "--max-time", "60", "--use-ascii"])
            .arg(srv.url("t.txt")),
        Duration::from_secs(90),
    );
    let body = assert_success("curl --use-ascii", &out);
    assert_eq!(body, "one\ntwo\n\nthree");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("> TYPE A"), "{log}");
    assert!(log.contains("< 226 transfer complete (17 bytes)"), "{log}");
}
