//! `ftpshd` driven by the `curl` command-line client: directory listings,
//! download, upload (`-T`), quote commands (`-Q 'DELE x'`), creating
//! missing directories (`--ftp-create-dirs`), resume (`-C -`), both
//! passive modes, and curl's own exit codes for refusals.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a panic is how a test fails"
)]

use std::fs;

use ftpsh_tests::clients::{
    curl_downloads_over_epsv_and_pasv, curl_lists_a_and_sub, curl_refusals_have_exit_codes,
};
use ftpsh_tests::{
    TestServer, assert_file_is_seeded, assert_same_file, curl, curl_ok, seeded_bytes, write_seeded,
};

#[test]
fn list_and_nlst() {
    let srv = TestServer::start();
    fs::write(srv.path("a.txt"), b"a").unwrap();
    fs::create_dir(srv.path("sub")).unwrap();
    fs::write(srv.path("sub/deep.txt"), b"deep").unwrap();

    curl_lists_a_and_sub(&srv);
}

#[test]
fn download_and_upload() {
    let srv = TestServer::start();
    let len = 12 << 20;
    write_seeded(&srv.path("down.bin"), 31, len);
    let local = tempfile::tempdir().unwrap();

    curl_downloads_over_epsv_and_pasv(&srv, "down.bin", local.path(), 31, len);

    let up = local.path().join("up.bin");
    write_seeded(&up, 32, (9 << 20) + 3);
    curl_ok(&["-T", up.to_str().unwrap(), &srv.url("up.bin")]);
    assert_same_file(&up, &srv.path("up.bin"));
    // Uploading to a directory URL keeps the local name.
    fs::create_dir(srv.path("in")).unwrap();
    curl_ok(&["-T", up.to_str().unwrap(), &srv.url("in/")]);
    assert_same_file(&up, &srv.path("in/up.bin"));
}

#[test]
fn quote_dele_and_rename() {
    let srv = TestServer::start();
    fs::write(srv.path("x"), b"x").unwrap();
    fs::write(srv.path("old.txt"), b"old").unwrap();
    let list = curl_ok(&["-Q", "DELE x", "--list-only", &srv.url("")]);
    assert!(!srv.path("x").exists(), "DELE x did not delete");
    // -Q runs before the transfer, so the listing no longer shows x.
    assert_eq!(list.trim_end(), "old.txt");

    curl_ok(&[
        "-Q",
        "RNFR old.txt",
        "-Q",
        "RNTO new.txt",
        "--list-only",
        &srv.url(""),
    ]);
    assert_eq!(fs::read(srv.path("new.txt")).unwrap(), b"old");
    assert!(!srv.path("old.txt").exists());

    // A refused quote command makes curl fail (exit 21, "quote error").
    let out = curl(&["-Q", "DELE missing", "--list-only", &srv.url("")]);
    assert_eq!(out.status.code(), Some(21), "{out:?}");
}

#[test]
fn ftp_create_dirs() {
    let srv = TestServer::start();
    let local = tempfile::tempdir().unwrap();
    let file = local.path().join("f.txt");
    fs::write(&file, b"nested").unwrap();
    curl_ok(&[
        "--ftp-create-dirs",
        "-T",
        file.to_str().unwrap(),
        &srv.url("a/b/c/f.txt"),
    ]);
    assert_eq!(fs::read(srv.path("a/b/c/f.txt")).unwrap(), b"nested");
    // Again, with the directories already there.
    curl_ok(&[
        "--ftp-create-dirs",
        "-T",
        file.to_str().unwrap(),
        &srv.url("a/b/c/g.txt"),
    ]);
    assert_eq!(fs::read(srv.path("a/b/c/g.txt")).unwrap(), b"nested");
    // Without the option a missing directory is an error, not created.
    let out = curl(&["-T", file.to_str().unwrap(), &srv.url("x/y/f.txt")]);
    assert!(!out.status.success(), "{out:?}");
    assert!(!srv.path("x").exists());
}

#[test]
fn resume_download_and_upload() {
    let srv = TestServer::start();
    let content = seeded_bytes(33, 4 << 20);
    fs::write(srv.path("r.bin"), &content).unwrap();
    let local = tempfile::tempdir().unwrap();

    // Download: a partial local file is completed with REST (-C -).
    let part = local.path().join("r.bin");
    fs::write(&part, &content[..1_234_567]).unwrap();
    curl_ok(&["-C", "-", "-o", part.to_str().unwrap(), &srv.url("r.bin")]);
    assert!(
        fs::read(&part).unwrap() == content,
        "resumed download differs"
    );

    // Upload: curl asks SIZE and sends the rest (APPE, or REST + STOR).
    fs::write(srv.path("u.bin"), &content[..2_000_001]).unwrap();
    let full = local.path().join("full.bin");
    fs::write(&full, &content).unwrap();
    curl_ok(&["-C", "-", "-T", full.to_str().unwrap(), &srv.url("u.bin")]);
    assert!(
        fs::read(srv.path("u.bin")).unwrap() == content,
        "resumed upload differs"
    );

    // --append (APPE).
    fs::write(srv.path("log.txt"), b"one\n").unwrap();
    let two = local.path().join("two.txt");
    fs::write(&two, b"two\n").unwrap();
    curl_ok(&["--append", "-T", two.to_str().unwrap(), &srv.url("log.txt")]);
    assert_eq!(fs::read(srv.path("log.txt")).unwrap(), b"one\ntwo\n");
}

#[test]
fn refusals_have_curls_exit_codes() {
    let srv = TestServer::start();
    curl_refusals_have_exit_codes(&srv);
}

/// The "files of hundreds of MiB, byte-identical": 300 MiB up and
/// back down with curl, compared byte by byte against the seeded source.
#[test]
fn hundreds_of_mib_round_trip() {
    const LEN: u64 = 300 << 20;
    let srv = TestServer::start();
    let local = tempfile::tempdir().unwrap();
    let up = local.path().join("huge.bin");
    write_seeded(&up, 300, LEN);
    curl_ok(&["-T", up.to_str().unwrap(), &srv.url("huge.bin")]);
    assert_file_is_seeded(&srv.path("huge.bin"), 300, LEN);
    fs::remove_file(&up).unwrap();
    let down = local.path().join("down.bin");
    curl_ok(&["-o", down.to_str().unwrap(), &srv.url("huge.bin")]);
    assert_file_is_seeded(&down, 300, LEN);
}
