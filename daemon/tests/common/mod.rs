//! Shared pieces of the daemon's end-to-end tests: a registry of small
//! test-only commands (so the event loop is tested independently of the
//! built-in command crates) and a raw `TcpStream` FTP client.

#![allow(dead_code, missing_docs, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ftpsh_core::storage::local::LocalStorage;
use ftpsh_core::{
    Command, DataSource, Login, Outcome, ReadBody, ReadFile, Registry, Reply, ReplyCode, Request,
    ServerConfig, Session, Transfer, User, Users, VerbSpec, WriteMode,
};
use ftpsh_daemon::{DaemonConfig, Server, ServerHandle};

/// Test commands, one verb each:
///
/// | verb | does |
/// |---|---|
/// | `USER`, `PASS` | login against the configured users; a wrong password is `Delayed` 530 |
/// | `QUIT` | `Close(221)` (allowed during a transfer) |
/// | `NOOP` | 200 (allowed during a transfer) |
/// | `PASV` | `Passive` with a listener on the control connection's address |
/// | `ABOR` | `Abort` (allowed during a transfer) |
/// | `GETB n` | sends `n` pattern bytes (`DataSource::Bytes`) |
/// | `GETF name [offset]` | sends a file of the jail (`DataSource::File`, sendfile) |
/// | `PUTF name` | receives into an `AtomicUpload` |
/// | `PUTE` | receives onto a "full disk" (ENOSPC) |
/// | `PUTP` | receives into a sink that panics on write |
/// | `SLOW ms` | sleeps on the worker, then 200 |
/// | `BOOM` | panics |
pub struct TestCommands;

pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

fn reply(code: u16, text: &str) -> Outcome {
    Outcome::Reply(Reply::new(ReplyCode(code), text))
}

impl Command for TestCommands {
    fn name(&self) -> &str {
        "test"
    }

    fn verbs(&self) -> Vec<VerbSpec> {
        vec![
            VerbSpec::new("USER", "USER name", "user").no_login(),
            VerbSpec::new("PASS", "PASS pw", "password").no_login(),
            VerbSpec::new("QUIT", "QUIT", "bye")
                .no_login()
                .during_transfer(),
            VerbSpec::new("NOOP", "NOOP", "nothing")
                .no_login()
                .during_transfer(),
            VerbSpec::new("PASV", "PASV", "passive").data_setup(),
            VerbSpec::new("PASX", "PASX", "passive, not declared as data setup"),
            VerbSpec::new("ABOR", "ABOR", "abort").during_transfer(),
            VerbSpec::new("GETB", "GETB n", "send n bytes").data(),
            VerbSpec::new("GETF", "GETF name [offset]", "send a file").data(),
            VerbSpec::new("PUTF", "PUTF name", "receive a file").data(),
            VerbSpec::new("GETS", "GETS name", "send a file through a thread").data(),
            VerbSpec::new("GETX", "GETX name", "send a file, then fail").data(),
            VerbSpec::new("GETW", "GETW name", "send a file once released").data(),
            VerbSpec::new("PUTS", "PUTS name", "receive a file through a thread").data(),
            VerbSpec::new("PUTP", "PUTP", "receive into a sink that panics").data(),
            VerbSpec::new("PUTE", "PUTE", "receive onto a full disk").data(),
            VerbSpec::new("SLOW", "SLOW ms", "sleep").no_login(),
            VerbSpec::new("BOOM", "BOOM", "panic").no_login(),
        ]
    }

    fn run(&self, request: &Request, session: &mut Session) -> Outcome {
        let arg = request.arg_or_empty();
        match request.verb.as_str() {
            "USER" => {
                session.login = Login::NeedPassword {
                    user: arg.to_owned(),
                };
                reply(331, "password please")
            }
            "PASS" => {
                let Login::NeedPassword { user } = &session.login else {
                    return reply(503, "USER first");
                };
                match session.config.users.authenticate(user, arg) {
                    Some(user) => {
                        let storage = Arc::new(LocalStorage::open(&user.root).unwrap());
                        session.login = Login::LoggedIn { user, storage };
                        reply(230, "logged in")
                    }
                    None => Outcome::Delayed {
                        reply: Reply::new(ReplyCode(530), "login incorrect"),
                        delay: session.config.login_failure_delay,
                    },
                }
            }
            "QUIT" => Outcome::Close(Reply::new(ReplyCode(221), "goodbye")),
            "NOOP" => reply(200, "ok"),
            "PASV" | "PASX" => {
                let listener = TcpListener::bind((session.local.ip(), 0)).unwrap();
                let port = listener.local_addr().unwrap().port();
                Outcome::Passive {
                    listener,
                    reply: Reply::new(
                        ReplyCode(227),
                        format!(
                            "Entering Passive Mode (127,0,0,1,{},{})",
                            port / 256,
                            port % 256
                        ),
                    ),
                }
            }
            "ABOR" => Outcome::Abort,
            "GETB" => {
                let n: usize = arg.parse().unwrap_or(0);
                Outcome::Transfer {
                    opening: Reply::new(ReplyCode(150), "here come the bytes"),
                    transfer: Transfer::Send(DataSource::Bytes(pattern(n))),
                }
            }
            "GETF" => {
                let mut words = arg.split(' ');
                let name = words.next().unwrap_or("");
                let offset = words.next().and_then(|o| o.parse().ok()).unwrap_or(0);
                let storage = session.storage().unwrap();
                let path = session.cwd.resolve(name).unwrap();
                match storage.open_read(&path, 0) {
                    Ok(ReadFile {
                        body: ReadBody::File(file),
                        ..
                    }) => Outcome::Transfer {
                        opening: Reply::new(ReplyCode(150), "here comes the file"),
                        transfer: Transfer::Send(DataSource::File { file, offset }),
                    },
                    Ok(_) => reply(550, "not a local file"),
                    Err(e) => reply(550, &e.to_string()),
                }
            }
            // A file read by a thread of the daemon's, as an object store's
            // GET is: slowly, in small pieces, maybe failing at the end.
            "GETS" | "GETX" | "GETW" => {
                let storage = session.storage().unwrap();
                let path = session.cwd.resolve(arg).unwrap();
                match storage.open_read(&path, 0) {
                    Ok(ReadFile {
                        body: ReadBody::File(file),
                        ..
                    }) => Outcome::Transfer {
                        opening: Reply::new(ReplyCode(150), "here comes the slow file"),
                        transfer: Transfer::Send(DataSource::Blocking(Box::new(SlowReader {
                            inner: file,
                            fail_at_end: request.verb == "GETX",
                            // GETW: nothing is read until the test creates
                            // `release` in the root.
                            release: (request.verb == "GETW")
                                .then(|| session.user().unwrap().root.join("release")),
                        }))),
                    },
                    Ok(_) => reply(550, "not a local file"),
                    Err(e) => reply(550, &e.to_string()),
                }
            }
            "PUTF" => {
                let storage = session.storage().unwrap();
                let path = session.cwd.resolve(arg).unwrap();
                match storage.create_upload(&path, WriteMode::Replace) {
                    Ok(sink) => Outcome::Transfer {
                        opening: Reply::new(ReplyCode(150), "send the file"),
                        transfer: Transfer::Receive(sink),
                    },
                    Err(e) => reply(550, &e.to_string()),
                }
            }
            // An upload written by a thread of the daemon's, as an object
            // store's multipart upload is: each write waits a little.
            "PUTS" => {
                let storage = session.storage().unwrap();
                let path = session.cwd.resolve(arg).unwrap();
                match storage.create_upload(&path, WriteMode::Replace) {
                    Ok(sink) => Outcome::Transfer {
                        opening: Reply::new(ReplyCode(150), "send the file slowly"),
                        transfer: Transfer::Receive(Box::new(SlowSink(sink))),
                    },
                    Err(e) => reply(550, &e.to_string()),
                }
            }
            "PUTP" => Outcome::Transfer {
                opening: Reply::new(ReplyCode(150), "send, it will panic"),
                transfer: Transfer::Receive(Box::new(PanicSink)),
            },
            "PUTE" => Outcome::Transfer {
                opening: Reply::new(ReplyCode(150), "send, the disk is full"),
                transfer: Transfer::Receive(Box::new(FullDisk)),
            },
            "SLOW" => {
                std::thread::sleep(Duration::from_millis(arg.parse().unwrap_or(100)));
                reply(200, "slept")
            }
            "BOOM" => panic!("BOOM asked for it"),
            other => reply(502, other),
        }
    }
}

/// An upload sink on a full disk: every write fails with ENOSPC.
struct FullDisk;

impl Write for FullDisk {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::from_raw_os_error(28))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl ftpsh_core::UploadSink for FullDisk {
    fn commit(self: Box<Self>) -> Reply {
        Reply::new(ReplyCode(226), "never reached")
    }
    fn written(&self) -> u64 {
        0
    }
}

/// An upload sink that panics on the first write (a buggy plugin).
struct PanicSink;

impl Write for PanicSink {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        panic!("PanicSink::write")
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl ftpsh_core::UploadSink for PanicSink {
    fn commit(self: Box<Self>) -> Reply {
        Reply::new(ReplyCode(226), "never reached")
    }
    fn written(&self) -> u64 {
        0
    }
}

pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(Arc::new(TestCommands)).unwrap();
    r
}

/// A daemon over `root` with user `alice`/`secret`, test commands, and
/// `tweak` applied to the config.
pub fn start(root: &Path, tweak: impl FnOnce(&mut DaemonConfig)) -> ServerHandle {
    let mut users = Users::new();
    users.add(User::from_spec("alice:secret", root.to_path_buf()).unwrap());
    let mut config = DaemonConfig {
        server: ServerConfig {
            users,
            banner: "test daemon ready".to_owned(),
            login_failure_delay: Duration::from_millis(50),
            ..ServerConfig::default()
        },
        ..DaemonConfig::default()
    };
    tweak(&mut config);
    Server::bind(config, registry()).unwrap().spawn().unwrap()
}

/// A raw FTP client over one control connection.
pub struct Client {
    pub reader: BufReader<TcpStream>,
    pub writer: TcpStream,
}

/// Generous bound on any single wait, so a hung daemon fails the test
/// instead of hanging it.
pub const WAIT: Duration = Duration::from_secs(30);

impl Client {
    pub fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        Self {
            writer: stream.try_clone().unwrap(),
            reader: BufReader::new(stream),
        }
    }

    /// Connects and reads the banner.
    pub fn open(addr: SocketAddr) -> Self {
        let mut c = Self::connect(addr);
        let (code, _) = c.reply();
        assert_eq!(code, 220);
        c
    }

    /// Connects, logs in as alice.
    pub fn login(addr: SocketAddr) -> Self {
        let mut c = Self::open(addr);
        assert_eq!(c.cmd("USER alice").0, 331);
        assert_eq!(c.cmd("PASS secret").0, 230);
        c
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    /// One reply (multi-line aware, RFC 959 §4.2): code and full text.
    pub fn reply(&mut self) -> (u16, String) {
        self.try_reply().expect("control connection closed")
    }

    /// One reply, or `None` at EOF.
    pub fn try_reply(&mut self) -> Option<(u16, String)> {
        let mut text = String::new();
        let mut line = String::new();
        if self.reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        text.push_str(&line);
        let code: u16 = line.get(..3)?.parse().ok()?;
        if line.as_bytes().get(3) == Some(&b'-') {
            let end = format!("{code} ");
            loop {
                line.clear();
                if self.reader.read_line(&mut line).ok()? == 0 {
                    return None;
                }
                text.push_str(&line);
                if line.starts_with(&end) {
                    break;
                }
            }
        }
        Some((code, text))
    }

    pub fn cmd(&mut self, line: &str) -> (u16, String) {
        self.send(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    /// PASV and connect to the announced port.
    pub fn pasv(&mut self) -> TcpStream {
        let (code, text) = self.cmd("PASV");
        assert_eq!(code, 227, "{text}");
        let data = TcpStream::connect(pasv_addr(&text)).unwrap();
        data.set_read_timeout(Some(WAIT)).unwrap();
        data
    }

    /// True when the server closed the control connection (EOF or reset).
    pub fn closed(&mut self) -> bool {
        let mut buf = [0u8; 1];
        !matches!(self.reader.read(&mut buf), Ok(n) if n > 0)
    }
}

/// The address of a `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)` reply.
pub fn pasv_addr(text: &str) -> SocketAddr {
    let inner = &text[text.find('(').unwrap() + 1..text.find(')').unwrap()];
    let n: Vec<u16> = inner
        .split(',')
        .map(|x| x.trim().parse().unwrap())
        .collect();
    let ip = Ipv4Addr::new(n[0] as u8, n[1] as u8, n[2] as u8, n[3] as u8);
    SocketAddr::from((ip, n[4] * 256 + n[5]))
}

pub fn read_all(mut data: TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    data.read_to_end(&mut out).unwrap();
    out
}

/// A reader that waits 1 ms per 64 KiB, and may fail instead of ending;
/// with `release`, its first read waits (at most 60 s) until that file
/// exists, as a store that does not answer.
struct SlowReader {
    inner: std::fs::File,
    fail_at_end: bool,
    release: Option<std::path::PathBuf>,
}

impl std::io::Read for SlowReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(release) = self.release.take() {
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while !release.exists() {
                if std::time::Instant::now() > deadline {
                    return Err(std::io::Error::other("never released"));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        std::thread::sleep(Duration::from_millis(1));
        let n = buf.len().min(64 * 1024);
        match self.inner.read(&mut buf[..n])? {
            0 if self.fail_at_end => Err(std::io::Error::other("the store reset the connection")),
            n => Ok(n),
        }
    }
}

/// A sink whose writes wait 1 ms each (as if uploading a part), declared
/// blocking so the daemon writes it from a thread of its own.
struct SlowSink(Box<dyn ftpsh_core::UploadSink>);

impl std::io::Write for SlowSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::thread::sleep(Duration::from_millis(1));
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl ftpsh_core::UploadSink for SlowSink {
    fn commit(self: Box<Self>) -> Reply {
        self.0.commit()
    }
    fn written(&self) -> u64 {
        self.0.written()
    }
    fn blocking(&self) -> bool {
        true
    }
}
