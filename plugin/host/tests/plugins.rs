//! The plugin host at the `Command` level: real plugin libraries loaded
//! from real directories, run against `ftpsh_core::testkit` sessions over
//! real temp-dir jails. No sockets here; `plugin/tests/tests/daemon.rs`
//! adds those.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::sync::Arc;

use ftpsh_core::testkit::{TestSession, check_hostile_paths};
use ftpsh_core::{Command, Outcome, Registry, Reply, Request, Session, User, VerbSpec};
use ftpsh_plugin_host::{LoadError, load_dir, load_file, register_all};
use ftpsh_plugin_tests::{plugin_dir, plugin_path};
use sha2::{Digest, Sha256};

const HASH: &str = "ftpsh-plugin-hash";
const PANICKY: &str = "ftpsh-plugin-test-panicky";
const WRONG_ABI: &str = "ftpsh-plugin-test-wrong-abi";
const COLLIDE: &str = "ftpsh-plugin-test-collide";
const FSOPS: &str = "ftpsh-plugin-test-fsops";

/// Stands in for the built-in `ls` command: owns `LIST` and its alias.
struct FakeLs;

impl Command for FakeLs {
    fn name(&self) -> &str {
        "ls"
    }
    fn verbs(&self) -> Vec<VerbSpec> {
        vec![VerbSpec::new("LIST", "LIST [<SP> pathname]", "list").alias("LS")]
    }
    fn run(&self, _: &Request, _: &mut Session) -> Outcome {
        Outcome::Reply(Reply::new(ftpsh_core::ReplyCode::OK, "fake"))
    }
}

fn builtins() -> Registry {
    TestSession::registry_with(Arc::new(FakeLs))
}

/// A logged-in fixture session whose registry holds the built-ins plus
/// `plugins`.
fn session_with(plugins: &[&str]) -> TestSession {
    let dir = plugin_dir(plugins);
    let mut registry = builtins();
    register_all(&mut registry, dir.path()).unwrap();
    TestSession::new(registry)
}

fn reply(outcome: Outcome) -> Reply {
    match outcome {
        Outcome::Reply(r) => r,
        other => panic!("expected a plain reply, got {other:?}"),
    }
}

fn run(t: &mut TestSession, line: &str) -> (u16, String) {
    let r = reply(t.run(line));
    (r.code.0, r.text().to_owned())
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn hash_matches_a_local_sha256_across_chunk_boundaries() {
    let mut t = session_with(&[HASH]);
    // 3 chunks of 64 KiB plus a ragged end.
    let data: Vec<u8> = (0..3 * 65536 + 7u32)
        .map(|i| (i * 31 % 253) as u8)
        .collect();
    std::fs::write(t.path("docs/big.bin"), &data).unwrap();
    for (line, size, digest, name) in [
        (
            "HASH docs/big.bin",
            data.len(),
            sha256_hex(&data),
            "docs/big.bin",
        ),
        (
            "hash hello.txt",
            13,
            sha256_hex(b"hello, world\n"),
            "hello.txt",
        ),
    ] {
        let (code, text) = run(&mut t, line);
        assert_eq!(code, 213, "{line}: {text}");
        assert_eq!(text, format!("SHA-256 0-{size} {digest} {name}"));
    }
    std::fs::write(t.path("empty.txt"), b"").unwrap();
    let (code, text) = run(&mut t, "HASH empty.txt");
    assert_eq!(
        (code, text.as_str()),
        (
            213,
            format!("SHA-256 0-0 {} empty.txt", sha256_hex(b"")).as_str()
        )
    );
    // Relative to the current directory, like every built-in path.
    t.session.cwd = t.session.cwd.resolve("/docs").unwrap();
    let (code, text) = run(&mut t, "HASH readme.md");
    assert_eq!(code, 213, "{text}");
    assert!(text.contains(&sha256_hex(b"# docs\n")), "{text}");
}

#[test]
fn hash_errors_follow_the_draft() {
    let mut t = session_with(&[HASH]);
    assert_eq!(run(&mut t, "HASH nothere.txt").0, 550);
    assert_eq!(
        run(&mut t, "HASH nothere.txt").1,
        "nothere.txt: no such file or directory"
    );
    assert_eq!(run(&mut t, "HASH docs").0, 553, "a directory has no hash");
    assert_eq!(run(&mut t, "HASH").0, 501);
}

#[test]
fn hash_stays_inside_the_jail() {
    let mut t = session_with(&[HASH]);
    // A real file right outside the root: `..` must not reach it.
    let outside = t.dir.path().parent().unwrap().join(format!(
        "outside-{}",
        t.dir.path().file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&outside, b"secret").unwrap();
    let name = outside.file_name().unwrap().to_string_lossy().into_owned();
    for line in [format!("HASH ../{name}"), format!("HASH /../../{name}")] {
        let (code, text) = run(&mut t, &line);
        assert_eq!(code, 550, "{line}: {text}");
    }
    std::fs::remove_file(&outside).unwrap();
    // The shared hostile-path table: traversal, symlink escape, NUL byte.
    let dir = plugin_dir(&[HASH]);
    let hash = load_dir(dir.path()).unwrap().remove(0);
    check_hostile_paths(hash, "HASH {}");
}

#[test]
fn plugin_verbs_get_login_and_permission_checks() {
    let dir = plugin_dir(&[HASH]);
    let mut registry = builtins();
    register_all(&mut registry, dir.path()).unwrap();
    let mut t = TestSession::logged_out(registry);
    assert_eq!(run(&mut t, "HASH hello.txt").0, 530);
    // `reader` has `elr`: HASH needs `r`.
    t.login_as("reader", "pw");
    assert_eq!(run(&mut t, "HASH hello.txt").0, 213);
    // A user with `l` only is refused before the plugin runs.
    let mut config = (*t.session.config).clone();
    config
        .users
        .add(User::from_spec("lister:pw:l", t.dir.path().to_path_buf()).unwrap());
    t.session.config = Arc::new(config);
    t.login_as("lister", "pw");
    let (code, text) = run(&mut t, "HASH hello.txt");
    assert_eq!(code, 550, "{text}");
    assert!(text.contains("permission denied"), "{text}");
}

#[test]
fn panics_and_errors_become_451_and_the_session_goes_on() {
    let mut t = session_with(&[HASH, PANICKY]);
    let (code, text) = run(&mut t, "PANIC");
    assert_eq!(code, 451, "{text}");
    assert_eq!(text, "PANIC: plugin panicky failed: it panicked");
    let (code, text) = run(&mut t, "FAIL");
    assert_eq!(code, 451, "{text}");
    assert_eq!(text, "FAIL: plugin panicky failed: deliberate failure");
    // Same session, same plugin host: still serving.
    for _ in 0..3 {
        assert_eq!(run(&mut t, "PANIC").0, 451);
        assert_eq!(run(&mut t, "HASH hello.txt").0, 213);
    }
}

#[test]
fn wrong_abi_is_refused_naming_the_file_and_both_versions() {
    let dir = plugin_dir(&[WRONG_ABI]);
    let mut registry = builtins();
    let err = register_all(&mut registry, dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            LoadError::AbiMismatch {
                found: 2,
                expected: 1,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    let file = dir.path().join("libftpsh_plugin_test_wrong_abi.so");
    assert!(msg.contains(&file.display().to_string()), "{msg}");
    assert!(msg.contains("ABI version 2"), "{msg}");
    assert!(msg.contains("ABI version 1"), "{msg}");
}

#[test]
fn collisions_are_refused_naming_verb_and_file_and_register_nothing() {
    // HASH sorts first and is fine; the collision comes second, and the
    // registry must not keep HASH either.
    let dir = plugin_dir(&[HASH, COLLIDE]);
    let mut registry = builtins();
    let err = register_all(&mut registry, dir.path()).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(&err, LoadError::Collision { verb, existing, .. } if verb == "LIST" && existing == "ls"),
        "{err:?}"
    );
    assert!(msg.contains("libftpsh_plugin_test_collide.so"), "{msg}");
    assert!(msg.contains("verb LIST"), "{msg}");
    assert!(
        registry.lookup("HASH").is_none(),
        "registration is all or nothing"
    );
    assert!(registry.lookup("LIST").is_some());

    // A second copy of the same plugin collides with the first.
    let other = plugin_dir(&[HASH]);
    let mut registry = builtins();
    register_all(&mut registry, dir.path()).unwrap_err();
    register_all(&mut registry, other.path()).unwrap();
    let err = register_all(&mut registry, other.path()).unwrap_err();
    assert!(
        err.to_string().contains("already provided by \"hash\""),
        "{err}"
    );
}

#[test]
fn files_that_are_not_plugins_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.so");
    std::fs::write(&junk, b"not an ELF file").unwrap();
    let err = load_dir(dir.path()).err().expect("refused");
    assert!(matches!(err, LoadError::Open { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&junk.display().to_string()),
        "{err}"
    );

    // A genuine shared library without the entry symbol.
    let libm = [
        "/lib/x86_64-linux-gnu/libm.so.6",
        "/usr/lib/x86_64-linux-gnu/libm.so.6",
        "/lib64/libm.so.6",
        "/usr/lib64/libm.so.6",
        "/usr/lib/libm.so.6",
        "/lib/aarch64-linux-gnu/libm.so.6",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .expect("libm.so.6 on this machine");
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("libm.so");
    std::fs::copy(libm, &copy).unwrap();
    let err = load_file(&copy).unwrap_err();
    assert!(matches!(err, LoadError::MissingSymbol { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("ftpsh_plugin_v1") && msg.contains("libm.so"),
        "{msg}"
    );
}

#[test]
fn directories_are_loaded_in_name_order_ignoring_other_files() {
    let dir = plugin_dir(&[PANICKY, FSOPS, HASH]);
    std::fs::write(dir.path().join("README.txt"), b"not a plugin").unwrap();
    std::fs::create_dir(dir.path().join("sub.so")).unwrap();
    let names: Vec<String> = load_dir(dir.path())
        .unwrap()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    assert_eq!(names, ["hash", "fsops", "panicky"]);
    let empty = tempfile::tempdir().unwrap();
    assert!(load_dir(empty.path()).unwrap().is_empty());
    let err = load_dir(&empty.path().join("missing"))
        .err()
        .expect("refused");
    assert!(matches!(err, LoadError::ReadDir { .. }), "{err:?}");
}

#[test]
fn world_writable_plugins_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = plugin_dir(&[HASH]);
    let file = dir.path().join("libftpsh_plugin_hash.so");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
    let err = load_dir(dir.path()).err().expect("refused");
    assert!(matches!(err, LoadError::WorldWritable { .. }), "{err:?}");
    assert!(err.to_string().contains("libftpsh_plugin_hash.so"), "{err}");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let err = load_dir(dir.path()).err().expect("refused");
    assert!(matches!(err, LoadError::WorldWritable { .. }), "{err:?}");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    assert_eq!(load_dir(dir.path()).unwrap().len(), 1);
}

#[test]
fn feat_and_help_advertise_plugin_verbs() {
    let dir = plugin_dir(&[HASH]);
    let mut registry = builtins();
    let log = register_all(&mut registry, dir.path()).unwrap();
    assert_eq!(log.len(), 1);
    assert!(
        log[0].starts_with("plugin hash from ") && log[0].ends_with(": HASH"),
        "{log:?}"
    );
    let feat = String::from_utf8(registry.feat_reply().to_wire()).unwrap();
    assert!(feat.contains("\r\n HASH SHA-256*\r\n"), "{feat}");
    let help = String::from_utf8(registry.help_reply(None).to_wire()).unwrap();
    assert!(help.contains("HASH"), "{help}");
    let help = registry.help_reply(Some("hash"));
    assert_eq!(help.code.0, 214);
    assert!(help.text().contains("HASH <SP> pathname"), "{help}");
    let spec = &registry.lookup("HASH").unwrap().spec;
    assert_eq!(spec.permission, Some(ftpsh_core::Permission::Retrieve));
    assert!(spec.login && !spec.data);
}

/// A plugin adds a SITE sub-command by its syntax (`SITE XECHO …`): routed
/// by the registry, listed by SITE HELP, not a verb of its own.
#[test]
fn a_plugin_extends_site() {
    let dir = plugin_dir(&[FSOPS]);
    let mut registry = builtins();
    registry.register(Arc::new(ftpsh_cmd_site::Site)).unwrap();
    register_all(&mut registry, dir.path()).unwrap();
    assert!(registry.lookup("XECHO").is_none());
    assert!(registry.site_lookup("XECHO").is_some());
    let mut t = TestSession::new(registry);
    assert_eq!(
        run(&mut t, "SITE xecho hi there"),
        (200, "echo: hi there".to_owned())
    );
    let help = String::from_utf8(reply(t.run("SITE HELP")).to_wire()).unwrap();
    assert!(
        help.contains("SITE XECHO <SP> text -- echo, as a SITE sub-command"),
        "{help}"
    );
    assert_eq!(run(&mut t, "XECHO hi").0, 500);
}

#[test]
fn stat_write_commit_and_list_callbacks_go_through_the_jail() {
    let mut t = session_with(&[FSOPS]);
    assert_eq!(run(&mut t, "XSTA hello.txt"), (213, "File 13".to_owned()));
    assert!(run(&mut t, "XSTA docs").1.starts_with("Dir "));
    assert_eq!(run(&mut t, "XSTA nope").0, 550);

    // Copy through open/read/create/write/commit; 3000 bytes in 1000-byte
    // writes.
    assert_eq!(run(&mut t, "XCPY data.bin docs/copy.bin").0, 250);
    assert_eq!(
        std::fs::read(t.path("docs/copy.bin")).unwrap(),
        std::fs::read(t.path("data.bin")).unwrap()
    );
    // Replacing an existing file.
    assert_eq!(run(&mut t, "XCPY hello.txt docs/copy.bin").0, 250);
    assert_eq!(
        std::fs::read(t.path("docs/copy.bin")).unwrap(),
        b"hello, world\n"
    );
    // Written but never committed: the old file stays, no temp file left.
    let before: Vec<_> = std::fs::read_dir(t.path("docs"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(run(&mut t, "XHALF data.bin docs/copy.bin").0, 250);
    assert_eq!(
        std::fs::read(t.path("docs/copy.bin")).unwrap(),
        b"hello, world\n"
    );
    let after: Vec<_> = std::fs::read_dir(t.path("docs"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after);
    // Errors map to the built-ins' replies.
    assert_eq!(run(&mut t, "XCPY hello.txt nodir/x.txt").0, 550);
    assert_eq!(run(&mut t, "XCPY hello.txt docs").0, 550);

    assert_eq!(run(&mut t, "XLST /").1, "data.bin docs/ empty/ hello.txt");
    assert_eq!(run(&mut t, "XLST ../../docs").1, "copy.bin readme.md");
    assert_eq!(run(&mut t, "XLST hello.txt").0, 550);

    // The callbacks check the user's permissions themselves too: `reader`
    // (elr) may run XSNEAK (declared `r`) but its write is refused.
    t.login_as("reader", "pw");
    assert_eq!(run(&mut t, "XCPY hello.txt new.txt").0, 550);
    assert_eq!(
        run(&mut t, "XSNEAK hello.txt new.txt"),
        (550, "new.txt: permission denied".to_owned())
    );
    assert!(!t.path("new.txt").exists());

    let dir = plugin_dir(&[FSOPS]);
    let fsops = load_dir(dir.path()).unwrap().remove(0);
    check_hostile_paths(fsops.clone(), "XCPY hello.txt {}");
    check_hostile_paths(fsops, "XLST {}");
}

#[test]
fn plugin_path_points_into_the_target_dir() {
    let p = plugin_path(HASH);
    assert!(p.exists(), "{}", p.display());
    assert!(p.to_string_lossy().contains("target"), "{}", p.display());
}

#[test]
fn a_plugin_written_in_c_against_the_header_works() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testing-c/csize.c");
    let include = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../api/include");
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("libcsize.so");
    let cc = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    let out = std::process::Command::new(cc)
        .args(["-std=c11", "-Wall", "-Werror", "-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg("-I")
        .arg(&include)
        .arg(&src)
        .output()
        .expect("a C compiler (cc) is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut registry = builtins();
    let log = register_all(&mut registry, dir.path()).unwrap();
    assert!(
        log[0].ends_with(": CSIZE CNONE CPRELIM CINJECT CLONG"),
        "{log:?}"
    );
    let mut t = TestSession::new(registry);
    assert_eq!(
        run(&mut t, "CSIZE data.bin"),
        (213, "3000 3000 /".to_owned())
    );
    t.session.cwd = t.session.cwd.resolve("/docs").unwrap();
    assert_eq!(
        run(&mut t, "CSIZE readme.md"),
        (213, "7 7 /docs".to_owned())
    );
    assert_eq!(run(&mut t, "CSIZE nope").0, 550);
    assert_eq!(run(&mut t, "CSIZE").0, 501);

    // What a C plugin can get wrong, the host absorbs.
    assert_eq!(
        run(&mut t, "CNONE"),
        (
            451,
            "CNONE: plugin csize failed: it sent no reply".to_owned()
        )
    );
    assert_eq!(
        run(&mut t, "CPRELIM"),
        (
            451,
            "CPRELIM: plugin csize failed: invalid argument".to_owned()
        )
    );
    let r = reply(t.run("CINJECT"));
    assert_eq!(r.to_wire(), b"213 a  230 logged in as root  \r\n");
    let (code, text) = run(&mut t, "CLONG");
    assert_eq!((code, text.len()), (200, 4096));
    assert_eq!(run(&mut t, "CSIZE /hello.txt").0, 213, "still serving");
    // CINJECT runs before login (declared so): file callbacks would refuse.
    let mut anon = TestSession::logged_out(t.session.registry.as_ref().clone());
    assert_eq!(run(&mut anon, "CINJECT").0, 213);
    assert_eq!(run(&mut anon, "CSIZE hello.txt").0, 530);
}
