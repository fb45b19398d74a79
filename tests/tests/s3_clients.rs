//! The end-to-end client suites of the local back-end — Python's ftplib
//! (seed 004's session), curl, lftp, and the rows of the suppaftp suite
//! that `object_storage.rs` does not cover — against `ftpshd` serving an S3
//! bucket (SeaweedFS, one server and bucket for this test binary, a key
//! prefix per test; see `ftpsh_tests::s3`). Objects are seeded and checked with an
//! independent S3 client (boto3), never through the daemon alone.
//!
//! What an object store cannot do gets the documented replies
//! (`storage/opendal/src/lib.rs`): APPE and MFMT and SITE CHMOD `502`,
//! REST + STOR `504`, RNTO of a non-empty directory and RMD of a non-empty
//! directory `550`; each row here checks the reply (or curl's exit code for
//! it) and that the objects did not change.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a panic is how a test fails"
)]

use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::Output;

use ftpsh_tests::clients::{
    self, BACA_SAYA, build_mirror_tree, curl_downloads_over_epsv_and_pasv, curl_lists_a_and_sub,
    curl_refusals_have_exit_codes, feat_with_the_common_extensions, lftp, lftp_ok, parse_mlsd_list,
    suppaftp_lists_the_root,
};
use ftpsh_tests::s3::S3Prefix;
use ftpsh_tests::{
    PASSWORD, READER, READER_PASSWORD, RawControl, TestServer, USER, assert_file_is_seeded,
    assert_same_file, assert_same_tree, curl, curl_ok, reply_code, seeded_bytes, tree,
    write_seeded,
};

/// The prefix `name` of the shared bucket and a daemon serving it; `None`
/// when skipped.
fn start(name: &str) -> Option<(S3Prefix, TestServer)> {
    let s3 = S3Prefix::create(name)?;
    let srv = s3.server();
    Some((s3, srv))
}

/// The content of object `key`, fetched with boto3.
fn object(s3: &S3Prefix, key: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("object");
    s3.get(key, &file);
    fs::read(file).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

// ---- Python ftplib: seed 004's session ----

/// `tests/py/seed004_session.py`, unchanged from the local back-end's
/// test: the seed's files are put by boto3, so `Folder_Tes` is only a key
/// prefix (no marker), as a s3 filled by another tool has it.
#[test]
fn seed004_session() {
    let Some((s3, srv)) = start("seed004") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let catatan_len = (5 << 20) + 7;
    let catatan = work.path().join("seed-catatan.bin");
    write_seeded(&catatan, 4, catatan_len);
    let baca = work.path().join("seed-baca.txt");
    fs::write(&baca, BACA_SAYA).unwrap();
    s3.put(&[
        ("baca_saya.txt", &baca),
        ("Folder_Tes/catatan.bin", &catatan),
    ]);
    write_seeded(&work.path().join("upload.bin"), 5, (3 << 20) + 1);

    clients::seed004_session(&srv, work.path(), &catatan);
    // The script cleaned up after itself (its upload renamed into a new
    // directory, deleted, the directory removed): only the seed is left.
    assert_eq!(
        s3.objects(""),
        [
            ("Folder_Tes/catatan.bin".to_owned(), catatan_len),
            ("baca_saya.txt".to_owned(), BACA_SAYA.len() as u64),
        ]
    );
}

// ---- curl ----

#[test]
fn curl_list_and_nlst() {
    let Some((s3, srv)) = start("curl-list") else {
        return;
    };
    s3.put_bytes("a.txt", b"a");
    s3.put_bytes("sub/deep.txt", b"deep");

    curl_lists_a_and_sub(&srv);
}

#[test]
fn curl_download_and_upload() {
    let Some((s3, srv)) = start("curl-transfer") else {
        return;
    };
    let local = tempfile::tempdir().unwrap();
    let len = 12 << 20;
    let seed = local.path().join("seed.bin");
    write_seeded(&seed, 31, len);
    s3.put(&[("down.bin", &seed)]);

    curl_downloads_over_epsv_and_pasv(&srv, "down.bin", local.path(), 31, len);

    let up = local.path().join("up.bin");
    write_seeded(&up, 32, (9 << 20) + 3);
    curl_ok(&["-T", up.to_str().unwrap(), &srv.url("up.bin")]);
    let stored = local.path().join("stored.bin");
    s3.get("up.bin", &stored);
    assert_same_file(&up, &stored);
    // Uploading to a directory URL keeps the local name.
    curl_ok(&["-Q", "MKD in", "-T", up.to_str().unwrap(), &srv.url("in/")]);
    s3.get("in/up.bin", &stored);
    assert_same_file(&up, &stored);
    assert_eq!(
        s3.keys(""),
        ["down.bin", "in/", "in/up.bin", "up.bin"],
        "MKD writes a marker, STOR one object per file, nothing else"
    );
}

#[test]
fn curl_quote_dele_and_rename() {
    let Some((s3, srv)) = start("curl-quote") else {
        return;
    };
    s3.put_bytes("x", b"x");
    s3.put_bytes("old.txt", b"old");
    let list = curl_ok(&["-Q", "DELE x", "--list-only", &srv.url("")]);
    assert_eq!(list.trim_end(), "old.txt");
    assert_eq!(s3.keys(""), ["old.txt"], "DELE x did not delete");

    curl_ok(&[
        "-Q",
        "RNFR old.txt",
        "-Q",
        "RNTO new.txt",
        "--list-only",
        &srv.url(""),
    ]);
    assert_eq!(s3.keys(""), ["new.txt"]);
    assert_eq!(object(&s3, "new.txt"), b"old");

    // A refused quote command makes curl fail (exit 21, "quote error").
    let out = curl(&["-Q", "DELE missing", "--list-only", &srv.url("")]);
    assert_eq!(out.status.code(), Some(21), "{out:?}");
}

#[test]
fn curl_ftp_create_dirs() {
    let Some((s3, srv)) = start("curl-dirs") else {
        return;
    };
    let local = tempfile::tempdir().unwrap();
    let file = local.path().join("f.txt");
    fs::write(&file, b"nested").unwrap();
    for name in ["f.txt", "g.txt"] {
        // The second time the directories are already there.
        curl_ok(&[
            "--ftp-create-dirs",
            "-T",
            file.to_str().unwrap(),
            &srv.url(&format!("a/b/c/{name}")),
        ]);
        assert_eq!(object(&s3, &format!("a/b/c/{name}")), b"nested");
    }
    assert_eq!(
        s3.keys(""),
        ["a/", "a/b/", "a/b/c/", "a/b/c/f.txt", "a/b/c/g.txt"]
    );
    // Without the option a missing directory is an error, not created.
    let out = curl(&["-T", file.to_str().unwrap(), &srv.url("x/y/f.txt")]);
    assert!(!out.status.success(), "{out:?}");
    assert!(s3.keys("x").is_empty());
}

/// REST + RETR resumes a download (a ranged GET); resuming an upload needs
/// APPE (curl's `-C - -T` and `--append`), which an object store refuses
/// with `502`: curl exits 25 ("upload failed") and the object is unchanged.
#[test]
fn curl_resume() {
    let Some((s3, srv)) = start("curl-resume") else {
        return;
    };
    let content = seeded_bytes(33, 4 << 20);
    s3.put_bytes("r.bin", &content);
    let local = tempfile::tempdir().unwrap();

    let part = local.path().join("r.bin");
    fs::write(&part, &content[..1_234_567]).unwrap();
    curl_ok(&["-C", "-", "-o", part.to_str().unwrap(), &srv.url("r.bin")]);
    assert!(
        fs::read(&part).unwrap() == content,
        "resumed download differs"
    );

    s3.put_bytes("u.bin", &content[..2_000_001]);
    let full = local.path().join("full.bin");
    fs::write(&full, &content).unwrap();
    let out = curl(&["-C", "-", "-T", full.to_str().unwrap(), &srv.url("u.bin")]);
    assert_eq!(out.status.code(), Some(25), "{out:?}");
    assert!(stderr(&out).contains("502"), "{}", stderr(&out));
    assert!(
        object(&s3, "u.bin") == content[..2_000_001],
        "a refused resume changed the object"
    );

    s3.put_bytes("log.txt", b"one\n");
    let two = local.path().join("two.txt");
    fs::write(&two, b"two\n").unwrap();
    let out = curl(&["--append", "-T", two.to_str().unwrap(), &srv.url("log.txt")]);
    assert_eq!(out.status.code(), Some(25), "{out:?}");
    assert!(stderr(&out).contains("502"), "{}", stderr(&out));
    assert_eq!(object(&s3, "log.txt"), b"one\n");
}

/// curl's exit codes for the refusals of the local suite, and for what an
/// object store declares unsupported (as `-Q` quote commands, exit 21 with
/// the reply code in curl's message).
#[test]
fn curl_refusals() {
    let Some((s3, srv)) = start("curl-refusals") else {
        return;
    };
    curl_refusals_have_exit_codes(&srv);

    s3.put_bytes("f.txt", b"f");
    s3.put_bytes("full/inner.txt", b"inner");
    let before = s3.objects("");
    for (quote, code) in [
        ("SITE CHMOD 600 f.txt", "502"),
        ("MFMT 20200101000000 f.txt", "502"),
        ("RNFR full", "350"),
        ("RMD full", "550"),
        ("DELE full", "550"),
    ] {
        let mut args = vec!["-Q", quote];
        if quote == "RNFR full" {
            // The RNFR is accepted; its RNTO is refused.
            args.extend(["-Q", "RNTO moved"]);
        }
        let url = srv.url("");
        args.extend(["--list-only", &url]);
        let out = curl(&args);
        let want = if code == "350" { "550" } else { code };
        assert_eq!(out.status.code(), Some(21), "{quote}: {out:?}");
        assert!(
            stderr(&out).contains(&format!("failed with {want}")),
            "{quote}: {}",
            stderr(&out)
        );
    }
    assert_eq!(s3.objects(""), before, "a refused command changed objects");
}

/// The local suite's "hundreds of MiB, byte-identical" on S3: 200 MiB up
/// with curl (a multipart upload streamed through the daemon's storage
/// thread) and back down (a streamed GET), compared byte by byte.
#[test]
fn curl_hundreds_of_mib_round_trip() {
    const LEN: u64 = 200 << 20;
    let Some((s3, srv)) = start("curl-big") else {
        return;
    };
    let local = tempfile::tempdir().unwrap();
    let up = local.path().join("huge.bin");
    write_seeded(&up, 300, LEN);
    curl_ok(&["-T", up.to_str().unwrap(), &srv.url("huge.bin")]);
    fs::remove_file(&up).unwrap();
    assert_eq!(s3.objects(""), [("huge.bin".to_owned(), LEN)]);
    let down = local.path().join("down.bin");
    curl_ok(&["-o", down.to_str().unwrap(), &srv.url("huge.bin")]);
    assert_file_is_seeded(&down, 300, LEN);
}

// ---- lftp ----

/// The objects a mirror of `src` to `/PREFIX` must leave: each file as a
/// key with its size, each directory (and `PREFIX` itself) as a marker.
fn expected_objects(src: &Path, prefix: &str) -> Vec<(String, u64)> {
    let mut want = vec![(format!("{prefix}/"), 0)];
    for rel in tree(src) {
        let len = if rel.ends_with('/') {
            0
        } else {
            fs::metadata(src.join(&rel)).unwrap().len()
        };
        want.push((format!("{prefix}/{rel}"), len));
    }
    want.sort();
    want
}

#[test]
fn lftp_mirror_up_and_back_gives_an_identical_tree() {
    let Some((s3, srv)) = start("lftp-mirror") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let back = work.path().join("back");
    build_mirror_tree(&src);

    lftp_ok(&srv, &format!("mirror -R --no-perms {} /up", src.display()));
    let want = expected_objects(&src, "up");
    assert_eq!(s3.objects(""), want);
    let top = work.path().join("top.bin");
    s3.get("up/top.bin", &top);
    assert_same_file(&src.join("top.bin"), &top);

    lftp_ok(&srv, &format!("mirror --no-perms /up {}", back.display()));
    assert_same_tree(&src, &back);

    // A second mirror -R succeeds and leaves the same objects.
    lftp_ok(&srv, &format!("mirror -R --no-perms {} /up", src.display()));
    assert_eq!(s3.objects(""), want);
}

#[test]
fn lftp_basic_session_commands() {
    let Some((s3, srv)) = start("lftp-basic") else {
        return;
    };
    s3.put_bytes("hello.txt", b"hello, world\n");
    let out = lftp_ok(
        &srv,
        "pwd; cls -1; cat hello.txt; mkdir d; mv hello.txt d/hi.txt; cls -1 d; rm d/hi.txt; rmdir d; cls -1",
    );
    assert!(out.contains("hello, world"), "{out}");
    assert!(out.contains("hi.txt"), "{out}");
    assert!(s3.keys("").is_empty(), "{:?}", s3.keys(""));

    // mirror -R with permissions (no --no-perms): lftp sends SITE CHMOD
    // after each upload, gets 502, and carries on.
    let work = tempfile::tempdir().unwrap();
    fs::create_dir(work.path().join("src")).unwrap();
    fs::write(work.path().join("src/p.txt"), b"perms").unwrap();
    lftp_ok(
        &srv,
        &format!("mirror -R {}/src /perms", work.path().display()),
    );
    assert_eq!(object(&s3, "perms/p.txt"), b"perms");
    lftp_ok(&srv, "rm perms/p.txt; rmdir perms");

    // What the store cannot do, as lftp reports it; nothing changes.
    s3.put_bytes("f.txt", b"f");
    s3.put_bytes("full/inner.txt", b"inner");
    let before = s3.objects("");
    for (cmd, code) in [
        ("chmod 600 f.txt", "502"),
        ("mv full moved", "550"),
        ("rmdir full", "550"),
    ] {
        let out = lftp(&srv, cmd);
        assert!(!out.status.success(), "{cmd}: {out:?}");
        assert!(stderr(&out).contains(code), "{cmd}: {}", stderr(&out));
    }
    assert_eq!(s3.objects(""), before);
}

// ---- suppaftp (the rows of `suppaftp_client.rs` that the object-storage
// test does not already cover) ----

fn code<T: std::fmt::Debug>(r: Result<T, suppaftp::FtpError>) -> Option<u32> {
    reply_code(&r.expect_err("the server refused"))
}

/// Listings of objects another S3 client put (the directory `dir` is only
/// a key prefix), parsed as the local suite parses them; SIZE, MDTM,
/// REST + RETR at the edges, empty files, STOR replacing an object, FEAT.
#[test]
fn suppaftp_listings_and_metadata() {
    let Some((s3, srv)) = start("suppaftp-list") else {
        return;
    };
    s3.put_bytes("a.txt", b"hello\n");
    s3.put_bytes("with space.bin", &[7u8; 1234]);
    s3.put_bytes("dir/inner.txt", b"x");
    let mut ftp = srv.login();

    suppaftp_lists_the_root(&mut ftp);
    let mlsd = parse_mlsd_list(&ftp.mlsd(None).unwrap());
    let a = mlsd.iter().find(|f| f.name() == "a.txt").expect("a.txt");
    assert_eq!(a.size(), 6);
    assert!(
        mlsd.iter()
            .find(|f| f.name() == "dir")
            .unwrap()
            .is_directory()
    );

    // SIZE, MDTM (the object's Last-Modified: this year, not the epoch).
    assert_eq!(ftp.size("a.txt").unwrap(), 6);
    let year = ftp.mdtm("a.txt").unwrap().format("%Y").to_string();
    assert!(year.as_str() >= "2025", "MDTM year {year}");
    assert_eq!(code(ftp.size("dir")), Some(550));
    assert_eq!(code(ftp.size("missing")), Some(550));
    assert_eq!(code(ftp.mdtm("missing")), Some(550));
    assert_eq!(code(ftp.rm("missing")), Some(550));
    assert_eq!(code(ftp.rename("nope", "x")), Some(550));

    // REST + RETR: ranged GETs, at the edges too; the marker is consumed.
    let len = 3 << 20;
    let content = seeded_bytes(11, len);
    s3.put_bytes("r.bin", &content);
    for offset in [1usize, 65_536, 1_000_003, len - 1, len] {
        ftp.resume_transfer(offset).unwrap();
        let got = ftp.retr_as_buffer("r.bin").unwrap().into_inner();
        assert!(got == content[offset..], "REST {offset} + RETR differs");
    }
    assert!(ftp.retr_as_buffer("r.bin").unwrap().into_inner() == content);
    // Past the end: 554 (suppaftp has no name for that code).
    let mut raw = RawControl::login(srv.addr(), USER, PASSWORD);
    raw.cmd("TYPE I", 200);
    raw.cmd(&format!("REST {}", len + 1), 350);
    let _data = raw.epsv();
    raw.cmd("RETR r.bin", 554);

    // An empty file; STOR over an existing object replaces it whole.
    ftp.put_file("empty", &mut std::io::empty()).unwrap();
    assert_eq!(ftp.size("empty").unwrap(), 0);
    assert!(ftp.retr_as_buffer("empty").unwrap().into_inner().is_empty());
    ftp.put_file("a.txt", &mut &b"new"[..]).unwrap();
    assert_eq!(object(&s3, "a.txt"), b"new");

    // FEAT: what the store does, and not MFMT, which it cannot do.
    let feat = feat_with_the_common_extensions(&mut ftp);
    assert!(
        !feat.keys().any(|k| k.eq_ignore_ascii_case("MFMT")),
        "FEAT has MFMT: {feat:?}"
    );
    ftp.quit().unwrap();
}

#[test]
fn suppaftp_read_only_user_cannot_write() {
    let Some((s3, srv)) = start("suppaftp-reader") else {
        return;
    };
    s3.put_bytes("keep.txt", b"keep");
    let mut ftp = srv.connect();
    ftp.login(READER, READER_PASSWORD).unwrap();
    assert_eq!(
        ftp.retr_as_buffer("keep.txt").unwrap().into_inner(),
        b"keep"
    );
    assert_eq!(code(ftp.put_file("new.txt", &mut &b"x"[..])), Some(550));
    assert_eq!(code(ftp.rm("keep.txt")), Some(550));
    assert_eq!(code(ftp.mkdir("d")), Some(550));
    assert_eq!(code(ftp.rename("keep.txt", "moved.txt")), Some(550));
    assert_eq!(s3.objects(""), [("keep.txt".to_owned(), 4)]);
}

/// Names that URL encoding and S3 key handling could get wrong, both ways:
/// written through the daemon and read with boto3, and the reverse; and a
/// directory that is only a key prefix (no marker) treated as one.
#[test]
fn suppaftp_odd_names_and_prefix_directories() {
    let Some((s3, srv)) = start("suppaftp-names") else {
        return;
    };
    let names = [
        "plus+and space.txt",
        "percent%20not-a-space.txt",
        "hash#question?.txt",
        "ünïcødé ñame.txt",
        "semi;colon&amp=eq.txt",
    ];
    let mut ftp = srv.login();
    for (i, name) in names.iter().enumerate() {
        ftp.put_file(name, &mut &seeded_bytes(i as u64, 1000 + i)[..])
            .unwrap_or_else(|e| panic!("STOR {name:?}: {e}"));
    }
    let mut want: Vec<(String, u64)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| ((*n).to_owned(), 1000 + i as u64))
        .collect();
    want.sort();
    assert_eq!(s3.objects(""), want, "keys as another S3 client sees them");
    let mut listed = ftp.nlst(None).unwrap();
    listed.sort();
    let mut sorted = names.to_vec();
    sorted.sort_unstable();
    assert_eq!(listed, sorted);
    for (i, name) in names.iter().enumerate() {
        assert_eq!(
            object(&s3, name),
            seeded_bytes(i as u64, 1000 + i),
            "{name}"
        );
    }

    // The reverse: objects another client put, read through the daemon.
    s3.put_bytes("implicit/ä+b c%.txt", b"from boto3");
    assert_eq!(
        ftp.retr_as_buffer("implicit/ä+b c%.txt")
            .unwrap()
            .into_inner(),
        b"from boto3"
    );
    // `implicit` has no marker: still a directory for every command.
    ftp.cwd("implicit").unwrap();
    assert_eq!(ftp.nlst(None).unwrap(), ["ä+b c%.txt"]);
    ftp.cwd("/").unwrap();
    assert_eq!(code(ftp.mkdir("implicit")), Some(550));
    assert_eq!(code(ftp.rm("implicit")), Some(550));
    assert_eq!(code(ftp.rmdir("implicit")), Some(550));
    assert_eq!(code(ftp.put_file("implicit", &mut &b"x"[..])), Some(550));
    assert!(code(ftp.rename(names[0], "implicit")).is_some_and(|c| c >= 550));
    assert_eq!(s3.keys("implicit"), ["implicit/ä+b c%.txt"]);
    ftp.quit().unwrap();
}

/// ABOR in the middle of a RETR from the store, and a data connection the
/// client drops: the transfer ends with its replies (RFC 959 §4.1.3), the
/// reader thread stops, the session goes on, and the next RETR is whole.
/// Driven by hand: a client that closes its data connection as it sends
/// ABOR races the server over which of the two ends the transfer.
#[test]
fn abor_and_dropped_retr() {
    let Some((s3, srv)) = start("abor-retr") else {
        return;
    };
    // Far more than the pipe and both socket buffers hold.
    let len: usize = 16 << 20;
    let content = seeded_bytes(77, len);
    s3.put_bytes("big.bin", &content);
    let mut raw = RawControl::login(srv.addr(), USER, PASSWORD);
    raw.cmd("TYPE I", 200);
    let whole = |raw: &mut RawControl| {
        let mut data = raw.epsv();
        raw.cmd("RETR big.bin", 150);
        let mut got = Vec::new();
        data.read_to_end(&mut got).unwrap();
        raw.expect(226);
        assert!(got == content, "RETR after an interrupted one differs");
    };
    for abort in [true, false] {
        let mut data = raw.epsv();
        raw.cmd("RETR big.bin", 150);
        let mut head = vec![0u8; 1 << 20];
        data.read_exact(&mut head).unwrap();
        assert!(head == content[..1 << 20]);
        if abort {
            raw.send("ABOR");
            raw.expect(426);
            raw.expect(226);
            drop(data);
        } else {
            drop(data);
            // 426 (or 226 if all was sent before the close was seen).
            let r = raw.reply();
            assert!(r.code == 426 || r.code == 226, "{r:?}");
        }
        raw.cmd("PWD", 257);
        whole(&mut raw);
    }
    raw.cmd("QUIT", 221);
}

/// Eight curl clients at once, each uploading then downloading its own
/// file: every transfer has its storage thread, and none mixes up another's
/// bytes.
#[test]
fn curl_concurrent_transfers() {
    const CLIENTS: u64 = 8;
    const LEN: u64 = (3 << 20) + 11;
    let Some((s3, srv)) = start("curl-concurrent") else {
        return;
    };
    let local = tempfile::tempdir().unwrap();
    std::thread::scope(|scope| {
        for i in 0..CLIENTS {
            let (srv, dir) = (&srv, local.path());
            scope.spawn(move || {
                let up = dir.join(format!("up{i}.bin"));
                write_seeded(&up, 500 + i, LEN);
                curl_ok(&["-T", up.to_str().unwrap(), &srv.url(&format!("c{i}.bin"))]);
                let down = dir.join(format!("down{i}.bin"));
                curl_ok(&["-o", down.to_str().unwrap(), &srv.url(&format!("c{i}.bin"))]);
                assert_file_is_seeded(&down, 500 + i, LEN);
            });
        }
    });
    let want: Vec<(String, u64)> = (0..CLIENTS).map(|i| (format!("c{i}.bin"), LEN)).collect();
    assert_eq!(s3.objects(""), want);
}

// ---- FTPS over the storage threads ----

/// TLS is a layer of the data connection and the storage bridge a layer
/// of the file side: both at once, a multi-MiB upload and download with
/// `curl --ssl-reqd` (explicit FTPS, PROT P) are byte-identical, in the
/// bucket and back.
#[test]
fn ftps_upload_and_download_on_s3() {
    let Some(s3) = S3Prefix::create("ftps") else {
        return;
    };
    let srv = TestServer::with(ftpsh_tests::Options {
        storage: Some(s3.backend()),
        tls: true,
        ..ftpsh_tests::Options::default()
    });
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("tls.bin");
    write_seeded(&src, 41, (9 << 20) + 13);
    let cacert = srv.cert_path();
    let url = |name: &str| format!("ftp://{USER}:{PASSWORD}@127.0.0.1:{}/{name}", srv.port());
    curl_ok(&[
        "--ssl-reqd",
        "--cacert",
        cacert.to_str().unwrap(),
        "-T",
        src.to_str().unwrap(),
        &url("tls.bin"),
    ]);
    assert!(
        object(&s3, "tls.bin") == fs::read(&src).unwrap(),
        "object differs"
    );
    let got = work.path().join("back.bin");
    curl_ok(&[
        "--ssl-reqd",
        "--cacert",
        cacert.to_str().unwrap(),
        "-o",
        got.to_str().unwrap(),
        &url("tls.bin"),
    ]);
    assert_same_file(&src, &got);
}

// ---- MLST facts an object store cannot give ----

/// An object has no owner or permission bits of its own: FEAT's MLST line
/// does not offer `unix.mode`, `unix.uid`, `unix.gid`, `OPTS MLST` ignores
/// them like unknown facts (RFC 3659 §7.9), and MLST never prints them.
#[test]
fn mlst_leaves_out_the_unix_facts() {
    let Some((s3, srv)) = start("mlst-facts") else {
        return;
    };
    s3.put_bytes("f.txt", b"fact");
    let mut c = RawControl::login(srv.addr(), USER, PASSWORD);
    let feat = c.cmd("FEAT", 211).text;
    let line = feat.lines().find(|l| l.contains("MLST ")).unwrap();
    assert!(line.contains("type*;size*;modify*;perm*;unique;"), "{line}");
    assert!(!line.contains("unix."), "{line}");
    let set = c.cmd("OPTS MLST type;unix.mode;unique;", 200).text;
    assert!(set.ends_with("MLST OPTS type;unique;"), "{set}");
    let mlst = c.cmd("MLST f.txt", 250).text;
    assert!(mlst.contains("type=file;unique="), "{mlst}");
    assert!(!mlst.contains("unix."), "{mlst}");
}
