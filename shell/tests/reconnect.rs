//! Reconnect: the server restarts in the middle of a session (commands
//! piped on stdin, one at a time); the next command reconnects on its
//! own, logs in again, returns to the same remote directory and runs. A
//! download cut off by a dropped connection continues with REST after the
//! reconnect. `--retries 0` turns it off.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers, not only #[test] fns

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

/// pyftpdlib on a given port (0: any), serving `root`; prints its port.
const PYFTPDLIB_ON_PORT: &str = r#"
import sys, logging
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
logging.basicConfig(level=logging.ERROR)
auth = DummyAuthorizer()
auth.add_user("user", "12345", sys.argv[1], perm="elradfmw")
FTPHandler.authorizer = auth
server = FTPServer(("127.0.0.1", int(sys.argv[2])), FTPHandler)
print(server.address[1], flush=True)
server.serve_forever()
"#;

struct Py(Child);

impl Drop for Py {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn pyftpdlib(root: &std::path::Path, port: u16) -> Option<(Py, u16)> {
    let mut child = Command::new("python3")
        .args(["-c", PYFTPDLIB_ON_PORT])
        .arg(root)
        .arg(port.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().ok()?;
    Some((Py(child), port))
}

fn have_pyftpdlib() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import pyftpdlib"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        common::skip("pyftpdlib is not installed (pip install pyftpdlib)");
    }
    ok
}

/// Reads stdout lines until one contains `what`; returns them all.
fn read_until(out: &mut impl BufRead, what: &str) -> String {
    let mut seen = String::new();
    for _ in 0..200 {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            break;
        }
        seen.push_str(&line);
        if line.contains(what) {
            return seen;
        }
    }
    panic!("no {what:?} in:\n{seen}");
}

#[test]
fn the_server_restarts_mid_session_and_the_cwd_is_kept() {
    if !have_pyftpdlib() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("deep/er")).unwrap();
    std::fs::write(root.path().join("deep/er/x.txt"), b"x\n").unwrap();
    let (server, port) = pyftpdlib(root.path(), 0).unwrap();
    let mut shell = Command::new(env!("CARGO_BIN_EXE_ftpsh"))
        .env_remove("FTPSH_PASSWORD")
        .env("HOME", std::env::temp_dir())
        .args(["--timeout", "10"])
        .arg(format!("ftp://user:12345@127.0.0.1:{port}/"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = shell.stdin.take().unwrap();
    let mut stdout = BufReader::new(shell.stdout.take().unwrap());
    writeln!(stdin, "cd deep/er").unwrap();
    read_until(&mut stdout, "cd ok, cwd=/deep/er");

    // Restart: the old process goes away with the session, a new one
    // comes up on the same port.
    drop(server);
    let (_server, again) = pyftpdlib(root.path(), port).unwrap();
    assert_eq!(again, port);

    writeln!(stdin, "pwd").unwrap();
    writeln!(stdin, "ls -1").unwrap();
    writeln!(stdin, "exit").unwrap();
    let seen = read_until(&mut stdout, "x.txt");
    assert!(seen.starts_with("/deep/er\n"), "{seen}");
    drop(stdin);
    let out = shell.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("reconnecting in 1 s (attempt 1 of 3)"),
        "{err}"
    );
    assert!(err.contains("cwd=/deep/er"), "{err}");
}

#[test]
fn retries_0_leaves_the_shell_offline() {
    if !have_pyftpdlib() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let (server, port) = pyftpdlib(root.path(), 0).unwrap();
    let mut shell = Command::new(env!("CARGO_BIN_EXE_ftpsh"))
        .env_remove("FTPSH_PASSWORD")
        .env("HOME", std::env::temp_dir())
        .args(["--retries", "0"])
        .arg(format!("ftp://user:12345@127.0.0.1:{port}/"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = shell.stdin.take().unwrap();
    let mut stdout = BufReader::new(shell.stdout.take().unwrap());
    writeln!(stdin, "pwd").unwrap();
    read_until(&mut stdout, "/");
    drop(server);
    let (_server, _) = pyftpdlib(root.path(), port).unwrap();
    writeln!(stdin, "pwd").unwrap();
    drop(stdin);
    let out = shell.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("disconnected; run connme"), "{err}");
}

#[test]
fn a_download_cut_off_continues_after_the_reconnect() {
    let Some(fake) = common::fake(&["--drop-after", "500000"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ftpsh"))
        .current_dir(dir.path())
        .env_remove("FTPSH_PASSWORD")
        .env("HOME", std::env::temp_dir())
        .args(["--timeout", "10", "-c", "download big.bin"])
        .arg(format!("ftp://u:p@127.0.0.1:{}/", fake.port))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("reconnecting"), "{err}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("continued big.bin -> big.bin"), "{stdout}");
    let expected: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    assert_eq!(std::fs::read(dir.path().join("big.bin")).unwrap(), expected);
}
