//! `hash FILE`, `upload --verify` and `download --verify` end to end:
//! against the embedded ftpshd (whose `HASH` is the linked-in example
//! plugin), against pyftpdlib (no `HASH`: a clear failure, nothing
//! transferred), and against pyftpdlib with a test `HASH` that starts on
//! SHA-1 and lies about some files (the `OPTS HASH` path and a caught
//! mismatch). Also: the plugin verb in completion and `help`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers, not only #[test] fns

mod common;

use std::path::Path;
use std::process::Command;

use common::Server;
use ftpsh_shell::complete::{self, Source as _};
use ftpsh_shell::url::FtpUrl;
use ftpsh_shell::{CmdError, Failure, Options, ServerChoice, Shell, exit};
use sha2::{Digest, Sha256};

/// A position-dependent pattern (no power-of-two period, so a misplaced
/// chunk changes the digest).
fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ (i / 251) as u8)
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A deterministic shell in `work`, pointed at `server`.
fn shell_for(server: &mut Server, work: &Path) -> Shell {
    let mut shell = Shell::new(
        Options {
            deterministic: true,
            ..Options::default()
        },
        work.to_path_buf(),
    );
    match server.take_embedded() {
        Some(e) => shell.attach_embedded(e),
        None => shell.set_server(ServerChoice::Url(FtpUrl::parse(&server.url()).unwrap())),
    }
    shell
}

/// Runs one command: its output, and its error if it failed.
fn run(shell: &mut Shell, command: &str) -> (String, Result<(), CmdError>) {
    let mut out = Vec::new();
    let result = shell.execute(command, &mut out).map(|_| ());
    (String::from_utf8(out).unwrap(), result)
}

/// Runs a command that must succeed; returns its output.
#[track_caller]
fn ok(shell: &mut Shell, command: &str) -> String {
    let (out, result) = run(shell, command);
    if let Err(e) = result {
        panic!("{command}: {e}\n{out}");
    }
    out
}

/// Runs a command that must fail; returns its error.
#[track_caller]
fn fails(shell: &mut Shell, command: &str) -> CmdError {
    match run(shell, command) {
        (out, Ok(())) => panic!("{command} succeeded:\n{out}"),
        (_, Err(e)) => e,
    }
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn hash_and_verify_against_embedded_ftpshd() {
    let mut server = common::embedded();
    let work = tempfile::tempdir().unwrap();
    // More than one 64 KiB chunk and not a multiple of it.
    let big = pattern(3 * 1024 * 1024 + 12_345);
    let digest = sha256_hex(&big);
    std::fs::write(work.path().join("big.bin"), &big).unwrap();
    std::fs::write(work.path().join("two words.txt"), b"spaces\n").unwrap();
    std::fs::create_dir(work.path().join("copies")).unwrap();
    let mut shell = shell_for(&mut server, work.path());

    ok(&mut shell, "connme");
    ok(&mut shell, "cd pub");
    let out = ok(&mut shell, "upload --verify big.bin");
    assert!(out.contains("uploaded big.bin -> big.bin"), "{out}");
    assert!(
        out.contains(&format!("verified big.bin: SHA-256 {digest}\n")),
        "{out}"
    );
    assert_eq!(
        ok(&mut shell, "hash big.bin"),
        format!("big.bin: SHA-256 {digest}\n")
    );
    let out = ok(&mut shell, "download --verify big.bin copies/");
    assert!(
        out.contains(&format!("verified copies/big.bin: SHA-256 {digest}\n")),
        "{out}"
    );
    assert_eq!(
        std::fs::read(work.path().join("copies/big.bin")).unwrap(),
        big
    );
    assert_eq!(names_in(&work.path().join("copies")), ["big.bin"]);

    // A name with a space: the plugin echoes it, the shell parses past it.
    ok(&mut shell, "upload --verify \"two words.txt\"");
    assert_eq!(
        ok(&mut shell, "hash \"two words.txt\""),
        format!("two words.txt: SHA-256 {}\n", sha256_hex(b"spaces\n"))
    );

    // The server's refusals keep their reply code.
    let e = fails(&mut shell, "hash nope.bin");
    assert_eq!(e.code, Some(550), "{e}");
    assert!(e.message.starts_with("hash: nope.bin: 550 "), "{e}");
    // `..` from /pub reaches the user's root, and stops there: a file
    // that really exists beside the root cannot be hashed.
    std::fs::write(server.root.join("top.txt"), b"top\n").unwrap();
    assert_eq!(
        ok(&mut shell, "hash ../top.txt"),
        format!("../top.txt: SHA-256 {}\n", sha256_hex(b"top\n"))
    );
    let beside = tempfile::NamedTempFile::new_in(server.root.parent().unwrap()).unwrap();
    let name = beside.path().file_name().unwrap().to_str().unwrap();
    let e = fails(&mut shell, &format!("hash ../../{name}"));
    assert_eq!(e.code, Some(550), "{e}");
    shell.stop_embedded();
}

#[test]
fn hash_verb_in_completion_and_help() {
    let mut server = common::embedded();
    let work = tempfile::tempdir().unwrap();
    let mut shell = shell_for(&mut server, work.path());

    let offline = ok(&mut shell, "help hash");
    assert!(offline.contains("usage: hash FILE"), "{offline}");
    assert!(
        offline.contains("connect to see whether it has one"),
        "{offline}"
    );

    ok(&mut shell, "connme");
    let complete = |shell: &mut Shell, line: &str| -> Vec<String> {
        let (_, c) = complete::complete(line, line.len(), shell);
        c.into_iter().map(|c| c.replacement).collect()
    };
    assert_eq!(complete(&mut shell, "ha"), ["hash "]);
    assert_eq!(complete(&mut shell, "help ha"), ["hash "]);
    assert_eq!(complete(&mut shell, "hash pub/he"), ["pub/hello.txt "]);
    // Offered once, as the shell's verb, not again as a raw server command.
    assert_eq!(
        shell.verbs().iter().filter(|v| *v == "hash").count(),
        1,
        "{:?}",
        shell.verbs()
    );

    let list = ok(&mut shell, "help");
    assert!(
        list.lines()
            .any(|l| l.trim_start().starts_with("hash FILE") && !l.contains("not on this")),
        "{list}"
    );
    let one = ok(&mut shell, "help hash");
    assert!(one.contains("the server's help for HASH:"), "{one}");
    assert!(one.contains("214 Syntax: HASH <SP> pathname"), "{one}");
    shell.stop_embedded();
}

#[test]
fn without_hash_verify_fails_clearly_against_pyftpdlib() {
    let Some(mut server) = common::pyftpdlib() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("up.bin"), pattern(100_000)).unwrap();
    let mut shell = shell_for(&mut server, work.path());
    ok(&mut shell, "connme");
    ok(&mut shell, "cd pub");

    let e = fails(&mut shell, "hash hello.txt");
    assert_eq!(e.message, "hash: server has no HASH command");
    assert_eq!((e.code, e.failure), (None, Failure::Remote));

    let e = fails(&mut shell, "upload --verify up.bin");
    assert_eq!(
        e.message,
        "upload: --verify: server has no HASH command; run without --verify to transfer unchecked"
    );
    assert!(
        !server.pub_dir().join("up.bin").exists(),
        "upload --verify sent the file anyway"
    );
    let e = fails(&mut shell, "download --verify hello.txt");
    assert_eq!(
        e.message,
        "download: --verify: server has no HASH command; run without --verify to transfer unchecked"
    );
    assert_eq!(
        names_in(work.path()),
        ["up.bin"],
        "something was downloaded"
    );

    assert!(ok(&mut shell, "help").contains("(HASH) (not on this server)"));
    assert!(ok(&mut shell, "help hash").contains("this server has no HASH command"));
    // The session is fine afterwards; without --verify transfers work.
    ok(&mut shell, "upload up.bin");
    ok(&mut shell, "download hello.txt");

    // The binary: one line on stderr, exit status 1.
    let o = Command::new(env!("CARGO_BIN_EXE_ftpsh"))
        .env_remove("FTPSH_PASSWORD")
        .env("HOME", std::env::temp_dir())
        .arg(server.url())
        .args(["-c", "hash pub/hello.txt"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(i32::from(exit::STEP_FAILED)));
    // Connection chatter is on stderr too; the failure is its last line,
    // and stdout stays empty.
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .ends_with("\n230 Login successful.\nhash: server has no HASH command\n"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.stdout.is_empty());
}

#[test]
fn verify_catches_a_mismatch() {
    let Some(mut server) = common::pyftpdlib_with_hash() else {
        return;
    };
    let content = pattern(200_000);
    let real = sha256_hex(&content);
    std::fs::write(server.pub_dir().join("my file.bin"), &content).unwrap();
    std::fs::write(server.pub_dir().join("tampered.bin"), &content).unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("tampered-up.bin"), &content).unwrap();
    std::fs::create_dir(work.path().join("copies")).unwrap();
    std::fs::write(work.path().join("copies/keep.bin"), b"old").unwrap();
    let mut shell = shell_for(&mut server, work.path());
    ok(&mut shell, "connme");
    ok(&mut shell, "cd pub");

    // SHA-1 is selected at first: only after OPTS HASH SHA-256 does the
    // reply carry a 64-digit SHA-256 (in upper case, compared in lower).
    assert_eq!(
        ok(&mut shell, "hash \"my file.bin\""),
        format!("my file.bin: SHA-256 {real}\n")
    );
    let out = ok(
        &mut shell,
        "download --verify \"my file.bin\" copies/good.bin",
    );
    assert!(out.contains(&format!("verified copies/good.bin: SHA-256 {real}")));

    // Download: the server's digest disagrees, so nothing is saved — not
    // under the new name, not over an existing file, no temp file left.
    let e = fails(&mut shell, "download --verify tampered.bin copies/");
    assert!(
        e.message.starts_with(&format!(
            "download: tampered.bin: SHA-256 mismatch: received {real}, server has "
        )) && e.message.ends_with("; nothing saved"),
        "{e}"
    );
    let e = fails(
        &mut shell,
        "download -f --verify tampered.bin copies/keep.bin",
    );
    assert!(e.message.contains("SHA-256 mismatch"), "{e}");
    assert_eq!(
        names_in(&work.path().join("copies")),
        ["good.bin", "keep.bin"]
    );
    assert_eq!(
        std::fs::read(work.path().join("copies/keep.bin")).unwrap(),
        b"old"
    );

    // Upload: the mismatch is reported after the 226; the file stays.
    let (out, result) = run(&mut shell, "upload --verify tampered-up.bin");
    assert!(
        out.contains("uploaded tampered-up.bin -> tampered-up.bin"),
        "{out}"
    );
    let e = result.unwrap_err();
    assert!(
        e.message.starts_with(&format!(
            "upload: tampered-up.bin: SHA-256 mismatch: sent {real}, server has "
        )) && e.message.ends_with("; the remote file is left in place"),
        "{e}"
    );
    assert_eq!(
        std::fs::read(server.pub_dir().join("tampered-up.bin")).unwrap(),
        content
    );
    // A missing file: the server's 550.
    let e = fails(&mut shell, "hash nope.bin");
    assert_eq!(e.code, Some(550), "{e}");
}
