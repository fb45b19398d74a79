//! The same shell session against three servers — the embedded ftpshd,
//! pyftpdlib and vsftpd — so the client is proven against servers we did
//! not write; and Ctrl-C (ABOR) in the middle of transfers, after which the
//! session must still be usable.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers, not only #[test] fns

mod common;

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::Server;
use ftpsh_shell::client::{Connection, RemoteError, Settings, Upload};
use ftpsh_shell::url::FtpUrl;
use ftpsh_shell::{Options, ServerChoice, Shell, exit, repl};

/// 2 MiB with a position-dependent pattern (no period of a power of two, so
/// a misplaced chunk shows up).
fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ (i / 251) as u8)
        .collect()
}

const SESSION: &[&str] = &[
    "connme",
    "cd pub",
    "ls",
    "upload big.bin",
    "-upload big.bin",
    "mkdir sub",
    "upload notes.txt sub\\notes-2.txt",
    "-upload notes.txt sub\\notes-2.md",
    "ls sub",
    "size big.bin",
    "download big.bin copies\\big-copy.bin",
    "lcmp big.bin copies\\big-copy.bin",
    "download sub/notes-2.txt",
    "lcmp notes.txt notes-2.txt",
    "-download big.bin copies\\big-copy.bin",
    "mv sub/notes-2.txt sub/renamed.txt",
    "rm sub/renamed.txt",
    "-rm sub/renamed.txt",
    "rmdir sub",
    "-cd nope",
    "-size nope.bin",
    "pwd",
    "byebye",
    "-ls",
    "connme",
    "cd pub",
    "ls",
    "rm big.bin",
    "byebye",
];

fn run_session(server: &mut Server) {
    let work = tempfile::tempdir().unwrap();
    let big = pattern(2 * 1024 * 1024);
    std::fs::write(work.path().join("big.bin"), &big).unwrap();
    std::fs::write(work.path().join("notes.txt"), b"line one\nline two\n").unwrap();
    std::fs::create_dir(work.path().join("copies")).unwrap();

    let mut shell = Shell::new(
        Options {
            deterministic: true,
            ..Options::default()
        },
        work.path().to_path_buf(),
    );
    match server.take_embedded() {
        Some(e) => shell.attach_embedded(e),
        None => shell.set_server(ServerChoice::Url(FtpUrl::parse(&server.url()).unwrap())),
    }
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = repl::run_commands(
        &mut shell,
        SESSION.iter().map(|s| (*s).to_owned()),
        &mut out,
        &mut err,
    );
    let out = String::from_utf8(out).unwrap();
    let err = String::from_utf8(err).unwrap();
    let name = server.name;
    assert_eq!(code, exit::OK, "{name}\n--- out\n{out}\n--- err\n{err}");

    let expect_out = [
        "- 6  hello.txt",
        "uploaded big.bin -> big.bin (2.00 MiB)",
        "created directory sub",
        "uploaded notes.txt -> sub/notes-2.txt (18 B)",
        "- 18  notes-2.txt",
        "big.bin: 2.00 MiB (2097152 bytes)",
        "downloaded big.bin -> copies/big-copy.bin (2.00 MiB)",
        "big.bin and copies\\big-copy.bin are identical (2097152 bytes)",
        "notes.txt and notes-2.txt are identical (18 bytes)",
        "renamed sub/notes-2.txt -> sub/renamed.txt",
        "removed sub/renamed.txt",
        "removed directory sub",
        "/pub\n",
        "disconnected",
        "removed big.bin",
    ];
    for line in expect_out {
        assert!(out.contains(line), "{name}: missing {line:?} in\n{out}");
    }
    let expect_err = [
        "upload: big.bin: already exists on the server; use -f to overwrite",
        "upload: sub/notes-2.md: refusing to change the extension (.txt -> .md); use -f to force",
        "download: copies/big-copy.bin: already exists locally; use -f to overwrite",
        "rm: sub/renamed.txt: 550 ",
        "cd: nope: 550 ",
        "size: nope.bin: 550 ",
        "ls: not connected; run connme first",
    ];
    for line in expect_err {
        assert!(err.contains(line), "{name}: missing {line:?} in\n{err}");
    }
    assert_eq!(err.lines().count(), expect_err.len(), "{name}: {err}");
    // The bytes really went through: the download matches, and nothing is
    // left behind but the final files.
    assert_eq!(
        std::fs::read(work.path().join("copies/big-copy.bin")).unwrap(),
        big
    );
    let mut local: Vec<String> = std::fs::read_dir(work.path().join("copies"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    local.sort();
    assert_eq!(local, ["big-copy.bin"], "{name}: temp files left behind");
    assert!(!server.pub_dir().join("big.bin").exists(), "{name}: rm");
    shell.stop_embedded();
}

#[test]
fn session_against_embedded_ftpshd() {
    run_session(&mut common::embedded());
}

#[test]
fn session_against_pyftpdlib() {
    if let Some(mut server) = common::pyftpdlib() {
        run_session(&mut server);
    }
}

#[test]
fn session_against_vsftpd() {
    if let Some(mut server) = common::vsftpd() {
        run_session(&mut server);
    }
}

/// A source that never ends and raises the Ctrl-C flag after a few
/// chunks, as a person pressing Ctrl-C in the middle of an upload.
struct Endless<'a> {
    reads: usize,
    flag: &'a AtomicBool,
}

impl Read for Endless<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reads += 1;
        if self.reads == 8 {
            self.flag.store(true, Ordering::Relaxed);
        }
        buf.fill(0xAB);
        Ok(buf.len())
    }
}

/// A sink that raises the Ctrl-C flag on its first write.
struct Tripwire<'a> {
    written: usize,
    flag: &'a AtomicBool,
}

impl Write for Tripwire<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written += buf.len();
        self.flag.store(true, Ordering::Relaxed);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn abort_keeps_session_usable(server: &Server, partial_must_vanish: bool) {
    let name = server.name;
    std::fs::write(
        server.pub_dir().join("large.bin"),
        pattern(32 * 1024 * 1024),
    )
    .unwrap();
    let mut conn = Connection::open(
        "127.0.0.1",
        server.port,
        &Settings {
            timeout: Duration::from_secs(5),
            ..Settings::default()
        },
    )
    .unwrap();
    conn.login(&server.user, &server.password).unwrap();
    conn.cd("pub").unwrap();

    let flag = AtomicBool::new(false);
    let mut source = Endless {
        reads: 0,
        flag: &flag,
    };
    let r = conn.upload(
        "partial.bin",
        Upload::Store,
        &mut source,
        &mut |_| {},
        &flag,
    );
    assert!(
        matches!(r, Err(RemoteError::Interrupted { .. })),
        "{name}: {r:?}"
    );
    // The control connection is in step: the next commands get their own
    // replies.
    assert_eq!(conn.size("hello.txt").unwrap(), 6, "{name}");
    if partial_must_vanish {
        assert!(
            !Path::new(&server.pub_dir().join("partial.bin")).exists(),
            "{name}: an aborted upload was committed"
        );
    }

    let flag = AtomicBool::new(false);
    let mut sink = Tripwire {
        written: 0,
        flag: &flag,
    };
    let r = conn.download("large.bin", 0, &mut sink, &mut |_| {}, &flag);
    assert!(
        matches!(r, Err(RemoteError::Interrupted { .. })),
        "{name}: {r:?}"
    );
    assert!(
        sink.written < 32 * 1024 * 1024,
        "{name}: nothing was aborted"
    );
    assert_eq!(conn.size("hello.txt").unwrap(), 6, "{name}");
    let names: Vec<String> = conn
        .list(None)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert!(names.contains(&"large.bin".to_owned()), "{name}: {names:?}");
    conn.quit().unwrap();
}

#[test]
fn abort_against_embedded_ftpshd() {
    abort_keeps_session_usable(&common::embedded(), true);
}

#[test]
fn abort_against_pyftpdlib() {
    if let Some(server) = common::pyftpdlib() {
        abort_keeps_session_usable(&server, false);
    }
}

#[test]
fn abort_against_vsftpd() {
    if let Some(server) = common::vsftpd() {
        abort_keeps_session_usable(&server, false);
    }
}
