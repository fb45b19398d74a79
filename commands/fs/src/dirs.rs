//! MKD and RMD (RFC 959 §4.1.3).

use std::io;

use ftpsh_core::reply::quote_path;
use ftpsh_core::{
    Command, Outcome, Permission, Reply, ReplyCode, Request, Session, VerbSpec, io_reply,
};

/// MKD and RMD: make and remove directories.
///
/// RFC 959 §4.1.3: MKD creates the directory and answers 257 with its
/// quoted absolute pathname; RMD removes it (250). Parents are not created
/// and only empty directories are removed, as `mkdir`/`rmdir` do; a target
/// that exists, is not empty, or is not a directory is a 550. The root of
/// the user's jail is never removed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Directories;

impl Command for Directories {
    fn name(&self) -> &str {
        "directories"
    }

    fn verbs(&self) -> Vec<VerbSpec> {
        vec![
            VerbSpec::new("MKD", "MKD <SP> pathname", "make a directory")
                .needs_arg()
                .alias("XMKD")
                .permission(Permission::MakeDir)
                .example("MKD new", 257, "\"/new\" created")
                .example("XMKD docs/sub", 257, "the older spelling, nested")
                .example("MKD docs", 550, "already exists")
                .example("MKD nodir/sub", 550, "parents are not created")
                .example("MKD", 501, "a directory name is required"),
            VerbSpec::new("RMD", "RMD <SP> pathname", "remove an empty directory")
                .needs_arg()
                .alias("XRMD")
                .permission(Permission::Delete)
                .example("RMD empty", 250, "removed")
                .example("XRMD /empty", 250, "the older spelling")
                .example("RMD docs", 550, "not empty")
                .example("RMD hello.txt", 550, "not a directory")
                .example("RMD /", 550, "never the root")
                .example("RMD", 501, "a directory name is required"),
        ]
    }

    fn run(&self, request: &Request, session: &mut Session) -> Outcome {
        let result = match request.verb.as_str() {
            "MKD" => mkd(request, session),
            "RMD" => rmd(request, session),
            other => return Outcome::unhandled(other),
        };
        result.unwrap_or_else(|r| r).into()
    }
}

fn mkd(request: &Request, session: &Session) -> Result<Reply, Reply> {
    let storage = session.require_storage()?;
    let path = session.path_arg(request, "a directory name")?;
    match storage.create_dir(&path) {
        Ok(()) => Ok(Reply::new(
            ReplyCode::PATH_CREATED,
            format!("{} created", quote_path(path.as_str())),
        )),
        // RFC 959 lists 550 for MKD, not 553: the name is fine, it is taken.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(Reply::new(
            ReplyCode::FILE_UNAVAILABLE,
            format!("{path}: already exists"),
        )),
        Err(e) => Err(io_reply(&e, &path)),
    }
}

fn rmd(request: &Request, session: &Session) -> Result<Reply, Reply> {
    let storage = session.require_storage()?;
    let path = session.path_arg(request, "a directory name")?;
    if path.is_root() {
        return Err(Reply::new(
            ReplyCode::FILE_UNAVAILABLE,
            format!("{path}: cannot remove the root directory"),
        ));
    }
    storage.remove_dir(&path).map_err(|e| io_reply(&e, &path))?;
    Ok(Reply::new(
        ReplyCode::FILE_ACTION_OK,
        format!("{path}: directory removed"),
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
        check_examples(Arc::new(Directories));
    }

    #[test]
    fn hostile_paths() {
        for template in ["MKD {}", "XMKD {}", "RMD {}", "XRMD {}"] {
            check_hostile_paths(Arc::new(Directories), template);
        }
    }

    fn session() -> TestSession {
        TestSession::new(TestSession::registry_with(Arc::new(Directories)))
    }

    #[test]
    fn make_and_remove() {
        let mut t = session();
        t.session.cwd = t.session.cwd.resolve("docs").unwrap();
        let rows = [
            ("MKD sub", "257 \"/docs/sub\" created\r\n"),
            ("MKD sub/deeper", "257 \"/docs/sub/deeper\" created\r\n"),
            ("MKD /a\"b", "257 \"/a\"\"b\" created\r\n"),
            ("MKD sub", "550 /docs/sub: already exists\r\n"),
            ("MKD readme.md", "550 /docs/readme.md: already exists\r\n"),
            ("MKD /", "550 /: already exists\r\n"),
            ("MKD x/y", "550 /docs/x/y: no such file or directory\r\n"),
            (
                "MKD readme.md/x",
                "550 /docs/readme.md/x: not a directory\r\n",
            ),
            ("RMD sub", "550 /docs/sub: directory not empty\r\n"),
            (
                "RMD sub/deeper",
                "250 /docs/sub/deeper: directory removed\r\n",
            ),
            ("XRMD sub", "250 /docs/sub: directory removed\r\n"),
            ("RMD sub", "550 /docs/sub: no such file or directory\r\n"),
            ("RMD readme.md", "550 /docs/readme.md: not a directory\r\n"),
            ("RMD ..", "550 /: cannot remove the root directory\r\n"),
            ("RMD /", "550 /: cannot remove the root directory\r\n"),
            ("RMD", "501 RMD needs an argument: RMD <SP> pathname\r\n"),
            ("MKD", "501 MKD needs an argument: MKD <SP> pathname\r\n"),
        ];
        for (line, want) in rows {
            assert_eq!(wire(t.run(line)), want, "{line}");
        }
        assert!(t.path("a\"b").is_dir());
        assert!(t.path("docs").is_dir());
    }

    #[test]
    fn rmd_does_not_follow_symlinks() {
        let mut t = session();
        std::os::unix::fs::symlink("empty", t.path("link")).unwrap();
        assert_eq!(wire(t.run("RMD link")), "550 /link: not a directory\r\n");
        assert!(t.path("empty").is_dir());
    }

    #[test]
    fn permissions() {
        let mut t = session();
        t.login_as("reader", "pw");
        assert_eq!(
            wire(t.run("MKD x")),
            "550 MKD: permission denied (needs 'm')\r\n"
        );
        assert_eq!(
            wire(t.run("RMD empty")),
            "550 RMD: permission denied (needs 'd')\r\n"
        );
        assert!(!t.path("x").exists());
        assert!(t.path("empty").exists());
    }
}
