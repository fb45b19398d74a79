//! MDTM, RFC 3659 §3 (file modification time).

use ftpsh_core::{
    Command, Outcome, Permission, Reply, ReplyCode, Request, Session, UtcTime, VerbSpec,
};

/// MDTM: when a file was last modified.
///
/// RFC 3659 §3: the reply is `213 YYYYMMDDHHMMSS` (§2.3 `time-val`), always
/// in UTC whatever the server's zone, so clients can compare times and
/// mirror trees. Like SIZE it is meant for files: directories and other
/// non-regular objects get 550. Symlinks are followed inside the jail only.
/// The two-argument "set the time" form some servers accept is not
/// supported (the whole argument is the pathname); MFMT sets times.
#[derive(Debug, Clone, Copy, Default)]
pub struct ModTime;

impl Command for ModTime {
    fn name(&self) -> &str {
        "mdtm"
    }

    fn verbs(&self) -> Vec<VerbSpec> {
        vec![
            VerbSpec::new(
                "MDTM",
                "MDTM <SP> pathname",
                "a file's modification time (UTC)",
            )
            .needs_arg()
            .permission(Permission::List)
            .feat("MDTM")
            .example("MDTM hello.txt", 213, "YYYYMMDDHHMMSS")
            .example("MDTM docs", 550, "a directory is not a file")
            .example("MDTM missing.txt", 550, "no such file")
            .example("MDTM", 501, "a file name is required"),
        ]
    }

    fn run(&self, request: &Request, session: &mut Session) -> Outcome {
        if request.verb != "MDTM" {
            return Outcome::unhandled(&request.verb);
        }
        mdtm(request, session).unwrap_or_else(|r| r).into()
    }
}

fn mdtm(request: &Request, session: &Session) -> Result<Reply, Reply> {
    let storage = session.require_storage()?;
    let path = session.path_arg(request, "a file name")?;
    let meta = ftpsh_core::storage::regular_file_metadata(storage.as_ref(), &path)?;
    let time = UtcTime::from_unix(meta.mtime);
    Ok(Reply::new(ReplyCode::FILE_STATUS, time.time_val()))
}

#[cfg(test)]
mod tests {
    use std::fs::FileTimes;
    use std::sync::Arc;
    use std::time::{Duration, UNIX_EPOCH};

    use ftpsh_core::testkit::{TestSession, check_examples, check_hostile_paths};

    use super::*;
    use crate::testutil::wire;

    #[test]
    fn examples() {
        check_examples(Arc::new(ModTime));
    }

    #[test]
    fn hostile_paths() {
        check_hostile_paths(Arc::new(ModTime), "MDTM {}");
    }

    fn set_mtime(path: &std::path::Path, secs: u64) {
        let f = std::fs::File::options().write(true).open(path).unwrap();
        f.set_times(FileTimes::new().set_modified(UNIX_EPOCH + Duration::from_secs(secs)))
            .unwrap();
    }

    #[test]
    fn utc_time_val_rfc3659_3() {
        let mut t = TestSession::new(TestSession::registry_with(Arc::new(ModTime)));
        set_mtime(&t.path("hello.txt"), 1_732_181_400);
        set_mtime(&t.path("docs/readme.md"), 951_782_399);
        std::os::unix::fs::symlink("hello.txt", t.path("link")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", t.path("passwd")).unwrap();
        let rows = [
            ("MDTM hello.txt", "213 20241121093000\r\n"),
            ("MDTM /docs/readme.md", "213 20000228235959\r\n"),
            ("MDTM link", "213 20241121093000\r\n"),
            ("MDTM passwd", "550 /passwd: permission denied\r\n"),
            ("MDTM docs", "550 /docs: not a regular file\r\n"),
            ("MDTM /", "550 /: not a regular file\r\n"),
            ("MDTM nope", "550 /nope: no such file or directory\r\n"),
            (
                "MDTM 20240101000000 hello.txt",
                "550 /20240101000000 hello.txt: no such file or directory\r\n",
            ),
            ("MDTM", "501 MDTM needs an argument: MDTM <SP> pathname\r\n"),
        ];
        for (line, want) in rows {
            assert_eq!(wire(t.run(line)), want, "{line}");
        }
    }

    #[test]
    fn needs_permission_l() {
        let mut t = TestSession::new(TestSession::registry_with(Arc::new(ModTime)));
        let mut users = t.session.config.users.clone();
        let root = t.dir.path().to_path_buf();
        users.add(ftpsh_core::User::from_spec("getter:pw:r", root).unwrap());
        t.session.config = Arc::new(ftpsh_core::ServerConfig {
            users,
            ..(*t.session.config).clone()
        });
        t.login_as("getter", "pw");
        assert_eq!(t.run("MDTM hello.txt").code(), Some(550));
    }
}
