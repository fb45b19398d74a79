//! RFC 2577 through real clients: no client path — `..`, absolute host
//! paths, symlinks pointing out of the root, NUL bytes — reads or writes
//! outside the user's root; garbage and over-long lines on the control
//! connection get `500` and the daemon keeps serving.
//!
//! Layout: the server's `base/outside/secret.txt` lies next to the root;
//! inside the root, `link.txt` is a symlink to it and `outdir` a symlink to
//! the whole `outside` directory.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a panic is how a test fails"
)]

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::symlink;
use std::process::Command;
use std::time::Duration;

use ftpsh_tests::{
    PASSWORD, RawControl, TestServer, USER, reply_code, require_tool, run_with_timeout,
    seeded_bytes,
};

const SECRET: &[u8] = b"TOP SECRET, outside the root\n";

fn with_escape_fixture() -> TestServer {
    let srv = TestServer::start();
    fs::write(srv.outside().join("secret.txt"), SECRET).unwrap();
    symlink(srv.outside().join("secret.txt"), srv.path("link.txt")).unwrap();
    symlink(srv.outside(), srv.path("outdir")).unwrap();
    symlink("/etc", srv.path("etc")).unwrap();
    fs::write(srv.path("inside.txt"), b"inside").unwrap();
    srv
}

fn assert_outside_untouched(srv: &TestServer) {
    assert_eq!(
        fs::read(srv.outside().join("secret.txt")).unwrap(),
        SECRET,
        "the file outside the root was changed"
    );
    let mut names: Vec<String> = fs::read_dir(srv.outside())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["secret.txt"],
        "something was created outside the root"
    );
    let base = srv.root().parent().unwrap().to_path_buf();
    let mut names: Vec<String> = fs::read_dir(&base)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["outside", "root"],
        "something was created beside the root"
    );
}

/// A download that must not succeed with the secret's bytes. Refusal is
/// required (`550`); an empty or other content would also not leak, but is
/// not what a jail should answer.
fn assert_retr_refused(ftp: &mut suppaftp::FtpStream, path: &str) {
    match ftp.retr_as_buffer(path) {
        Ok(c) => panic!(
            "RETR {path:?} succeeded with {} bytes: {:?}",
            c.get_ref().len(),
            String::from_utf8_lossy(c.get_ref())
        ),
        Err(e) => assert_eq!(reply_code(&e), Some(550), "RETR {path:?}: {e}"),
    }
}

#[test]
fn downloads_never_leave_the_root() {
    let srv = with_escape_fixture();
    let mut ftp = srv.login();
    let host_secret = srv.outside().join("secret.txt");
    let host_secret = host_secret.to_str().unwrap();
    for path in [
        "../outside/secret.txt",
        "../../../../../../../../etc/passwd",
        "/../outside/secret.txt",
        host_secret,
        "link.txt",
        "outdir/secret.txt",
        "etc/passwd",
        "/etc/passwd",
        "./../outside/./secret.txt",
    ] {
        assert_retr_refused(&mut ftp, path);
        // Neither may metadata of the outside file leak.
        let err = ftp.size(path).expect_err(path);
        assert_eq!(reply_code(&err), Some(550), "SIZE {path:?}: {err}");
    }
    // A relative `..` above the root stays at the root, as on a chrooted
    // server: it names the file inside.
    ftp.cwd("..").unwrap();
    assert_eq!(ftp.pwd().unwrap(), "/");
    assert_eq!(
        ftp.retr_as_buffer("../../inside.txt").unwrap().into_inner(),
        b"inside"
    );

    // Directories behind the symlinks: no CWD, no listing of their content.
    for dir in ["outdir", "etc", "../outside"] {
        let err = ftp.cwd(dir).expect_err(dir);
        assert_eq!(reply_code(&err), Some(550), "CWD {dir:?}: {err}");
        assert_eq!(ftp.pwd().unwrap(), "/");
        match ftp.nlst(Some(dir)) {
            Ok(names) => assert!(
                !names
                    .iter()
                    .any(|n| n.contains("secret") || n.contains("passwd")),
                "NLST {dir:?} listed outside content: {names:?}"
            ),
            Err(e) => assert_eq!(reply_code(&e), Some(550), "NLST {dir:?}: {e}"),
        }
        match ftp.list(Some(dir)) {
            Ok(lines) => assert!(
                !lines
                    .iter()
                    .any(|n| n.contains("secret") || n.contains("passwd")),
                "LIST {dir:?} listed outside content: {lines:?}"
            ),
            Err(e) => assert_eq!(reply_code(&e), Some(550), "LIST {dir:?}: {e}"),
        }
    }
    // The root's own listing never shows anything from outside either.
    let lines = ftp.list(Some("/")).unwrap();
    assert!(!lines.iter().any(|l| l.contains("secret")), "{lines:?}");
    assert!(
        !lines
            .iter()
            .any(|l| l.contains(srv.outside().to_str().unwrap())),
        "{lines:?}"
    );
    assert_outside_untouched(&srv);
}

#[test]
fn uploads_and_changes_never_leave_the_root() {
    let srv = with_escape_fixture();
    let mut ftp = srv.login();
    let payload = seeded_bytes(99, 10_000);

    // `..` above the root stays at the root: allowed, but lands inside.
    ftp.put_file("../x", &mut &payload[..]).unwrap();
    assert!(fs::read(srv.path("x")).unwrap() == payload);
    ftp.put_file("../../../outside/y", &mut &payload[..])
        .expect_err("STOR into a missing /outside inside the root");

    // Through the symlinked directory, and over the symlinked file: refused,
    // or at most replacing the link itself; never the target.
    for path in ["outdir/new.txt", "outdir/secret.txt", "etc/new.txt"] {
        let err = ftp.put_file(path, &mut &payload[..]).expect_err(path);
        assert!(
            matches!(reply_code(&err), Some(550 | 553)),
            "STOR {path:?}: {err}"
        );
    }
    let _ = ftp.put_file("link.txt", &mut &payload[..]);
    assert_outside_untouched(&srv);
    // APPE and REST+STOR write in place: the riskiest ones for symlinks.
    fs::remove_file(srv.path("link.txt")).ok();
    symlink(srv.outside().join("secret.txt"), srv.path("link.txt")).unwrap();
    let err = ftp.append_file("link.txt", &mut &b"APPENDED"[..]);
    assert!(
        err.is_err(),
        "APPE through a symlink out of the root succeeded"
    );
    let err = ftp.append_file("outdir/secret.txt", &mut &b"APPENDED"[..]);
    assert!(err.is_err(), "APPE through a symlinked dir succeeded");
    ftp.resume_transfer(3).unwrap();
    let _ = ftp.put_file("link.txt", &mut &b"OVERWRITE"[..]);
    assert_outside_untouched(&srv);

    // Directory and name changes.
    for dir in ["outdir/sub", "../outside/sub2", "etc/ftpsh-test-dir"] {
        let _ = ftp.mkdir(dir);
    }
    assert!(!std::path::Path::new("/etc/ftpsh-test-dir").exists());
    let _ = ftp.rm("outdir/secret.txt");
    let _ = ftp.rmdir("outdir");
    let _ = ftp.rename("inside.txt", "outdir/moved.txt");
    let _ = ftp.rename("outdir/secret.txt", "stolen.txt");
    assert!(
        fs::read(srv.path("stolen.txt")).map_or(true, |c| c != SECRET),
        "RNFR/RNTO moved the outside file into the root"
    );
    // Deleting the link removes the link, never its target.
    let _ = ftp.rm("link.txt");
    assert_outside_untouched(&srv);
    assert!(std::path::Path::new("/etc/passwd").exists());
}

#[test]
fn curl_with_path_as_is_cannot_escape() {
    let srv = with_escape_fixture();
    let curl = require_tool("curl");
    let work = tempfile::tempdir().unwrap();
    for path in [
        "../outside/secret.txt",
        "%2e%2e/outside/secret.txt",
        "..%2foutside%2fsecret.txt",
        "link.txt",
        "outdir/secret.txt",
    ] {
        let out_file = work.path().join("got");
        let _ = fs::remove_file(&out_file);
        let out = run_with_timeout(
            Command::new(&curl).args([
                "-sS",
                "--max-time",
                "60",
                "--path-as-is",
                "-o",
                out_file.to_str().unwrap(),
                &format!("ftp://{USER}:{PASSWORD}@127.0.0.1:{}/{path}", srv.port()),
            ]),
            Duration::from_secs(90),
        );
        assert!(!out.status.success(), "curl got {path:?}: {out:?}");
        let got = fs::read(&out_file).unwrap_or_default();
        assert!(got != SECRET, "curl read the outside file via {path:?}");
    }
    // Uploads with `..` in the URL land inside the root or nowhere.
    let src = work.path().join("up.txt");
    fs::write(&src, b"up").unwrap();
    let _ = run_with_timeout(
        Command::new(&curl).args([
            "-sS",
            "--max-time",
            "60",
            "--path-as-is",
            "--ftp-create-dirs",
            "-T",
            src.to_str().unwrap(),
            &format!(
                "ftp://{USER}:{PASSWORD}@127.0.0.1:{}/../../evil.txt",
                srv.port()
            ),
        ]),
        Duration::from_secs(90),
    );
    assert_outside_untouched(&srv);
}

#[test]
fn nul_bytes_in_paths_are_refused() {
    let srv = with_escape_fixture();
    let mut c = RawControl::login(srv.addr(), USER, PASSWORD);
    for line in [
        &b"SIZE inside.txt\0../outside/secret.txt\r\n"[..],
        b"CWD outdir\0\r\n",
        b"MKD new\0dir\r\n",
        b"DELE inside.txt\0\r\n",
        b"RNFR inside.txt\0x\r\n",
        b"MDTM \0\r\n",
    ] {
        c.send_raw(line);
        let r = c.reply();
        assert!(
            r.code == 501 || r.code == 550,
            "{:?}: expected 501, got {:?}",
            String::from_utf8_lossy(line),
            r.text
        );
    }
    // With a data connection open: refused, and the session goes on.
    let mut refused = c.epsv();
    c.send_raw(b"RETR link.txt\0\r\n");
    let r = c.reply();
    assert!(r.code == 501 || r.code == 550, "{:?}", r.text);
    // A new EPSV replaces the unused data connection; the old one must
    // have carried nothing.
    let mut data = c.epsv();
    let mut got = Vec::new();
    let _ = refused.read_to_end(&mut got);
    assert!(got.is_empty(), "data was sent for a refused RETR");
    c.send_raw(b"STOR new\0../../evil\r\n");
    let r = c.reply();
    assert!(
        r.code == 501 || r.code == 550 || r.code == 553,
        "{:?}",
        r.text
    );
    let _ = data.write_all(b"evil");
    drop(data);
    c.cmd("NOOP", 200);
    c.cmd("PWD", 257);
    assert!(fs::read(srv.path("inside.txt")).unwrap() == b"inside");
    assert!(!srv.path("new").exists());
    assert!(!srv.path("dir").exists());
    assert_outside_untouched(&srv);
}

/// Lines that are not FTP: binary noise, no letters, unknown verbs.
fn garbage_lines() -> Vec<Vec<u8>> {
    let mut lines: Vec<Vec<u8>> = vec![
        b"\x00\x01\x02\x03garbage".to_vec(),
        b"\x80\x81\xfe\xfd\xc3\x28".to_vec(),
        b"12345 678".to_vec(),
        b"!!!! ????".to_vec(),
        b"XYZZY plugh".to_vec(),
        b"GET / HTTP/1.1".to_vec(),
        b"RETRRETRRETRRETRRETR x".to_vec(),
    ];
    // Seeded random bytes without the line terminator, starting with a
    // byte that no verb starts with.
    let mut noise: Vec<u8> = seeded_bytes(1234, 600)
        .into_iter()
        .filter(|b| !matches!(b, b'\r' | b'\n' | 0xFF))
        .collect();
    noise[0] = b'#';
    lines.push(noise);
    lines
}

#[test]
fn garbage_gets_500_and_the_daemon_keeps_serving() {
    let srv = TestServer::start();
    fs::write(srv.path("f.txt"), b"still here").unwrap();
    // Another session, logged in before the garbage starts.
    let mut other = srv.login();

    let mut c = RawControl::connect(srv.addr());
    c.expect(220);
    for line in garbage_lines() {
        c.send_raw(&line);
        c.send_raw(b"\r\n");
        let r = c.reply();
        assert_eq!(
            r.code,
            500,
            "{:?} -> {:?}",
            String::from_utf8_lossy(&line),
            r.text
        );
    }
    c.cmd("NOOP", 200);
    // Logged in, garbage still gets 500 and the session still works.
    c.cmd(&format!("USER {USER}"), 331);
    c.cmd(&format!("PASS {PASSWORD}"), 230);
    for line in garbage_lines() {
        c.send_raw(&line);
        c.send_raw(b"\r\n");
        assert_eq!(c.reply().code, 500);
    }
    c.cmd("PWD", 257);
    // A connection that sends garbage and vanishes without reading.
    {
        let mut rude = RawControl::connect(srv.addr());
        for line in garbage_lines() {
            rude.send_raw(&line);
        }
    }
    assert_eq!(
        other.retr_as_buffer("f.txt").unwrap().into_inner(),
        b"still here"
    );
    let mut fresh = srv.login();
    assert_eq!(fresh.pwd().unwrap(), "/");
}

#[test]
fn over_long_lines_get_500_and_are_discarded() {
    let srv = TestServer::start();
    let mut c = RawControl::connect(srv.addr());
    c.expect(220);
    // 100 KiB: many times the 4096-byte line limit.
    for len in [4097usize, 100 * 1024] {
        let mut line = b"USER ".to_vec();
        line.resize(len, b'A');
        line.extend_from_slice(b"\r\n");
        c.send_raw(&line);
        let r = c.reply();
        assert_eq!(r.code, 500, "{len}-byte line: {:?}", r.text);
        // The rest of the long line was discarded, not taken as commands:
        // the next reply is NOOP's.
        c.send("NOOP");
        let r = c.reply();
        assert_eq!(r.code, 200, "after a {len}-byte line: {:?}", r.text);
    }
    // A long line cut in pieces across writes is still one line.
    for _ in 0..5 {
        c.send_raw(&[b'x'; 2000]);
    }
    c.send_raw(b"\r\n");
    assert_eq!(c.reply().code, 500);
    c.cmd(&format!("USER {USER}"), 331);
    c.cmd(&format!("PASS {PASSWORD}"), 230);
    // Another session is served normally.
    let mut ftp = srv.login();
    assert_eq!(ftp.pwd().unwrap(), "/");
    // A 1 MiB line without any terminator: the daemon must not buffer it
    // forever; whatever it answers, other sessions go on.
    let mut flood = RawControl::connect(srv.addr());
    flood.expect(220);
    let chunk = vec![b'B'; 64 * 1024];
    for _ in 0..16 {
        let mut s: &std::net::TcpStream = flood.stream();
        if s.write_all(&chunk).is_err() {
            break;
        }
    }
    assert_eq!(ftp.pwd().unwrap(), "/");
    drop(flood);
    let mut ftp2 = srv.login();
    assert_eq!(ftp2.pwd().unwrap(), "/");
}
