//! DELE (alias RM, the seed's `rm FILE`): delete a file.
//!
//! RFC 959 §4.1.3: DELE deletes the named file at the server site; it does
//! not remove directories, which is RMD's job (the `fs` crate). The seed
//! answered "file deleted" / "file not found"; here those are the texts of
//! the 250 and 550 replies.
//!
//! The main trade-off: DELE looks at the name without following it. A
//! symlink is deleted as a link — even one pointing outside the root, which
//! is safe because only the link inside the jail goes — while a path that
//! passes *through* a symlink leading out of the root is refused by the
//! jail. A directory is refused up front with a hint instead of the OS's
//! less helpful "is a directory".

use std::sync::Arc;

use ftpsh_core::{
    Command, Outcome, Permission, Reply, ReplyCode, Request, Session, VerbSpec, io_reply,
};

/// DELE: delete one file (or symlink).
#[derive(Debug, Clone, Copy, Default)]
pub struct Delete;

/// The commands of this crate, for the built-in list.
pub fn commands() -> Vec<Arc<dyn Command>> {
    vec![Arc::new(Delete)]
}

impl Command for Delete {
    fn name(&self) -> &str {
        "rm"
    }

    fn verbs(&self) -> Vec<VerbSpec> {
        vec![
            VerbSpec::new("DELE", "DELE <SP> pathname", "delete a file")
                .needs_arg()
                .alias("RM")
                .permission(Permission::Delete)
                .example("DELE hello.txt", 250, "file deleted")
                .example("RM docs/readme.md", 250, "the seed's verb")
                .example("DELE missing.txt", 550, "no such file")
                .example("DELE docs", 550, "a directory needs RMD")
                .example("DELE", 501, "a file name is required"),
        ]
    }

    fn run(&self, request: &Request, session: &mut Session) -> Outcome {
        if request.verb != "DELE" {
            return Outcome::unhandled(&request.verb);
        }
        dele(request, session).unwrap_or_else(Outcome::Reply)
    }
}

fn dele(request: &Request, session: &Session) -> Result<Outcome, Reply> {
    let storage = session.require_storage()?;
    let path = session.path_arg(request, "a file name")?;
    let unavailable =
        |what: &str| Reply::new(ReplyCode::FILE_UNAVAILABLE, format!("{path}: {what}"));
    // The root has no name to unlink; say so rather than "is a directory".
    if path.is_root() {
        return Err(unavailable("is a directory (use RMD)"));
    }
    match storage.symlink_metadata(&path) {
        Ok(m) if m.is_dir() => return Err(unavailable("is a directory (use RMD)")),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(unavailable("no such file"));
        }
        Err(e) => return Err(io_reply(&e, &path)),
    }
    storage
        .remove_file(&path)
        .map_err(|e| io_reply(&e, &path))?;
    Ok(Reply::new(ReplyCode::FILE_ACTION_OK, format!("{path}: file deleted")).into())
}

#[cfg(test)]
mod tests {
    use ftpsh_core::testkit::{TestSession, check_examples, check_hostile_paths};

    use super::*;

    #[test]
    fn examples() {
        check_examples(Arc::new(Delete));
    }

    #[test]
    fn hostile_paths() {
        check_hostile_paths(Arc::new(Delete), "DELE {}");
        check_hostile_paths(Arc::new(Delete), "RM {}");
    }

    fn session() -> TestSession {
        TestSession::new(TestSession::registry_with(Arc::new(Delete)))
    }

    fn wire(o: Outcome) -> String {
        match o {
            Outcome::Reply(r) => String::from_utf8(r.to_wire()).unwrap(),
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    #[test]
    fn deletes_files_only() {
        let mut t = session();
        assert_eq!(
            wire(t.run("DELE hello.txt")),
            "250 /hello.txt: file deleted\r\n"
        );
        assert!(!t.path("hello.txt").exists());
        assert_eq!(
            wire(t.run("DELE hello.txt")),
            "550 /hello.txt: no such file\r\n"
        );
        t.session.cwd = t.session.cwd.resolve("docs").unwrap();
        assert_eq!(
            wire(t.run("RM readme.md")),
            "250 /docs/readme.md: file deleted\r\n"
        );
        assert_eq!(
            wire(t.run("DELE /empty")),
            "550 /empty: is a directory (use RMD)\r\n"
        );
        assert!(t.path("empty").is_dir());
        assert_eq!(wire(t.run("DELE /")), "550 /: is a directory (use RMD)\r\n");
        assert_eq!(
            wire(t.run("DELE ..")),
            "550 /: is a directory (use RMD)\r\n"
        );
        assert_eq!(
            wire(t.run("DELE")),
            "501 DELE needs an argument: DELE <SP> pathname\r\n"
        );
        assert_eq!(t.run("DELE /data.bin/x").code(), Some(550));
        assert!(t.path("data.bin").exists());
    }

    #[test]
    fn symlinks_are_deleted_as_links() {
        let outside = tempfile::tempdir().unwrap();
        let secret = outside.path().join("secret");
        std::fs::write(&secret, b"outside").unwrap();
        let mut t = session();
        std::os::unix::fs::symlink(&secret, t.path("link")).unwrap();
        std::os::unix::fs::symlink("docs", t.path("docs-link")).unwrap();
        assert_eq!(t.run("DELE link").code(), Some(250));
        assert!(secret.exists());
        assert!(t.path("link").symlink_metadata().is_err());
        // A link to a directory is a file as far as DELE is concerned.
        assert_eq!(t.run("DELE docs-link").code(), Some(250));
        assert!(t.path("docs/readme.md").exists());
    }

    #[test]
    fn needs_permission_d() {
        let mut t = session();
        t.login_as("reader", "pw");
        let o = wire(t.run("DELE hello.txt"));
        assert!(o.starts_with("550 DELE: permission denied"), "{o}");
        assert!(t.path("hello.txt").exists());
        let mut t = TestSession::logged_out(TestSession::registry_with(Arc::new(Delete)));
        assert_eq!(t.run("RM hello.txt").code(), Some(530));
    }
}
