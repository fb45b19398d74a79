//! Transfers as scripts use them: `cat` and `download FILE -` into real
//! pipes, `upload - NAME` from one, non-regular download targets (a FIFO,
//! `/dev/stdout`) written into and never replaced, a DEST that starts
//! with a backslash refused, and resume: a download cut off mid-transfer
//! keeps its side file and `download -c` finishes it with REST; `upload
//! -c` finishes a short remote file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers, not only #[test] fns

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use sha2::{Digest, Sha256};

fn ftpsh() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ftpsh"));
    c.env_remove("FTPSH_PASSWORD")
        .env("HOME", std::env::temp_dir());
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Deterministic bytes that are not all alike.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 253) as u8).collect()
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn run(dir: &Path, url: &str, commands: &str) -> Output {
    ftpsh()
        .current_dir(dir)
        .args(["--timeout", "20", "-c", commands, url])
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn cat_through_a_pipe_to_sha256sum() {
    let mut servers = vec![common::embedded()];
    servers.extend(common::pyftpdlib());
    servers.extend(common::vsftpd());
    servers.extend(common::pure_ftpd());
    servers.extend(common::proftpd());
    let data = pattern(3 << 20);
    for server in &servers {
        std::fs::write(server.pub_dir().join("a.bin"), &data).unwrap();
        for command in ["cat pub/a.bin", "download pub/a.bin -"] {
            let mut ftpsh = ftpsh()
                .args(["-c", command, &server.url()])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let sum = Command::new("sha256sum")
                .stdin(Stdio::from(ftpsh.stdout.take().unwrap()))
                .output()
                .unwrap();
            let status = ftpsh.wait().unwrap();
            let mut err = String::new();
            ftpsh
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            assert!(status.success(), "{}: {command}: {err}", server.name);
            assert_eq!(
                text(&sum.stdout),
                format!("{}  -\n", hex(&data)),
                "{}: {command}",
                server.name
            );
        }
    }
}

#[test]
fn upload_from_a_pipe() {
    let mut servers = vec![common::embedded()];
    servers.extend(common::pyftpdlib());
    let data = pattern(2 << 20);
    for server in &servers {
        let mut child = ftpsh()
            .args(["-c", "upload - pub/from-pipe.bin", &server.url()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let feed = data.clone();
        let writer = std::thread::spawn(move || {
            stdin.write_all(&feed).unwrap();
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            server.name,
            text(&out.stderr)
        );
        assert_eq!(
            std::fs::read(server.pub_dir().join("from-pipe.bin")).unwrap(),
            data,
            "{}",
            server.name
        );
        assert!(text(&out.stdout).contains("uploaded (stdin) -> pub/from-pipe.bin"));
    }
}

#[test]
fn a_fifo_target_is_written_into_not_replaced() {
    let server = common::embedded();
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let reader_path = fifo.clone();
    let reader = std::thread::spawn(move || std::fs::read(reader_path).unwrap());
    let out = run(dir.path(), &server.url(), "download -f pub/hello.txt pipe");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(reader.join().unwrap(), b"hello\n");
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo(),
        "the FIFO was replaced"
    );
    // No -f needed either: nothing stored is overwritten.
    let reader_path = fifo.clone();
    let reader = std::thread::spawn(move || std::fs::read(reader_path).unwrap());
    let out = run(dir.path(), &server.url(), "download pub/hello.txt pipe");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(reader.join().unwrap(), b"hello\n");
}

#[test]
fn dev_stdout_is_written_into_not_replaced() {
    let server = common::embedded();
    let dir = tempfile::tempdir().unwrap();
    let before = std::fs::symlink_metadata("/dev/stdout").unwrap();
    let out = run(
        dir.path(),
        &server.url(),
        "download -f pub/hello.txt /dev/stdout",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hello\n");
    let after = std::fs::symlink_metadata("/dev/stdout").unwrap();
    assert_eq!(before.file_type(), after.file_type());
    assert!(after.file_type().is_symlink());
}

#[test]
fn a_dest_that_starts_with_a_backslash_is_refused() {
    let server = common::embedded();
    let dir = tempfile::tempdir().unwrap();
    for command in ["download pub/hello.txt \\", "upload x.txt \\"] {
        let out = run(dir.path(), &server.url(), command);
        assert_eq!(out.status.code(), Some(1), "{command}");
        assert!(
            text(&out.stderr).contains("starts with a backslash"),
            "{command}: {}",
            text(&out.stderr)
        );
    }
    // `sub\ dir` is a name with a space; `sub\name` a path.
    std::fs::create_dir(dir.path().join("sub dir")).unwrap();
    let out = run(
        dir.path(),
        &server.url(),
        "download pub/hello.txt sub\\ dir\\copy.txt",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read(dir.path().join("sub dir/copy.txt")).unwrap(),
        b"hello\n"
    );
}

#[test]
fn an_interrupted_download_resumes_with_rest() {
    let Some(fake) = common::fake(&["--drop-after", "300000"]) else {
        return;
    };
    let url = format!("ftp://u:p@127.0.0.1:{}/", fake.port);
    let dir = tempfile::tempdir().unwrap();
    // Without reconnects, so the cut-off download stays cut off.
    let out = ftpsh()
        .current_dir(dir.path())
        .args(["--retries", "0", "-c", "download big.bin", &url])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("download -c continues it"), "{err}");
    assert!(!dir.path().join("big.bin").exists(), "half a file exposed");
    let side = dir.path().join(".big.bin.ftpsh-part");
    assert_eq!(std::fs::metadata(&side).unwrap().len(), 300_000);
    let out = run(dir.path(), &url, "download -c big.bin");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("continued big.bin -> big.bin"));
    let expected: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    assert_eq!(std::fs::read(dir.path().join("big.bin")).unwrap(), expected);
    assert!(!side.exists());
}

#[test]
fn upload_c_finishes_a_short_remote_file() {
    let mut servers = vec![common::embedded()];
    servers.extend(common::pyftpdlib());
    servers.extend(common::vsftpd());
    servers.extend(common::pure_ftpd());
    servers.extend(common::proftpd());
    let data = pattern(1 << 20);
    for server in &servers {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("part.bin"), &data).unwrap();
        // What an interrupted upload leaves on a server that keeps it.
        let remote = server.pub_dir().join("part.bin");
        std::fs::write(&remote, &data[..400_000]).unwrap();
        // vsftpd's anonymous user must be able to write to it.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&remote, std::fs::Permissions::from_mode(0o666)).unwrap();
        let out = run(dir.path(), &server.url(), "upload part.bin pub/part.bin");
        assert_eq!(out.status.code(), Some(1), "{}: no overwrite", server.name);
        let out = run(dir.path(), &server.url(), "upload -c part.bin pub/part.bin");
        assert!(
            out.status.success(),
            "{}: {}",
            server.name,
            text(&out.stderr)
        );
        assert!(
            text(&out.stdout).contains("continued part.bin -> pub/part.bin"),
            "{}: {}",
            server.name,
            text(&out.stdout)
        );
        assert_eq!(std::fs::read(&remote).unwrap(), data, "{}", server.name);
        let out = run(dir.path(), &server.url(), "upload -c part.bin pub/part.bin");
        assert!(
            text(&out.stdout).contains("already complete"),
            "{}",
            server.name
        );
    }
}
