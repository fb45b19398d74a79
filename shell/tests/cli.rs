//! The `ftpsh` binary as a user runs it: `--batch` with its documented
//! exit codes, `-c`, commands piped on stdin, and a deterministic
//! transcript.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers, not only #[test] fns

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn ftpsh() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ftpsh"));
    // Keep the user's own settings out of the tests.
    c.env_remove("FTPSH_PASSWORD")
        .env("HOME", std::env::temp_dir());
    c
}

fn batch(yaml: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("script.yaml");
    std::fs::write(&path, yaml).unwrap();
    ftpsh().arg("--batch").arg(&path).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn scripts_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts"))
}

#[test]
fn demo_transcript_is_the_same_every_run() {
    let demo = scripts_dir().join("demo.yaml");
    let a = ftpsh().arg("--batch").arg(&demo).output().unwrap();
    let b = ftpsh().arg("--batch").arg(&demo).output().unwrap();
    assert_eq!(a.status.code(), Some(0), "{}", text(&a.stderr));
    assert_eq!(text(&a.stdout), text(&b.stdout));
    assert!(text(&a.stdout).ends_with("# ok: 28 steps as expected\n"));
    assert!(
        !text(&a.stdout).contains("127.0.0.1"),
        "a port in the transcript"
    );
    assert!(
        !text(&a.stdout).contains("/tmp"),
        "a temp path in the transcript"
    );
}

#[test]
fn exit_code_0_when_all_steps_go_as_expected() {
    let o = batch(
        "steps:\n  - connme\n  - run: rm nope.txt\n    expect: 550\n  - run: size nope\n    expect: error\n    continue_on_error: true\n",
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
}

#[test]
fn exit_code_1_when_a_step_fails_and_teardown_still_runs() {
    let o = batch("steps:\n  - connme\n  - rm nope.txt\n  - ls\nteardown:\n  - byebye\n");
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("rm: nope.txt: 550"), "{out}");
    assert!(out.contains("!! expected ok, got reply 550"), "{out}");
    assert!(!out.contains("ftpsh> ls"), "stopped at the failure: {out}");
    assert!(out.contains("ftpsh> byebye\n221"), "teardown ran: {out}");
    assert!(out.contains("# FAILED: step 2: expected ok, got reply 550; 1 later steps not run"));
}

#[test]
fn continue_on_error_reports_and_goes_on() {
    let o =
        batch("steps:\n  - connme\n  - run: rm nope.txt\n    continue_on_error: true\n  - ls\n");
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("!! expected ok, got reply 550 (continuing)"),
        "{out}"
    );
    assert!(out.contains("ftpsh> ls"), "{out}");
}

#[test]
fn exit_code_2_for_an_invalid_script_with_its_location() {
    let o = batch("steps:\n  - connme\n  - run: ls\n    expct: ok\n");
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(err.contains("expct"), "{err}");
    assert!(
        err.contains("4:5") || err.contains("line 4"),
        "no location: {err}"
    );
    assert!(o.stdout.is_empty(), "nothing runs");

    let o = batch("steps: [ls]\nserver: ftp://127.0.0.1:21/\nremote_files: [{dir: a}]\n");
    assert_eq!(o.status.code(), Some(2));
    let o = ftpsh()
        .args(["--batch", "/nonexistent/x.yaml"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn exit_code_3_when_the_server_cannot_be_reached_or_login_fails() {
    // A port that was just free: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let o = batch(&format!(
        "server: ftp://u:p@127.0.0.1:{port}/\nsteps:\n  - connme\n  - ls\n"
    ));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stdout));
    assert!(text(&o.stdout).contains("connme: ftp://u@127.0.0.1:"));

    let o = batch("steps:\n  - connme -u ftpsh:wrong\n");
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stdout));
    assert!(text(&o.stdout).contains("connme: login as ftpsh: 530"));
}

#[test]
fn dash_c_runs_commands_and_stops_at_the_first_failure() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), b"abc").unwrap();
    let o = ftpsh()
        .current_dir(dir.path())
        .args([
            "-c",
            "connme; upload a.txt; size a.txt; -rm nope; rm nope; ls",
        ])
        .output()
        .unwrap();
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(out.contains("a.txt: 0.00 MiB (3 bytes)"), "{out}");
    assert_eq!(err.matches("rm: nope: 550").count(), 2, "{err}");
    assert!(
        !out.contains("- 3  "),
        "ls after the failure must not run: {out}"
    );
}

#[test]
fn commands_piped_on_stdin_run_line_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = ftpsh()
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"ls\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(text(&o.stderr), "ls: not connected; run connme first\n");

    let mut child = ftpsh()
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"connme\n# a comment\nmkdir docs\nls\nbyebye\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}{}", text(&o.stderr));
    // Connection chatter goes to stderr; stdout has the commands' output.
    assert!(
        text(&o.stderr).contains("started embedded ftpshd on 127.0.0.1:"),
        "{}",
        text(&o.stderr)
    );
    assert!(!out.contains("started embedded"), "{out}");
    assert!(!out.contains("230 "), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("d ") && l.ends_with("  docs/")),
        "{out}"
    );
}

#[test]
fn a_url_on_the_command_line_that_cannot_be_reached_exits_3() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let o = ftpsh()
        .arg(format!("ftp://u:p@127.0.0.1:{port}/"))
        .args(["-c", "ls"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
}

#[test]
fn completion_scripts_and_man_page() {
    for shell in ["bash", "zsh", "fish"] {
        let o = ftpsh().args(["--completions", shell]).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{shell}");
        let script = text(&o.stdout);
        assert!(script.contains("ftpsh"), "{shell}");
        assert!(script.contains("timeout"), "{shell}: {script}");
    }
    // The bash script is valid bash.
    let o = ftpsh().args(["--completions", "bash"]).output().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ftpsh.bash");
    std::fs::write(&path, &o.stdout).unwrap();
    let check = Command::new("bash").arg("-n").arg(&path).status().unwrap();
    assert!(check.success());

    let o = ftpsh().arg("--man").output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let page = text(&o.stdout);
    assert!(page.contains(".TH ftpsh 1"), "{page}");
    assert!(page.contains(".SH \"SHELL VERBS\""), "{page}");
    // Every verb of the table is in it (from the same table as help).
    for verb in ftpsh_shell::verbs::VERBS {
        assert!(
            page.contains(&format!("\\fB{}", verb.name)),
            "{}",
            verb.name
        );
    }
}

#[test]
fn netrc_by_host_when_the_url_names_no_user() {
    let server = common::embedded();
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join(".netrc"),
        format!(
            "machine 127.0.0.1 login {} password {}\n",
            server.user, server.password
        ),
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_ftpsh"))
        .env_remove("FTPSH_PASSWORD")
        .env("HOME", home.path())
        .args(["-c", "pwd"])
        .arg(format!("ftp://127.0.0.1:{}/", server.port))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("230 alice"), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "/\n");
}

#[test]
fn ls_l_shows_the_servers_list_lines() {
    let Some(server) = common::pyftpdlib() else {
        return;
    };
    let o = ftpsh()
        .args(["-c", "ls -l pub; ls -1 pub", &server.url()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    let mut lines = out.lines();
    let long = lines.next().unwrap();
    assert!(long.starts_with("-rw"), "{out}");
    assert!(long.ends_with(" hello.txt"), "{out}");
    assert_eq!(lines.next(), Some("hello.txt"), "{out}");
}
