//! Real FTP servers for the shell's tests, each on 127.0.0.1 with a port
//! the OS picked and a fresh temp root holding `pub/hello.txt` (6 bytes):
//! the embedded ftpshd, pyftpdlib and vsftpd. Third-party servers are
//! skipped, with a printed reason, only when they are not installed; under
//! CI (`CI` set, where `.ci/run` installs them) a missing one fails the
//! test instead (see [`skip`]). Every process started here is stopped by its PID on
//! drop.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ftpsh_shell::embedded::{EmbeddedServer, EmbeddedSpec};

/// A running server and how to log in.
pub struct Server {
    /// Which server this is, for messages.
    pub name: &'static str,
    /// Control port on 127.0.0.1.
    pub port: u16,
    /// Login name.
    pub user: String,
    /// Password.
    pub password: String,
    /// The served directory on disk.
    pub root: PathBuf,
    _temp: Option<tempfile::TempDir>,
    child: Option<Child>,
    embedded: Option<EmbeddedServer>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(e) = self.embedded.take() {
            let _ = e.shutdown();
        }
    }
}

impl Server {
    /// `ftp://USER:PASSWORD@127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!(
            "ftp://{}:{}@127.0.0.1:{}/",
            self.user, self.password, self.port
        )
    }

    /// The writable directory the tests work in, on disk.
    pub fn pub_dir(&self) -> PathBuf {
        self.root.join("pub")
    }

    /// Hands the embedded server to a shell (embedded only).
    pub fn take_embedded(&mut self) -> Option<EmbeddedServer> {
        self.embedded.take()
    }
}

fn fixture(root: &Path) {
    let public = root.join("pub");
    std::fs::create_dir_all(&public).unwrap();
    std::fs::write(public.join("hello.txt"), b"hello\n").unwrap();
    // vsftpd's anonymous user writes here; harmless for the others.
    std::fs::set_permissions(&public, std::fs::Permissions::from_mode(0o777)).unwrap();
}

/// The embedded ftpshd.
/// Reports that a test cannot run here because `reason` (a peer or tool is
/// missing). Outside CI it prints `SKIP: reason` and the test returns;
/// under CI (`CI` set, as `.ci/run` runs) it panics, since CI installs
/// every peer and a skip there would hide a broken install step.
///
/// # Panics
/// Under CI, always.
pub fn skip(reason: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{reason}; CI installs it (bash .ci/run), so this test must not be skipped there"
    );
    println!("SKIP: {reason}");
}

pub fn embedded() -> Server {
    let server = EmbeddedServer::start(&EmbeddedSpec {
        user: "alice".into(),
        password: Some("s3cret".into()),
        banner: None,
        tls: false,
    })
    .unwrap();
    fixture(server.root());
    Server {
        name: "ftpshd (embedded)",
        port: server.addr().port(),
        user: "alice".into(),
        password: "s3cret".into(),
        root: server.root().to_path_buf(),
        _temp: None,
        child: None,
        embedded: Some(server),
    }
}

const PYFTPDLIB: &str = r#"
import sys, logging
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
logging.basicConfig(level=logging.ERROR)
auth = DummyAuthorizer()
auth.add_user("user", "12345", sys.argv[1], perm="elradfmw")
FTPHandler.authorizer = auth
server = FTPServer(("127.0.0.1", 0), FTPHandler)
print(server.address[1], flush=True)
server.serve_forever()
"#;

/// A pyftpdlib handler with a `HASH` command (draft-bryan-ftp-hash) that
/// starts with SHA-1 selected (`FEAT` shows `HASH SHA-1*;SHA-256`), so a
/// client must send `OPTS HASH SHA-256` to get SHA-256; digests come in
/// upper case and the path is echoed from the root, spaces included. It
/// lies on purpose about files whose name starts with `tampered`, so
/// `--verify` can be seen to catch a mismatch.
const PYFTPDLIB_HASH: &str = r#"
import sys, os, hashlib, logging
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
logging.basicConfig(level=logging.ERROR)

class HashHandler(FTPHandler):
    proto_cmds = dict(FTPHandler.proto_cmds)
    proto_cmds["HASH"] = dict(perm="r", auth=True, arg=True,
                              help="Syntax: HASH <SP> pathname (digest of a file).")
    algo = "SHA-1"

    def ftp_FEAT(self, line):
        marks = {"SHA-1": "", "SHA-256": ""}
        marks[self.algo] = "*"
        self._extra_feats = ["HASH SHA-1%s;SHA-256%s" % (marks["SHA-1"], marks["SHA-256"])]
        return FTPHandler.ftp_FEAT(self, line)

    def ftp_OPTS(self, line):
        cmd, _, arg = line.partition(" ")
        if cmd.upper() != "HASH":
            return FTPHandler.ftp_OPTS(self, line)
        if arg.upper() not in ("SHA-1", "SHA-256"):
            self.respond("501 unknown algorithm")
            return
        self.algo = arg.upper()
        self.respond("200 " + self.algo)

    def ftp_HASH(self, path):
        if not os.path.isfile(path):
            self.respond("550 %s: no such file" % self.fs.fs2ftp(path))
            return
        h = hashlib.new(self.algo.replace("-", "").lower())
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(65536), b""):
                h.update(chunk)
        if os.path.basename(path).startswith("tampered"):
            h.update(b"!")
        size = os.path.getsize(path)
        self.respond("213 %s 0-%d %s %s" % (self.algo, size, h.hexdigest().upper(), self.fs.fs2ftp(path)))

auth = DummyAuthorizer()
auth.add_user("user", "12345", sys.argv[1], perm="elradfmw")
HashHandler.authorizer = auth
server = FTPServer(("127.0.0.1", 0), HashHandler)
print(server.address[1], flush=True)
server.serve_forever()
"#;

/// pyftpdlib (seed 004's server) with user `user`/`12345`, or `None` when
/// Python or the module is missing.
pub fn pyftpdlib() -> Option<Server> {
    python_server("pyftpdlib", PYFTPDLIB)
}

/// pyftpdlib with the test `HASH` command of [`PYFTPDLIB_HASH`]: SHA-1
/// selected at first, SHA-256 on `OPTS`, wrong digests for `tampered*`.
pub fn pyftpdlib_with_hash() -> Option<Server> {
    python_server("pyftpdlib with a test HASH", PYFTPDLIB_HASH)
}

fn python_server(name: &'static str, script: &str) -> Option<Server> {
    let have = Command::new("python3")
        .args(["-c", "import pyftpdlib"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        skip("pyftpdlib is not installed (pip install pyftpdlib)");
        return None;
    }
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path().to_path_buf();
    fixture(&root);
    let mut child = Command::new("python3")
        .args(["-c", script])
        .arg(&root)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().expect("pyftpdlib printed its port");
    wait_for_greeting(port);
    Some(Server {
        name,
        port,
        user: "user".into(),
        password: "12345".into(),
        root,
        _temp: Some(temp),
        child: Some(child),
        embedded: None,
    })
}

fn vsftpd_binary() -> Option<PathBuf> {
    ["/usr/sbin/vsftpd", "/usr/local/sbin/vsftpd", "/sbin/vsftpd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// vsftpd with anonymous logins and a writable `pub/`, or `None` when it
/// is not installed (or, since vsftpd chroots anonymous users, when the
/// tests do not run as root).
pub fn vsftpd() -> Option<Server> {
    vsftpd_with("")
}

/// [`vsftpd`] with `extra` lines appended to its configuration (each ending
/// in a newline).
pub fn vsftpd_with(extra: &str) -> Option<Server> {
    let Some(binary) = vsftpd_binary() else {
        skip("vsftpd is not installed (apt-get install vsftpd)");
        return None;
    };
    if !is_root() {
        skip("vsftpd needs root to chroot its anonymous user");
        return None;
    }
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path().join("root");
    let empty = temp.path().join("empty");
    std::fs::create_dir(&root).unwrap();
    std::fs::create_dir(&empty).unwrap();
    // vsftpd refuses a chroot root its user can write to.
    std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    fixture(&root);
    for _attempt in 0..3 {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let conf = temp.path().join("vsftpd.conf");
        std::fs::write(
            &conf,
            format!(
                "listen=YES\nlisten_ipv6=NO\nlisten_address=127.0.0.1\nlisten_port={port}\n\
                 background=NO\nanonymous_enable=YES\nlocal_enable=NO\nno_anon_password=YES\n\
                 anon_root={root}\nwrite_enable=YES\nanon_upload_enable=YES\n\
                 anon_mkdir_write_enable=YES\nanon_other_write_enable=YES\nanon_umask=022\n\
                 anon_world_readable_only=NO\npasv_enable=YES\nseccomp_sandbox=NO\n\
                 xferlog_enable=NO\nsecure_chroot_dir={empty}\n{extra}",
                root = root.display(),
                empty = empty.display()
            ),
        )
        .unwrap();
        let mut child = Command::new(&binary)
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if try_greeting(port, &mut child) {
            return Some(Server {
                name: "vsftpd",
                port,
                user: "anonymous".into(),
                password: "ftpsh@".into(),
                root,
                _temp: Some(temp),
                child: Some(child),
                embedded: None,
            });
        }
        // The port was taken in between (or vsftpd failed): say why, retry.
        let _ = child.kill();
        let _ = child.wait();
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        eprintln!("vsftpd did not start on port {port}: {err}");
    }
    panic!("vsftpd would not start");
}

fn read_greeting(port: u16) -> bool {
    let Ok(s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).is_ok() && line.starts_with("220")
}

fn wait_for_greeting(port: u16) {
    for _ in 0..50 {
        if read_greeting(port) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no 220 greeting on port {port}");
}

fn try_greeting(port: u16, child: &mut Child) -> bool {
    for _ in 0..50 {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if read_greeting(port) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// A running `tests/fake_ftp.py` (a misbehaving server, see its
/// docstring), killed by PID on drop.
pub struct Fake {
    child: Child,
    /// Control port on 127.0.0.1.
    pub port: u16,
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn fake(args: &[&str]) -> Option<Fake> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fake_ftp.py");
    let mut child = match Command::new("python3")
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            skip(&format!("python3 is needed for the fake servers: {e}"));
            return None;
        }
    };
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().expect("fake_ftp.py prints its port");
    Some(Fake { child, port })
}

/// Where `.ci/run` unpacks pure-ftpd and proftpd (their Debian packages
/// conflict with the installed vsftpd, so they are not installed but
/// `dpkg -x`ed): `$FTPSH_PEERS_DIR`, default `/opt/ftpsh-peers`.
pub fn peers_dir() -> PathBuf {
    std::env::var_os("FTPSH_PEERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/ftpsh-peers"))
}

/// A SHA-512 crypt(3) hash of `password` (`openssl passwd -6`), the form
/// both pure-ftpd's and proftpd's password files take.
fn crypt_hash(password: &str) -> String {
    let out = Command::new("openssl")
        .args(["passwd", "-6", password])
        .output()
        .expect("openssl is installed");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A root directory the unprivileged user `nobody` (uid 65534) can write,
/// with the fixture in it.
fn nobody_root(temp: &Path) -> PathBuf {
    let root = temp.join("root");
    std::fs::create_dir(&root).unwrap();
    std::fs::set_permissions(temp, std::fs::Permissions::from_mode(0o755)).unwrap();
    fixture(&root);
    let status = Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(&root)
        .status()
        .unwrap();
    assert!(status.success());
    root
}

/// Starts `make(port)` on free ports until it greets (three attempts).
fn start_peer(
    name: &'static str,
    temp: tempfile::TempDir,
    root: PathBuf,
    make: impl Fn(u16) -> Command,
) -> Server {
    for _attempt in 0..3 {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = make(port)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if try_greeting(port, &mut child) {
            return Server {
                name,
                port,
                user: "alice".into(),
                password: "s3cret".into(),
                root,
                _temp: Some(temp),
                child: Some(child),
                embedded: None,
            };
        }
        let _ = child.kill();
        let _ = child.wait();
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        eprintln!("{name} did not start on port {port}: {err}");
    }
    panic!("{name} would not start");
}

/// pure-ftpd (Debian's package, unpacked under [`peers_dir`]) with one
/// virtual user `alice` (puredb), chrooted to a fresh root, IPv4 only.
pub fn pure_ftpd() -> Option<Server> {
    let dir = peers_dir();
    let (binary, pure_pw) = (dir.join("usr/sbin/pure-ftpd"), dir.join("usr/bin/pure-pw"));
    if !binary.exists() || !pure_pw.exists() {
        skip(&format!(
            "pure-ftpd is not unpacked under {} (bash .ci/run does it; set FTPSH_PEERS_DIR)",
            dir.display()
        ));
        return None;
    }
    if !is_root() {
        skip("pure-ftpd needs root to switch to its virtual user");
        return None;
    }
    let temp = tempfile::tempdir().unwrap();
    let root = nobody_root(temp.path());
    let passwd = temp.path().join("pureftpd.passwd");
    std::fs::write(
        &passwd,
        format!(
            "alice:{}:65534:65534::{}/./::::::::::::\n",
            crypt_hash("s3cret"),
            root.display()
        ),
    )
    .unwrap();
    let pdb = temp.path().join("pureftpd.pdb");
    let status = Command::new(&pure_pw)
        .arg("mkdb")
        .arg(&pdb)
        .arg("-f")
        .arg(&passwd)
        .status()
        .unwrap();
    assert!(status.success(), "pure-pw mkdb failed");
    Some(start_peer("pure-ftpd", temp, root, |port| {
        let mut c = Command::new(&binary);
        c.arg("-S")
            .arg(format!("127.0.0.1,{port}"))
            .arg("-l")
            .arg(format!("puredb:{}", pdb.display()))
            .args(["-E", "-A", "-H", "-4"]);
        c
    }))
}

/// proftpd (Debian's `proftpd-core`, unpacked under [`peers_dir`]) with one
/// user `alice` from an `AuthUserFile`, chrooted to a fresh root.
pub fn proftpd() -> Option<Server> {
    let binary = peers_dir().join("usr/sbin/proftpd");
    if !binary.exists() {
        skip(&format!(
            "proftpd is not unpacked under {} (bash .ci/run does it; set FTPSH_PEERS_DIR)",
            peers_dir().display()
        ));
        return None;
    }
    if !is_root() {
        skip("proftpd needs root to switch to its user");
        return None;
    }
    let temp = tempfile::tempdir().unwrap();
    let root = nobody_root(temp.path());
    let dir = temp.path().to_path_buf();
    let t = dir.as_path();
    let passwd = t.join("passwd");
    std::fs::write(
        &passwd,
        format!(
            "alice:{}:65534:65534::{}:/bin/sh\n",
            crypt_hash("s3cret"),
            root.display()
        ),
    )
    .unwrap();
    std::fs::write(t.join("group"), "nogroup:x:65534:\n").unwrap();
    for f in ["passwd", "group"] {
        std::fs::set_permissions(t.join(f), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let conf_for = |port: u16| {
        format!(
            "ServerName \"proftpd test\"\nServerType standalone\nDefaultServer on\n\
             UseIPv6 off\nDefaultAddress 127.0.0.1\nPort {port}\nUser nobody\nGroup nogroup\n\
             PidFile {t}/proftpd.pid\nScoreboardFile {t}/proftpd.scoreboard\nDelayTable none\n\
             WtmpLog off\nTransferLog none\nSystemLog {t}/proftpd.log\n\
             AuthOrder mod_auth_file.c\nAuthUserFile {t}/passwd\nAuthGroupFile {t}/group\n\
             RequireValidShell off\nDefaultRoot ~\nUmask 022\nAllowOverwrite on\n\
             AllowRetrieveRestart on\nAllowStoreRestart on\nUseReverseDNS off\n",
            t = t.display()
        )
    };
    let conf = t.join("proftpd.conf");
    Some(start_peer("proftpd", temp, root, move |port| {
        std::fs::write(&conf, conf_for(port)).unwrap();
        let mut c = Command::new(&binary);
        c.arg("-n").arg("-q").arg("-c").arg(&conf);
        c
    }))
}

/// A self-signed certificate for `127.0.0.1` and `localhost`: the PEM files
/// `cert.pem` and `key.pem` in a temp dir that lives as long as the value.
pub struct TestCert {
    dir: tempfile::TempDir,
}

impl TestCert {
    /// Generates one with rcgen.
    pub fn new() -> Self {
        let key = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
        ])
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cert.pem"), key.cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), key.signing_key.serialize_pem()).unwrap();
        // vsftpd drops privileges before reading them in some builds.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        Self { dir }
    }

    /// The certificate (also the CA to trust).
    pub fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// The private key.
    pub fn key(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }
}

/// vsftpd with FTPS required for anonymous logins and data
/// (`force_anon_*_ssl`) and `require_ssl_reuse=YES`, or `None` as [`vsftpd`].
pub fn vsftpd_tls(cert: &TestCert) -> Option<Server> {
    vsftpd_with(&format!(
        "ssl_enable=YES\nallow_anon_ssl=YES\nforce_anon_logins_ssl=YES\n\
         force_anon_data_ssl=YES\nrequire_ssl_reuse=YES\nssl_tlsv1=YES\n\
         rsa_cert_file={}\nrsa_private_key_file={}\n",
        cert.cert().display(),
        cert.key().display()
    ))
}

const PYFTPDLIB_TLS: &str = r#"
import sys, logging
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import TLS_FTPHandler
from pyftpdlib.servers import FTPServer
logging.basicConfig(level=logging.ERROR)
auth = DummyAuthorizer()
auth.add_user("user", "12345", sys.argv[1], perm="elradfmw")
TLS_FTPHandler.authorizer = auth
TLS_FTPHandler.certfile = "CERT"
TLS_FTPHandler.keyfile = "KEY"
TLS_FTPHandler.tls_control_required = True
TLS_FTPHandler.tls_data_required = True
server = FTPServer(("127.0.0.1", 0), TLS_FTPHandler)
print(server.address[1], flush=True)
server.serve_forever()
"#;

/// pyftpdlib's `TLS_FTPHandler` requiring TLS on control and data
/// connections, or `None` when Python, pyftpdlib or pyOpenSSL is missing.
pub fn pyftpdlib_tls(cert: &TestCert) -> Option<Server> {
    let have = Command::new("python3")
        .args(["-c", "import OpenSSL"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        skip("pyOpenSSL is not installed (pip install pyopenssl)");
        return None;
    }
    let script = PYFTPDLIB_TLS
        .replace("CERT", &cert.cert().display().to_string())
        .replace("KEY", &cert.key().display().to_string());
    // `python_server` takes a &'static name and any script text.
    python_server("pyftpdlib TLS_FTPHandler", &script)
}
