//! The `ftpshd` binary as a child process, for tests of what only the
//! binary does: the config file, signals, privileges, logs, metrics.

use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::{IO_TIMEOUT, RawControl, ftpshd_binary, set_timeouts};

/// A running `ftpshd` child: its stdout lines, everything it logged on
/// stderr, and its control address. Killed by its PID on drop.
pub struct Ftpshd {
    child: Child,
    stdout: Receiver<String>,
    seen: Vec<String>,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// The control-connection address from the listening line.
    pub addr: SocketAddr,
}

impl Ftpshd {
    /// Starts `ftpshd ARGS` with `RUST_LOG=info` and waits (at most 60 s)
    /// for its `ftpshd listening on ADDR` line.
    ///
    /// # Panics
    /// If it cannot start or exits before listening (showing its stderr).
    pub fn start(args: &[&str]) -> Self {
        Self::start_with(Command::new(ftpshd_binary()).args(args))
    }

    /// [`Self::start`] for a prepared command (extra environment, say).
    ///
    /// # Panics
    /// As [`Self::start`].
    pub fn start_with(cmd: &mut Command) -> Self {
        let mut child = cmd
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ftpshd");
        let out = child.stdout.take().expect("stdout piped");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut err = child.stderr.take().expect("stderr piped");
        let sink = stderr.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .expect("stderr lock")
                    .extend_from_slice(&buf[..n]);
            }
        });
        let mut d = Self {
            child,
            stdout: rx,
            seen: Vec::new(),
            stderr,
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        };
        let line = d.line_matching(|l| l.starts_with("ftpshd listening on "));
        d.addr = line
            .trim_start_matches("ftpshd listening on ")
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("bad address in {line:?}: {e}"));
        d
    }

    /// The child's PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (at most 60 s) for a stdout line matching `pred`.
    ///
    /// # Panics
    /// When none comes.
    pub fn line_matching(&mut self, pred: impl Fn(&str) -> bool) -> String {
        if let Some(l) = self.seen.iter().find(|l| pred(l)) {
            return l.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "ftpshd did not print the expected line; stdout so far: {:?}\nstderr: {}",
                    self.seen,
                    self.stderr_text()
                ),
            }
        }
    }

    /// Everything logged on stderr so far.
    ///
    /// # Panics
    /// If the collecting thread panicked.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().expect("stderr lock")).into_owned()
    }

    /// Waits (at most `limit`) until stderr contains `needle`.
    pub fn wait_for_log(&self, needle: &str, limit: Duration) -> bool {
        crate::wait_until(limit, || self.stderr_text().contains(needle))
    }

    /// `ftp://USERINFO@127.0.0.1:PORT/REL`.
    pub fn url(&self, userinfo: &str, rel: &str) -> String {
        format!("ftp://{userinfo}@127.0.0.1:{}/{rel}", self.addr.port())
    }

    /// Sends `sig` to the daemon's PID.
    ///
    /// # Panics
    /// If the signal cannot be sent.
    pub fn signal(&self, sig: Signal) {
        let pid = Pid::from_raw(i32::try_from(self.child.id()).expect("pid"));
        kill(pid, sig).expect("kill");
    }

    /// SIGTERM, then waits (at most 60 s) for the exit; returns the exit
    /// code.
    ///
    /// # Panics
    /// If it does not exit.
    pub fn terminate(&mut self) -> Option<i32> {
        self.signal_and_wait(Signal::SIGTERM)
    }

    /// Sends `sig`, then waits (at most 60 s) for the exit; returns the
    /// exit code.
    ///
    /// # Panics
    /// If the signal cannot be sent or the daemon does not exit.
    pub fn signal_and_wait(&mut self, sig: Signal) -> Option<i32> {
        self.signal(sig);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "ftpshd did not exit after {sig}; stderr: {}",
                self.stderr_text()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Ftpshd {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The annotated example configuration, `dist/ftpshd.toml`.
pub fn example_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist/ftpshd.toml")
}

/// The Argon2id PHC string `ftpshd hash-password` prints for `password`
/// (given on standard input, as a script would).
///
/// # Panics
/// If the command fails.
pub fn hash_password(password: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(ftpshd_binary())
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ftpshd hash-password");
    child
        .stdin
        .take()
        .expect("stdin piped")
        .write_all(format!("{password}\n").as_bytes())
        .expect("write password");
    let out = child.wait_with_output().expect("hash-password output");
    let text = crate::assert_success("ftpshd hash-password", &out);
    text.trim().to_owned()
}

impl RawControl {
    /// Connects to `addr` from the local address `from` (another loopback
    /// address, to be another client), without reading the banner.
    ///
    /// # Panics
    /// If binding or connecting fails.
    pub fn connect_from(from: IpAddr, addr: SocketAddr) -> Self {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            None,
        )
        .expect("socket");
        socket
            .bind(&SocketAddr::new(from, 0).into())
            .expect("bind the client's address");
        socket
            .connect_timeout(&addr.into(), IO_TIMEOUT)
            .expect("connect");
        let s: TcpStream = socket.into();
        set_timeouts(&s).expect("timeouts");
        let writer = s.try_clone().expect("clone stream");
        Self {
            reader: BufReader::new(s),
            writer,
        }
    }
}

/// `dist/ftpshd.toml` made runnable in a test: listening on
/// `127.0.0.1:0`, roots under a temp directory, any passive port, no
/// `run_as`, and the passwords of its accounts `alice` and `bob` replaced
/// by hashes from `ftpshd hash-password`.
#[derive(Debug, Clone)]
pub struct ExampleConfig {
    /// The TOML text.
    pub text: String,
}

impl ExampleConfig {
    /// The example with roots under `srv` (`srv`, `srv/alice`, `srv/bob`
    /// are created) and the given passwords.
    ///
    /// # Panics
    /// If the example changed shape (a line this relies on is missing).
    pub fn new(srv: &Path, alice_password: &str, bob_password: &str) -> Self {
        for dir in ["", "alice", "bob"] {
            std::fs::create_dir_all(srv.join(dir)).expect("create roots");
        }
        let example = std::fs::read_to_string(example_config()).expect("read dist/ftpshd.toml");
        let srv = srv.to_str().expect("UTF-8 temp path");
        let mut hashes =
            vec![hash_password(alice_password), hash_password(bob_password)].into_iter();
        let mut out = String::new();
        let mut replaced = 0;
        for line in example.lines() {
            let line = if line.starts_with("password = \"$argon2id$") {
                replaced += 1;
                format!("password = \"{}\"", hashes.next().expect("two accounts"))
            } else if line.starts_with("listen = ") {
                "listen = \"127.0.0.1:0\"".to_owned()
            } else if line.starts_with("passive_ports = ") || line.starts_with("run_as = ") {
                format!("#{line}")
            } else {
                line.replace("\"/srv/ftp", &format!("\"{srv}"))
            };
            out.push_str(&line);
            out.push('\n');
        }
        assert_eq!(
            replaced, 2,
            "dist/ftpshd.toml should have alice's and bob's hashes"
        );
        Self { text: out }
    }

    /// Adds top-level `key = value` lines (before the first table).
    pub fn with(mut self, lines: &str) -> Self {
        self.text = format!("{lines}\n{}", self.text);
        self
    }

    /// Writes the file.
    ///
    /// # Panics
    /// On a write error.
    pub fn write(&self, path: &Path) {
        std::fs::write(path, &self.text).expect("write config");
    }
}
