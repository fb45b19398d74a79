//! `ftpshd`'s abuse limits and what operators' tools read: the lock-out
//! after failed logins (RFC 2577 §5) and its log lines counted by the
//! shipped fail2ban filter, sessions per address, `passive_address` for
//! NAT, the xferlog, and Prometheus metrics.
//!
//! Other client addresses are other loopback addresses (127.0.0.2), which
//! Linux routes to `lo` without configuration.
//!
//! The binary must be built first (see [`ftpsh_tests::ftpshd_binary`]).

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a panic is how a test fails"
)]

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ftpsh_tests::ftpshd::{ExampleConfig, Ftpshd};
use ftpsh_tests::{RawControl, assert_success, curl, require_tool, run_with_timeout, seeded_bytes};

fn other_address() -> IpAddr {
    "127.0.0.2".parse().unwrap()
}

/// The example configuration in `dir` with `extra` top-level keys;
/// returns the config path and the `srv` root directory.
fn example(dir: &Path, extra: &str) -> (String, std::path::PathBuf) {
    let srv = dir.join("srv");
    let config = dir.join("ftpshd.toml");
    ExampleConfig::new(&srv, "alice-pw", "bob-pw")
        .with(extra)
        .write(&config);
    (config.to_str().unwrap().to_owned(), srv)
}

#[test]
fn the_fourth_failed_login_gets_421_and_fail2ban_counts_the_failures() {
    let dir = tempfile::tempdir().unwrap();
    // The example's lock-out defaults: 3 failures within 120 s.
    let (config, _) = example(dir.path(), "login_failure_delay = 0");
    let d = Ftpshd::start(&["--config", &config]);

    // One connection, three wrong passwords: each gets its 530 (not 421),
    // then the connection is closed.
    let mut c = RawControl::connect(d.addr);
    c.expect(220);
    for _ in 0..3 {
        c.cmd("USER alice", 331);
        c.cmd("PASS nope", 530);
    }
    assert!(c.try_reply().is_err(), "the connection stays open");

    // The fourth attempt from this address: refused with 421.
    let mut c = RawControl::connect(d.addr);
    assert_eq!(c.reply().code, 421);
    let out = curl(&[&d.url("alice:alice-pw", "")]);
    assert!(!out.status.success(), "a locked address logged in: {out:?}");

    // Another address is not locked.
    let mut other = RawControl::connect_from(other_address(), d.addr);
    other.expect(220);
    other.cmd("USER alice", 331);
    other.cmd("PASS alice-pw", 230);

    // The log lines, as fail2ban reads them.
    let log_path = dir.path().join("ftpshd.log");
    fs::write(&log_path, d.stderr_text()).unwrap();
    let filter = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist/fail2ban/ftpshd.conf");
    let out = run_with_timeout(
        Command::new(require_tool("fail2ban-regex"))
            .arg(&log_path)
            .arg(&filter),
        Duration::from_secs(120),
    );
    let report = assert_success("fail2ban-regex", &out);
    let total = report
        .lines()
        .find_map(|l| l.strip_prefix("Failregex: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse::<u32>().ok());
    assert_eq!(total, Some(3), "{report}\nlog:\n{}", d.stderr_text());
    assert!(
        report.contains("127.0.0.1"),
        "the failures name the address: {report}"
    );
}

#[test]
fn sessions_per_address_are_limited() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = example(dir.path(), "");
    let d = Ftpshd::start(&["--config", &config, "--max-sessions-per-ip", "2"]);
    let mut a = RawControl::connect(d.addr);
    a.expect(220);
    let mut b = RawControl::connect(d.addr);
    b.expect(220);
    let mut c = RawControl::connect(d.addr);
    let r = c.reply();
    assert_eq!(r.code, 421, "{}", r.text);
    let mut other = RawControl::connect_from(other_address(), d.addr);
    other.expect(220);
    // A closed session frees its place.
    a.send("QUIT");
    assert_eq!(a.reply().code, 221);
    assert!(ftpsh_tests::wait_until(Duration::from_secs(30), || {
        let mut again = RawControl::connect(d.addr);
        again.reply().code == 220
    }));
    b.cmd("NOOP", 200);
}

#[test]
fn passive_address_is_announced_and_curl_transfers_through_it() {
    let dir = tempfile::tempdir().unwrap();
    let (config, srv) = example(dir.path(), "passive_address = \"127.0.0.2\"");
    let content = seeded_bytes(5, 2 << 20);
    fs::write(srv.join("alice/p.bin"), &content).unwrap();
    let d = Ftpshd::start(&["--config", &config]);

    let mut c = RawControl::login(d.addr, "alice", "alice-pw");
    let r = c.cmd("PASV", 227);
    assert!(r.text.contains("(127,0,0,2,"), "{}", r.text);
    // EPSV carries no address and is unaffected.
    c.cmd("EPSV", 229);

    // The listener is bound where the control connection arrived, which
    // is where a NAT in front delivers the data connections too. curl
    // with PASV only, connecting there (its default: it ignores the
    // address in the reply) gets the file.
    let work = tempfile::tempdir().unwrap();
    let got = work.path().join("p.bin");
    let out = curl(&[
        "-v",
        "--disable-epsv",
        "-o",
        got.to_str().unwrap(),
        &d.url("alice:alice-pw", "p.bin"),
    ]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_success("curl via passive_address", &out);
    assert!(err.contains("127,0,0,2"), "{err}");
    assert!(fs::read(&got).unwrap() == content);
}

#[test]
fn a_passive_address_name_is_resolved_off_the_loop() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = example(dir.path(), "passive_address = \"localhost\"");
    let d = Ftpshd::start(&["--config", &config]);
    assert!(
        d.wait_for_log("passive_address localhost is 127.", Duration::from_secs(30)),
        "{}",
        d.stderr_text()
    );
    let mut c = RawControl::login(d.addr, "alice", "alice-pw");
    let r = c.cmd("PASV", 227);
    assert!(r.text.contains("(127,"), "{}", r.text);
}

/// The samples of a Prometheus text exposition: `name{labels}` → value.
fn parse_metrics(text: &str) -> HashMap<String, f64> {
    let mut samples = HashMap::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line {line:?}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let name_ok = key.split('{').next().is_some_and(|n| {
            !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        assert!(name_ok, "bad metric name in {line:?}");
        assert!(
            !key.contains('{') || key.ends_with('}'),
            "bad labels in {line:?}"
        );
        samples.insert(key.to_owned(), value);
    }
    assert!(text.ends_with("# EOF\n"), "no EOF marker");
    samples
}

fn scrape(addr: &str) -> HashMap<String, f64> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    parse_metrics(body)
}

#[test]
fn metrics_and_xferlog_match_the_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let xferlog = dir.path().join("xferlog");
    let (config, srv) = example(
        dir.path(),
        &format!(
            "login_failure_delay = 0\nmetrics_listen = \"{metrics_addr}\"\nxferlog = {:?}",
            xferlog
        ),
    );
    let down = seeded_bytes(8, 300_000);
    fs::write(srv.join("alice/down.bin"), &down).unwrap();
    let d = Ftpshd::start(&["--config", &config]);

    let before = scrape(&metrics_addr);
    assert_eq!(before.get("ftpshd_sessions"), Some(&0.0));

    // Traffic: 2 downloads, 1 upload, 1 wrong password, 1 listing.
    for _ in 0..2 {
        let out = curl(&["-o", "-", &d.url("alice:alice-pw", "down.bin")]);
        assert_success("curl get", &out);
        assert!(out.stdout == down, "download differs");
    }
    let work = tempfile::tempdir().unwrap();
    let up = work.path().join("up file.bin");
    fs::write(&up, seeded_bytes(9, 123_457)).unwrap();
    assert_success(
        "curl put",
        &curl(&[
            "-T",
            up.to_str().unwrap(),
            &d.url("alice:alice-pw", "up%20file.bin"),
        ]),
    );
    let out = curl(&[&d.url("alice:nope", "")]);
    assert_eq!(out.status.code(), Some(67));
    assert_success(
        "curl list",
        &curl(&["--list-only", &d.url("bob:bob-pw", "")]),
    );
    let open = RawControl::login(d.addr, "bob", "bob-pw");

    let m = scrape(&metrics_addr);
    let get = |k: &str| m.get(k).copied().unwrap_or(0.0);
    assert_eq!(get("ftpshd_sessions"), 1.0, "{m:?}");
    assert_eq!(get("ftpshd_logins_total{result=\"ok\"}"), 5.0, "{m:?}");
    assert_eq!(get("ftpshd_logins_total{result=\"failed\"}"), 1.0, "{m:?}");
    assert_eq!(get("ftpshd_files_total{direction=\"out\"}"), 2.0, "{m:?}");
    assert_eq!(get("ftpshd_files_total{direction=\"in\"}"), 1.0, "{m:?}");
    assert_eq!(
        get("ftpshd_commands_total{verb=\"RETR\",class=\"1xx\"}"),
        2.0,
        "{m:?}"
    );
    assert_eq!(
        get("ftpshd_commands_total{verb=\"STOR\",class=\"1xx\"}"),
        1.0,
        "{m:?}"
    );
    assert_eq!(
        get("ftpshd_commands_total{verb=\"PASS\",class=\"5xx\"}"),
        1.0,
        "{m:?}"
    );
    assert!(
        get("ftpshd_commands_total{verb=\"USER\",class=\"3xx\"}") >= 5.0,
        "{m:?}"
    );
    assert_eq!(
        get("ftpshd_file_transfer_seconds_count{direction=\"out\"}"),
        2.0,
        "{m:?}"
    );
    // Files plus the listing; the listing's size is the daemon's business.
    assert!(
        get("ftpshd_data_bytes_total{direction=\"out\"}") >= 600_000.0,
        "{m:?}"
    );
    assert_eq!(
        get("ftpshd_data_bytes_total{direction=\"in\"}"),
        123_457.0,
        "{m:?}"
    );
    drop(open);

    // xferlog(5): one line per file, 18 fields, in order.
    assert!(ftpsh_tests::wait_until(Duration::from_secs(30), || {
        fs::read_to_string(&xferlog).is_ok_and(|t| t.lines().count() == 3)
    }));
    let log = fs::read_to_string(&xferlog).unwrap();
    let lines: Vec<Vec<&str>> = log
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    for f in &lines {
        assert_eq!(f.len(), 18, "{log}");
        assert_eq!(f[6], "127.0.0.1");
        assert_eq!(
            &f[10..],
            ["_", f[11], "r", "alice", "ftp", "0", "*", "c"],
            "{log}"
        );
    }
    assert_eq!(
        &lines[0][7..12],
        ["300000", "/down.bin", "b", "_", "o"],
        "{log}"
    );
    assert_eq!(
        &lines[2][7..12],
        ["123457", "/up_file.bin", "b", "_", "i"],
        "{log}"
    );
}
