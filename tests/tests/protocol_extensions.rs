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
