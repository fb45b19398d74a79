//! The interactive shell through a real pseudo-terminal: tab completion of
//! remote names, history recall and persistence, the progress bar, Ctrl-C
//! aborting an upload. The terminal is driven by `tests/pty_session.py`
//! (Python's pexpect); the test is skipped, saying so, only when Python or
//! pexpect is missing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers, not only #[test] fns

mod common;

use std::process::Command;

#[test]
fn interactive_session_in_a_pty() {
    let have = Command::new("python3")
        .args(["-c", "import pexpect"])
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        common::skip("python3 with pexpect is needed (pip install pexpect)");
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pty_session.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_ftpsh"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("pty session ok"), "{stdout}");
}
