//! `ftpshd --config FILE`, started from the shipped example
//! (`dist/ftpshd.toml`): accounts with Argon2id hashes and roots of their
//! own seen through curl and Python's ftplib, no password in `ps`, errors
//! with FILE:LINE:COLUMN, and SIGHUP reloads.
//!
//! The binary must be built first (see [`ftpsh_tests::ftpshd_binary`]).

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a panic is how a test fails"
)]

use std::fs;
use std::io::Write;
use std::process::Command;
use std::time::Duration;

use ftpsh_tests::ftpshd::{ExampleConfig, Ftpshd, hash_password};
use ftpsh_tests::{
    RawControl, assert_success, curl, ftpshd_binary, require_tool, run_with_timeout, seeded_bytes,
    wait_until,
};
use nix::sys::signal::Signal;

/// Python ftplib: log in, print NLST of the root, one name a line.
const FTPLIB_NLST: &str = r#"
import ftplib, sys
host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ftp = ftplib.FTP()
ftp.connect(host, port, timeout=60)
try:
    ftp.login(user, password)
except ftplib.error_perm as e:
    print("refused", str(e)[:3])
    sys.exit(0)
for name in ftp.nlst():
    print(name)
ftp.quit()
"#;

fn ftplib_nlst(d: &Ftpshd, user: &str, password: &str) -> Vec<String> {
    let out = run_with_timeout(
        Command::new(require_tool("python3"))
            .args(["-c", FTPLIB_NLST, "127.0.0.1"])
            .arg(d.addr.port().to_string())
            .args([user, password]),
        Duration::from_secs(90),
    );
    let text = assert_success("python3 ftplib", &out);
    let mut names: Vec<String> = text.lines().map(str::to_owned).collect();
    names.sort();
    names
}

#[test]
fn accounts_from_the_example_file_see_only_their_own_roots() {
    let dir = tempfile::tempdir().unwrap();
    let srv = dir.path().join("srv");
    let config = dir.path().join("ftpshd.toml");
    ExampleConfig::new(&srv, "alice-Pw-1", "bob-Pw-2").write(&config);
    fs::write(srv.join("alice/alice.txt"), b"for alice\n").unwrap();
    fs::write(srv.join("bob/bob.txt"), b"for bob\n").unwrap();
    fs::write(srv.join("top.txt"), b"top\n").unwrap();

    let mut d = Ftpshd::start(&["--config", config.to_str().unwrap()]);

    // curl: each sees its own root as "/".
    let list = assert_success(
        "curl alice",
        &curl(&["--list-only", &d.url("alice:alice-Pw-1", "")]),
    );
    assert_eq!(list.lines().collect::<Vec<_>>(), ["alice.txt"]);
    let list = assert_success(
        "curl bob",
        &curl(&["--list-only", &d.url("bob:bob-Pw-2", "")]),
    );
    assert_eq!(list.lines().collect::<Vec<_>>(), ["bob.txt"]);
    let got = assert_success(
        "curl get",
        &curl(&[&d.url("alice:alice-Pw-1", "alice.txt")]),
    );
    assert_eq!(got, "for alice\n");
    // Nothing outside the account's root is reachable.
    for rel in ["../bob/bob.txt", "%2E%2E/bob/bob.txt", "../top.txt"] {
        let out = curl(&[&d.url("alice:alice-Pw-1", rel)]);
        assert!(!out.status.success(), "alice read {rel}: {out:?}");
    }
    // alice may upload (elradfmw); bob may not (elr).
    let work = tempfile::tempdir().unwrap();
    let up = work.path().join("up.bin");
    fs::write(&up, seeded_bytes(3, 100_000)).unwrap();
    assert_success(
        "curl -T alice",
        &curl(&[
            "-T",
            up.to_str().unwrap(),
            &d.url("alice:alice-Pw-1", "up.bin"),
        ]),
    );
    assert!(fs::read(srv.join("alice/up.bin")).unwrap() == fs::read(&up).unwrap());
    let out = curl(&["-T", up.to_str().unwrap(), &d.url("bob:bob-Pw-2", "up.bin")]);
    assert!(!out.status.success(), "bob uploaded: {out:?}");
    assert!(!srv.join("bob/up.bin").exists());

    // ftplib, the other client.
    assert_eq!(
        ftplib_nlst(&d, "alice", "alice-Pw-1"),
        ["alice.txt", "up.bin"]
    );
    assert_eq!(ftplib_nlst(&d, "bob", "bob-Pw-2"), ["bob.txt"]);

    // bob's max_sessions = 2: a third login is refused, not locked out.
    let b1 = RawControl::login(d.addr, "bob", "bob-Pw-2");
    let b2 = RawControl::login(d.addr, "bob", "bob-Pw-2");
    let mut b3 = RawControl::connect(d.addr);
    b3.expect(220);
    b3.cmd("USER bob", 331);
    let r = b3.cmd("PASS bob-Pw-2", 530);
    assert!(r.text.contains("already logged in 2 times"), "{}", r.text);
    drop((b1, b2, b3));

    // Three wrong passwords, each 530 (the example's lock-out locks the
    // address after the third).
    assert_eq!(ftplib_nlst(&d, "bob", "alice-Pw-1"), ["refused 530"]);

    // A wrong password: 530 (curl's "login denied" is exit 67).
    let out = curl(&[&d.url("alice:wrong", "")]);
    assert_eq!(out.status.code(), Some(67), "{out:?}");
    let mut c = RawControl::connect(d.addr);
    c.expect(220);
    c.cmd("USER nobody", 331);
    c.cmd("PASS alice-Pw-1", 530);
    let mut locked = RawControl::connect(d.addr);
    assert_eq!(locked.reply().code, 421);

    // No password (or hash) in the daemon's command line.
    let cmdline = fs::read(format!("/proc/{}/cmdline", d.pid())).unwrap();
    let cmdline = String::from_utf8_lossy(&cmdline);
    assert!(cmdline.contains("--config"), "{cmdline}");
    let ps = run_with_timeout(
        Command::new("ps").args(["-ww", "-o", "args=", "-p", &d.pid().to_string()]),
        Duration::from_secs(30),
    );
    let ps = assert_success("ps", &ps);
    assert!(ps.contains("ftpshd"), "{ps}");
    for secret in ["alice-Pw-1", "bob-Pw-2", "argon2"] {
        assert!(!cmdline.contains(secret), "{secret} in {cmdline}");
        assert!(!ps.contains(secret), "{secret} in {ps}");
    }
    // The log names each login with its client address, never a password.
    let log = d.stderr_text();
    assert!(
        log.contains("login ok client=127.0.0.1 user=\"alice\""),
        "{log}"
    );
    assert!(
        log.contains("login failed client=127.0.0.1 user=\"alice\""),
        "{log}"
    );
    assert!(
        !log.contains("alice-Pw-1") && !log.contains("wrong"),
        "{log}"
    );
    assert_eq!(d.terminate(), Some(0));
}

#[test]
fn hashed_user_flag_keeps_the_password_out_of_ps() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.txt"), b"a").unwrap();
    let hash = hash_password("s3cret pass");
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    let spec = format!("carol:{hash}:elr");
    let d = Ftpshd::start(&[
        "--listen",
        "127.0.0.1:0",
        "--root",
        dir.path().to_str().unwrap(),
        "--user",
        &spec,
    ]);
    let list = assert_success(
        "curl",
        &curl(&["--list-only", &d.url("carol:s3cret%20pass", "")]),
    );
    assert_eq!(list.trim_end(), "a.txt");
    let cmdline = fs::read(format!("/proc/{}/cmdline", d.pid())).unwrap();
    assert!(!String::from_utf8_lossy(&cmdline).contains("s3cret"));
}

/// Runs `ftpshd --config FILE` expecting it to refuse; returns stderr.
fn refused(text: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    fs::write(&path, text).unwrap();
    let out = run_with_timeout(
        Command::new(ftpshd_binary()).args(["--config", path.to_str().unwrap()]),
        Duration::from_secs(30),
    );
    assert!(!out.status.success(), "accepted:\n{text}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("listening"),
        "it must not serve"
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    (path.to_str().unwrap().to_owned(), err)
}

#[test]
fn bad_files_are_refused_with_file_line_and_column() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path().to_str().unwrap();
    let (path, err) = refused(&format!(
        "listen = \"127.0.0.1:0\"\nroot = {root:?}\nmax_sesions = 3\n"
    ));
    assert!(err.contains(&format!("{path}:3:1: ")), "{err}");
    assert!(err.contains("max_sesions"), "{err}");
    let (path, err) = refused(&format!(
        "listen = \"127.0.0.1:0\"\nroot = {root:?}\nidle_timeout = \"5 minutes\"\n"
    ));
    assert!(err.contains(&format!("{path}:3:16: ")), "{err}");
    let (path, err) = refused(&format!(
        "listen = \"127.0.0.1:0\"\nroot = {root:?}\n\n[[users]]\nname = \"a\"\npassword = \"hunter2\"\n"
    ));
    assert!(err.contains(&format!("{path}:6:12: ")), "{err}");
    assert!(err.contains("plaintext password refused"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    let (path, err) = refused(&format!(
        "listen = \"127.0.0.1:0\"\nroot = {root:?}\n[[users]]\nname = \"a\"\npassword = \"plain:x\"\nroot = \"/nonexistent/ftpsh-a\"\n"
    ));
    assert!(err.contains(&format!("{path}:6:8: ")), "{err}");
    assert!(err.contains("/nonexistent/ftpsh-a"), "{err}");
    let (path, err) = refused("listen = [\n");
    assert!(err.contains(&format!("{path}:")), "{err}");
}

#[test]
fn plain_passwords_work_with_a_warning_and_the_command_line_wins() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("f.toml");
    fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:1\"\nroot = {:?}\nbanner = \"from the file\"\n\
             [[users]]\nname = \"dave\"\npassword = \"plain:pw\"\n",
            dir.path()
        ),
    )
    .unwrap();
    // --listen overrides the file's (unusable) port 1.
    let d = Ftpshd::start(&[
        "--config",
        config.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    let mut c = RawControl::connect(d.addr);
    let banner = c.expect(220);
    assert!(banner.text.contains("from the file"), "{}", banner.text);
    c.cmd("USER dave", 331);
    c.cmd("PASS pw", 230);
    let log = d.stderr_text();
    assert!(log.contains("plaintext password"), "{log}");
    assert!(log.contains(":5:8: "), "the warning names the line: {log}");
}

#[test]
fn sighup_adds_a_user_while_a_session_keeps_transferring_and_a_broken_file_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let srv = dir.path().join("srv");
    let config = dir.path().join("ftpshd.toml");
    // A data timeout long enough for the steps below on a busy machine,
    // while alice's download waits for her to read.
    let base = ExampleConfig::new(&srv, "alice-pw", "bob-pw").with("data_timeout = 300");
    base.write(&config);
    let big = seeded_bytes(11, 24 << 20);
    fs::write(srv.join("alice/big.bin"), &big).unwrap();
    let d = Ftpshd::start(&["--config", config.to_str().unwrap()]);

    // alice starts a download and reads it slowly while the file changes.
    let mut alice = RawControl::login(d.addr, "alice", "alice-pw");
    alice.cmd("TYPE I", 200);
    let mut data = alice.epsv();
    alice.cmd("RETR big.bin", 150);
    let mut received = vec![0u8; 1 << 20];
    std::io::Read::read_exact(&mut data, &mut received).unwrap();

    // carol is not there yet.
    let mut c = RawControl::connect(d.addr);
    c.expect(220);
    c.cmd("USER carol", 331);
    c.cmd("PASS carol-pw", 530);

    let carol_root = srv.join("carol");
    fs::create_dir(&carol_root).unwrap();
    fs::write(carol_root.join("c.txt"), b"c").unwrap();
    let with_carol = format!(
        "{}\n[[users]]\nname = \"carol\"\npassword = \"{}\"\nroot = {:?}\n",
        base.text,
        hash_password("carol-pw"),
        carol_root
    );
    fs::write(&config, &with_carol).unwrap();
    d.signal(Signal::SIGHUP);
    assert!(d.wait_for_log("configuration reloaded", Duration::from_secs(30)));
    let mut carol = RawControl::login(d.addr, "carol", "carol-pw");
    carol.cmd("PWD", 257);

    // A broken file: logged, nothing changes (carol still logs in).
    let mut broken = fs::OpenOptions::new().append(true).open(&config).unwrap();
    broken.write_all(b"\nmax_sessions = \"lots\"\n").unwrap();
    drop(broken);
    d.signal(Signal::SIGHUP);
    assert!(d.wait_for_log("reload refused", Duration::from_secs(30)));
    assert!(
        d.stderr_text().contains("ftpshd.toml:"),
        "{}",
        d.stderr_text()
    );
    let _carol2 = RawControl::login(d.addr, "carol", "carol-pw");
    // Removing alice from the file does not end her running session.
    fs::write(
        &config,
        with_carol.replace("name = \"alice\"", "name = \"alice2\""),
    )
    .unwrap();
    d.signal(Signal::SIGHUP);
    assert!(wait_until(Duration::from_secs(30), || {
        d.stderr_text().matches("configuration reloaded").count() == 2
    }));
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut data, &mut rest).unwrap();
    received.extend_from_slice(&rest);
    assert!(received == big, "the download changed");
    assert_eq!(alice.reply().code, 226);
    alice.cmd("NOOP", 200);
    // ...but she cannot log in again.
    let mut again = RawControl::connect(d.addr);
    again.expect(220);
    again.cmd("USER alice", 331);
    again.cmd("PASS alice-pw", 530);
}

/// The unprivileged account the `run_as` test switches to; `.ci/run`
/// creates it.
const RUN_AS: &str = "ftpsh-run";

#[test]
fn run_as_drops_root_and_uploads_belong_to_that_user() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use nix::unistd::{Uid, User, chown};
    if !Uid::effective().is_root() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs the tests as root: this test must not be skipped there"
        );
        eprintln!(
            "\n*** SKIPPED run_as_drops_root_and_uploads_belong_to_that_user: it needs root \
             (CI runs it as root) ***\n"
        );
        return;
    }
    if User::from_name(RUN_AS).unwrap().is_none() {
        let out = run_with_timeout(
            Command::new("useradd").args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                RUN_AS,
            ]),
            Duration::from_secs(60),
        );
        assert_success("useradd", &out);
    }
    let user = User::from_name(RUN_AS).unwrap().unwrap();
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let srv = dir.path().join("srv");
    let config = dir.path().join("ftpshd.toml");
    ExampleConfig::new(&srv, "alice-pw", "bob-pw").write(&config);
    chown(&srv.join("alice"), Some(user.uid), Some(user.gid)).unwrap();

    // As root without run_as (and without FTPSHD_ALLOW_ROOT, which the
    // workspace sets for tests): refused.
    let out = run_with_timeout(
        Command::new(ftpshd_binary())
            .args(["--config", config.to_str().unwrap()])
            .env_remove("FTPSHD_ALLOW_ROOT"),
        Duration::from_secs(30),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to serve as root"), "{err}");
    assert!(err.contains("run_as"), "{err}");

    let d = Ftpshd::start_with(
        Command::new(ftpshd_binary())
            .args(["--config", config.to_str().unwrap(), "--run-as", RUN_AS])
            .env_remove("FTPSHD_ALLOW_ROOT"),
    );
    let status = fs::read_to_string(format!("/proc/{}/status", d.pid())).unwrap();
    let uid = user.uid.as_raw().to_string();
    let gid = user.gid.as_raw().to_string();
    let ids = |key: &str| -> Vec<String> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap()
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(ids("Uid:"), [uid.as_str(); 4], "{status}");
    assert_eq!(ids("Gid:"), [gid.as_str(); 4], "{status}");
    assert!(!ids("Groups:").contains(&"0".to_owned()), "{status}");

    let work = tempfile::tempdir().unwrap();
    let up = work.path().join("up.bin");
    fs::write(&up, seeded_bytes(21, 70_000)).unwrap();
    assert_success(
        "curl -T",
        &curl(&[
            "-T",
            up.to_str().unwrap(),
            &d.url("alice:alice-pw", "up.bin"),
        ]),
    );
    let meta = fs::metadata(srv.join("alice/up.bin")).unwrap();
    assert_eq!(meta.uid(), user.uid.as_raw(), "the upload's owner");
    assert_eq!(meta.gid(), user.gid.as_raw(), "the upload's group");
    // bob's root still belongs to root: the daemon cannot write there.
    assert_eq!(fs::metadata(srv.join("bob")).unwrap().uid(), 0);
}

/// `ftpshd hash-password` on a terminal: prompted twice, echo off.
const PTY_HASH: &str = r#"
import pexpect, sys
child = pexpect.spawn(sys.argv[1], ["hash-password"], timeout=60, encoding="utf-8")
child.expect("Password: ")
child.sendline(sys.argv[2])
child.expect("Again: ")
child.sendline(sys.argv[3])
child.expect(pexpect.EOF)
child.close()
print("exit", child.exitstatus)
print(child.before)
"#;

#[test]
fn hash_password_on_a_terminal_does_not_echo() {
    let have = Command::new(require_tool("python3"))
        .args(["-c", "import pexpect"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(have, "python3 pexpect is needed (.ci/run installs it)");
    let run = |first: &str, again: &str| {
        let out = run_with_timeout(
            Command::new("python3")
                .args(["-c", PTY_HASH])
                .arg(ftpshd_binary())
                .args([first, again]),
            Duration::from_secs(90),
        );
        assert_success("pexpect hash-password", &out)
    };
    let out = run("tty secret 1", "tty secret 1");
    assert!(out.contains("exit 0"), "{out}");
    assert!(
        !out.contains("tty secret"),
        "the password was echoed: {out}"
    );
    let hash = out
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("$argon2id$"))
        .unwrap_or_else(|| panic!("no hash in {out}"));
    assert!(ftpsh_core::auth::credential::verify(hash, "tty secret 1"));
    assert!(!ftpsh_core::auth::credential::verify(hash, "tty secret 2"));
    let out = run("one", "two");
    assert!(out.contains("exit 1"), "{out}");
    assert!(out.contains("differ"), "{out}");
}

#[test]
fn anonymous_has_its_own_read_only_root() {
    let dir = tempfile::tempdir().unwrap();
    let srv = dir.path().join("srv");
    let config = dir.path().join("ftpshd.toml");
    let public = srv.join("pub");
    ExampleConfig::new(&srv, "alice-pw", "bob-pw")
        .with(&format!("anonymous = true\nanonymous_root = {public:?}"))
        .write(&config);
    fs::create_dir(&public).unwrap();
    fs::write(public.join("readme.txt"), b"public\n").unwrap();
    fs::write(srv.join("private.txt"), b"private\n").unwrap();
    let d = Ftpshd::start(&["--config", config.to_str().unwrap()]);
    let anon = format!("ftp://127.0.0.1:{}/", d.addr.port());
    let list = assert_success("anonymous list", &curl(&["--list-only", &anon]));
    assert_eq!(list.lines().collect::<Vec<_>>(), ["readme.txt"]);
    let out = curl(&[&format!("{anon}../private.txt")]);
    assert!(!out.status.success(), "{out:?}");
    let work = tempfile::tempdir().unwrap();
    let f = work.path().join("w.txt");
    fs::write(&f, b"w").unwrap();
    let out = curl(&["-T", f.to_str().unwrap(), &format!("{anon}w.txt")]);
    assert!(!out.status.success(), "anonymous upload accepted: {out:?}");
    assert!(!public.join("w.txt").exists());
    // ftplib's anonymous login, too.
    assert_eq!(
        ftplib_nlst(&d, "anonymous", "guest@example.org"),
        ["readme.txt"]
    );
}
