//! MFMT, draft-somers-ftp-mfxx §3 (modify the modification time).

use std::time::{Duration, SystemTime};

use ftpsh_core::{
    Command, Outcome, Permission, Reply, ReplyCode, Request, Session, UtcTime, VerbSpec, io_reply,
    not_regular_file,
};

/// MFMT: set a file's modification time.
///
/// draft-somers-ftp-mfxx §3: `MFMT YYYYMMDDHHMMSS pathname` sets the
/// modification time, given in UTC as RFC 3659 §2.3's `time-val`
/// (fractions of a second are accepted and dropped), and answers `213
/// Modify=YYYYMMDDHHMMSS; pathname`. A malformed or impossible time gets
/// `501`, a path that is not a regular file `550`. Sync tools (rclone, lftp
/// `mirror`, FileZilla) use it so that MDTM/MLST of the copy match the
/// original. It needs pyftpdlib's `T` permission.
///
/// The time is set through the session's storage ([`Storage::set_mtime`]:
/// on a disk, with `futimens(2)` on an open handle, so the path is resolved
/// once, inside the root). A storage that cannot set times (object stores)
/// answers `502` and `FEAT` does not list MFMT.
///
/// [`Storage::set_mtime`]: ftpsh_core::Storage::set_mtime
#[derive(Debug, Clone, Copy, Default)]
pub struct SetModTime;

impl Command for SetModTime {
    fn name(&self) -> &str {
        "mfmt"
    }

    fn verbs(&self) -> Vec<VerbSpec> {
        vec![
            VerbSpec::new(
                "MFMT",
                "MFMT <SP> time-val <SP> pathname",
                "set a file's modification time (UTC, YYYYMMDDHHMMSS)",
            )
            .needs_arg()
            .permission(Permission::SetTime)
            .requires(ftpsh_core::Capability::SetMtime)
            .feat("MFMT")
            .example(
                "MFMT 20240102030405 hello.txt",
                213,
                "Modify=20240102030405; /hello.txt",
            )
            .example("MFMT 20241340000000 hello.txt", 501, "month 13")
            .example("MFMT 2024 hello.txt", 501, "not a time-val")
            .example("MFMT 20240102030405", 501, "a pathname is required")
            .example("MFMT 20240102030405 missing", 550, "no such file")
            .example("MFMT 20240102030405 docs", 550, "not a regular file"),
        ]
    }

    fn run(&self, request: &Request, session: &mut Session) -> Outcome {
        if request.verb != "MFMT" {
            return Outcome::unhandled(&request.verb);
        }
        mfmt(request, session).unwrap_or_else(|r| r).into()
    }
}

/// Parses RFC 3659 §2.3 `time-val` (`YYYYMMDDHHMMSS[.F+]`, UTC) into
/// seconds since the Unix epoch. Impossible dates (February 30) are
/// refused by checking that the seconds format back to the same digits.
pub(crate) fn parse_time_val(text: &str) -> Option<i64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, "0"));
    if whole.len() != 14
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || fraction.is_empty()
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| whole[r].parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, s) = (num(8..10)?, num(10..12)?, num(12..14)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s;
    (UtcTime::from_unix(secs).time_val() == whole).then_some(secs)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn mfmt(request: &Request, session: &Session) -> Result<Reply, Reply> {
    let storage = session.require_storage()?;
    let arg = request.arg_or_empty().trim_start();
    let (time_text, path_text) = arg.split_once(' ').unwrap_or((arg, ""));
    let syntax = |why: &str| {
        Reply::new(
            ReplyCode::PARAMETER_SYNTAX_ERROR,
            format!("MFMT {arg}: {why}"),
        )
    };
    let secs =
        parse_time_val(time_text).ok_or_else(|| syntax("the time must be YYYYMMDDHHMMSS (UTC)"))?;
    if path_text.is_empty() {
        return Err(syntax("a pathname is required after the time"));
    }
    let path = session
        .cwd
        .resolve(path_text)
        .map_err(|e| ftpsh_core::path_reply(&e))?;
    ftpsh_core::storage::regular_file_metadata(storage.as_ref(), &path)?;
    let when = if secs >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    };
    storage.set_mtime(&path, when).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidInput => not_regular_file(&path),
        _ => io_reply(&e, &path),
    })?;
    Ok(Reply::new(
        ReplyCode::FILE_STATUS,
        format!("Modify={}; {path}", UtcTime::from_unix(secs).time_val()),
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ftpsh_core::testkit::{TestSession, check_examples, check_hostile_paths};

    use super::*;
    use crate::testutil::wire;

    #[test]
    fn examples() {
        check_examples(Arc::new(SetModTime));
    }

    fn session() -> TestSession {
        TestSession::new(TestSession::registry_with(Arc::new(SetModTime)))
    }

    fn mtime(t: &TestSession, rel: &str) -> i64 {
        ftpsh_core::time::unix_seconds(std::fs::metadata(t.path(rel)).unwrap().modified().unwrap())
    }

    #[test]
    fn sets_the_time_and_replies_draft_somers_3() {
        let mut t = session();
        assert_eq!(
            wire(t.run("MFMT 20020717210715 hello.txt")),
            "213 Modify=20020717210715; /hello.txt\r\n"
        );
        assert_eq!(mtime(&t, "hello.txt"), 1_026_940_035);
        assert_eq!(
            wire(t.run("MFMT 19700101000000.123 docs/readme.md")),
            "213 Modify=19700101000000; /docs/readme.md\r\n"
        );
        assert_eq!(mtime(&t, "docs/readme.md"), 0);
        // Before the epoch, and a name with a space.
        std::fs::write(t.path("a b"), b"").unwrap();
        assert_eq!(t.run("MFMT 19691231235959 a b").code(), Some(213));
        assert_eq!(mtime(&t, "a b"), -1);
    }

    /// (time-val, valid) — RFC 3659 §2.3.
    #[test]
    fn time_val_table() {
        let rows = [
            ("20240229120000", Some(1_709_208_000)),
            ("20230229120000", None),
            ("20240431000000", None),
            ("20241301000000", None),
            ("20240100000000", None),
            ("20240101240000", None),
            ("20240101006000", None),
            ("20240101000060", None),
            ("2024010100000", None),
            ("202401010000000", None),
            ("2024010100000x", None),
            ("20240101000000.", None),
            ("20240101000000.5", Some(1_704_067_200)),
            ("+2024010100000", None),
        ];
        for (text, want) in rows {
            assert_eq!(parse_time_val(text), want, "{text}");
        }
    }

    proptest::proptest! {
        /// Whatever parses formats back to the same digits.
        #[test]
        fn time_val_never_panics_and_round_trips(text in "[0-9.+-]{0,20}") {
            if let Some(secs) = parse_time_val(&text) {
                let whole = text.split('.').next().unwrap_or_default();
                proptest::prop_assert_eq!(UtcTime::from_unix(secs).time_val(), whole);
            }
        }
    }

    #[test]
    fn refusals() {
        let mut t = session();
        t.mkfifo("pipe");
        let rows = [
            ("MFMT 20240101000000 pipe", 550),
            ("MFMT 20240101000000 /", 550),
            ("MFMT 20240101000000 empty", 550),
            ("MFMT hello.txt 20240101000000", 501),
            ("MFMT", 501),
        ];
        for (line, code) in rows {
            assert_eq!(t.run(line).code(), Some(code), "{line}");
        }
        t.login_as("reader", "pw");
        let before = mtime(&t, "hello.txt");
        assert_eq!(
            wire(t.run("MFMT 20020717210715 hello.txt")),
            "550 MFMT: permission denied (needs 'T')\r\n"
        );
        assert_eq!(mtime(&t, "hello.txt"), before);
    }

    #[test]
    fn hostile_paths() {
        check_hostile_paths(Arc::new(SetModTime), "MFMT 20240101000000 {}");
    }
}
