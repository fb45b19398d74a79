//! Against a real S3 server (SeaweedFS, started by each test on free
//! loopback ports): what the crate docs promise of S3.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ftpsh_core::{Backend, Permissions, ReadBody, Storage, User, VirtualPath, WriteMode};
use ftpsh_storage_opendal::testing::{ACCESS_KEY, SECRET_KEY, SeaweedFs};
use ftpsh_storage_opendal::{Error, OpendalBackend, backend_from_uri};

fn p(s: &str) -> VirtualPath {
    VirtualPath::root().resolve(s).unwrap()
}

fn user(name: &str) -> User {
    User {
        name: name.into(),
        password: None,
        root: format!("/{name}").into(),
        permissions: Permissions::all(),
    }
}

/// `n` bytes of a fixed pseudo-random sequence (xorshift), so that a
/// misplaced or repeated part shows.
fn pattern(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A new bucket `bucket` on `weed` and the back-end over its `prefix`,
/// with `options` (`&name=value...`) added to the URI.
fn backend_in(weed: &SeaweedFs, bucket: &str, prefix: &str, options: &str) -> Arc<dyn Backend> {
    weed.create_bucket(bucket).unwrap();
    backend_from_uri(&format!("{}{options}", weed.uri(bucket, prefix))).unwrap()
}

fn read_from(s: &dyn Storage, path: &str, offset: u64) -> Vec<u8> {
    let f = s.open_read(&p(path), offset).unwrap();
    let ReadBody::Stream(mut r) = f.body else {
        panic!("object reads are streams")
    };
    let mut out = Vec::new();
    r.read_to_end(&mut out).unwrap();
    out
}

/// Uploads `data` in 64 KiB writes, as the daemon feeds a sink.
fn upload(s: &dyn Storage, path: &str, data: &[u8]) -> Box<dyn ftpsh_core::UploadSink> {
    let mut sink = s.create_upload(&p(path), WriteMode::Replace).unwrap();
    assert!(sink.blocking());
    for chunk in data.chunks(64 << 10) {
        sink.write_all(chunk).unwrap();
    }
    sink
}

/// The ETag of `key` in `bucket`, read with OpenDAL directly: a multipart
/// upload's ends in `-PARTS`.
fn etag(weed: &SeaweedFs, bucket: &str, key: &str) -> String {
    let op = opendal::Operator::via_iter(
        "s3",
        [
            ("bucket", bucket),
            ("endpoint", weed.endpoint().as_str()),
            ("region", "us-east-1"),
            ("access_key_id", ACCESS_KEY),
            ("secret_access_key", SECRET_KEY),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(op.stat(key))
        .unwrap()
        .etag()
        .unwrap()
        .to_owned()
}

/// The multipart uploads in progress in `bucket`, as boto3 lists them;
/// `None` (after `SKIP`, or a panic under CI) without boto3.
fn multipart_uploads(weed: &SeaweedFs, bucket: &str) -> Option<Vec<String>> {
    match weed.multipart_uploads(bucket) {
        Ok(keys) => Some(keys),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{e}; CI installs it (bash .ci/run)"
            );
            println!("SKIP (in part): {e}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn multipart_upload_ranged_read_and_abort() {
    let Some(weed) = SeaweedFs::start_or_skip() else {
        return;
    };
    let backend = backend_in(&weed, "data", "ftp/root", "");
    let s = backend.open_root(&user("alice")).unwrap();

    // 20 MiB: three 8 MiB parts, committed at the end only.
    let big = pattern(20 << 20, 7);
    let sink = upload(&*s, "/big.bin", &big);
    assert_eq!(sink.written(), big.len() as u64);
    assert_eq!(
        s.metadata(&p("/big.bin")).unwrap_err().kind(),
        io::ErrorKind::NotFound,
        "nothing is visible before commit"
    );
    let reply = sink.commit();
    assert_eq!(reply.code.0, 226, "{}", reply.text());
    let meta = s.metadata(&p("/big.bin")).unwrap();
    assert_eq!(meta.len, big.len() as u64);
    assert!(meta.mtime > 1_600_000_000, "last-modified: {}", meta.mtime);
    let tag = etag(&weed, "data", "ftp/root/alice/big.bin");
    assert!(
        tag.trim_matches('"').ends_with("-3"),
        "multipart ETag: {tag}"
    );

    // REST + RETR: a ranged read from an odd offset, byte-identical.
    for offset in [0, 1, 13_000_001, big.len() as u64 - 1, big.len() as u64] {
        let f = s.open_read(&p("/big.bin"), offset).unwrap();
        assert_eq!(f.len, big.len() as u64);
        assert!(
            read_from(&*s, "/big.bin", offset) == big[offset as usize..],
            "bytes differ from offset {offset}"
        );
    }
    assert_eq!(
        s.open_read(&p("/big.bin"), big.len() as u64 + 1)
            .unwrap_err()
            .kind(),
        io::ErrorKind::InvalidInput
    );

    // An upload dropped uncommitted (ABOR) after two parts were sent:
    // the old object stays, whole.
    let other = pattern(17 << 20, 99);
    let sink = upload(&*s, "/big.bin", &other);
    assert_eq!(
        multipart_uploads(&weed, "data"),
        Some(vec!["ftp/root/alice/big.bin".to_owned()]),
        "parts were sent"
    );
    drop(sink);
    assert!(
        read_from(&*s, "/big.bin", 0) == big,
        "the old object changed"
    );
    // The abort is sent in the background: wait for it (bounded).
    let deadline = Instant::now() + Duration::from_secs(30);
    while multipart_uploads(&weed, "data").is_some_and(|u| !u.is_empty()) {
        assert!(Instant::now() < deadline, "the upload was never aborted");
        std::thread::sleep(Duration::from_millis(100));
    }

    // A small file: one PutObject at commit; an empty one too.
    let reply = upload(&*s, "/small.txt", b"hello").commit();
    assert_eq!(reply.code.0, 226, "{}", reply.text());
    assert_eq!(read_from(&*s, "/small.txt", 1), b"ello");
    assert_eq!(upload(&*s, "/empty", b"").commit().code.0, 226);
    assert_eq!(s.metadata(&p("/empty")).unwrap().len, 0);
    assert_eq!(read_from(&*s, "/empty", 0), b"");

    // Names S3 clients and URLs treat specially.
    let odd = "/with space+plus%25&ü=?#.txt";
    let odd = VirtualPath::root()
        .resolve(&odd.replace("%25", "%"))
        .unwrap();
    let mut sink = s.create_upload(&odd, WriteMode::Replace).unwrap();
    sink.write_all(b"odd").unwrap();
    assert_eq!(sink.commit().code.0, 226);
    assert_eq!(read_from(&*s, odd.as_str(), 1), b"dd");
    let names: Vec<String> = s
        .list(&p("/"))
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(
        names,
        ["big.bin", "empty", "small.txt", "with space+plus%&ü=?#.txt"]
    );
    s.rename(&odd, &p("/plain.txt")).unwrap();
    assert_eq!(read_from(&*s, "/plain.txt", 0), b"odd");

    // No append on S3.
    for mode in [WriteMode::Append, WriteMode::Restart(1)] {
        assert_eq!(
            s.create_upload(&p("/small.txt"), mode)
                .err()
                .unwrap()
                .kind(),
            io::ErrorKind::Unsupported
        );
    }
}

/// `upload_parts=3`: parts sent three at a time still make one object,
/// whole and in order, and a dropped upload still leaves the old one.
#[test]
fn parts_in_flight_at_once() {
    let Some(weed) = SeaweedFs::start_or_skip() else {
        return;
    };
    let backend = backend_in(&weed, "parts", "", "&upload_parts=3");
    let s = backend.open_root(&user("alice")).unwrap();
    let big = pattern((40 << 20) + 5, 11);
    let reply = upload(&*s, "/big.bin", &big).commit();
    assert_eq!(reply.code.0, 226, "{}", reply.text());
    assert!(read_from(&*s, "/big.bin", 0) == big, "object differs");
    let tag = etag(&weed, "parts", "alice/big.bin");
    assert!(
        tag.trim_matches('"').ends_with("-6"),
        "multipart ETag: {tag}"
    );
    drop(upload(&*s, "/big.bin", &pattern(20 << 20, 12)));
    assert!(read_from(&*s, "/big.bin", 0) == big, "the old object stays");
}

#[test]
fn tree_operations_and_prefixes() {
    let Some(weed) = SeaweedFs::start_or_skip() else {
        return;
    };
    let backend = backend_in(&weed, "tree", "", "");
    let alice = backend.open_root(&user("alice")).unwrap();
    let bob = backend.open_root(&user("bob")).unwrap();
    let names = |s: &dyn Storage, path: &str| -> Vec<String> {
        s.list(&p(path))
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect()
    };
    let kind = |r: io::Result<()>| r.unwrap_err().kind();

    // MKD: a marker; the parent must exist.
    alice.create_dir(&p("/docs")).unwrap();
    alice.create_dir(&p("/docs/sub")).unwrap();
    assert_eq!(
        kind(alice.create_dir(&p("/docs"))),
        io::ErrorKind::AlreadyExists
    );
    assert_eq!(
        kind(alice.create_dir(&p("/no/sub"))),
        io::ErrorKind::NotFound
    );
    assert!(alice.metadata(&p("/docs")).unwrap().is_dir());
    assert!(names(&*alice, "/docs/sub").is_empty());
    assert_eq!(upload(&*alice, "/docs/a.txt", b"A").commit().code.0, 226);
    assert_eq!(
        alice
            .create_upload(&p("/no/x"), WriteMode::Replace)
            .err()
            .unwrap()
            .kind(),
        io::ErrorKind::NotFound
    );
    assert_eq!(
        alice
            .create_upload(&p("/docs"), WriteMode::Replace)
            .err()
            .unwrap()
            .kind(),
        io::ErrorKind::IsADirectory
    );
    assert_eq!(names(&*alice, "/"), ["docs"]);
    assert_eq!(names(&*alice, "/docs"), ["a.txt", "sub"]);
    let listed = alice.list(&p("/docs")).unwrap();
    assert!(listed[0].metadata.is_file() && listed[0].metadata.len == 1);
    assert!(listed[0].metadata.mtime > 1_600_000_000);
    assert!(listed[1].metadata.is_dir());
    assert_eq!(
        alice.list(&p("/docs/a.txt")).unwrap_err().kind(),
        io::ErrorKind::NotADirectory
    );

    // Per-user prefixes: the same name, two objects.
    assert_eq!(upload(&*alice, "/same.txt", b"alice").commit().code.0, 226);
    assert_eq!(upload(&*bob, "/same.txt", b"bob").commit().code.0, 226);
    assert_eq!(read_from(&*alice, "/same.txt", 0), b"alice");
    assert_eq!(read_from(&*bob, "/same.txt", 0), b"bob");
    assert_eq!(names(&*bob, "/"), ["same.txt"]);
    let whole = backend
        .open_root(&User {
            root: "/".into(),
            ..user("admin")
        })
        .unwrap();
    assert_eq!(names(&*whole, "/"), ["alice", "bob"]);
    assert_eq!(read_from(&*whole, "/bob/same.txt", 0), b"bob");
    assert_ne!(
        alice.metadata(&p("/same.txt")).unwrap().unique,
        bob.metadata(&p("/same.txt")).unwrap().unique
    );

    // RNFR/RNTO of a file: copy + delete.
    alice
        .rename(&p("/same.txt"), &p("/docs/moved.txt"))
        .unwrap();
    assert_eq!(
        alice.metadata(&p("/same.txt")).unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
    assert_eq!(read_from(&*alice, "/docs/moved.txt", 0), b"alice");
    // Of directories: an empty one moves, a full one does not.
    assert_eq!(
        kind(alice.rename(&p("/docs"), &p("/docs2"))),
        io::ErrorKind::DirectoryNotEmpty
    );
    alice.rename(&p("/docs/sub"), &p("/sub2")).unwrap();
    assert!(alice.metadata(&p("/sub2")).unwrap().is_dir());
    assert_eq!(
        alice.metadata(&p("/docs/sub")).unwrap_err().kind(),
        io::ErrorKind::NotFound
    );

    // DELE and RMD.
    assert_eq!(
        kind(alice.remove_file(&p("/docs"))),
        io::ErrorKind::IsADirectory
    );
    assert_eq!(
        kind(alice.remove_dir(&p("/docs"))),
        io::ErrorKind::DirectoryNotEmpty
    );
    alice.remove_file(&p("/docs/a.txt")).unwrap();
    alice.remove_file(&p("/docs/moved.txt")).unwrap();
    assert_eq!(
        kind(alice.remove_file(&p("/docs/a.txt"))),
        io::ErrorKind::NotFound
    );
    alice.remove_dir(&p("/docs")).unwrap();
    alice.remove_dir(&p("/sub2")).unwrap();
    assert_eq!(kind(alice.remove_dir(&p("/docs"))), io::ErrorKind::NotFound);
    assert!(names(&*alice, "/").is_empty());
    assert_eq!(names(&*bob, "/"), ["same.txt"]);
}

#[test]
fn construction_fails_with_one_clear_line() {
    let Some(weed) = SeaweedFs::start_or_skip() else {
        return;
    };
    weed.create_bucket("exists").unwrap();
    assert!(backend_from_uri(&weed.uri("exists", "any/prefix")).is_ok());

    let err = backend_from_uri(&weed.uri("missing", "")).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::NoBucket { .. }), "{text}");
    assert!(text.contains("bucket missing does not exist"), "{text}");
    assert!(!text.contains(SECRET_KEY) && !text.contains('\n'), "{text}");

    let wrong = weed.uri("exists", "").replace(SECRET_KEY, "not-the-secret");
    let err = backend_from_uri(&wrong).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Denied { .. }), "{text}");
    assert!(
        !text.contains("not-the-secret") && !text.contains('\n'),
        "{text}"
    );

    // A port where nothing listens (the server's own, once it is gone).
    let uri = weed.uri("exists", "");
    drop(weed);
    let err = OpendalBackend::from_uri(&uri).unwrap().check().unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");
}

/// Many sessions at once through one back-end (the daemon's workers and
/// transfer threads): blocking calls from 8 threads over the runtime's 2
/// workers, multipart uploads interleaved, nothing mixed up.
#[test]
fn concurrent_sessions() {
    let Some(weed) = SeaweedFs::start_or_skip() else {
        return;
    };
    let backend = backend_in(&weed, "many", "", "");
    let threads: Vec<_> = (0..8u64)
        .map(|i| {
            let backend = backend.clone();
            std::thread::spawn(move || {
                let s = backend.open_root(&user(&format!("u{i}"))).unwrap();
                s.create_dir(&p("/d")).unwrap();
                let data = pattern((9 << 20) + i as usize, i + 1);
                let reply = upload(&*s, "/d/f.bin", &data).commit();
                assert_eq!(reply.code.0, 226, "{}", reply.text());
                s.rename(&p("/d/f.bin"), &p("/g.bin")).unwrap();
                let names: Vec<String> = s
                    .list(&p("/"))
                    .unwrap()
                    .into_iter()
                    .map(|e| e.name)
                    .collect();
                assert_eq!(names, ["d", "g.bin"]);
                assert!(
                    read_from(&*s, "/g.bin", i) == data[i as usize..],
                    "thread {i}"
                );
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// The store dies during a download and during an upload: the reader
/// fails (the daemon answers 451) rather than ending early as if the file
/// were complete, and the upload is not reported complete.
#[test]
fn a_store_dying_mid_transfer_is_an_error_not_a_short_file() {
    let Some(weed) = SeaweedFs::start_or_skip() else {
        return;
    };
    let backend = backend_in(&weed, "dying", "", "");
    let s = backend.open_root(&user("alice")).unwrap();
    let big = pattern(24 << 20, 5);
    assert_eq!(upload(&*s, "/big.bin", &big).commit().code.0, 226);

    let f = s.open_read(&p("/big.bin"), 0).unwrap();
    let ReadBody::Stream(mut reader) = f.body else {
        panic!("object reads are streams")
    };
    let mut first = vec![0u8; 1 << 20];
    reader.read_exact(&mut first).unwrap();
    let mut sink = upload(&*s, "/new.bin", &big[..10 << 20]);
    drop(weed);

    let mut rest = Vec::new();
    let read = reader.read_to_end(&mut rest);
    assert!(
        read.is_err(),
        "the download ended without an error after {} of {} bytes",
        first.len() + rest.len(),
        big.len()
    );
    let wrote = sink.write_all(&big[10 << 20..]);
    if wrote.is_ok() {
        let reply = sink.commit();
        assert_ne!(reply.code.0, 226, "{}", reply.text());
    }
}
