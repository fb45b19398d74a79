//! The `ftpshd` binary's FTPS options: `--tls-cert`/`--tls-key` (one PEM
//! file may hold both), `--implicit-tls-listen`, and the messages for a bad
//! certificate file or an implicit listener without one.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::Client;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn ftpshd(root: &std::path::Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ftpshd"));
    c.args([
        "--listen",
        "127.0.0.1:0",
        "--user",
        "alice:secret",
        "--root",
    ])
    .arg(root)
    .args(extra)
    .env("RUST_LOG", "warn")
    .stdin(Stdio::null());
    c
}

/// Runs a command that must exit by itself; its output.
fn run(mut c: Command) -> std::process::Output {
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Bounded wait; stopped by its PID if it hangs.
    for _ in 0..300 {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    panic!("ftpshd did not exit");
}

#[test]
fn bad_certificate_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.pem");
    std::fs::write(&bad, "not a certificate").unwrap();
    let bad = bad.to_str().unwrap();
    let out = run(ftpshd(dir.path(), &["--tls-cert", bad, "--tls-key", bad]));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.pem"), "{stderr}");

    let out = run(ftpshd(
        dir.path(),
        &["--implicit-tls-listen", "127.0.0.1:0"],
    ));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--tls-cert"), "{stderr}");
}

#[test]
fn one_pem_file_with_both_and_an_implicit_listener() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let pem = dir.path().join("keycert.pem");
    std::fs::write(
        &pem,
        format!("{}{}", cert.cert.pem(), cert.signing_key.serialize_pem()),
    )
    .unwrap();
    let pem = pem.to_str().unwrap();
    let mut child = ftpshd(
        dir.path(),
        &[
            "--tls-cert",
            pem,
            "--tls-key",
            pem,
            "--implicit-tls-listen",
            "127.0.0.1:0",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit())
    .spawn()
    .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut child = KillOnDrop(child);
    let mut lines = Vec::new();
    for _ in 0..2 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        lines.push(line.trim_end().to_owned());
    }
    let addr: SocketAddr = lines[0]
        .strip_prefix("ftpshd listening on ")
        .unwrap()
        .parse()
        .unwrap();
    let implicit: SocketAddr = lines[1]
        .strip_prefix("ftpshd listening for implicit TLS on ")
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(addr, implicit);
    let mut c = Client::open(addr);
    assert_eq!(c.cmd("AUTH TLS").0, 234);
    std::net::TcpStream::connect(implicit).unwrap();
    kill(
        Pid::from_raw(i32::try_from(child.0.id()).unwrap()),
        Signal::SIGTERM,
    )
    .unwrap();
    assert!(child.0.wait().unwrap().success());
}

/// Stops the daemon by its PID if the test fails before it does.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
