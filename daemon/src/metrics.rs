//! Prometheus metrics (`--metrics-listen ADDR`): what the event loop counts,
//! and the small HTTP responder that serves it at `/metrics`.
//!
//! The loop only increments atomics (prometheus-client's counters); the
//! encoding and the HTTP exchange run on one thread of their own, which
//! handles one scrape at a time with short socket timeouts, so a slow or
//! hostile scraper delays other scrapers, never the FTP loop.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommandLabels {
    verb: String,
    class: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabel {
    direction: String,
}

/// Which way data moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// To the client (RETR, listings).
    Out,
    /// From the client (STOR, APPE).
    In,
}

impl Direction {
    fn label(self) -> DirectionLabel {
        DirectionLabel {
            direction: match self {
                Self::Out => "out",
                Self::In => "in",
            }
            .to_owned(),
        }
    }
}

fn duration_histogram() -> Histogram {
    // 1 ms to about 4.4 hours.
    Histogram::new(exponential_buckets(0.001, 4.0, 12))
}

/// The daemon's metrics. Cheap to update from the loop: each call is one
/// or two atomic operations (plus a hash lookup for labelled ones).
pub struct Metrics {
    registry: Registry,
    sessions: Gauge,
    logins: Family<ResultLabel, Counter>,
    commands: Family<CommandLabels, Counter>,
    bytes: Family<DirectionLabel, Counter>,
    files: Family<DirectionLabel, Counter>,
    durations: Family<DirectionLabel, Histogram, fn() -> Histogram>,
    refused: Family<ResultLabel, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let sessions = Gauge::default();
        registry.register(
            "ftpshd_sessions",
            "Control connections open",
            sessions.clone(),
        );
        let logins = Family::<ResultLabel, Counter>::default();
        registry.register(
            "ftpshd_logins",
            "Login attempts (PASS) by result: ok, failed, refused",
            logins.clone(),
        );
        let commands = Family::<CommandLabels, Counter>::default();
        registry.register(
            "ftpshd_commands",
            "Requests by verb and class of the first reply (2xx, 5xx...)",
            commands.clone(),
        );
        let bytes = Family::<DirectionLabel, Counter>::default();
        registry.register(
            "ftpshd_data_bytes",
            "Bytes moved over data connections (files and listings), by direction",
            bytes.clone(),
        );
        let files = Family::<DirectionLabel, Counter>::default();
        registry.register(
            "ftpshd_files",
            "Files transferred completely (226), by direction",
            files.clone(),
        );
        let durations: Family<DirectionLabel, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(duration_histogram);
        registry.register(
            "ftpshd_file_transfer_seconds",
            "Duration of file transfers, from the data connection to the final reply",
            durations.clone(),
        );
        let refused = Family::<ResultLabel, Counter>::default();
        registry.register(
            "ftpshd_connections_refused",
            "Control connections refused at accept, by reason",
            refused.clone(),
        );
        Self {
            registry,
            sessions,
            logins,
            commands,
            bytes,
            files,
            durations,
            refused,
        }
    }
}

impl Metrics {
    /// Sets the number of open control connections.
    pub fn set_sessions(&self, n: usize) {
        self.sessions.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Counts a `PASS` answered with `code`.
    pub fn login(&self, code: u16) {
        let result = match code {
            230 => "ok",
            530 => "failed",
            _ => "refused",
        };
        self.logins
            .get_or_create(&ResultLabel {
                result: result.to_owned(),
            })
            .inc();
    }

    /// Counts a request: `verb` (canonical, or `-` when the loop refused a
    /// line before knowing one) and the reply code it got first.
    pub fn command(&self, verb: &str, code: u16) {
        let verb = if verb.is_empty() { "-" } else { verb };
        self.commands
            .get_or_create(&CommandLabels {
                verb: verb.to_owned(),
                class: format!("{}xx", code / 100),
            })
            .inc();
    }

    /// Counts bytes moved on a data connection.
    pub fn bytes(&self, direction: Direction, n: u64) {
        self.bytes.get_or_create(&direction.label()).inc_by(n);
    }

    /// Counts one completed file transfer and its duration.
    pub fn file(&self, direction: Direction, seconds: f64) {
        self.files.get_or_create(&direction.label()).inc();
        self.durations
            .get_or_create(&direction.label())
            .observe(seconds);
    }

    /// Counts a control connection refused at accept (`too-many`,
    /// `per-ip`, `locked-out`; `proxy-header`: no valid PROXY protocol
    /// header).
    pub fn refused(&self, reason: &str) {
        self.refused
            .get_or_create(&ResultLabel {
                result: reason.to_owned(),
            })
            .inc();
    }

    /// The metrics in the OpenMetrics text format (which Prometheus reads).
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Longest request head read from a scraper.
const MAX_REQUEST: usize = 8 * 1024;

/// Serves `GET /metrics` on `listener` from a thread of its own, for the
/// life of the process.
///
/// # Errors
/// Failing to start the thread.
pub fn serve(listener: TcpListener, metrics: Arc<Metrics>) -> io::Result<()> {
    std::thread::Builder::new()
        .name("ftpshd-metrics".to_owned())
        .spawn(move || {
            for stream in listener.incoming() {
                match stream {
                    Ok(s) => {
                        if let Err(e) = answer(s, &metrics) {
                            tracing::debug!("metrics request: {e}");
                        }
                    }
                    Err(e) => {
                        tracing::warn!("metrics listener: {e}");
                        // EMFILE and the like: do not spin.
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        })?;
    Ok(())
}

fn answer(mut stream: TcpStream, metrics: &Metrics) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > MAX_REQUEST {
            return respond(
                &mut stream,
                "431 Request Header Fields Too Large",
                "text/plain",
                "",
            );
        }
    }
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET", "/metrics") => respond(
            &mut stream,
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            &metrics.render(),
        ),
        ("GET", _) => respond(&mut stream, "404 Not Found", "text/plain", "try /metrics\n"),
        _ => respond(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain",
            "only GET\n",
        ),
    }
}

fn respond(stream: &mut TcpStream, status: &str, kind: &str, body: &str) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_what_was_counted() {
        let m = Metrics::default();
        m.set_sessions(3);
        m.login(230);
        m.login(530);
        m.login(530);
        m.command("RETR", 150);
        m.command("", 500);
        m.bytes(Direction::Out, 10);
        m.file(Direction::Out, 0.5);
        let text = m.render();
        for line in [
            "ftpshd_sessions 3",
            "ftpshd_logins_total{result=\"ok\"} 1",
            "ftpshd_logins_total{result=\"failed\"} 2",
            "ftpshd_commands_total{verb=\"RETR\",class=\"1xx\"} 1",
            "ftpshd_commands_total{verb=\"-\",class=\"5xx\"} 1",
            "ftpshd_data_bytes_total{direction=\"out\"} 10",
            "ftpshd_files_total{direction=\"out\"} 1",
            "ftpshd_file_transfer_seconds_count{direction=\"out\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn serves_metrics_over_http() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let m = Arc::new(Metrics::default());
        m.login(230);
        serve(listener, m).unwrap();
        let get = |path: &str| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        };
        let ok = get("/metrics");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains("ftpshd_logins_total{result=\"ok\"} 1"), "{ok}");
        assert!(get("/").starts_with("HTTP/1.1 404"));
    }
}
