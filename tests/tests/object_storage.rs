//! `ftpshd` serving an S3 bucket (SeaweedFS, started by the test) through
//! `ftpsh-storage-opendal`, driven by an independent FTP client
//! (`suppaftp`): multipart STOR and REST+RETR byte-identical through the
//! daemon's storage threads, ABOR keeping the old object, directories,
//! renames, and the replies of what an object store cannot do (APPE,
//! REST+STOR, MFMT).

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a panic is how a test fails"
)]

use std::io::{BufReader, Write};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use ftpsh_core::{Backend, ServerConfig, User, Users, VirtualPath};
use ftpsh_daemon::{DaemonConfig, Server, ServerHandle, builtin_registry};
use ftpsh_storage_opendal::backend_from_uri;
use ftpsh_storage_opendal::testing::{ACCESS_KEY, SECRET_KEY, SeaweedFs};
use ftpsh_tests::ftpshd::Ftpshd;
use ftpsh_tests::{
    SeededReader, compare_streams, connect_suppaftp, ftpshd_binary, reply_code, run_with_timeout,
    seeded_bytes,
};
use suppaftp::FtpError;
use suppaftp::types::FileType;

/// 20 MiB: three parts of a multipart upload.
const BIG: u64 = 20 << 20;

struct Fixture {
    server: ServerHandle,
    backend: Arc<dyn Backend>,
    // Dropped last: the daemon's storage must not outlive its store.
    _weed: SeaweedFs,
}

/// SeaweedFS with bucket `ftp`, and a daemon serving its prefix `srv`
/// to alice (root `/alice`) and bob (root `/bob`).
fn start() -> Option<Fixture> {
    let weed = SeaweedFs::start_or_skip()?;
    weed.create_bucket("ftp").unwrap();
    let backend = backend_from_uri(&weed.uri("ftp", "srv")).unwrap();
    let mut users = Users::new();
    users.add(User::from_spec("alice:secret", "/alice".into()).unwrap());
    users.add(User::from_spec("bob:pw", "/bob".into()).unwrap());
    let config = DaemonConfig {
        server: ServerConfig {
            users,
            storage: backend.clone(),
            login_failure_delay: Duration::from_millis(50),
            ..ServerConfig::default()
        },
        ..DaemonConfig::default()
    };
    let server = Server::bind(config, builtin_registry())
        .unwrap()
        .spawn()
        .unwrap();
    Some(Fixture {
        server,
        backend,
        _weed: weed,
    })
}

fn login(f: &Fixture, user: &str, password: &str) -> suppaftp::FtpStream {
    let mut ftp = connect_suppaftp(f.server.local_addr()).unwrap();
    ftp.login(user, password).unwrap();
    ftp.transfer_type(FileType::Binary).unwrap();
    ftp
}

fn code<T: std::fmt::Debug>(r: Result<T, FtpError>) -> Option<u32> {
    reply_code(&r.unwrap_err())
}

fn get(ftp: &mut suppaftp::FtpStream, name: &str) -> Vec<u8> {
    ftp.retr_as_buffer(name).unwrap().into_inner()
}

#[test]
fn transfers_through_the_daemon() {
    let Some(f) = start() else {
        return;
    };
    let mut ftp = login(&f, "alice", "secret");
    let sent = ftp
        .put_file("big.bin", &mut SeededReader::new(42, BIG))
        .unwrap();
    assert_eq!(sent, BIG);
    assert_eq!(ftp.size("big.bin").unwrap() as u64, BIG);
    ftp.mdtm("big.bin").unwrap();
    let compared = ftp
        .retr("big.bin", |stream| {
            compare_streams(BufReader::new(stream), SeededReader::new(42, BIG))
                .map_err(|e| FtpError::ConnectionError(std::io::Error::other(e)))
        })
        .unwrap();
    assert_eq!(compared, BIG);

    // REST + RETR: a ranged GET from the offset.
    let all = seeded_bytes(42, BIG as usize);
    let offset = 12_345_679;
    ftp.resume_transfer(offset).unwrap();
    let tail = get(&mut ftp, "big.bin");
    assert!(tail == all[offset..], "REST {offset} + RETR differs");

    // ABOR during STOR: the multipart upload is dropped, the old object
    // stays whole.
    let mut stream = ftp.put_with_stream("big.bin").unwrap();
    let other = seeded_bytes(7, 10 << 20);
    stream.write_all(&other).unwrap();
    ftp.abort(stream).unwrap();
    let compared = ftp
        .retr("big.bin", |stream| {
            compare_streams(BufReader::new(stream), SeededReader::new(42, BIG))
                .map_err(|e| FtpError::ConnectionError(std::io::Error::other(e)))
        })
        .unwrap();
    assert_eq!(compared, BIG, "the aborted upload replaced the object");

    // An empty file.
    ftp.put_file("empty", &mut std::io::empty()).unwrap();
    assert_eq!(ftp.size("empty").unwrap(), 0);
    assert!(get(&mut ftp, "empty").is_empty());

    // What an object store cannot do: APPE 502, REST + STOR 504, MFMT 502.
    assert_eq!(code(ftp.append_file("big.bin", &mut &b"x"[..])), Some(502));
    ftp.resume_transfer(5).unwrap();
    assert_eq!(code(ftp.put_file("big.bin", &mut &b"x"[..])), Some(504));
    let r = ftp
        .custom_command(
            "MFMT 20200101000000 big.bin",
            &[suppaftp::Status::NotImplemented],
        )
        .unwrap();
    assert_eq!(r.status.code(), 502);
    ftp.quit().unwrap();

    // The objects are where the prefixes say.
    let whole = f
        .backend
        .open_root(&User::from_spec("x:y", "/".into()).unwrap())
        .unwrap();
    let root = VirtualPath::root();
    let alice = root.resolve("/alice/big.bin").unwrap();
    assert_eq!(whole.metadata(&alice).unwrap().len, BIG);
}

#[test]
fn directories_renames_and_accounts() {
    let Some(f) = start() else {
        return;
    };
    let mut ftp = login(&f, "alice", "secret");
    assert_eq!(ftp.pwd().unwrap(), "/");
    assert!(ftp.nlst(None).unwrap().is_empty());
    ftp.mkdir("docs").unwrap();
    assert_eq!(code(ftp.mkdir("docs")), Some(550));
    assert_eq!(code(ftp.mkdir("no/sub")), Some(550));
    ftp.cwd("docs").unwrap();
    assert_eq!(ftp.pwd().unwrap(), "/docs");
    ftp.put_file("a.txt", &mut &b"alpha"[..]).unwrap();
    ftp.mkdir("sub").unwrap();
    ftp.cwd("/").unwrap();
    assert_eq!(code(ftp.put_file("no/x.txt", &mut &b"x"[..])), Some(550));
    assert_eq!(code(ftp.cwd("missing")), Some(550));

    let mut names = ftp.nlst(Some("docs")).unwrap();
    names.sort();
    assert_eq!(names, ["a.txt", "sub"]);
    let mlsd = ftp.mlsd(Some("docs")).unwrap();
    assert!(
        mlsd.iter()
            .any(|l| l.contains("type=file") && l.contains("size=5") && l.ends_with(" a.txt")),
        "{mlsd:?}"
    );
    assert!(
        mlsd.iter()
            .any(|l| l.contains("type=dir") && l.ends_with(" sub")),
        "{mlsd:?}"
    );

    // RNFR/RNTO: a file (copy + delete), an empty directory; a full one
    // is refused.
    ftp.rename("docs/a.txt", "b.txt").unwrap();
    assert_eq!(get(&mut ftp, "b.txt"), b"alpha");
    assert_eq!(code(ftp.size("docs/a.txt")), Some(550));
    ftp.rename("docs/sub", "sub2").unwrap();
    ftp.put_file("docs/c.txt", &mut &b"c"[..]).unwrap();
    assert_eq!(code(ftp.rename("docs", "docs2")), Some(550));

    // DELE of a directory, RMD of a full one: 550.
    assert_eq!(code(ftp.rm("docs")), Some(550));
    assert_eq!(code(ftp.rmdir("docs")), Some(550));
    ftp.rm("docs/c.txt").unwrap();
    ftp.rmdir("docs").unwrap();
    ftp.rmdir("sub2").unwrap();
    let mut names = ftp.nlst(None).unwrap();
    names.sort();
    assert_eq!(names, ["b.txt"]);

    // bob has a prefix of his own.
    let mut bob = login(&f, "bob", "pw");
    assert!(bob.nlst(None).unwrap().is_empty());
    assert_eq!(code(bob.size("b.txt")), Some(550));
    assert_eq!(code(bob.size("../alice/b.txt")), Some(550));
    bob.put_file("b.txt", &mut &b"bob's"[..]).unwrap();
    assert_eq!(get(&mut bob, "b.txt"), b"bob's");
    assert_eq!(get(&mut ftp, "b.txt"), b"alpha");
    bob.quit().unwrap();
    ftp.quit().unwrap();
}

/// The `ftpshd` binary with `--storage`: credentials from the standard
/// AWS variables, roots as key prefixes; and a store it cannot use stops
/// it at start with one line.
#[test]
fn ftpshd_binary_with_storage() {
    let Some(weed) = SeaweedFs::start_or_skip() else {
        return;
    };
    weed.create_bucket("bin").unwrap();
    let uri = format!("s3://bin/accounts?endpoint={}", weed.endpoint());
    let with_keys = |cmd: &mut Command| {
        cmd.env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
    };
    let mut cmd = Command::new(ftpshd_binary());
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--storage",
        &uri,
        "--root",
        "/alice",
        "--user",
        "alice:secret",
    ]);
    with_keys(&mut cmd);
    let daemon = Ftpshd::start_with(&mut cmd);
    let mut ftp = connect_suppaftp(daemon.addr).unwrap();
    ftp.login("alice", "secret").unwrap();
    ftp.transfer_type(FileType::Binary).unwrap();
    let data = seeded_bytes(3, 3 << 20);
    ftp.put_file("f.bin", &mut &data[..]).unwrap();
    assert!(get(&mut ftp, "f.bin") == data);
    ftp.quit().unwrap();
    let backend = backend_from_uri(&weed.uri("bin", "")).unwrap();
    let whole = backend
        .open_root(&User::from_spec("x:y", "/".into()).unwrap())
        .unwrap();
    let key = VirtualPath::root()
        .resolve("/accounts/alice/f.bin")
        .unwrap();
    assert_eq!(whole.metadata(&key).unwrap().len, data.len() as u64);
    drop(daemon);

    let endpoint = weed.endpoint();
    for (storage, says) in [
        (
            format!("s3://nosuch?endpoint={endpoint}"),
            "bucket nosuch does not exist",
        ),
        (
            "s3://bin?endpoint=http://127.0.0.1:1".to_owned(),
            "cannot reach the endpoint",
        ),
        (
            format!("s3://bin?endpoint={endpoint}&regoin=x"),
            "unknown option \"regoin\"",
        ),
    ] {
        let mut cmd = Command::new(ftpshd_binary());
        cmd.args([
            "--listen",
            "127.0.0.1:0",
            "--storage",
            &storage,
            "--user",
            "a:b",
        ]);
        with_keys(&mut cmd);
        let out = run_with_timeout(&mut cmd, Duration::from_secs(60));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{storage}: started");
        let last = err.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("ftpshd: storage s3://")
                || last.starts_with("ftpshd: bad storage URI"),
            "{storage}: {err}"
        );
        assert!(last.contains(says), "{storage}: {err}");
        assert!(
            !err.contains(SECRET_KEY) && !err.contains("panicked"),
            "{err}"
        );
    }
}
