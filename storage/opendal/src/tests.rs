//! Unit tests of [`OpendalStorage`] over OpenDAL's `memory` service (no
//! native directories, no server-side copy: the paths S3 takes, plus the
//! copy-through-the-server fallback) and its `fs` service (through a URI).

use std::io::{self, Read, Write};
use std::path::Path;
use std::time::SystemTime;

use ftpsh_core::{Backend, Permissions, ReadBody, Storage, User, VirtualPath, WriteMode};

use crate::{Error, OpendalBackend, OpendalStorage};

fn p(s: &str) -> VirtualPath {
    VirtualPath::root().resolve(s).unwrap()
}

/// A memory store holding, as another S3 client would have written them:
/// `a.txt` ("hello"), `docs/b.txt` (an implicit directory `docs`), the
/// marker `empty/`, and `docs/deep/c.txt`; all below the account `alice`.
fn memory() -> (opendal::blocking::Operator, OpendalBackend, OpendalStorage) {
    let op = opendal::Operator::new(opendal::services::Memory::default()).unwrap();
    let backend = OpendalBackend::from_operator(op.clone(), "memory".to_owned());
    let blocking = {
        let _g = crate::backend::runtime().enter();
        opendal::blocking::Operator::new(op).unwrap()
    };
    blocking.write("alice/a.txt", "hello").unwrap();
    blocking.write("alice/docs/b.txt", "bee").unwrap();
    blocking.write("alice/docs/deep/c.txt", "sea").unwrap();
    blocking.create_dir("alice/empty/").unwrap();
    blocking.write("bob/secret.txt", "bob's").unwrap();
    let storage = backend.storage(Path::new("/alice")).unwrap();
    (blocking, backend, storage)
}

fn kind<T: std::fmt::Debug>(r: io::Result<T>) -> io::ErrorKind {
    r.unwrap_err().kind()
}

fn read_all(s: &OpendalStorage, path: &str, offset: u64) -> Vec<u8> {
    let f = s.open_read(&p(path), offset).unwrap();
    let ReadBody::Stream(mut r) = f.body else {
        panic!("object reads are streams")
    };
    let mut out = Vec::new();
    r.read_to_end(&mut out).unwrap();
    out
}

fn names(s: &OpendalStorage, path: &str) -> Vec<String> {
    s.list(&p(path))
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect()
}

#[test]
fn metadata_of_files_and_directories() {
    let (_op, _b, s) = memory();
    let a = s.metadata(&p("/a.txt")).unwrap();
    assert!(a.is_file());
    assert_eq!((a.len, a.mode, a.nlink), (5, 0o100_644, 1));
    assert_eq!(a.mtime, 0, "the memory service keeps no times");
    for dir in ["/", "/docs", "/docs/deep", "/empty"] {
        let m = s.metadata(&p(dir)).unwrap();
        assert!(m.is_dir(), "{dir}");
        assert_eq!((m.len, m.mode), (0, 0o040_755), "{dir}");
    }
    assert_eq!(kind(s.metadata(&p("/nope"))), io::ErrorKind::NotFound);
    assert_eq!(kind(s.metadata(&p("/a.txt/x"))), io::ErrorKind::NotFound);
    // `unique`: a hash of the full key, stable, different per key.
    let u = |x: &str| s.metadata(&p(x)).unwrap().unique;
    assert_eq!(u("/a.txt"), u("/a.txt"));
    assert_ne!(u("/a.txt"), u("/docs/b.txt"));
    assert_ne!(u("/docs"), u("/empty"));
    assert_eq!(
        s.symlink_metadata(&p("/a.txt")).unwrap(),
        s.metadata(&p("/a.txt")).unwrap()
    );
}

#[test]
fn listings_are_one_level_sorted_without_the_marker() {
    let (op, _b, s) = memory();
    assert_eq!(names(&s, "/"), ["a.txt", "docs", "empty"]);
    assert_eq!(names(&s, "/docs"), ["b.txt", "deep"]);
    assert!(names(&s, "/empty").is_empty());
    let docs = s.list(&p("/docs")).unwrap();
    assert!(docs[0].metadata.is_file() && docs[0].metadata.len == 3);
    assert!(docs[1].metadata.is_dir());
    assert_eq!(kind(s.list(&p("/nope"))), io::ErrorKind::NotFound);
    assert_eq!(kind(s.list(&p("/a.txt"))), io::ErrorKind::NotADirectory);
    // Keys no client could name are left out; a file shadows a prefix of
    // the same name.
    op.write("alice/docs/x//y", "odd").unwrap();
    op.write("alice/docs/b.txt/z", "shadowed").unwrap();
    let docs = s.list(&p("/docs")).unwrap();
    let listed: Vec<(&str, bool)> = docs
        .iter()
        .map(|e| (e.name.as_str(), e.metadata.is_file()))
        .collect();
    assert_eq!(listed, [("b.txt", true), ("deep", false), ("x", false)]);
}

#[test]
fn accounts_see_only_their_prefix() {
    let (_op, backend, alice) = memory();
    let user = |root: &str| User {
        name: "u".into(),
        password: None,
        root: root.into(),
        permissions: Permissions::all(),
    };
    let bob = backend.open_root(&user("/bob")).unwrap();
    assert_eq!(
        bob.list(&p("/"))
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect::<Vec<_>>(),
        ["secret.txt"]
    );
    assert_eq!(
        kind(bob.metadata(&p("/../alice/a.txt"))),
        io::ErrorKind::NotFound
    );
    assert_eq!(
        kind(alice.metadata(&p("/../bob/secret.txt"))),
        io::ErrorKind::NotFound
    );
    // A root of `/` is the back-end's prefix itself.
    let all = backend.open_root(&user("/")).unwrap();
    assert!(all.metadata(&p("/alice/a.txt")).unwrap().is_file());
    // A root that does not exist yet is an empty directory.
    let carol = backend.open_root(&user("/carol")).unwrap();
    assert!(carol.list(&p("/")).unwrap().is_empty());
    assert_eq!(
        backend.capabilities(),
        ftpsh_core::Capabilities::OBJECT_STORE
    );
    assert_eq!(bob.capabilities(), ftpsh_core::Capabilities::OBJECT_STORE);
    assert_eq!(backend.describe(), "memory");
}

#[test]
fn reads_from_an_offset() {
    let (_op, _b, s) = memory();
    assert_eq!(read_all(&s, "/a.txt", 0), b"hello");
    assert_eq!(read_all(&s, "/a.txt", 2), b"llo");
    assert_eq!(read_all(&s, "/a.txt", 5), b"");
    assert_eq!(s.open_read(&p("/a.txt"), 1).unwrap().len, 5);
    assert_eq!(
        kind(s.open_read(&p("/a.txt"), 6)),
        io::ErrorKind::InvalidInput
    );
    assert_eq!(
        kind(s.open_read(&p("/docs"), 0)),
        io::ErrorKind::InvalidInput
    );
    assert_eq!(kind(s.open_read(&p("/nope"), 0)), io::ErrorKind::NotFound);
}

#[test]
fn uploads_replace_only_when_committed() {
    let (op, _b, s) = memory();
    let mut up = s.create_upload(&p("/a.txt"), WriteMode::Replace).unwrap();
    assert!(up.blocking());
    up.write_all(b"new ").unwrap();
    up.write_all(b"text").unwrap();
    assert_eq!(up.written(), 8);
    assert_eq!(op.read("alice/a.txt").unwrap().to_vec(), b"hello");
    let reply = up.commit();
    assert_eq!(reply.code.0, 226, "{}", reply.text());
    assert_eq!(read_all(&s, "/a.txt", 0), b"new text");

    let mut dropped = s.create_upload(&p("/a.txt"), WriteMode::Replace).unwrap();
    dropped.write_all(b"partial").unwrap();
    drop(dropped);
    assert_eq!(read_all(&s, "/a.txt", 0), b"new text");

    // New files, in the root, in a marker directory, in an implicit one.
    for path in ["/n.bin", "/empty/n.bin", "/docs/deep/n.bin"] {
        let mut up = s.create_upload(&p(path), WriteMode::Replace).unwrap();
        up.write_all(path.as_bytes()).unwrap();
        assert_eq!(up.commit().code.0, 226);
        assert_eq!(read_all(&s, path, 0), path.as_bytes());
    }
    // An empty file is a file.
    let up = s.create_upload(&p("/zero"), WriteMode::Replace).unwrap();
    assert_eq!(up.commit().code.0, 226);
    assert_eq!(s.metadata(&p("/zero")).unwrap().len, 0);
}

#[test]
fn uploads_that_cannot_be() {
    let (_op, _b, s) = memory();
    let k = |path: &str, mode| kind(s.create_upload(&p(path), mode).map(|_| ()));
    assert_eq!(k("/a.txt", WriteMode::Append), io::ErrorKind::Unsupported);
    assert_eq!(
        k("/a.txt", WriteMode::Restart(2)),
        io::ErrorKind::Unsupported
    );
    assert_eq!(k("/", WriteMode::Replace), io::ErrorKind::InvalidFilename);
    assert_eq!(k("/docs", WriteMode::Replace), io::ErrorKind::IsADirectory);
    assert_eq!(k("/empty", WriteMode::Replace), io::ErrorKind::IsADirectory);
    assert_eq!(k("/nope/x", WriteMode::Replace), io::ErrorKind::NotFound);
    assert_eq!(
        k("/a.txt/x", WriteMode::Replace),
        io::ErrorKind::NotADirectory
    );
}

#[test]
fn renames() {
    let (op, _b, s) = memory();
    // A file: copied through the server (memory has no copy), then deleted.
    s.rename(&p("/a.txt"), &p("/docs/a2.txt")).unwrap();
    assert_eq!(kind(s.metadata(&p("/a.txt"))), io::ErrorKind::NotFound);
    assert_eq!(read_all(&s, "/docs/a2.txt", 0), b"hello");
    // Onto an existing file: replaced.
    s.rename(&p("/docs/a2.txt"), &p("/docs/b.txt")).unwrap();
    assert_eq!(read_all(&s, "/docs/b.txt", 0), b"hello");
    s.rename(&p("/docs/b.txt"), &p("/docs/b.txt")).unwrap();
    let r = |a: &str, b: &str| kind(s.rename(&p(a), &p(b)));
    assert_eq!(r("/nope", "/x"), io::ErrorKind::NotFound);
    assert_eq!(r("/nope", "/nope"), io::ErrorKind::NotFound);
    assert_eq!(r("/docs/b.txt", "/empty"), io::ErrorKind::IsADirectory);
    assert_eq!(r("/docs/b.txt", "/nope/x"), io::ErrorKind::NotFound);
    // Directories: an empty one (marker only) moves, a full one does not.
    assert_eq!(r("/docs", "/docs2"), io::ErrorKind::DirectoryNotEmpty);
    assert_eq!(r("/empty", "/docs"), io::ErrorKind::AlreadyExists);
    assert_eq!(r("/empty", "/empty/in"), io::ErrorKind::InvalidInput);
    assert_eq!(r("/", "/x"), io::ErrorKind::PermissionDenied);
    s.rename(&p("/empty"), &p("/docs/moved")).unwrap();
    assert_eq!(kind(s.metadata(&p("/empty"))), io::ErrorKind::NotFound);
    assert!(s.metadata(&p("/docs/moved")).unwrap().is_dir());
    assert!(op.stat("alice/docs/moved/").is_ok(), "a marker was written");
    assert!(op.stat("alice/empty/").is_err(), "the old marker is gone");
}

#[test]
fn deletes() {
    let (_op, _b, s) = memory();
    assert_eq!(
        kind(s.remove_file(&p("/docs"))),
        io::ErrorKind::IsADirectory
    );
    assert_eq!(
        kind(s.remove_file(&p("/empty"))),
        io::ErrorKind::IsADirectory
    );
    assert_eq!(kind(s.remove_file(&p("/nope"))), io::ErrorKind::NotFound);
    s.remove_file(&p("/a.txt")).unwrap();
    assert_eq!(kind(s.metadata(&p("/a.txt"))), io::ErrorKind::NotFound);
}

#[test]
fn directories() {
    let (op, _b, s) = memory();
    s.create_dir(&p("/new")).unwrap();
    assert!(op.stat("alice/new/").is_ok(), "MKD writes a marker");
    assert!(s.metadata(&p("/new")).unwrap().is_dir());
    s.create_dir(&p("/new/sub")).unwrap();
    s.create_dir(&p("/docs/sub")).unwrap();
    let c = |x: &str| kind(s.create_dir(&p(x)));
    assert_eq!(c("/new"), io::ErrorKind::AlreadyExists);
    assert_eq!(c("/docs"), io::ErrorKind::AlreadyExists);
    assert_eq!(c("/a.txt"), io::ErrorKind::AlreadyExists);
    assert_eq!(c("/"), io::ErrorKind::AlreadyExists);
    assert_eq!(c("/nope/sub"), io::ErrorKind::NotFound);
    assert_eq!(c("/a.txt/sub"), io::ErrorKind::NotADirectory);

    let rm = |x: &str| kind(s.remove_dir(&p(x)));
    assert_eq!(rm("/new"), io::ErrorKind::DirectoryNotEmpty);
    assert_eq!(rm("/docs"), io::ErrorKind::DirectoryNotEmpty);
    assert_eq!(rm("/a.txt"), io::ErrorKind::NotADirectory);
    assert_eq!(rm("/nope"), io::ErrorKind::NotFound);
    assert_eq!(rm("/"), io::ErrorKind::PermissionDenied);
    s.remove_dir(&p("/new/sub")).unwrap();
    s.remove_dir(&p("/new")).unwrap();
    assert_eq!(kind(s.metadata(&p("/new"))), io::ErrorKind::NotFound);
    s.remove_dir(&p("/empty")).unwrap();
    assert_eq!(names(&s, "/"), ["a.txt", "docs"]);
}

#[test]
fn no_times_or_modes() {
    let (_op, _b, s) = memory();
    assert_eq!(
        kind(s.set_mtime(&p("/a.txt"), SystemTime::UNIX_EPOCH)),
        io::ErrorKind::Unsupported
    );
    assert_eq!(
        kind(s.set_mode(&p("/a.txt"), 0o600)),
        io::ErrorKind::Unsupported
    );
}

/// The same code over OpenDAL's `fs` service, built from a URI: another
/// service through the same path (and a native rename).
#[test]
fn fs_service_by_uri() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("alice")).unwrap();
    std::fs::write(dir.path().join("alice/a.txt"), "hello").unwrap();
    let uri = format!("fs://{}", dir.path().display());
    let backend = crate::backend_from_uri(&uri).unwrap();
    assert_eq!(backend.describe(), uri);
    let user = User {
        name: "alice".into(),
        password: None,
        root: "/alice".into(),
        permissions: Permissions::all(),
    };
    let s = backend.open_root(&user).unwrap();
    let a = s.metadata(&p("/a.txt")).unwrap();
    assert_eq!(a.len, 5);
    let host = std::fs::metadata(dir.path().join("alice/a.txt")).unwrap();
    let host_mtime = host
        .modified()
        .unwrap()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap();
    assert_eq!(
        a.mtime,
        host_mtime.as_secs() as i64,
        "mtime from last-modified"
    );
    s.create_dir(&p("/d")).unwrap();
    assert!(dir.path().join("alice/d").is_dir());
    let mut up = s.create_upload(&p("/d/f"), WriteMode::Replace).unwrap();
    up.write_all(b"data").unwrap();
    assert_eq!(up.commit().code.0, 226);
    assert_eq!(
        std::fs::read(dir.path().join("alice/d/f")).unwrap(),
        b"data"
    );
    s.rename(&p("/d/f"), &p("/g")).unwrap();
    let listed: Vec<String> = s
        .list(&p("/"))
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(listed, ["a.txt", "d", "g"]);
    assert_eq!(s.list(&p("/")).unwrap()[2].metadata.len, 4);
    let f = s.open_read(&p("/g"), 1).unwrap();
    let ReadBody::Stream(mut r) = f.body else {
        panic!()
    };
    let mut out = String::new();
    r.read_to_string(&mut out).unwrap();
    assert_eq!(out, "ata");
    assert_eq!(
        kind(s.remove_dir(&p("/a.txt"))),
        io::ErrorKind::NotADirectory
    );
    s.remove_dir(&p("/d")).unwrap();
    assert!(!dir.path().join("alice/d").exists());
}

#[test]
fn unreachable_endpoint_is_one_clear_line() {
    // Port 1 on the loopback: nothing listens, the connection is refused.
    let uri = "s3://bkt?endpoint=http://127.0.0.1:1&access_key_id=k&secret_access_key=TOPSECRET";
    let start = std::time::Instant::now();
    let err = crate::backend_from_uri(uri).unwrap_err();
    let text = err.to_string();
    println!("{text}");
    assert!(matches!(err, Error::Unreachable { .. }), "{text}");
    assert!(text.contains("cannot reach the endpoint"), "{text}");
    assert!(text.contains("s3://bkt/ at http://127.0.0.1:1"), "{text}");
    assert!(
        !text.contains("TOPSECRET") && !text.contains('\n'),
        "{text}"
    );
    assert!(start.elapsed() < crate::CHECK_TIMEOUT * 2);
}

#[test]
fn bad_uris_fail_before_any_request() {
    for uri in [
        "nope",
        "s3://",
        "s3://b?bogus=1",
        "fs://rel",
        "opendal+nosuch://?a=b",
    ] {
        let err = crate::backend_from_uri(uri).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, Error::Uri { .. } | Error::Config { .. }),
            "{uri}: {text}"
        );
        assert!(!text.contains('\n'), "{text}");
    }
}

/// Other OpenDAL services by configuration: compiled in, their options
/// passed as they are, the same start-up check (here: nothing listens).
#[test]
fn other_services_by_configuration() {
    for uri in [
        "opendal+azblob://?container=c&endpoint=http://127.0.0.1:1&account_name=a&account_key=Yg==",
        "opendal+webdav://?endpoint=http://127.0.0.1:1&root=/ftp",
    ] {
        let err = crate::backend_from_uri(uri).unwrap_err();
        assert!(matches!(err, Error::Unreachable { .. }), "{uri}: {err}");
        assert!(!err.to_string().contains("Yg=="), "{err}");
    }
    let err = crate::backend_from_uri("opendal+ftp://?endpoint=x").unwrap_err();
    assert!(
        err.to_string()
            .contains("service \"ftp\" is not compiled into this build"),
        "{err}"
    );
}

#[test]
fn debug_never_shows_secrets() {
    let b = crate::OpendalBackend::from_uri(
        "s3://b?endpoint=http://127.0.0.1:1&access_key_id=AKEYID&secret_access_key=TOPSECRET",
    )
    .unwrap();
    let text = format!("{b:?}");
    assert_eq!(
        text,
        "OpendalBackend { storage: \"s3://b/ at http://127.0.0.1:1\", .. }"
    );
    let s = b.storage(Path::new("/alice")).unwrap();
    let text = format!("{s:?}");
    assert!(
        !text.contains("TOPSECRET") && !text.contains("AKEYID"),
        "{text}"
    );
}
