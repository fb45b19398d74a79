//! Listing commands — the seed's `ls [dir]` as LIST (alias LS) and NLST,
//! the machine-readable MLSD and MLST, and STAT.
//!
//! RFC 959 §4.1.3: LIST sends a human-readable listing of a directory (or
//! of one file) over the data connection, NLST just the names, one per
//! line; STAT without an argument reports the session's status over the
//! control connection, and with a pathname sends what LIST would, but over
//! the control connection. RFC 3659 §7: MLSD lists a directory and MLST one
//! object as "facts" (`type`, `size`, `modify`, `perm`) in a fixed syntax
//! that programs can parse, MLSD over the data connection and MLST in a
//! 250 reply; MLSD of a file is a 501.
//!
//! The main trade-off: there is no standard LIST format, so LIST copies the
//! `ls -l` lines vsftpd sends, which every client already parses (owner and
//! group are always `ftp`; dates are UTC). Listings are built whole in
//! memory ([`DataSource::Bytes`]) — one line per entry, not file contents —
//! so the data connection is only opened once the directory was read
//! successfully. Symlinks are shown as what they resolve to inside the
//! jail; entries that cannot be stat'ed are skipped; names are sorted so
//! listings are deterministic. Formatting is pure ([`format`](mod@format)) and
//! table-tested.
//!
//! [`DataSource::Bytes`]: ftpsh_core::DataSource::Bytes

use std::sync::Arc;

use ftpsh_core::Command;

pub mod format;
mod list;
mod mlsx;
mod read;
mod stat;

pub use list::List;
pub use mlsx::MachineList;
pub use stat::Status;

/// The commands of this crate, for the built-in list.
pub fn commands() -> Vec<Arc<dyn Command>> {
    vec![Arc::new(List), Arc::new(MachineList), Arc::new(Status)]
}

/// Drops the option words clients put before the path (`LIST -la docs`,
/// `LIST -a -l`): leading whitespace-separated words starting with `-`.
/// What remains is the pathname, spaces and all; a file whose name starts
/// with `-` must therefore be named as `./-name`.
fn strip_options(arg: &str) -> &str {
    let mut rest = arg.trim_start();
    while rest.starts_with('-') {
        rest = match rest.find(char::is_whitespace) {
            Some(i) => rest[i..].trim_start(),
            None => "",
        };
    }
    rest
}

#[cfg(test)]
pub(crate) mod testutil {
    use std::sync::Arc;

    use ftpsh_core::testkit::TestSession;
    use ftpsh_core::{DataSource, Outcome, Reply, Transfer};

    /// A logged-in fixture with the given command.
    pub fn session(command: Arc<dyn ftpsh_core::Command>) -> TestSession {
        TestSession::new(TestSession::registry_with(command))
    }

    /// The opening reply and the bytes a listing transfer would send.
    pub fn sent(o: Outcome) -> (Reply, String) {
        match o {
            Outcome::Transfer {
                opening,
                transfer: Transfer::Send(DataSource::Bytes(bytes)),
            } => (opening, String::from_utf8(bytes).unwrap()),
            other => panic!("expected a listing transfer, got {other:?}"),
        }
    }

    /// A plain reply.
    pub fn reply(o: Outcome) -> Reply {
        match o {
            Outcome::Reply(r) => r,
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    /// Sets the fixture's modification times to one fixed moment and its
    /// modes to 0644/0755 whatever the umask, so listings can be compared
    /// whole.
    pub fn fix_times(t: &TestSession, secs: u64) {
        use std::os::unix::fs::PermissionsExt;
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        for p in [
            "hello.txt",
            "data.bin",
            "docs/readme.md",
            "docs",
            "empty",
            ".",
        ] {
            let f = std::fs::File::open(t.path(p)).unwrap();
            let mode = if f.metadata().unwrap().is_dir() {
                0o755
            } else {
                0o644
            };
            f.set_permissions(std::fs::Permissions::from_mode(mode))
                .unwrap();
            f.set_times(std::fs::FileTimes::new().set_modified(when))
                .unwrap();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_options_table() {
        let rows = [
            ("", ""),
            ("-la", ""),
            ("-l docs", "docs"),
            ("-a -l docs", "docs"),
            ("  -la   my dir ", "my dir "),
            ("docs -l", "docs -l"),
            ("./-x", "./-x"),
            ("-", ""),
            ("--", ""),
            ("-la\tdocs", "docs"),
        ];
        for (arg, want) in rows {
            assert_eq!(strip_options(arg), want, "{arg:?}");
        }
    }
}
