//! `ftpsh` against servers that misbehave, and the shell's own edges:
//! a server that stalls at each protocol step (`--timeout` ends every
//! wait, with the documented exit code), the one-line `211 No features`,
//! the `-` prefix in `-c`, signals that must leave no temporary root
//! behind, non-regular download targets. The misbehaving servers are
//! `tests/fake_ftp.py`; skipped, saying so, only without python3.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers, not only #[test] fns

mod common;

use common::fake;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn ftpsh() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ftpsh"));
    c.env_remove("FTPSH_PASSWORD")
        .env("HOME", std::env::temp_dir());
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn run_timed(cmd: &mut Command) -> (Output, Duration) {
    let started = Instant::now();
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    (out, started.elapsed())
}

#[test]
fn a_stall_at_each_step_ends_with_the_timeout() {
    // (step, command, expected exit code): before the login succeeds the
    // failure is "cannot connect" (3), after it a failed command (1).
    let cases = [
        ("greeting", "pwd", 3),
        ("USER", "pwd", 3),
        ("PASS", "pwd", 3),
        ("TYPE", "pwd", 3),
        ("FEAT", "pwd", 3),
        ("EPSV", "ls", 1),
        ("DATA", "ls", 1),
        ("DATA", "cat a.txt", 1),
        ("SIZE", "size a.txt", 1),
    ];
    for (step, command, code) in cases {
        let Some(server) = fake(&["--stall", step]) else {
            return;
        };
        let url = format!("ftp://u:p@127.0.0.1:{}/", server.port);
        let (out, took) = run_timed(ftpsh().args(["--timeout", "2", "-c", command, &url]));
        assert_eq!(
            out.status.code(),
            Some(code),
            "stall at {step}: {}",
            text(&out.stderr)
        );
        assert!(
            took < Duration::from_secs(9),
            "stall at {step} took {took:?}"
        );
        let err = text(&out.stderr);
        assert!(
            err.contains("timed out") || err.contains("stalled"),
            "stall at {step}: {err}"
        );
    }
}

#[test]
fn timeout_5_against_a_server_that_stops_answering() {
    // The issue's own figure: exits 3 within 10 s.
    let Some(server) = fake(&["--stall", "greeting"]) else {
        return;
    };
    let url = format!("ftp://u:p@127.0.0.1:{}/", server.port);
    let (out, took) = run_timed(ftpsh().args(["--timeout", "5", "-c", "pwd", &url]));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(took < Duration::from_secs(10), "{took:?}");
    // Mid-session: the 7th command (after USER PASS TYPE FEAT HELP PWD)
    // is the user's `pwd`; exit 1.
    let Some(server) = fake(&["--stall", "7"]) else {
        return;
    };
    let url = format!("ftp://u:p@127.0.0.1:{}/", server.port);
    let (out, took) = run_timed(ftpsh().args(["--timeout", "5", "-c", "pwd", &url]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn one_line_feat_reply_does_not_hang() {
    let Some(server) = fake(&["--no-features"]) else {
        return;
    };
    let url = format!("ftp://u:p@127.0.0.1:{}/", server.port);
    let (out, took) = run_timed(ftpsh().args(["--timeout", "5", "-c", "pwd; ls", &url]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(took < Duration::from_secs(5), "{took:?}");
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("/\n"), "{stdout}");
    assert!(stdout.contains("a.txt"), "{stdout}");
}

#[test]
fn dash_prefix_in_c_lets_a_command_fail() {
    let server = common::embedded();
    let out = ftpsh()
        .args(["-c", "-size nope.txt; pwd", &server.url()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "/\n");
    assert!(text(&out.stderr).contains("size: nope.txt: 550"));
}

#[test]
fn chatter_goes_to_stderr_in_c_mode() {
    let server = common::embedded();
    let out = ftpsh()
        .args(["-c", "cd pub; ls -1", &server.url()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "cd ok, cwd=/pub\nhello.txt\n");
    let err = text(&out.stderr);
    assert!(err.contains("connected to"), "{err}");
    assert!(err.contains("230"), "{err}");
}

#[test]
fn connected_is_said_only_after_the_login() {
    let server = common::embedded();
    let url = format!("ftp://alice:wrong@127.0.0.1:{}/", server.port);
    let out = ftpsh()
        .args(["-c", "pwd", &url])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!all.contains("connected to"), "{all}");
    assert!(all.contains("530"), "{all}");
}

/// The embedded server's temporary roots in `dir`.
fn embedded_roots(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("ftpsh-root-"))
        })
        .collect()
}

#[test]
fn sigterm_and_sighup_remove_the_embedded_root() {
    for signal in [
        nix::sys::signal::Signal::SIGTERM,
        nix::sys::signal::Signal::SIGHUP,
        nix::sys::signal::Signal::SIGINT,
    ] {
        let tmp = tempfile::tempdir().unwrap();
        // Commands on a pipe that stays open: the shell waits for more.
        let mut child = ftpsh()
            .arg("--no-progress")
            .env("TMPDIR", tmp.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        use std::io::Write;
        writeln!(stdin, "connme").unwrap();
        writeln!(stdin, "pwd").unwrap();
        stdin.flush().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert_eq!(line, "/\n");
        let created = embedded_roots(tmp.path());
        assert_eq!(created.len(), 1, "{created:?}");
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
        nix::sys::signal::kill(pid, signal).unwrap();
        let status = child.wait().unwrap();
        drop(stdin);
        assert_eq!(
            status.code(),
            Some(128 + signal as i32),
            "{signal}: {status:?}"
        );
        assert!(!created[0].exists(), "{signal} left {:?}", created[0]);
    }
}

#[test]
fn sigterm_mid_download_removes_the_side_file() {
    // The server sends 150 and then nothing: the download waits, its side
    // file open, when SIGTERM arrives.
    let Some(server) = fake(&["--stall", "DATA"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = format!("ftp://u:p@127.0.0.1:{}/", server.port);
    let mut child = ftpsh()
        .current_dir(dir.path())
        .args(["-c", "download a.txt", &url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let side = dir.path().join(".a.txt.ftpsh-part");
    let mut waited = 0;
    while !side.exists() && waited < 100 {
        std::thread::sleep(Duration::from_millis(50));
        waited += 1;
    }
    assert!(side.exists(), "the download never started");
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(128 + 15));
    assert!(!side.exists(), "SIGTERM left {side:?}");
    assert!(!dir.path().join("a.txt").exists());
}
