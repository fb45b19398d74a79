//! Client runs that more than one suite makes against a server, whatever
//! its back-end (the local disk in `lftp_mirror.rs`, `python_ftplib.rs`,
//! `curl_client.rs`, `suppaftp_client.rs`; an S3 bucket in `s3_clients.rs`;
//! the balancer in `cluster.rs`). Each suite seeds and checks the storage
//! its own way; what the client does and must see is written once here.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use suppaftp::FtpStream;
use suppaftp::list::{File as ListFile, ListParser};
use suppaftp::types::Features;

use crate::{
    PASSWORD, TestServer, USER, assert_file_is_seeded, assert_same_file, assert_success, curl,
    curl_ok, require_tool, run_with_timeout, seeded_bytes, write_seeded,
};

/// lftp's settings for a test: any failed command ends lftp with a
/// non-zero status (`cmd:fail-exit`), and one retry with short timeouts
/// keeps a broken server from stalling the test.
const LFTP_SETTINGS: &str = "set cmd:fail-exit yes; set ftp:passive-mode true; \
     set net:max-retries 1; set net:timeout 10; set net:reconnect-interval-base 1; \
     set xfer:clobber on";

/// Runs lftp's `commands` against `addr`, logged in as `user`, with `home`
/// as `HOME` (an empty one keeps the user's `~/.lftprc` and bookmarks out),
/// for at most `timeout`.
pub fn lftp_at(
    addr: SocketAddr,
    (user, password): (&str, &str),
    home: &Path,
    commands: &str,
    timeout: Duration,
) -> Output {
    let script = format!(
        "{LFTP_SETTINGS}; open -u {user},{password} -p {} {}; {commands}; bye",
        addr.port(),
        addr.ip()
    );
    run_with_timeout(
        Command::new(require_tool("lftp"))
            .env("HOME", home)
            .args(["-c", &script]),
        timeout,
    )
}

/// [`lftp_at`] against `srv` as [`USER`], 300 s at most.
pub fn lftp(srv: &TestServer, commands: &str) -> Output {
    lftp_at(
        srv.addr(),
        (USER, PASSWORD),
        &srv.outside(),
        commands,
        Duration::from_secs(300),
    )
}

/// [`lftp`], which must succeed; its standard output.
///
/// # Panics
/// When lftp fails.
pub fn lftp_ok(srv: &TestServer, commands: &str) -> String {
    assert_success(&format!("lftp {commands:?}"), &lftp(srv, commands))
}

/// The tree the mirror tests send up and back: nested and empty
/// directories, names with spaces, an empty file and a few MiB of seeded
/// content.
pub fn build_mirror_tree(dir: &Path) {
    for sub in ["a/b/c", "empty", "with space/x"] {
        fs::create_dir_all(dir.join(sub)).expect("mkdir in the mirror tree");
    }
    write_seeded(&dir.join("top.bin"), 1, (2 << 20) + 17);
    write_seeded(&dir.join("a/one.bin"), 2, 1 << 20);
    write_seeded(&dir.join("a/b/two.bin"), 3, 700_001);
    write_seeded(&dir.join("a/b/c/three.bin"), 4, (1 << 20) + 5);
    let small: [(&str, &[u8]); 4] = [
        ("a/b/c/small.txt", b"small\n"),
        ("with space/x/file name.txt", b"spaces\n"),
        ("zero", b""),
        ("seeded.dat", &seeded_bytes(5, 4096)),
    ];
    for (name, bytes) in small {
        fs::write(dir.join(name), bytes).expect("write in the mirror tree");
    }
}

/// Seed 004's demo file, `baca_saya.txt`.
pub const BACA_SAYA: &str = "Halo! Ini file demo dari server FTP.\nSelamat mencoba.\n";

/// Seed 004's session (`tests/py/seed004_session.py`, Python's ftplib)
/// against `srv`, whose root holds `baca_saya.txt` ([`BACA_SAYA`]) and
/// `Folder_Tes/catatan.bin` with the content of the local file `catatan`;
/// `work` holds the script's `upload.bin`. Checks what the client got:
/// the whole `catatan.bin`, its tail after `REST`, and its upload back.
/// The script removes what it made, so the storage holds the seed again.
///
/// # Panics
/// When the script fails or got other bytes.
pub fn seed004_session(srv: &TestServer, work: &Path, catatan: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("py/seed004_session.py");
    let out = run_with_timeout(
        Command::new(require_tool("python3"))
            .arg(&script)
            .arg("127.0.0.1")
            .arg(srv.port().to_string())
            .arg(USER)
            .arg(PASSWORD)
            .arg(work)
            .arg(BACA_SAYA),
        Duration::from_secs(120),
    );
    let stdout = assert_success("python3 seed004_session.py", &out);
    assert!(stdout.contains("seed004 session ok"), "{stdout}");

    assert_same_file(catatan, &work.join("catatan.bin"));
    let full = fs::read(catatan).expect("read catatan.bin");
    let tail = fs::read(work.join("catatan.tail")).expect("read the script's catatan.tail");
    assert!(
        tail == full[full.len() / 3..],
        "REST {} + RETR gave other bytes",
        full.len() / 3
    );
    assert_same_file(&work.join("upload.bin"), &work.join("roundtrip.bin"));
}

/// curl's `LIST` and `NLST` of a root that holds the file `a.txt` and the
/// directory `sub` with `deep.txt` in it.
///
/// # Panics
/// When a listing shows anything else.
pub fn curl_lists_a_and_sub(srv: &TestServer) {
    let list = curl_ok(&[&srv.url("")]);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with('-') && l.ends_with(" a.txt")),
        "{list}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with('d') && l.ends_with(" sub")),
        "{list}"
    );

    let nlst = curl_ok(&["--list-only", &srv.url("")]);
    let mut names: Vec<&str> = nlst.lines().map(|l| l.trim_end_matches('\r')).collect();
    names.sort();
    assert_eq!(names, ["a.txt", "sub"]);

    let sub = curl_ok(&["--list-only", &srv.url("sub/")]);
    assert_eq!(sub.trim_end(), "deep.txt");
}

/// curl downloads `name` into `dir` twice, over EPSV (its default) and
/// PASV (`--disable-epsv`); each copy must be the `len` bytes of `seed`
/// ([`crate::write_seeded`]).
///
/// # Panics
/// When curl fails or a copy differs.
pub fn curl_downloads_over_epsv_and_pasv(
    srv: &TestServer,
    name: &str,
    dir: &Path,
    seed: u64,
    len: u64,
) {
    let url = srv.url(name);
    for (i, extra) in [None, Some("--disable-epsv")].into_iter().enumerate() {
        let out = dir.join(format!("down{i}.bin"));
        let out_arg = out.to_string_lossy();
        let mut args = vec!["-o", &*out_arg];
        args.extend(extra);
        args.push(&url);
        curl_ok(&args);
        assert_file_is_seeded(&out, seed, len);
    }
}

/// curl's exit codes for the server's refusals: `530` on `PASS` is "login
/// denied" (67), `550` on `RETR` "remote file not found" (78), `550` on
/// `CWD` into a missing directory "access denied to remote resource" (9).
///
/// # Panics
/// On another exit code.
pub fn curl_refusals_have_exit_codes(srv: &TestServer) {
    let url = format!("ftp://{USER}:wrong@127.0.0.1:{}/", srv.port());
    let out = curl(&[&url]);
    assert_eq!(out.status.code(), Some(67), "{out:?}");
    let local = tempfile::tempdir().expect("temp dir");
    let missing = local.path().join("m");
    let out = curl(&["-o", &missing.to_string_lossy(), &srv.url("missing.bin")]);
    assert_eq!(out.status.code(), Some(78), "{out:?}");
    let out = curl(&[&srv.url("nodir/")]);
    assert_eq!(out.status.code(), Some(9), "{out:?}");
}

/// The `FEAT` reply (RFC 2389), after checking that it offers the
/// extensions every back-end has (SIZE, MDTM, REST, EPSV, UTF8, MLST).
///
/// # Panics
/// When one is missing.
pub fn feat_with_the_common_extensions(ftp: &mut FtpStream) -> Features {
    let feat = ftp.feat().expect("FEAT");
    for want in ["SIZE", "MDTM", "REST", "EPSV", "UTF8", "MLST"] {
        assert!(
            feat.keys().any(|k| k.eq_ignore_ascii_case(want)),
            "FEAT lacks {want}: {feat:?}"
        );
    }
    feat
}

/// `LIST` lines parsed as `ls -l` lines, as a POSIX client parses them.
///
/// # Panics
/// On a line the parser does not understand.
pub fn parse_posix_list(lines: &[String]) -> Vec<ListFile> {
    lines
        .iter()
        .map(|l| ListParser::parse_posix(l).unwrap_or_else(|e| panic!("{l:?}: {e:?}")))
        .collect()
}

/// `MLSD` lines (RFC 3659 §7) parsed into their facts.
///
/// # Panics
/// On a line the parser does not understand.
pub fn parse_mlsd_list(lines: &[String]) -> Vec<ListFile> {
    lines
        .iter()
        .map(|l| ListParser::parse_mlsd(l).unwrap_or_else(|e| panic!("{l:?}: {e:?}")))
        .collect()
}

/// suppaftp's `LIST` of a root that holds `a.txt`, `with space.bin`
/// (1,234 bytes) and the directory `dir` with only `inner.txt` in it: the
/// names, kinds and size a POSIX parser reads, and `LIST dir`.
///
/// # Panics
/// When a listing shows anything else.
pub fn suppaftp_lists_the_root(ftp: &mut FtpStream) {
    let lines = ftp.list(None).expect("LIST");
    let files = parse_posix_list(&lines);
    let mut names: Vec<&str> = files.iter().map(ListFile::name).collect();
    names.sort();
    assert_eq!(names, ["a.txt", "dir", "with space.bin"], "{lines:?}");
    let kind = |name: &str| files.iter().find(|f| f.name() == name).expect(name);
    let f = kind("with space.bin");
    assert!(f.is_file() && f.size() == 1234, "{lines:?}");
    assert!(kind("dir").is_directory(), "{lines:?}");

    let lines = ftp.list(Some("dir")).expect("LIST dir");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].ends_with(" inner.txt"), "{lines:?}");
}

/// A `curl -T -` fed from a pipe whose `STOR` has begun: for the tests
/// that kill a client in the middle of an upload.
pub struct CurlUpload {
    child: Child,
    /// Kept open until the kill: curl waits for more input, not for EOF.
    stdin: ChildStdin,
}

impl CurlUpload {
    /// Starts `curl -T - url` (with `extra` arguments), feeds it `chunk`
    /// bytes of `seed`, waits at most `timeout` for the server's `150`,
    /// then feeds `chunk` bytes of `seed + 1`.
    ///
    /// # Panics
    /// When curl cannot start or no `150` came.
    pub fn start(url: &str, extra: &[&str], seed: u64, chunk: usize, timeout: Duration) -> Self {
        let mut child = Command::new(require_tool("curl"))
            .args(["-sS", "-v", "--max-time", "60"])
            .args(extra)
            .args(["-T", "-", url])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start curl");
        let stderr = child.stderr.take().expect("stderr piped");
        let mut stdin = child.stdin.take().expect("stdin piped");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        stdin
            .write_all(&seeded_bytes(seed, chunk))
            .and_then(|()| stdin.flush())
            .expect("feed curl");
        let mut seen = Vec::new();
        let started = loop {
            match rx.recv_timeout(timeout) {
                Ok(line) => {
                    let go = line.starts_with("< 150");
                    seen.push(line);
                    if go {
                        break true;
                    }
                }
                Err(_) => break false,
            }
        };
        if !started {
            let _ = child.kill();
            let _ = child.wait();
            panic!("curl's STOR to {url} did not start: {seen:?}");
        }
        stdin
            .write_all(&seeded_bytes(seed + 1, chunk))
            .and_then(|()| stdin.flush())
            .expect("feed curl");
        Self { child, stdin }
    }

    /// `SIGKILL` (by PID): no `QUIT`, and both connections end with FINs,
    /// the data connection as if the file were complete.
    ///
    /// # Panics
    /// When curl cannot be killed.
    pub fn kill(mut self) {
        self.child.kill().expect("kill curl");
        let _ = self.child.wait();
        drop(self.stdin);
    }
}
