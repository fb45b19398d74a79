//! `mirror -R` then `mirror` back of a tree with nested directories,
//! names with spaces and non-ASCII characters, empty files and a 100 MiB
//! file, byte-identical (`diff -r`), against every server the tests can
//! start: the embedded ftpshd, pyftpdlib, vsftpd, pure-ftpd and proftpd
//! (a server that is not installed is skipped with a printed reason). A
//! second run moves nothing; `--delete` removes what the source lacks;
//! `-P 4` gives the same tree; `mget`/`mput` globs; `rm -r`, `mkdir -p`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers, not only #[test] fns

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn ftpsh() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ftpsh"));
    c.env_remove("FTPSH_PASSWORD")
        .env("HOME", std::env::temp_dir());
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn run(dir: &Path, url: &str, commands: &str) -> Output {
    ftpsh()
        .current_dir(dir)
        .args(["--timeout", "60", "-c", commands, url])
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The tree: nested directories, spaces, non-ASCII, empty files, and a
/// 100 MiB file of varying bytes.
fn make_tree(root: &Path) {
    for d in ["sub dir/deeper/deepest", "ñandú/日本", "empty dir"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("a.txt"), b"alpha\n").unwrap();
    std::fs::write(root.join("empty.txt"), b"").unwrap();
    std::fs::write(root.join("sub dir/with space.txt"), b"spaced\n").unwrap();
    std::fs::write(
        root.join("sub dir/deeper/deepest/leaf.bin"),
        [0u8, 1, 2, 255],
    )
    .unwrap();
    std::fs::write(root.join("ñandú/canción.txt"), "canción\n").unwrap();
    std::fs::write(root.join("ñandú/日本/空.txt"), b"").unwrap();
    let mut big = std::fs::File::create(root.join("sub dir/big.bin")).unwrap();
    let mut chunk = vec![0u8; 1 << 20];
    for i in 0..100u32 {
        for (j, b) in chunk.iter_mut().enumerate() {
            *b = (j as u32).wrapping_mul(31).wrapping_add(i) as u8;
        }
        big.write_all(&chunk).unwrap();
    }
}

fn diff_r(a: &Path, b: &Path) -> Output {
    Command::new("diff")
        .arg("-r")
        .arg(a)
        .arg(b)
        .output()
        .unwrap()
}

fn servers() -> Vec<common::Server> {
    let mut s = vec![common::embedded()];
    s.extend(common::pyftpdlib());
    s.extend(common::vsftpd());
    s.extend(common::pure_ftpd());
    s.extend(common::proftpd());
    s
}

#[test]
fn mirror_there_and_back_is_byte_identical_on_every_server() {
    let source = tempfile::tempdir().unwrap();
    let tree = source.path().join("tree");
    make_tree(&tree);
    for server in servers() {
        let name = server.name;
        let work = tempfile::tempdir().unwrap();
        let url = server.url();
        let commands = format!(
            "mirror -R '{}' pub/tree; mirror pub/tree back",
            tree.display()
        );
        let started = std::time::Instant::now();
        let out = run(work.path(), &url, &commands);
        println!(
            "{name}: mirror -R and back of 100 MiB took {:?}",
            started.elapsed()
        );
        assert!(
            out.status.success(),
            "{name}: {}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        let stdout = text(&out.stdout);
        assert!(
            stdout.contains("mirror: 7 files (100.00 MiB"),
            "{name}: {stdout}"
        );
        let d = diff_r(&tree, &work.path().join("back"));
        assert!(d.status.success(), "{name}: diff -r: {}", text(&d.stdout));
        assert!(
            work.path().join("back/empty dir").is_dir(),
            "{name}: empty directory not mirrored"
        );

        // A second run in both directions moves nothing.
        let out = run(work.path(), &url, &commands);
        let stdout = text(&out.stdout);
        assert!(
            out.status.success(),
            "{name}: {stdout}{}",
            text(&out.stderr)
        );
        assert_eq!(
            stdout.matches("mirror: 0 files (0 B)").count(),
            2,
            "{name}: second run: {stdout}"
        );

        // --delete: a file the server no longer has goes locally too.
        let out = run(
            work.path(),
            &url,
            "rm pub/tree/a.txt; mirror --delete pub/tree back",
        );
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        assert!(!work.path().join("back/a.txt").exists(), "{name}");
        assert!(work.path().join("back/empty.txt").exists(), "{name}");

        // rm -r removes the tree on the server.
        let out = run(work.path(), &url, "rm -r pub/tree; ls -1 pub");
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        assert!(!server.pub_dir().join("tree").exists(), "{name}");
    }
}

#[test]
fn parallel_mirror_gives_the_same_tree() {
    let server = common::embedded();
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    std::fs::create_dir_all(tree.join("d/e")).unwrap();
    for i in 0..12 {
        std::fs::write(tree.join(format!("d/f{i}.bin")), vec![i as u8; 70_000 * i]).unwrap();
        std::fs::write(tree.join(format!("d/e/g {i}.txt")), format!("{i}\n")).unwrap();
    }
    let out = run(
        work.path(),
        &server.url(),
        "mirror -R -P 4 tree pub/t; mirror -P 4 pub/t back",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let d = diff_r(&tree, &work.path().join("back"));
    assert!(d.status.success(), "{}", text(&d.stdout));
}

#[test]
fn a_failed_file_does_not_stop_the_mirror() {
    let server = common::embedded();
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("back")).unwrap();
    std::fs::write(server.pub_dir().join("one.txt"), b"one\n").unwrap();
    std::fs::write(server.pub_dir().join("two.txt"), b"two\n").unwrap();
    // A local file that differs: refused without -f, the others go on.
    std::fs::write(work.path().join("back/one.txt"), b"different\n").unwrap();
    let out = run(work.path(), &server.url(), "mirror pub back");
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("mirror: one.txt: failed: exists and differs"),
        "{stdout}"
    );
    assert!(stdout.contains("2 files"), "{stdout}");
    assert!(stdout.ends_with(", 1 failed\n"), "{stdout}");
    assert_eq!(
        std::fs::read(work.path().join("back/two.txt")).unwrap(),
        b"two\n"
    );
    assert_eq!(
        std::fs::read(work.path().join("back/one.txt")).unwrap(),
        b"different\n"
    );
    let out = run(work.path(), &server.url(), "mirror -f pub back");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read(work.path().join("back/one.txt")).unwrap(),
        b"one\n"
    );
}

#[test]
fn mget_and_mput_expand_globs_on_the_client() {
    let mut servers = vec![common::embedded()];
    servers.extend(common::pyftpdlib());
    for server in &servers {
        let name = server.name;
        let work = tempfile::tempdir().unwrap();
        for f in ["x1.txt", "x2.txt", "y.log", "with space.txt"] {
            std::fs::write(work.path().join(f), f).unwrap();
        }
        let out = run(
            work.path(),
            &server.url(),
            "mkdir -p pub/in/deep; cd pub/in/deep; mput *.txt; ls -1",
        );
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        let stdout = text(&out.stdout);
        assert!(stdout.contains("mput: 3 files"), "{name}: {stdout}");
        assert!(
            stdout.ends_with("with space.txt\nx1.txt\nx2.txt\n"),
            "{name}: {stdout}"
        );
        let back = work.path().join("back");
        std::fs::create_dir(&back).unwrap();
        let out = ftpsh()
            .current_dir(&back)
            .args([
                "-c",
                "mget pub/in/deep/x?.txt 'pub/in/deep/with *'",
                &server.url(),
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        let mut got: Vec<String> = std::fs::read_dir(&back)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        got.sort();
        assert_eq!(got, ["with space.txt", "x1.txt", "x2.txt"], "{name}");
        // No overwrite without -f.
        let out = ftpsh()
            .current_dir(&back)
            .args(["-c", "mget pub/in/deep/x1.txt", &server.url()])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert!(
            text(&out.stdout).contains("already exists locally"),
            "{name}"
        );
    }
}

#[test]
fn chmod_sends_site_chmod() {
    let mut servers = Vec::new();
    servers.extend(common::pure_ftpd());
    servers.extend(common::proftpd());
    for server in &servers {
        let name = server.name;
        let work = tempfile::tempdir().unwrap();
        let out = run(work.path(), &server.url(), "chmod 600 pub/hello.txt");
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "mode of pub/hello.txt set to 600\n");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(server.pub_dir().join("hello.txt"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
        let out = run(work.path(), &server.url(), "chmod 9x pub/hello.txt");
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert!(text(&out.stderr).contains("MODE is octal"), "{name}");
    }
    // ftpshd has SITE CHMOD too (permission bits only).
    let server = common::embedded();
    let work = tempfile::tempdir().unwrap();
    let out = run(work.path(), &server.url(), "chmod 600 pub/hello.txt");
    assert!(out.status.success(), "ftpshd: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "mode of pub/hello.txt set to 600\n");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(server.pub_dir().join("hello.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // A mode the server refuses (ftpshd sets no setuid bit) gets a clear
    // one-line refusal.
    let out = run(work.path(), &server.url(), "chmod 4755 pub/hello.txt");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("chmod: "), "{err}");
    assert!(last.contains(": 5"), "{err}");
}
