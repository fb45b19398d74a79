//! `ftpshd` driven by `lftp`: `mirror -R` uploads a tree with nested
//! directories and a few MiB of files, `mirror` downloads it into another
//! directory, and the three trees (local source, server root, local copy)
//! are identical. lftp parses `LIST`/`MLSD` output and issues `MKD`,
//! `CWD`, `STOR`, `RETR`, `SIZE`, `MDTM`, so this covers what a real
//! mirroring client needs.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a panic is how a test fails"
)]

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ftpsh_tests::{
    PASSWORD, TestServer, USER, assert_same_tree, assert_success, require_tool, run_with_timeout,
    seeded_bytes, write_seeded,
};

/// Runs an lftp script against the server. `cmd:fail-exit` makes any
/// failed command end lftp with a non-zero status; the retry and timeout
/// settings keep a broken server from stalling the test.
fn lftp(srv: &TestServer, commands: &str) -> String {
    let lftp = require_tool("lftp");
    let script = format!(
        "set cmd:fail-exit yes; set ftp:passive-mode true; set net:max-retries 1; \
         set net:timeout 10; set net:reconnect-interval-base 1; set xfer:clobber on; \
         open -u {USER},{PASSWORD} -p {} 127.0.0.1; {commands}; bye",
        srv.port()
    );
    let out = run_with_timeout(
        // An empty HOME keeps the user's ~/.lftprc and bookmarks out.
        Command::new(lftp)
            .env("HOME", srv.outside())
            .args(["-c", &script]),
        Duration::from_secs(300),
    );
    assert_success(&format!("lftp -c {script:?}"), &out)
}

fn build_tree(dir: &Path) {
    fs::create_dir_all(dir.join("a/b/c")).unwrap();
    fs::create_dir_all(dir.join("empty")).unwrap();
    fs::create_dir_all(dir.join("with space/x")).unwrap();
    write_seeded(&dir.join("top.bin"), 1, (2 << 20) + 17);
    write_seeded(&dir.join("a/one.bin"), 2, 1 << 20);
    write_seeded(&dir.join("a/b/two.bin"), 3, 700_001);
    write_seeded(&dir.join("a/b/c/three.bin"), 4, (1 << 20) + 5);
    fs::write(dir.join("a/b/c/small.txt"), b"small\n").unwrap();
    fs::write(dir.join("with space/x/file name.txt"), b"spaces\n").unwrap();
    fs::write(dir.join("zero"), b"").unwrap();
    fs::write(dir.join("seeded.dat"), seeded_bytes(5, 4096)).unwrap();
}

#[test]
fn mirror_up_and_back_gives_an_identical_tree() {
    let srv = TestServer::start();
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let back = work.path().join("back");
    build_tree(&src);

    lftp(&srv, &format!("mirror -R --no-perms {} /up", src.display()));
    assert_same_tree(&src, &srv.path("up"));

    lftp(&srv, &format!("mirror --no-perms /up {}", back.display()));
    assert_same_tree(&src, &back);

    // A second mirror -R finds nothing to do and changes nothing.
    lftp(&srv, &format!("mirror -R --no-perms {} /up", src.display()));
    assert_same_tree(&src, &srv.path("up"));
}

#[test]
fn basic_session_commands() {
    let srv = TestServer::start();
    fs::write(srv.path("hello.txt"), b"hello, world\n").unwrap();
    let out = lftp(
        &srv,
        "pwd; cls -1; cat hello.txt; mkdir d; mv hello.txt d/hi.txt; cls -1 d; rm d/hi.txt; rmdir d; cls -1",
    );
    assert!(out.contains("hello, world"), "{out}");
    assert!(out.contains("hi.txt"), "{out}");
    assert!(srv.entries("").is_empty(), "{:?}", srv.entries(""));
}
