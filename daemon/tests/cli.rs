//! The `ftpshd` binary: command line, the listening line, built-in commands
//! over real sockets, and SIGTERM.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};

use common::{Client, pattern, read_all};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// A running `ftpshd`, killed on drop if a test failed before stopping it.
struct Daemon {
    child: Child,
    addr: SocketAddr,
    /// Lines printed before the listening line.
    preamble: Vec<String>,
    _stdout: BufReader<ChildStdout>,
}

impl Daemon {
    fn start(root: &std::path::Path, extra: &[&str]) -> Self {
        Self::spawn(Command::new(env!("CARGO_BIN_EXE_ftpshd")), root, extra)
    }

    /// Started through util-linux `prlimit` with at most `nofile` open
    /// file descriptors.
    fn start_with_fd_limit(root: &std::path::Path, extra: &[&str], nofile: u64) -> Self {
        let mut cmd = Command::new("prlimit");
        cmd.arg(format!("--nofile={nofile}:{nofile}"))
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_ftpshd"));
        Self::spawn(cmd, root, extra)
    }

    fn spawn(mut cmd: Command, root: &std::path::Path, extra: &[&str]) -> Self {
        let mut child = cmd
            .args(["--listen", "127.0.0.1:0", "--root"])
            .arg(root)
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut preamble = Vec::new();
        let addr = loop {
            let mut line = String::new();
            assert!(
                stdout.read_line(&mut line).unwrap() > 0,
                "no listening line"
            );
            if let Some(addr) = line.trim_end().strip_prefix("ftpshd listening on ") {
                break addr.parse().unwrap();
            }
            preamble.push(line.trim_end().to_owned());
            assert!(preamble.len() < 10, "no listening line: {preamble:?}");
        };
        Self {
            child,
            addr,
            preamble,
            _stdout: stdout,
        }
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM).unwrap();
        self.child.wait().unwrap()
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn login(addr: SocketAddr, user: &str, password: &str) -> Client {
    let mut c = Client::open(addr);
    assert_eq!(c.cmd(&format!("USER {user}")).0, 331);
    let (code, text) = c.cmd(&format!("PASS {password}"));
    assert_eq!(code, 230, "{text}");
    c
}

#[test]
fn listening_line_users_and_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(
        dir.path(),
        &["--user", "alice:secret", "--user", "bob:pw:elr"],
    );
    assert!(d.preamble.is_empty(), "{:?}", d.preamble);
    let mut c = Client::open(d.addr);
    assert_eq!(c.cmd("USER alice").0, 331);
    assert_eq!(c.cmd("PASS wrong").0, 530);
    let mut alice = login(d.addr, "alice", "secret");
    assert_eq!(alice.cmd("NOOP").0, 200);
    let mut bob = login(d.addr, "bob", "pw");
    // bob has no 'w': the registry refuses STOR before any data moves.
    assert_eq!(bob.cmd("STOR x.txt").0, 550);
    let status = d.terminate();
    assert!(status.success(), "{status:?}");
    assert_eq!(alice.reply().0, 421);
    assert!(alice.closed());
}

#[test]
fn generated_password_is_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    assert_eq!(d.preamble.len(), 1, "{:?}", d.preamble);
    let password = d.preamble[0]
        .strip_prefix("user ftpsh, password ")
        .unwrap()
        .to_owned();
    assert!(password.len() >= 16);
    let mut c = login(d.addr, "ftpsh", &password);
    assert_eq!(c.cmd("QUIT").0, 221);
    assert!(d.terminate().success());
}

#[test]
fn retr_and_stor_with_the_built_in_commands() {
    let dir = tempfile::tempdir().unwrap();
    let content = pattern(9 * 1024 * 1024 + 5);
    std::fs::write(dir.path().join("big.bin"), &content).unwrap();
    let d = Daemon::start(dir.path(), &["--user", "alice:secret"]);
    let mut c = login(d.addr, "alice", "secret");
    assert_eq!(c.cmd("TYPE I").0, 200);

    let data = c.pasv();
    assert_eq!(c.cmd("RETR big.bin").0, 150);
    assert!(read_all(data) == content, "RETR differs");
    assert_eq!(c.reply().0, 226);

    let mut data = c.pasv();
    assert_eq!(c.cmd("STOR copy.bin").0, 150);
    for chunk in content.chunks(64 * 1024) {
        data.write_all(chunk).unwrap();
    }
    drop(data);
    assert_eq!(c.reply().0, 226);
    assert!(std::fs::read(dir.path().join("copy.bin")).unwrap() == content);

    // Seed alias, dispatched by the registry like any verb.
    let data = c.pasv();
    assert_eq!(c.cmd("DOWNLOAD copy.bin").0, 150);
    assert!(read_all(data) == content, "DOWNLOAD differs");
    assert_eq!(c.reply().0, 226);
    assert!(d.terminate().success());
}

#[test]
fn overlong_lines_do_not_grow_memory() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &["--user", "alice:secret"]);
    let mut c = Client::open(d.addr);
    assert_eq!(c.cmd("NOOP").0, 200);
    let before = d.rss_kib();
    let chunk = vec![b'x'; 1024 * 1024];
    for _ in 0..64 {
        c.send(&chunk);
    }
    c.send(b"\r\nNOOP\r\n");
    assert_eq!(c.reply().0, 500);
    assert_eq!(c.reply().0, 200);
    let after = d.rss_kib();
    // 64 MiB went through one line; the daemon kept at most a few KiB of it.
    assert!(after < before + 8 * 1024, "RSS {before} KiB -> {after} KiB");
    assert!(d.terminate().success());
}

#[test]
fn bad_command_lines_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_ftpshd"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let root = dir.path().to_str().unwrap();
    let err = run(&["--root", root, "--user", "alice:pw:elx"]);
    assert!(err.contains("'x'"), "{err}");
    assert!(!err.contains("pw"), "password leaked: {err}");
    let err = run(&["--root", "/nonexistent/ftpsh-root"]);
    assert!(err.contains("/nonexistent/ftpsh-root"), "{err}");
    let err = run(&["--root", root, "--passive-ports", "6000-5000"]);
    assert!(err.contains("6000-5000"), "{err}");
    let err = run(&["--root", root, "--user", "nocolon"]);
    assert!(err.contains("NAME:PASSWORD"), "{err}");
}

#[test]
fn garbage_then_a_normal_session() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &["--user", "alice:secret"]);
    let mut junk = Vec::new();
    for i in 0..200_000u32 {
        junk.push((i.wrapping_mul(2_654_435_761) >> 13) as u8);
    }
    let mut c = Client::connect(d.addr);
    let _ = c.writer.write_all(&junk);
    let _ = c.writer.shutdown(std::net::Shutdown::Write);
    let mut answers = Vec::new();
    let _ = c.reader.read_to_end(&mut answers);
    let mut c = login(d.addr, "alice", "secret");
    assert_eq!(c.cmd("SYST").0, 215);
    assert!(d.terminate().success());
}

#[test]
fn plugin_dir_adds_the_hash_verb() {
    let plugins = ftpsh_plugin_tests::plugin_dir(&["ftpsh-plugin-hash"]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), b"abc").unwrap();
    let d = Daemon::start(
        dir.path(),
        &[
            "--user",
            "alice:secret",
            "--plugin-dir",
            plugins.path().to_str().unwrap(),
        ],
    );
    let mut c = login(d.addr, "alice", "secret");
    // SHA-256("abc"), FIPS 180-2 appendix B.1.
    let (code, text) = c.cmd("HASH a.txt");
    assert_eq!(code, 213, "{text}");
    assert!(
        text.contains("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        "{text}"
    );
    assert_eq!(c.cmd("HASH missing.txt").0, 550);
    let (code, text) = c.cmd("FEAT");
    assert_eq!(code, 211);
    assert!(text.contains("HASH SHA-256*"), "{text}");
    assert!(d.terminate().success());
}

#[test]
fn plugin_dir_with_a_bad_plugin_stops_the_daemon_naming_it() {
    let plugins = ftpsh_plugin_tests::plugin_dir(&["ftpsh-plugin-test-wrong-abi"]);
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ftpshd"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--user",
            "alice:secret",
            "--root",
        ])
        .arg(dir.path())
        .arg("--plugin-dir")
        .arg(plugins.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("libftpsh_plugin_test_wrong_abi.so"), "{err}");
    assert!(err.contains("ABI version"), "{err}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("listening"),
        "it must not start serving"
    );
}

#[test]
fn sessions_cost_only_their_socket() {
    // Scaled down from 10,000 sessions under a 20,000 limit: 450 logged-in
    // sessions under a limit of 512 descriptors. With a directory
    // descriptor per session they would need 900 and logins would fail
    // ("home directory unavailable") from about the 250th on.
    const SESSIONS: usize = 450;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), b"shared root").unwrap();
    let d = Daemon::start_with_fd_limit(
        dir.path(),
        // All from 127.0.0.1: lift the per-address limit (default 50).
        &[
            "--user",
            "alice:secret",
            "--max-sessions",
            "600",
            "--max-sessions-per-ip",
            "600",
        ],
        512,
    );
    let mut sessions = Vec::with_capacity(SESSIONS);
    let mut refused = Vec::new();
    for i in 0..SESSIONS {
        let mut c = Client::open(d.addr);
        assert_eq!(c.cmd("USER alice").0, 331);
        let (code, text) = c.cmd("PASS secret");
        if code != 230 {
            refused.push((i, text));
        }
        sessions.push(c);
    }
    assert!(refused.is_empty(), "refused logins: {refused:?}");
    // Every session still works through the shared root.
    for c in sessions.iter_mut().step_by(45) {
        assert_eq!(c.cmd("SIZE a.txt"), (213, "213 11\r\n".to_owned()));
    }
    let fds = std::fs::read_dir(format!("/proc/{}/fd", d.child.id()))
        .unwrap()
        .count();
    assert!(
        fds < SESSIONS + 64,
        "{fds} descriptors open for {SESSIONS} sessions"
    );
    drop(sessions);
    assert!(d.terminate().success());
}

#[test]
fn out_of_descriptors_is_named_in_the_425() {
    // A daemon limited to 40 descriptors: open sessions until it cannot
    // accept another (the banner does not come), then ask a logged-in
    // session for a passive listener, which needs one more descriptor.
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start_with_fd_limit(dir.path(), &["--user", "alice:secret"], 40);
    let mut first = login(d.addr, "alice", "secret");
    let mut others = Vec::new();
    let full = loop {
        assert!(
            others.len() < 100,
            "the daemon never ran out of descriptors"
        );
        let mut c = Client::connect(d.addr);
        c.writer
            .set_read_timeout(Some(std::time::Duration::from_millis(500)))
            .unwrap();
        let mut byte = [0u8; 1];
        match c.writer.peek(&mut byte) {
            Ok(_) => {
                assert_eq!(c.reply().0, 220);
                others.push(c);
            }
            Err(_) => break c,
        }
    };
    let (code, text) = first.cmd("EPSV");
    assert_eq!(code, 425, "{text}");
    assert!(text.contains("out of file descriptors"), "{text}");
    // Freeing descriptors lets the waiting connection in.
    drop(others);
    let mut late = full;
    late.writer
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    assert_eq!(late.reply().0, 220);
    assert_eq!(first.cmd("NOOP").0, 200);
    drop((first, late));
    assert!(d.terminate().success());
}
