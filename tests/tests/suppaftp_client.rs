//! `ftpshd` driven by an independent Rust FTP client, `suppaftp` (sync,
//! passive mode): login, directories, the three listings, large byte-exact
//! transfers, rename/delete/SIZE/MDTM, and the RFC 3659 §5 restart marker
//! for both directions plus APPE.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a panic is how a test fails"
)]

use std::fs;
use std::io::BufReader;
use std::time::{Duration, SystemTime};

use ftpsh_tests::clients::{
    feat_with_the_common_extensions, parse_mlsd_list, suppaftp_lists_the_root,
};
use ftpsh_tests::{
    PASSWORD, READER, READER_PASSWORD, SeededReader, TestServer, USER, assert_file_is_seeded,
    compare_streams, reply_code, seeded_bytes, write_seeded,
};
use suppaftp::FtpError;
use suppaftp::list::ListParser;

/// 48 MiB: far above any plausible single buffer, so a daemon that read
/// files whole or lost a chunk boundary would show it.
const BIG: u64 = 48 << 20;

#[test]
fn login_and_wrong_password() {
    let srv = TestServer::start();
    let mut ftp = srv.connect();
    assert!(ftp.get_welcome_msg().is_some_and(|m| !m.is_empty()));
    let err = ftp
        .login(USER, "wrong")
        .expect_err("wrong password accepted");
    assert_eq!(reply_code(&err), Some(530), "{err}");
    // The same connection may try again (below max_login_failures).
    ftp.login(USER, PASSWORD)
        .expect("login after a failed attempt");
    assert_eq!(ftp.pwd().unwrap(), "/");
    ftp.quit().unwrap();

    let mut ftp = srv.connect();
    let err = ftp
        .login("nobody", PASSWORD)
        .expect_err("unknown user accepted");
    assert_eq!(reply_code(&err), Some(530), "{err}");
}

#[test]
fn commands_before_login_get_530() {
    let srv = TestServer::start();
    let mut ftp = srv.connect();
    let err = ftp.pwd().expect_err("PWD before login");
    assert_eq!(reply_code(&err), Some(530), "{err}");
    let err = ftp.list(None).expect_err("LIST before login");
    assert_eq!(reply_code(&err), Some(530), "{err}");
}

#[test]
fn directories() {
    let srv = TestServer::start();
    let mut ftp = srv.login();
    assert_eq!(ftp.pwd().unwrap(), "/");
    ftp.mkdir("docs").unwrap();
    assert!(srv.path("docs").is_dir());
    ftp.cwd("docs").unwrap();
    assert_eq!(ftp.pwd().unwrap(), "/docs");
    ftp.mkdir("sub").unwrap();
    ftp.cwd("sub").unwrap();
    assert_eq!(ftp.pwd().unwrap(), "/docs/sub");
    ftp.cdup().unwrap();
    assert_eq!(ftp.pwd().unwrap(), "/docs");
    ftp.cwd("/").unwrap();
    assert_eq!(ftp.pwd().unwrap(), "/");
    // CDUP at the root stays at the root, as on a chrooted server.
    ftp.cdup().unwrap();
    assert_eq!(ftp.pwd().unwrap(), "/");

    let err = ftp.cwd("missing").expect_err("CWD into a missing dir");
    assert_eq!(reply_code(&err), Some(550), "{err}");
    let err = ftp.mkdir("docs").expect_err("MKD of an existing dir");
    assert_eq!(reply_code(&err), Some(550), "{err}");
    let err = ftp.rmdir("docs").expect_err("RMD of a non-empty dir");
    assert_eq!(reply_code(&err), Some(550), "{err}");
    assert!(srv.path("docs/sub").is_dir());

    ftp.rmdir("docs/sub").unwrap();
    ftp.rmdir("/docs").unwrap();
    assert!(!srv.path("docs").exists());
    let err = ftp.rmdir("docs").expect_err("RMD of a missing dir");
    assert_eq!(reply_code(&err), Some(550), "{err}");
}

#[test]
fn listings() {
    let srv = TestServer::start();
    fs::write(srv.path("a.txt"), b"hello\n").unwrap();
    fs::write(srv.path("with space.bin"), vec![7u8; 1234]).unwrap();
    fs::create_dir(srv.path("dir")).unwrap();
    fs::write(srv.path("dir/inner.txt"), b"x").unwrap();
    let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    fs::File::options()
        .write(true)
        .open(srv.path("a.txt"))
        .unwrap()
        .set_modified(mtime)
        .unwrap();

    let mut ftp = srv.login();

    // LIST, of the root and of `dir`: `ls -l` lines that a POSIX parser
    // understands.
    suppaftp_lists_the_root(&mut ftp);

    // NLST: bare names.
    let mut nlst = ftp.nlst(None).unwrap();
    nlst.sort();
    assert_eq!(nlst, ["a.txt", "dir", "with space.bin"]);

    // MLSD (RFC 3659 §7): facts, exact size and UTC modify time.
    let mlsd = ftp.mlsd(None).unwrap();
    let entries = parse_mlsd_list(&mlsd);
    let a = entries
        .iter()
        .find(|f| f.name() == "a.txt")
        .expect("a.txt in MLSD");
    assert_eq!(a.size(), 6);
    assert_eq!(a.modified(), mtime);
    assert!(
        entries
            .iter()
            .find(|f| f.name() == "dir")
            .unwrap()
            .is_directory()
    );
    assert!(
        entries.iter().all(|f| f.name() != "." && f.name() != ".."),
        "MLSD lists only the entries themselves here: {mlsd:?}"
    );
    let line = mlsd.iter().find(|l| l.ends_with(" a.txt")).unwrap();
    assert!(
        line.to_ascii_lowercase().contains("modify=20231114221320"),
        "{line}"
    );

    // MLST (RFC 3659 §7) on one file.
    let mlst = ftp.mlst(Some("a.txt")).unwrap();
    let f = ListParser::parse_mlst(&mlst).unwrap_or_else(|e| panic!("{mlst:?}: {e:?}"));
    assert_eq!(f.size(), 6);

    let err = ftp
        .list(Some("missing"))
        .expect_err("LIST of a missing path");
    assert_eq!(reply_code(&err), Some(550), "{err}");
}

#[test]
fn big_upload_and_download_are_byte_identical() {
    let srv = TestServer::start();
    let mut ftp = srv.login();
    let sent = ftp
        .put_file("big.bin", &mut SeededReader::new(42, BIG))
        .unwrap();
    assert_eq!(sent, BIG);
    assert_file_is_seeded(&srv.path("big.bin"), 42, BIG);
    assert_eq!(ftp.size("big.bin").unwrap() as u64, BIG);

    let compared = ftp
        .retr("big.bin", |stream| {
            compare_streams(BufReader::new(stream), SeededReader::new(42, BIG))
                .map_err(|e| FtpError::ConnectionError(std::io::Error::other(e)))
        })
        .unwrap();
    assert_eq!(compared, BIG);

    // A file placed on the host side downloads identically too (sendfile
    // path, not just what the daemon itself wrote).
    write_seeded(&srv.path("host.bin"), 7, 20 << 20);
    let compared = ftp
        .retr("host.bin", |stream| {
            compare_streams(BufReader::new(stream), SeededReader::new(7, 20 << 20))
                .map_err(|e| FtpError::ConnectionError(std::io::Error::other(e)))
        })
        .unwrap();
    assert_eq!(compared, 20 << 20);
    ftp.quit().unwrap();
}

#[test]
fn empty_file_round_trip() {
    let srv = TestServer::start();
    let mut ftp = srv.login();
    ftp.put_file("empty", &mut std::io::empty()).unwrap();
    assert_eq!(fs::read(srv.path("empty")).unwrap(), b"");
    assert_eq!(ftp.size("empty").unwrap(), 0);
    let got = ftp.retr_as_buffer("empty").unwrap().into_inner();
    assert!(got.is_empty());
}

#[test]
fn rename_delete_size_mdtm() {
    let srv = TestServer::start();
    let mut ftp = srv.login();
    let content = seeded_bytes(3, 100_000);
    ftp.put_file("a.bin", &mut &content[..]).unwrap();
    assert_eq!(ftp.size("a.bin").unwrap(), content.len());

    let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    fs::File::options()
        .write(true)
        .open(srv.path("a.bin"))
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    // MDTM is UTC (RFC 3659 §2.3).
    assert_eq!(
        ftp.mdtm("a.bin").unwrap().to_string(),
        "2023-11-14 22:13:20"
    );

    ftp.mkdir("d").unwrap();
    ftp.rename("a.bin", "d/b.bin").unwrap();
    assert!(!srv.path("a.bin").exists());
    assert_eq!(fs::read(srv.path("d/b.bin")).unwrap(), content);
    let err = ftp.size("a.bin").expect_err("SIZE of a renamed-away file");
    assert_eq!(reply_code(&err), Some(550), "{err}");
    let err = ftp.rename("nope", "x").expect_err("RNFR of a missing file");
    assert_eq!(reply_code(&err), Some(550), "{err}");

    // SIZE of a directory is not a file size.
    let err = ftp.size("d").expect_err("SIZE of a directory");
    assert_eq!(reply_code(&err), Some(550), "{err}");

    ftp.rm("d/b.bin").unwrap();
    assert!(!srv.path("d/b.bin").exists());
    let err = ftp.rm("d/b.bin").expect_err("DELE of a missing file");
    assert_eq!(reply_code(&err), Some(550), "{err}");
    let err = ftp.mdtm("d/b.bin").expect_err("MDTM of a missing file");
    assert_eq!(reply_code(&err), Some(550), "{err}");
}

#[test]
fn read_only_user_cannot_write() {
    let srv = TestServer::start();
    fs::write(srv.path("keep.txt"), b"keep").unwrap();
    let mut ftp = srv.connect();
    ftp.login(READER, READER_PASSWORD).unwrap();
    assert_eq!(
        ftp.retr_as_buffer("keep.txt").unwrap().into_inner(),
        b"keep"
    );
    let err = ftp
        .put_file("new.txt", &mut &b"x"[..])
        .expect_err("STOR by a read-only user");
    assert_eq!(reply_code(&err), Some(550), "{err}");
    let err = ftp.rm("keep.txt").expect_err("DELE by a read-only user");
    assert_eq!(reply_code(&err), Some(550), "{err}");
    let err = ftp.mkdir("d").expect_err("MKD by a read-only user");
    assert_eq!(reply_code(&err), Some(550), "{err}");
    assert!(!srv.path("new.txt").exists());
    assert!(srv.path("keep.txt").exists());
    assert!(!srv.path("d").exists());
}

#[test]
fn rest_resumes_a_download() {
    let srv = TestServer::start();
    let len = 3 << 20;
    let content = seeded_bytes(11, len);
    fs::write(srv.path("r.bin"), &content).unwrap();
    let mut ftp = srv.login();
    for offset in [1usize, 65_536, 1_000_003, len - 1, len] {
        ftp.resume_transfer(offset).unwrap();
        let got = ftp.retr_as_buffer("r.bin").unwrap().into_inner();
        assert!(
            got == content[offset..],
            "REST {offset} then RETR gave other bytes"
        );
    }
    // The marker is consumed: a following RETR starts at 0 again.
    let got = ftp.retr_as_buffer("r.bin").unwrap().into_inner();
    assert!(
        got == content,
        "RETR after a consumed REST did not start at 0"
    );
}

#[test]
fn rest_resumes_an_upload() {
    let srv = TestServer::start();
    let content = seeded_bytes(12, 2_500_000);
    let cut = 1_048_579;
    let mut ftp = srv.login();
    // A first attempt that got `cut` bytes across (as after a dropped link).
    ftp.put_file("u.bin", &mut &content[..cut]).unwrap();
    assert_eq!(ftp.size("u.bin").unwrap(), cut);
    // RFC 3659 §5: REST n + STOR writes from n on, in place.
    ftp.resume_transfer(cut).unwrap();
    ftp.put_file("u.bin", &mut &content[cut..]).unwrap();
    let on_disk = fs::read(srv.path("u.bin")).unwrap();
    assert_eq!(on_disk.len(), content.len());
    assert!(on_disk == content, "REST+STOR did not give the whole file");
}

#[test]
fn appe_appends_and_creates() {
    let srv = TestServer::start();
    let a = seeded_bytes(21, 300_000);
    let b = seeded_bytes(22, 700_001);
    let mut ftp = srv.login();
    // APPE on a missing file creates it (RFC 959 §4.1.3).
    ftp.append_file("log.bin", &mut &a[..]).unwrap();
    assert!(fs::read(srv.path("log.bin")).unwrap() == a);
    ftp.append_file("log.bin", &mut &b[..]).unwrap();
    let mut want = a.clone();
    want.extend_from_slice(&b);
    let got = fs::read(srv.path("log.bin")).unwrap();
    assert!(got == want, "APPE did not append");
    let mut downloaded = Vec::new();
    ftp.retr("log.bin", |s| {
        s.read_to_end(&mut downloaded)
            .map_err(FtpError::ConnectionError)
    })
    .unwrap();
    assert!(downloaded == want);
}

#[test]
fn stor_replaces_an_existing_file() {
    let srv = TestServer::start();
    fs::write(srv.path("f.txt"), vec![b'o'; 10_000]).unwrap();
    let mut ftp = srv.login();
    ftp.put_file("f.txt", &mut &b"new"[..]).unwrap();
    assert_eq!(fs::read(srv.path("f.txt")).unwrap(), b"new");
    // Nothing else left behind by the atomic replace.
    assert_eq!(srv.entries(""), ["f.txt"]);
}

#[test]
fn feat_advertises_the_extensions() {
    let srv = TestServer::start();
    let mut ftp = srv.connect();
    let feat = feat_with_the_common_extensions(&mut ftp);
    let rest = feat
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("REST"))
        .and_then(|(_, v)| v.clone())
        .unwrap_or_default();
    assert!(rest.eq_ignore_ascii_case("STREAM"), "REST {rest:?}");
}

#[test]
fn extended_passive_mode_works() {
    let srv = TestServer::start();
    let mut ftp = srv.login();
    ftp.set_mode(suppaftp::Mode::ExtendedPassive);
    ftp.put_file("e.txt", &mut &b"epsv"[..]).unwrap();
    assert_eq!(ftp.retr_as_buffer("e.txt").unwrap().into_inner(), b"epsv");
    let names = ftp.nlst(None).unwrap();
    assert_eq!(names, ["e.txt"]);
}
