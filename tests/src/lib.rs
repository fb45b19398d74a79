//! `ftpsh-tests`: end-to-end tests of `ftpshd` driven by real, independent
//! FTP clients — the Rust `suppaftp` crate, Python's `ftplib`, `curl` and
//! `lftp` — over real sockets on `127.0.0.1` port 0 and real temp dirs.
//!
//! This library holds only what the test files in `tests/` share: an
//! in-process daemon over a fresh temp root ([`TestServer`]), seeded
//! pseudo-random file content that is generated and compared as a stream
//! ([`SeededReader`], [`assert_file_is_seeded`]), a raw control-connection
//! client for the bytes no polite client sends ([`RawControl`]), and runners
//! for third-party programs that fail loudly when a program is missing
//! ([`require_tool`], [`run_with_timeout`]). The trade-off: the daemon runs
//! in the test process (fast, no build-order dependency), except in the one
//! test file that checks the `ftpshd` binary itself ([`ftpshd_binary`]).
//!
//! Every helper panics with a message on failure: this is test support
//! code, and a panic is how a test fails.

pub mod clients;
pub mod ftps;
pub mod s3;

use std::fs;
use std::io::{self, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

pub mod ftpshd;
mod raw;

pub use raw::{RawControl, RawReply};

use ftpsh_core::{Backend, ServerConfig, TlsPolicy, User, Users};
use ftpsh_daemon::{DaemonConfig, FsyncPolicy, Server, ServerHandle};
use suppaftp::types::FileType;
use suppaftp::{FtpError, FtpResult, FtpStream};

/// The account every in-process server has, with all permissions
/// (`elradfmw`).
pub const USER: &str = "alice";
/// [`USER`]'s password.
pub const PASSWORD: &str = "secret";
/// A read-only account (`elr`) on the same root.
pub const READER: &str = "reader";
/// [`READER`]'s password.
pub const READER_PASSWORD: &str = "pw";

/// How long any single blocking socket operation of a test may take before
/// the test fails instead of hanging. Generous: this bounds hangs, it does
/// not measure speed.
pub const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// Settings of a [`TestServer`] that tests vary.
#[derive(Debug, Clone)]
pub struct Options {
    /// Most concurrent control connections (`421` beyond).
    pub max_sessions: usize,
    /// Idle control-connection timeout.
    pub idle_timeout: Duration,
    /// Passive accept / stalled data connection timeout.
    pub data_timeout: Duration,
    /// Also accept `anonymous` (read-only).
    pub anonymous: bool,
    /// Worker threads of the daemon.
    pub workers: usize,
    /// Whether uploads are flushed to the disk before their `226`.
    pub fsync_uploads: FsyncPolicy,
    /// FTPS: a certificate for `localhost`/`127.0.0.1` generated at start
    /// (see [`TestServer::cert_path`]).
    pub tls: bool,
    /// Also an implicit-TLS listener (needs `tls`).
    pub implicit_tls: bool,
    /// `--require-tls`.
    pub require_tls: bool,
    /// `--require-tls-session-reuse`.
    pub require_tls_session_reuse: bool,
    /// The storage back-end (`None`: the local file system, the host
    /// directory `base/root`). With an object store (see [`s3`]) every
    /// account's root is `/`, the back-end's own prefix, and the host
    /// paths ([`TestServer::root`], [`TestServer::entries`]) are unused.
    pub storage: Option<Arc<dyn Backend>>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_sessions: 512,
            idle_timeout: Duration::from_secs(120),
            data_timeout: Duration::from_secs(30),
            anonymous: false,
            workers: 4,
            fsync_uploads: FsyncPolicy::default(),
            tls: false,
            implicit_tls: false,
            require_tls: false,
            require_tls_session_reuse: false,
            storage: None,
        }
    }
}

/// An in-process `ftpshd` on `127.0.0.1:0` serving a fresh temp directory.
///
/// Layout on the host: `base/root` is the users' root; `base/outside` is a
/// sibling directory that no client may ever read or write, for the
/// escape tests. Both vanish when the server is dropped.
pub struct TestServer {
    base: tempfile::TempDir,
    handle: Option<ServerHandle>,
    addr: SocketAddr,
    implicit_addr: Option<SocketAddr>,
}

impl TestServer {
    /// Starts a server with [`Options::default`].
    pub fn start() -> Self {
        Self::with(Options::default())
    }

    /// Starts a server with `options`.
    ///
    /// # Panics
    /// If the temp dir or the listener cannot be created.
    pub fn with(options: Options) -> Self {
        let base = tempfile::tempdir().expect("temp dir");
        let root = base.path().join("root");
        fs::create_dir(&root).expect("create root");
        fs::create_dir(base.path().join("outside")).expect("create outside");
        // An object store's roots are key prefixes: the whole back-end.
        let root = if options.storage.is_some() {
            PathBuf::from("/")
        } else {
            root
        };
        let mut users = Users::new();
        users.add(User::from_spec(&format!("{USER}:{PASSWORD}"), root.clone()).expect("user"));
        users.add(
            User::from_spec(&format!("{READER}:{READER_PASSWORD}:elr"), root.clone())
                .expect("user"),
        );
        if options.anonymous {
            users.add_anonymous(root);
        }
        let tls = options.tls.then(|| {
            let cert = rcgen::generate_simple_self_signed(vec![
                "localhost".to_owned(),
                "127.0.0.1".to_owned(),
            ])
            .expect("generate a certificate");
            let both = format!("{}{}", cert.cert.pem(), cert.signing_key.serialize_pem());
            let path = base.path().join("keycert.pem");
            fs::write(&path, both).expect("write the certificate");
            ftpsh_daemon::tls::server_config_from_files(&path, &path).expect("TLS config")
        });
        let config = DaemonConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            server: ServerConfig {
                users,
                // Short, so that the wrong-password tests stay quick; the
                // delay itself is the daemon's business, not measured here.
                login_failure_delay: Duration::from_millis(50),
                tls: TlsPolicy {
                    available: options.tls,
                    required: options.require_tls,
                    session_reuse_required: options.require_tls_session_reuse,
                },
                storage: options
                    .storage
                    .clone()
                    .unwrap_or_else(|| ServerConfig::default().storage),
                ..ServerConfig::default()
            },
            idle_timeout: options.idle_timeout,
            data_timeout: options.data_timeout,
            max_sessions: options.max_sessions,
            workers: options.workers,
            fsync_uploads: options.fsync_uploads,
            tls,
            implicit_tls_listen: options
                .implicit_tls
                .then(|| SocketAddr::from(([127, 0, 0, 1], 0))),
            ..DaemonConfig::default()
        };
        let server = Server::bind(config, ftpsh_daemon::builtin_registry()).expect("bind");
        let handle = server.spawn().expect("spawn server");
        let addr = handle.local_addr();
        let implicit_addr = handle.implicit_tls_addr();
        Self {
            base,
            handle: Some(handle),
            addr,
            implicit_addr,
        }
    }

    /// The implicit-TLS listener's address (with `Options::implicit_tls`).
    ///
    /// # Panics
    /// If the server has no implicit-TLS listener.
    pub fn implicit_addr(&self) -> SocketAddr {
        self.implicit_addr
            .expect("server started with implicit_tls")
    }

    /// The PEM file holding the server's self-signed certificate and key
    /// (with `Options::tls`): a client may trust it as its CA.
    pub fn cert_path(&self) -> PathBuf {
        self.base.path().join("keycert.pem")
    }

    /// The control-connection address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The control-connection port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The users' root directory on the host.
    pub fn root(&self) -> PathBuf {
        self.base.path().join("root")
    }

    /// A host path inside the root: `path("a/b.txt")`.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    /// The sibling directory outside the root.
    pub fn outside(&self) -> PathBuf {
        self.base.path().join("outside")
    }

    /// `ftp://alice:secret@127.0.0.1:PORT/` followed by `rel`.
    pub fn url(&self, rel: &str) -> String {
        format!("ftp://{USER}:{PASSWORD}@127.0.0.1:{}/{rel}", self.port())
    }

    /// A `suppaftp` client connected (banner read) but not logged in, with
    /// [`IO_TIMEOUT`] on the control and every data connection.
    ///
    /// # Panics
    /// If the connection or the banner fails.
    pub fn connect(&self) -> FtpStream {
        connect_suppaftp(self.addr).expect("connect and read the 220 banner")
    }

    /// A `suppaftp` client logged in as [`USER`] with transfer type binary.
    ///
    /// # Panics
    /// If connecting or logging in fails.
    pub fn login(&self) -> FtpStream {
        let mut ftp = self.connect();
        ftp.login(USER, PASSWORD).expect("login alice");
        ftp.transfer_type(FileType::Binary).expect("TYPE I");
        ftp
    }

    /// Files and directories directly in `rel` (host view), sorted; for
    /// "no stray file" checks.
    ///
    /// # Panics
    /// If the directory cannot be read.
    pub fn entries(&self, rel: &str) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.path(rel))
            .expect("read_dir")
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    /// Stops the server (`421` to every session) and joins its thread.
    ///
    /// # Panics
    /// If the event loop reports a fatal error.
    pub fn shutdown(mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown().expect("clean server shutdown");
        }
    }
}

/// Connects `suppaftp` to `addr` with [`IO_TIMEOUT`] on every socket and
/// reads the banner.
///
/// # Errors
/// The client's error (connect failure, or a non-220 greeting such as 421).
pub fn connect_suppaftp(addr: SocketAddr) -> FtpResult<FtpStream> {
    let stream =
        TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(FtpError::ConnectionError)?;
    set_timeouts(&stream).map_err(FtpError::ConnectionError)?;
    let ftp = FtpStream::connect_with_stream(stream)?;
    Ok(ftp.passive_stream_builder(|addr| {
        let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(FtpError::ConnectionError)?;
        set_timeouts(&s).map_err(FtpError::ConnectionError)?;
        Ok(s)
    }))
}

pub(crate) fn set_timeouts(s: &TcpStream) -> io::Result<()> {
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))
}

/// The reply code inside a `suppaftp` error, if the server answered.
pub fn reply_code(err: &FtpError) -> Option<u32> {
    match err {
        FtpError::UnexpectedResponse(r) => Some(r.status.code()),
        _ => None,
    }
}

/// A reader of `len` pseudo-random bytes from `seed`: the same seed always
/// gives the same bytes, and a file of any size is generated and checked
/// without holding it in memory.
///
/// The generator is counter-based (SplitMix64 of the seed and the 8-byte
/// word index), so any range of the stream can be produced directly, and it
/// is fast even in an unoptimised test build, where a cryptographic RNG
/// would dominate the run time of the multi-hundred-MiB tests.
pub struct SeededReader {
    seed: u64,
    pos: u64,
    end: u64,
}

impl SeededReader {
    /// `len` bytes from `seed`.
    pub fn new(seed: u64, len: u64) -> Self {
        Self {
            seed,
            pos: 0,
            end: len,
        }
    }
}

impl Read for SeededReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = usize::try_from(self.end - self.pos)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        fill_seeded(self.seed, self.pos, &mut buf[..n]);
        self.pos += n as u64;
        Ok(n)
    }
}

/// SplitMix64 of word `index` of stream `seed`.
fn seeded_word(seed: u64, index: u64) -> [u8; 8] {
    let mut z = seed
        .wrapping_mul(0xD1B5_4A32_D192_ED03)
        .wrapping_add(index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)).to_le_bytes()
}

/// Fills `buf` with bytes `pos..pos + buf.len()` of stream `seed`.
fn fill_seeded(seed: u64, pos: u64, buf: &mut [u8]) {
    let mut pos = pos;
    let mut rest = buf;
    // Unaligned head, byte by byte (at most 7).
    while !pos.is_multiple_of(8) && !rest.is_empty() {
        rest[0] = seeded_word(seed, pos / 8)[(pos % 8) as usize];
        rest = &mut rest[1..];
        pos += 1;
    }
    let mut chunks = rest.chunks_exact_mut(8);
    for chunk in &mut chunks {
        chunk.copy_from_slice(&seeded_word(seed, pos / 8));
        pos += 8;
    }
    let tail = chunks.into_remainder();
    if !tail.is_empty() {
        let w = seeded_word(seed, pos / 8);
        tail.copy_from_slice(&w[..tail.len()]);
    }
}

/// `len` seeded bytes in memory (for small files); the same bytes as
/// [`SeededReader::new`]`(seed, len)` yields.
pub fn seeded_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0; len];
    fill_seeded(seed, 0, &mut v);
    v
}

/// Writes `len` seeded bytes to `path`.
///
/// # Panics
/// On an I/O error.
pub fn write_seeded(path: &Path, seed: u64, len: u64) {
    let mut f = io::BufWriter::new(fs::File::create(path).expect("create seeded file"));
    io::copy(&mut SeededReader::new(seed, len), &mut f).expect("write seeded file");
    f.flush().expect("flush seeded file");
}

/// Compares two byte streams; `Err` names the first differing offset or
/// the length mismatch.
///
/// # Errors
/// A description of the first difference.
pub fn compare_streams(mut a: impl Read, mut b: impl Read) -> Result<u64, String> {
    let mut ba = vec![0u8; 1 << 16];
    let mut bb = vec![0u8; 1 << 16];
    let mut offset = 0u64;
    loop {
        let na = read_full(&mut a, &mut ba).map_err(|e| format!("read a: {e}"))?;
        let nb = read_full(&mut b, &mut bb).map_err(|e| format!("read b: {e}"))?;
        let n = na.min(nb);
        // Slice equality is one memcmp; the byte search only runs on a
        // mismatch (it is slow in an unoptimised build).
        if ba[..n] != bb[..n] {
            let i = ba[..n]
                .iter()
                .zip(&bb[..n])
                .position(|(x, y)| x != y)
                .unwrap_or(0);
            return Err(format!("first difference at byte {}", offset + i as u64));
        }
        offset += n as u64;
        if na != nb {
            return Err(format!(
                "lengths differ: one stream ends at byte {offset}, the other goes on"
            ));
        }
        if na == 0 {
            return Ok(offset);
        }
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Asserts that the file at `path` holds exactly the `len` bytes of `seed`.
///
/// # Panics
/// When it does not, naming the first difference.
pub fn assert_file_is_seeded(path: &Path, seed: u64, len: u64) {
    let f = fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    if let Err(e) = compare_streams(BufReader::new(f), SeededReader::new(seed, len)) {
        panic!("{} is not the expected content: {e}", path.display());
    }
}

/// Asserts that two files are byte-identical.
///
/// # Panics
/// When they are not, naming the first difference.
pub fn assert_same_file(a: &Path, b: &Path) {
    let fa = fs::File::open(a).unwrap_or_else(|e| panic!("open {}: {e}", a.display()));
    let fb = fs::File::open(b).unwrap_or_else(|e| panic!("open {}: {e}", b.display()));
    if let Err(e) = compare_streams(BufReader::new(fa), BufReader::new(fb)) {
        panic!("{} and {} differ: {e}", a.display(), b.display());
    }
}

/// Every file and directory below `dir`, relative, sorted; directories end
/// with `/`.
///
/// # Panics
/// On an I/O error.
pub fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(dir).expect("read_dir") {
            let e = e.expect("dir entry");
            let p = e.path();
            let rel = p
                .strip_prefix(base)
                .expect("below base")
                .to_string_lossy()
                .into_owned();
            if e.file_type().expect("file type").is_dir() {
                out.push(format!("{rel}/"));
                walk(base, &p, out);
            } else {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Asserts that two directory trees hold the same names and byte-identical
/// files.
///
/// # Panics
/// On the first difference.
pub fn assert_same_tree(a: &Path, b: &Path) {
    let ta = tree(a);
    let tb = tree(b);
    assert_eq!(ta, tb, "trees {} and {} differ", a.display(), b.display());
    for rel in ta.iter().filter(|r| !r.ends_with('/')) {
        assert_same_file(&a.join(rel), &b.join(rel));
    }
}

/// The path of a third-party program the tests drive (`curl`, `lftp`,
/// `python3`).
///
/// # Panics
/// When it is not on `PATH`: the tests need it, CI installs it
/// (`.ci/run`), and skipping silently would report a pass that did not
/// happen.
pub fn require_tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "`{name}` is not installed or not on PATH; this test drives it as a real client. \
         Install it (Debian: apt-get install -y {name}); .ci/run does."
    );
}

/// Runs `cmd` (stdin closed, output captured) and waits at most `timeout`;
/// the child is killed by its PID when the time is up.
///
/// # Panics
/// If the program cannot start or runs over `timeout` (the panic shows what
/// it printed so far).
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Output {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
    let mut out = child.stdout.take().expect("stdout piped");
    let mut err = child.stderr.take().expect("stderr piped");
    let out_t = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_t = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            // Child::kill sends SIGKILL to this child's PID only.
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    match status {
        Some(status) => Output {
            status,
            stdout,
            stderr,
        },
        None => panic!(
            "{shown} ran over {timeout:?} and was killed\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        ),
    }
}

/// Asserts that `output` is a success, showing its output otherwise, and
/// returns stdout as text.
///
/// # Panics
/// On a non-zero exit.
pub fn assert_success(what: &str, output: &Output) -> String {
    assert!(
        output.status.success(),
        "{what} failed with {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Raises this process's open-file soft limit to its hard limit (at most
/// `want`), for tests that hold hundreds of sockets on both ends in one
/// process.
///
/// # Panics
/// If the limit cannot be read or set.
pub fn raise_fd_limit(want: u64) -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    let target = want.min(hard);
    if soft < target {
        setrlimit(Resource::RLIMIT_NOFILE, target, hard).expect("setrlimit");
        target
    } else {
        soft
    }
}

/// Polls `cond` every 20 ms until it holds or `limit` passes; returns
/// whether it held. For effects the daemon completes asynchronously (a
/// dropped upload being cleaned up); the limit bounds the loop, it is not
/// a timing assertion.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Where the `ftpshd` binary of this build is: `FTPSHD` if set, else
/// `target/<profile>/ftpshd` next to the running test executable
/// (`target/<profile>/deps/<test>`).
///
/// A test package cannot use `CARGO_BIN_EXE_*` of another package, so the
/// binary must be built first: `cargo build -p ftpsh-daemon` (`.ci/run` and
/// `make check` build the whole workspace before testing).
///
/// # Panics
/// When the binary is not there, saying how to build it.
pub fn ftpshd_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("FTPSHD") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join("ftpshd");
    assert!(
        bin.is_file(),
        "the ftpshd binary is not at {}; build it first with `cargo build -p ftpsh-daemon` \
         (or set FTPSHD=/path/to/ftpshd)",
        bin.display()
    );
    bin
}

/// Runs `curl -sS ARGS` (transfer limit 120 s, connect limit 20 s), killed
/// after 150 s; returns its output.
///
/// # Panics
/// When curl is not installed (see [`require_tool`]).
pub fn curl(args: &[&str]) -> Output {
    run_with_timeout(
        Command::new(require_tool("curl"))
            .args(["-sS", "--max-time", "120", "--connect-timeout", "20"])
            .args(args),
        Duration::from_secs(150),
    )
}

/// [`curl`] that must succeed; returns its stdout.
///
/// # Panics
/// When curl fails, showing its output.
pub fn curl_ok(args: &[&str]) -> String {
    let out = curl(args);
    assert_success(&format!("curl {}", args.join(" ")), &out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_stream_is_the_same_however_it_is_read() {
        let whole = seeded_bytes(9, 1000);
        for chunk in [1usize, 3, 7, 8, 13, 1000] {
            let mut r = SeededReader::new(9, 1000);
            let mut got = Vec::new();
            let mut buf = vec![0u8; chunk];
            loop {
                let n = r.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(got, whole, "chunk size {chunk}");
        }
        assert_ne!(seeded_bytes(9, 64), seeded_bytes(10, 64));
        // Not trivially repetitive: 1000 bytes use most byte values.
        let mut seen = [false; 256];
        whole.iter().for_each(|&b| seen[b as usize] = true);
        assert!(seen.iter().filter(|&&s| s).count() > 200);
    }

    #[test]
    fn compare_streams_finds_the_first_difference() {
        let a = seeded_bytes(1, 200_000);
        let mut b = a.clone();
        assert_eq!(compare_streams(&a[..], &b[..]), Ok(200_000));
        b[123_457] ^= 1;
        assert_eq!(
            compare_streams(&a[..], &b[..]),
            Err("first difference at byte 123457".to_owned())
        );
        assert!(compare_streams(&a[..], &a[..199_999]).is_err());
    }
}
