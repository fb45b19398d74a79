//! The `ftpshd` binary, used the way the README tells a new user to:
//! `ftpshd --listen 127.0.0.1:0 --root DIR --user alice:secret`, read the
//! `ftpshd listening on 127.0.0.1:PORT` line, use it with curl; with no
//! `--user` it prints a generated password that works; SIGTERM shuts it
//! down gracefully.
//!
//! The binary must be built before this test runs (`cargo build -p
//! ftpsh-daemon`; `.ci/run` and `make check` build the workspace first):
//! see [`ftpsh_tests::ftpshd_binary`].

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a panic is how a test fails"
)]

use std::fs;
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use ftpsh_tests::ftpshd::Ftpshd;
use ftpsh_tests::{
    RawControl, assert_success, curl, ftpshd_binary, run_with_timeout, seeded_bytes,
};
use nix::sys::signal::Signal;

/// `ftpshd ARGS` (killed by its PID on drop), checked to report the real
/// loopback address it bound.
fn start(args: &[&str]) -> Ftpshd {
    let d = Ftpshd::start(args);
    assert_eq!(d.addr.ip().to_string(), "127.0.0.1");
    assert_ne!(d.addr.port(), 0, "--listen :0 must report the real port");
    d
}

#[test]
fn readme_session_with_curl_then_sigterm() {
    let root = tempfile::tempdir().unwrap();
    fs::write(root.path().join("hello.txt"), b"hello, world\n").unwrap();
    let root_arg = root.path().to_str().unwrap();
    let mut d = start(&[
        "--listen",
        "127.0.0.1:0",
        "--root",
        root_arg,
        "--user",
        "alice:secret",
    ]);

    let list = assert_success("curl list", &curl(&[&d.url("alice:secret", "")]));
    assert!(list.lines().any(|l| l.ends_with(" hello.txt")), "{list}");
    let got = assert_success("curl get", &curl(&[&d.url("alice:secret", "hello.txt")]));
    assert_eq!(got, "hello, world\n");

    let work = tempfile::tempdir().unwrap();
    let up = work.path().join("up.bin");
    let content = seeded_bytes(77, 3 << 20);
    fs::write(&up, &content).unwrap();
    assert_success(
        "curl -T",
        &curl(&["-T", up.to_str().unwrap(), &d.url("alice:secret", "up.bin")]),
    );
    assert!(fs::read(root.path().join("up.bin")).unwrap() == content);

    let out = curl(&[&d.url("alice:wrong", "")]);
    assert_eq!(out.status.code(), Some(67), "wrong password: {out:?}");

    // SIGTERM: connected sessions are told 421, the daemon exits cleanly.
    let mut session = RawControl::login(d.addr, "alice", "secret");
    let code = d.signal_and_wait(Signal::SIGTERM);
    assert_eq!(session.reply().code, 421);
    assert_eq!(
        code,
        Some(0),
        "exit status after SIGTERM; stderr: {}",
        d.stderr_text()
    );
}

#[test]
fn without_user_a_generated_password_is_printed_and_works() {
    let root = tempfile::tempdir().unwrap();
    fs::write(root.path().join("a.txt"), b"a").unwrap();
    let mut d = start(&[
        "--listen",
        "127.0.0.1:0",
        "--root",
        root.path().to_str().unwrap(),
    ]);
    // The password line may come before or after the listening line.
    let line = d.line_matching(|l| l.to_ascii_lowercase().contains("password"));
    let password = generated_password(&line);
    assert!(password.len() >= 12, "weak generated password in {line:?}");
    assert!(
        line.contains("ftpsh"),
        "the line must name the user: {line:?}"
    );
    let url = d.url(&format!("ftpsh:{password}"), "");
    let list = assert_success(
        "curl with the generated password",
        &curl(&["--list-only", &url]),
    );
    assert_eq!(list.trim_end(), "a.txt");
    // The password is not the same on every start.
    let mut d2 = start(&[
        "--listen",
        "127.0.0.1:0",
        "--root",
        root.path().to_str().unwrap(),
    ]);
    let line2 = d2.line_matching(|l| l.to_ascii_lowercase().contains("password"));
    assert_ne!(generated_password(&line2), password);
    d.signal_and_wait(Signal::SIGINT);
    d2.signal_and_wait(Signal::SIGINT);
}

/// The password in a line such as `user ftpsh, password: Xyz123` — the
/// token after the word "password".
fn generated_password(line: &str) -> String {
    let lower = line.to_ascii_lowercase();
    let at = lower.rfind("password").expect("password in line") + "password".len();
    line[at..]
        .trim_start_matches(|c: char| c == ':' || c == '=' || c.is_whitespace())
        .split_whitespace()
        .next()
        .unwrap_or_else(|| panic!("no password after the word in {line:?}"))
        .trim_matches(|c: char| c == '"' || c == '\'' || c == '`')
        .to_owned()
}

#[test]
fn anonymous_is_read_only_and_max_sessions_applies() {
    let root = tempfile::tempdir().unwrap();
    fs::write(root.path().join("pub.txt"), b"public").unwrap();
    let d = start(&[
        "--listen",
        "127.0.0.1:0",
        "--root",
        root.path().to_str().unwrap(),
        "--user",
        "alice:secret",
        "--anonymous",
        "--max-sessions",
        "2",
        "--idle-timeout",
        "60",
    ]);
    // curl logs in as anonymous without credentials.
    let anon = format!("ftp://127.0.0.1:{}/", d.addr.port());
    let got = assert_success("anonymous get", &curl(&[&format!("{anon}pub.txt")]));
    assert_eq!(got, "public");
    let work = tempfile::tempdir().unwrap();
    let f = work.path().join("w.txt");
    fs::write(&f, b"w").unwrap();
    let out = curl(&["-T", f.to_str().unwrap(), &format!("{anon}w.txt")]);
    assert!(!out.status.success(), "anonymous upload accepted: {out:?}");
    assert!(!root.path().join("w.txt").exists());

    let _a = RawControl::login(d.addr, "alice", "secret");
    let _b = RawControl::login(d.addr, "anonymous", "guest@");
    let mut c = RawControl::connect(d.addr);
    assert_eq!(c.reply().code, 421, "third session with --max-sessions 2");
}

#[test]
fn passive_ports_are_used() {
    // Find a free port, then ask the daemon to use exactly that one. The
    // port is released before the daemon binds it; another process taking
    // it in between would make this test fail loudly, not pass wrongly.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let root = tempfile::tempdir().unwrap();
    fs::write(root.path().join("p.txt"), b"p").unwrap();
    let range = format!("{port}-{port}");
    let d = start(&[
        "--listen",
        "127.0.0.1:0",
        "--root",
        root.path().to_str().unwrap(),
        "--user",
        "alice:secret",
        "--passive-ports",
        &range,
    ]);
    for _ in 0..2 {
        let mut c = RawControl::login(d.addr, "alice", "secret");
        let r = c.cmd("EPSV", 229);
        assert!(r.text.contains(&format!("|||{port}|")), "{:?}", r.text);
        c.send("QUIT");
        let _ = c.reply();
    }
    let out = curl(&["-v", &d.url("alice:secret", "p.txt")]);
    let text = assert_success("curl via the passive port", &out);
    assert_eq!(text, "p");
}

#[test]
fn bad_arguments_fail_with_a_message() {
    let bin = ftpshd_binary();
    let out = run_with_timeout(Command::new(&bin).arg("--help"), Duration::from_secs(30));
    let help = assert_success("ftpshd --help", &out);
    for opt in [
        "--listen",
        "--root",
        "--user",
        "--anonymous",
        "--passive-ports",
        "--idle-timeout",
        "--max-sessions",
    ] {
        assert!(help.contains(opt), "--help does not mention {opt}:\n{help}");
    }
    let missing = tempfile::tempdir().unwrap();
    let missing = missing.path().join("missing");
    for args in [
        vec!["--listen", "not-an-address"],
        vec![
            "--listen",
            "127.0.0.1:0",
            "--root",
            missing.to_str().unwrap(),
        ],
        vec!["--listen", "127.0.0.1:0", "--user", "no-password-here"],
        vec!["--listen", "127.0.0.1:0", "--passive-ports", "9-1"],
    ] {
        let out = run_with_timeout(Command::new(&bin).args(&args), Duration::from_secs(30));
        assert!(!out.status.success(), "ftpshd {args:?} succeeded: {out:?}");
        assert!(
            !out.stderr.is_empty(),
            "ftpshd {args:?} failed without a message"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "ftpshd {args:?} panicked: {err}");
    }
}

#[test]
fn no_active_refuses_port_and_eprt() {
    let root = tempfile::tempdir().unwrap();
    fs::write(root.path().join("p.txt"), b"p").unwrap();
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--root",
        root.path().to_str().unwrap(),
        "--user",
        "alice:secret",
    ];
    let trap = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = trap.local_addr().unwrap().port();
    let [p1, p2] = port.to_be_bytes();
    let d = start(&[&args[..], &["--no-active"]].concat());
    let mut c = RawControl::login(d.addr, "alice", "secret");
    let r = c.cmd(&format!("PORT 127,0,0,1,{p1},{p2}"), 502);
    assert!(r.text.contains("active mode is disabled"), "{:?}", r.text);
    c.cmd(&format!("EPRT |1|127.0.0.1|{port}|"), 502);
    c.cmd("RETR p.txt", 425);
    trap.set_nonblocking(true).unwrap();
    assert!(trap.accept().is_err(), "--no-active connected out");
    // Passive mode still works, and without the flag active mode does.
    let out = curl(&[&d.url("alice:secret", "p.txt")]);
    assert_eq!(assert_success("curl, passive", &out), "p");
    let d = start(&args);
    let out = curl(&["-P", "127.0.0.1", &d.url("alice:secret", "p.txt")]);
    assert_eq!(assert_success("curl -P without --no-active", &out), "p");
}
