//! RNFR and RNTO (RFC 959 §4.1.3).

use std::io;

use ftpsh_core::{
    Command, Outcome, Permission, Reply, ReplyCode, Request, Session, VerbSpec, io_reply,
};

/// RNFR and RNTO: rename (or move) a file or directory.
///
/// RFC 959 §4.1.3: RNFR names the old pathname and is answered 350, and
/// must be followed immediately by RNTO with the new one; RNTO without a
/// preceding RNFR is a 503. RNTO consumes the RNFR whatever its result.
///
/// The rename is one `rename(2)` through the jail, so it is atomic and may
/// move between directories of the same root. As with vsftpd, an existing
/// file under the new name is replaced; an existing directory is not (553),
/// nor can a directory be moved into itself (553). Symlinks are renamed as
/// links, never followed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rename;

impl Command for Rename {
    fn name(&self) -> &str {
        "rename"
    }

    fn verbs(&self) -> Vec<VerbSpec> {
        vec![
            VerbSpec::new("RNFR", "RNFR <SP> pathname", "name a file to rename")
                .needs_arg()
                .permission(Permission::Rename)
                .example("RNFR hello.txt", 350, "ready for RNTO")
                .example("RNFR missing.txt", 550, "no such file")
                .example("RNFR /", 550, "not the root")
                .example("RNFR", 501, "a pathname is required"),
            VerbSpec::new(
                "RNTO",
                "RNTO <SP> pathname",
                "rename the file named by RNFR",
            )
            .needs_arg()
            .permission(Permission::Rename)
            .example("RNFR hello.txt\nRNTO greeting.txt", 250, "renamed")
            .example("RNFR hello.txt\nRNTO docs/hello.txt", 250, "moved")
            .example("RNFR hello.txt\nRNTO data.bin", 250, "replaces a file")
            .example("RNFR hello.txt\nRNTO docs", 553, "not over a directory")
            .example("RNFR docs\nRNTO docs/sub", 553, "not into itself")
            .example(
                "RNFR hello.txt\nRNTO nodir/x",
                550,
                "the directory must exist",
            )
            .example("RNFR hello.txt\nRNTO", 501, "a pathname is required")
            .example("RNTO greeting.txt", 503, "RNFR must come first"),
        ]
    }

    fn run(&self, request: &Request, session: &mut Session) -> Outcome {
        let result = match request.verb.as_str() {
            "RNFR" => rnfr(request, session),
            "RNTO" => rnto(request, session),
            other => return Outcome::unhandled(other),
        };
        result.unwrap_or_else(|r| r).into()
    }
}

fn rnfr(request: &Request, session: &mut Session) -> Result<Reply, Reply> {
    // A new RNFR replaces the old one even when it fails.
    session.rename_from = None;
    let storage = session.require_storage()?;
    let path = session.path_arg(request, "a pathname")?;
    if path.is_root() {
        return Err(Reply::new(
            ReplyCode::FILE_UNAVAILABLE,
            format!("{path}: cannot rename the root directory"),
        ));
    }
    storage
        .symlink_metadata(&path)
        .map_err(|e| io_reply(&e, &path))?;
    let text = format!("{path}: ready for RNTO");
    session.rename_from = Some(path);
    Ok(Reply::new(ReplyCode::FILE_ACTION_PENDING, text))
}

fn rnto(request: &Request, session: &mut Session) -> Result<Reply, Reply> {
    let from = session
        .rename_from
        .take()
        .ok_or_else(|| Reply::new(ReplyCode::BAD_SEQUENCE, "send RNFR first"))?;
    let storage = session.require_storage()?;
    let to = session.path_arg(request, "a pathname")?;
    let bad = |what: &str| Reply::new(ReplyCode::BAD_FILE_NAME, format!("{to}: {what}"));
    if to.is_root() {
        return Err(bad("is an existing directory"));
    }
    if to == from {
        return Ok(Reply::new(
            ReplyCode::FILE_ACTION_OK,
            format!("{from}: renamed to itself"),
        ));
    }
    if to.as_str().starts_with(&format!("{from}/")) {
        return Err(bad("cannot move a directory into itself"));
    }
    if storage.symlink_metadata(&to).is_ok_and(|m| m.is_dir()) {
        return Err(bad("is an existing directory"));
    }
    storage.rename(&from, &to).map_err(|e| match e.kind() {
        // The source went away between RNFR and RNTO.
        io::ErrorKind::NotFound if storage.symlink_metadata(&from).is_err() => io_reply(&e, &from),
        // A directory the storage cannot rename is the source's problem.
        io::ErrorKind::DirectoryNotEmpty | io::ErrorKind::Unsupported => io_reply(&e, &from),
        _ => io_reply(&e, &to),
    })?;
    Ok(Reply::new(
        ReplyCode::FILE_ACTION_OK,
        format!("{from} renamed to {to}"),
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
        check_examples(Arc::new(Rename));
    }

    #[test]
    fn hostile_paths() {
        check_hostile_paths(Arc::new(Rename), "RNFR {}");
        check_hostile_paths(Arc::new(Rename), "RNFR hello.txt\nRNTO {}");
    }

    fn session() -> TestSession {
        TestSession::new(TestSession::registry_with(Arc::new(Rename)))
    }

    #[test]
    fn rename_and_move() {
        let mut t = session();
        assert_eq!(
            wire(t.run("RNFR hello.txt")),
            "350 /hello.txt: ready for RNTO\r\n"
        );
        assert_eq!(
            wire(t.run("RNTO docs/greeting.txt")),
            "250 /hello.txt renamed to /docs/greeting.txt\r\n"
        );
        assert_eq!(
            std::fs::read(t.path("docs/greeting.txt")).unwrap(),
            b"hello, world\n"
        );
        assert!(!t.path("hello.txt").exists());
        // Directories move too, contents and all.
        t.run("RNFR docs");
        assert_eq!(
            wire(t.run("RNTO empty/docs")),
            "250 /docs renamed to /empty/docs\r\n"
        );
        assert!(t.path("empty/docs/readme.md").exists());
        // Relative to the working directory.
        t.session.cwd = t.session.cwd.resolve("empty").unwrap();
        t.run("RNFR docs/readme.md");
        assert_eq!(
            wire(t.run("RNTO ../r.md")),
            "250 /empty/docs/readme.md renamed to /r.md\r\n"
        );
    }

    #[test]
    fn rnto_replaces_files_but_not_directories() {
        let mut t = session();
        t.run("RNFR hello.txt");
        assert_eq!(t.run("RNTO data.bin").code(), Some(250));
        assert_eq!(
            std::fs::read(t.path("data.bin")).unwrap(),
            b"hello, world\n"
        );
        t.run("RNFR data.bin");
        assert_eq!(
            wire(t.run("RNTO empty")),
            "553 /empty: is an existing directory\r\n"
        );
        t.run("RNFR docs");
        assert_eq!(
            wire(t.run("RNTO empty")),
            "553 /empty: is an existing directory\r\n"
        );
        t.run("RNFR docs");
        assert_eq!(wire(t.run("RNTO /")), "553 /: is an existing directory\r\n");
        t.run("RNFR docs");
        assert_eq!(
            wire(t.run("RNTO docs/a/b")),
            "553 /docs/a/b: cannot move a directory into itself\r\n"
        );
        assert!(t.path("docs/readme.md").exists());
        assert!(t.path("empty").is_dir());
    }

    #[test]
    fn sequence_rules() {
        let mut t = session();
        assert_eq!(wire(t.run("RNTO x")), "503 send RNFR first\r\n");
        t.run("RNFR hello.txt");
        assert_eq!(
            wire(t.run("RNTO")),
            "501 RNTO needs an argument: RNTO <SP> pathname\r\n"
        );
        // A syntax error (RFC 959 §5.3.1, answered by the registry) does
        // not use up the RNFR, as with pyftpdlib.
        assert_eq!(t.run("RNTO moved.txt").code(), Some(250));
        t.run("RNFR moved.txt");
        assert_eq!(t.run("RNTO hello.txt").code(), Some(250));
        assert_eq!(t.run("RNTO x").code(), Some(503));
        // A failed RNFR forgets an earlier one.
        t.run("RNFR hello.txt");
        assert_eq!(
            wire(t.run("RNFR nope")),
            "550 /nope: no such file or directory\r\n"
        );
        assert_eq!(t.run("RNTO x").code(), Some(503));
        assert!(t.path("hello.txt").exists());
        assert_eq!(
            wire(t.run("RNFR")),
            "501 RNFR needs an argument: RNFR <SP> pathname\r\n"
        );
        assert_eq!(
            wire(t.run("RNFR ..")),
            "550 /: cannot rename the root directory\r\n"
        );
        // Renaming onto itself is a harmless success.
        t.run("RNFR hello.txt");
        assert_eq!(t.run("RNTO ./hello.txt").code(), Some(250));
        assert!(t.path("hello.txt").exists());
    }

    #[test]
    fn source_vanishing_or_missing_target_dir() {
        let mut t = session();
        t.run("RNFR hello.txt");
        assert_eq!(
            wire(t.run("RNTO nodir/x")),
            "550 /nodir/x: no such file or directory\r\n"
        );
        t.run("RNFR hello.txt");
        std::fs::remove_file(t.path("hello.txt")).unwrap();
        assert_eq!(
            wire(t.run("RNTO other.txt")),
            "550 /hello.txt: no such file or directory\r\n"
        );
    }

    #[test]
    fn symlinks_are_renamed_as_links() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"outside").unwrap();
        let mut t = session();
        std::os::unix::fs::symlink(outside.path().join("secret"), t.path("link")).unwrap();
        std::os::unix::fs::symlink(outside.path(), t.path("out")).unwrap();
        t.run("RNFR link");
        assert_eq!(t.run("RNTO docs/link").code(), Some(250));
        assert!(t.path("docs/link").is_symlink());
        assert_eq!(
            std::fs::read(outside.path().join("secret")).unwrap(),
            b"outside"
        );
        // Nothing can be moved out of the root through a symlink.
        t.run("RNFR hello.txt");
        let o = wire(t.run("RNTO out/hello.txt"));
        assert!(
            o.starts_with("550 ") && o.contains("permission denied"),
            "{o}"
        );
        assert!(t.path("hello.txt").exists());
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 1);
    }

    #[test]
    fn permission_f() {
        let mut t = session();
        t.login_as("reader", "pw");
        assert_eq!(
            wire(t.run("RNFR hello.txt")),
            "550 RNFR: permission denied (needs 'f')\r\n"
        );
        assert_eq!(t.run("RNTO x").code(), Some(550));
    }
}
