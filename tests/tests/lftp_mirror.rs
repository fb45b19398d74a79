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

use ftpsh_tests::clients::{build_mirror_tree, lftp_ok};
use ftpsh_tests::{TestServer, assert_same_tree};

#[test]
fn mirror_up_and_back_gives_an_identical_tree() {
    let srv = TestServer::start();
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let back = work.path().join("back");
    build_mirror_tree(&src);

    lftp_ok(&srv, &format!("mirror -R --no-perms {} /up", src.display()));
    assert_same_tree(&src, &srv.path("up"));

    lftp_ok(&srv, &format!("mirror --no-perms /up {}", back.display()));
    assert_same_tree(&src, &back);

    // A second mirror -R finds nothing to do and changes nothing.
    lftp_ok(&srv, &format!("mirror -R --no-perms {} /up", src.display()));
    assert_same_tree(&src, &srv.path("up"));
}

#[test]
fn basic_session_commands() {
    let srv = TestServer::start();
    fs::write(srv.path("hello.txt"), b"hello, world\n").unwrap();
    let out = lftp_ok(
        &srv,
        "pwd; cls -1; cat hello.txt; mkdir d; mv hello.txt d/hi.txt; cls -1 d; rm d/hi.txt; rmdir d; cls -1",
    );
    assert!(out.contains("hello, world"), "{out}");
    assert!(out.contains("hi.txt"), "{out}");
    assert!(srv.entries("").is_empty(), "{:?}", srv.entries(""));
}
