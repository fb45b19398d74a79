//! The transfer log (`--xferlog FILE`): one line per file transfer in the
//! `xferlog(5)` format of wu-ftpd, proftpd and vsftpd, so that existing log
//! tools read it.
//!
//! The loop formats the line and hands it to a thread of its own that
//! appends it, so a slow disk never stalls the loop. SIGHUP reopens the
//! file (for logrotate).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Sender, channel};
use std::time::SystemTime;

use ftpsh_core::UtcTime;
use ftpsh_core::time::unix_seconds;

use crate::metrics::Direction;

/// One completed or aborted file transfer.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// When it ended.
    pub when: SystemTime,
    /// How long it took.
    pub seconds: f64,
    /// The client.
    pub host: IpAddr,
    /// Bytes moved.
    pub bytes: u64,
    /// The file's path as the client sees it.
    pub path: &'a str,
    /// `TYPE I` (else `TYPE A`).
    pub binary: bool,
    /// Which way.
    pub direction: Direction,
    /// Logged in anonymously.
    pub anonymous: bool,
    /// The login name.
    pub user: &'a str,
    /// Ended with `226`.
    pub complete: bool,
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];

/// The `xferlog(5)` line (without newline):
/// `DDD MMM dd hh:mm:ss YYYY secs host bytes path type _ dir mode user ftp 0 * status`.
/// Times are UTC. White space and control characters in the path become
/// `_`, as proftpd does, so that the line keeps its fields.
pub fn format(e: &Entry<'_>) -> String {
    let secs = unix_seconds(e.when);
    let t = UtcTime::from_unix(secs);
    let day = DAYS[usize::try_from(secs.div_euclid(86_400).rem_euclid(7)).unwrap_or(0)];
    let path: String = e
        .path
        .chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let user: String = e
        .user
        .chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    format!(
        "{day} {} {:>2} {:02}:{:02}:{:02} {} {} {} {} {} {} _ {} {} {} ftp 0 * {}",
        t.month_abbrev(),
        t.day,
        t.hour,
        t.minute,
        t.second,
        t.year,
        e.seconds.round().max(0.0) as u64,
        e.host.to_canonical(),
        e.bytes,
        path,
        if e.binary { 'b' } else { 'a' },
        match e.direction {
            Direction::Out => 'o',
            Direction::In => 'i',
        },
        if e.anonymous { 'a' } else { 'r' },
        user,
        if e.complete { 'c' } else { 'i' },
    )
}

enum Msg {
    Line(String),
    Reopen,
}

/// The writer of the transfer log.
#[derive(Debug, Clone)]
pub struct XferLog {
    tx: Sender<Msg>,
}

fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl XferLog {
    /// Opens (creates) `path` for appending and starts the writer thread.
    ///
    /// # Errors
    /// Opening the file, or starting the thread.
    pub fn open(path: &Path) -> io::Result<Self> {
        let mut file = open(path)?;
        let path: PathBuf = path.to_owned();
        let (tx, rx) = channel::<Msg>();
        std::thread::Builder::new()
            .name("ftpshd-xferlog".to_owned())
            .spawn(move || {
                for msg in rx {
                    match msg {
                        Msg::Line(line) => {
                            if let Err(e) = file.write_all(line.as_bytes()) {
                                tracing::warn!(file = %path.display(), "xferlog: {e}");
                            }
                        }
                        Msg::Reopen => match open(&path) {
                            Ok(f) => file = f,
                            Err(e) => {
                                tracing::warn!(file = %path.display(), "xferlog not reopened: {e}");
                            }
                        },
                    }
                }
            })?;
        Ok(Self { tx })
    }

    /// Queues one line.
    pub fn record(&self, entry: &Entry<'_>) {
        let mut line = format(entry);
        line.push('\n');
        let _ = self.tx.send(Msg::Line(line));
    }

    /// Reopens the file after the lines queued so far.
    pub fn reopen(&self) {
        let _ = self.tx.send(Msg::Reopen);
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn line_in_xferlog_5_format() {
        let e = Entry {
            // 2026-11-29 19:43:02 UTC, a Sunday.
            when: UNIX_EPOCH + Duration::from_secs(1_795_981_382),
            seconds: 1.6,
            host: "::ffff:127.0.0.1".parse().unwrap(),
            bytes: 1024,
            path: "/dir/a file.txt",
            binary: true,
            direction: Direction::In,
            anonymous: false,
            user: "alice",
            complete: true,
        };
        assert_eq!(
            format(&e),
            "Sun Nov 29 19:43:02 2026 2 127.0.0.1 1024 /dir/a_file.txt b _ i r alice ftp 0 * c"
        );
        let e = Entry {
            when: UNIX_EPOCH + Duration::from_secs(86_400 * 3),
            anonymous: true,
            complete: false,
            direction: Direction::Out,
            binary: false,
            user: "anonymous",
            ..e
        };
        assert_eq!(
            format(&e),
            "Sun Jan  4 00:00:00 1970 2 127.0.0.1 1024 /dir/a_file.txt a _ o a anonymous ftp 0 * i"
        );
    }

    #[test]
    fn writes_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("xferlog");
        let log = XferLog::open(&path).unwrap();
        let e = Entry {
            when: SystemTime::now(),
            seconds: 0.0,
            host: "127.0.0.1".parse().unwrap(),
            bytes: 1,
            path: "/a",
            binary: true,
            direction: Direction::Out,
            anonymous: false,
            user: "u",
            complete: true,
        };
        log.record(&e);
        std::fs::rename(&path, dir.path().join("xferlog.1")).unwrap();
        log.reopen();
        log.record(&e);
        let ok = (0..500).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            std::fs::read_to_string(&path).is_ok_and(|t| t.lines().count() == 1)
        });
        assert!(ok);
        let old = std::fs::read_to_string(dir.path().join("xferlog.1")).unwrap();
        assert_eq!(old.lines().count(), 1);
        assert!(old.ends_with(" u ftp 0 * c\n"), "{old}");
    }
}
