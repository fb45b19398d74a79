//! PWD, CWD and CDUP (RFC 959 §4.1.1, §4.1.3).

use std::io;

use ftpsh_core::reply::quote_path;
use ftpsh_core::{
    Command, Outcome, Permission, Reply, ReplyCode, Request, Session, VerbSpec, VirtualPath,
    io_reply,
};

/// PWD, CWD and CDUP: the session's working directory.
///
/// RFC 959 §4.1.1: CWD makes another directory the one relative pathnames
/// start from (250); CDUP goes to the parent and answers like CWD. §4.1.3:
/// PWD answers 257 with the directory's absolute pathname, quoted as
/// Appendix II says. The pathname is the one inside the user's root — `/`
/// at the root, never the host path. CWD is checked by opening the target
/// as a directory through the jail, so it fails (550) for missing paths,
/// files, and symlinks that lead out of the root.
#[derive(Debug, Clone, Copy, Default)]
pub struct Navigate;

impl Command for Navigate {
    fn name(&self) -> &str {
        "navigate"
    }

    fn verbs(&self) -> Vec<VerbSpec> {
        vec![
            VerbSpec::new("PWD", "PWD", "print the working directory")
                .inline()
                .no_arg()
                .alias("XPWD")
                .feat("TVFS")
                .example("PWD", 257, "\"/\" at the root")
                .example("CWD docs\nXPWD", 257, "the older spelling"),
            VerbSpec::new("CWD", "CWD <SP> pathname", "change the working directory")
                .alias("XCWD")
                .permission(Permission::ChangeDir)
                .example("CWD docs", 250, "into a directory")
                .example("XCWD /empty", 250, "the older spelling, absolute")
                .example("CWD missing", 550, "no such directory")
                .example("CWD hello.txt", 550, "not a directory")
                .example("CWD", 501, "a directory name is required"),
            VerbSpec::new("CDUP", "CDUP", "change to the parent directory")
                .no_arg()
                .alias("XCUP")
                .permission(Permission::ChangeDir)
                .example("CWD docs\nCDUP", 250, "back to /")
                .example("XCUP", 250, "the root is its own parent"),
        ]
    }

    fn run(&self, request: &Request, session: &mut Session) -> Outcome {
        match request.verb.as_str() {
            "PWD" => Reply::new(
                ReplyCode::PATH_CREATED,
                format!(
                    "{} is the current directory",
                    quote_path(session.cwd.as_str())
                ),
            )
            .into(),
            "CWD" => match session.path_arg(request, "a directory name") {
                Ok(path) => change_to(path, session),
                Err(reply) => reply.into(),
            },
            "CDUP" => change_to(session.cwd.parent(), session),
            other => Outcome::unhandled(other),
        }
    }
}

fn change_to(path: VirtualPath, session: &mut Session) -> Outcome {
    let storage = match session.require_storage() {
        Ok(s) => s,
        Err(reply) => return reply.into(),
    };
    let fail = |what: &str| Reply::new(ReplyCode::FILE_UNAVAILABLE, format!("{path}: {what}"));
    let reply = match storage.metadata(&path) {
        Ok(m) if !m.is_dir() => fail("not a directory"),
        Ok(_) => {
            let text = format!("directory changed to {path}");
            session.cwd = path;
            Reply::new(ReplyCode::FILE_ACTION_OK, text)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => fail("no such directory"),
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => fail("not a directory"),
        Err(e) => io_reply(&e, &path),
    };
    reply.into()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ftpsh_core::testkit::{TestSession, check_examples, check_hostile_paths};

    use super::*;
    use crate::testutil::wire;

    #[test]
    fn examples() {
        check_examples(Arc::new(Navigate));
    }

    #[test]
    fn hostile_paths() {
        check_hostile_paths(Arc::new(Navigate), "CWD {}");
        check_hostile_paths(Arc::new(Navigate), "XCWD {}");
    }

    fn session() -> TestSession {
        TestSession::new(TestSession::registry_with(Arc::new(Navigate)))
    }

    #[test]
    fn walk_around() {
        let mut t = session();
        let rows = [
            ("PWD", "257 \"/\" is the current directory\r\n"),
            ("CWD docs", "250 directory changed to /docs\r\n"),
            ("PWD", "257 \"/docs\" is the current directory\r\n"),
            ("CWD ../empty/", "250 directory changed to /empty\r\n"),
            ("CWD .", "250 directory changed to /empty\r\n"),
            ("CDUP", "250 directory changed to /\r\n"),
            ("CDUP", "250 directory changed to /\r\n"),
            ("CWD ../../..", "250 directory changed to /\r\n"),
            ("XCWD /docs", "250 directory changed to /docs\r\n"),
            ("XCUP", "250 directory changed to /\r\n"),
            ("XPWD", "257 \"/\" is the current directory\r\n"),
        ];
        for (line, want) in rows {
            assert_eq!(wire(t.run(line)), want, "{line}");
        }
    }

    #[test]
    fn errors_leave_the_directory_unchanged() {
        let mut t = session();
        t.run("CWD docs");
        let rows = [
            ("CWD missing", "550 /docs/missing: no such directory\r\n"),
            ("CWD readme.md", "550 /docs/readme.md: not a directory\r\n"),
            (
                "CWD readme.md/x",
                "550 /docs/readme.md/x: not a directory\r\n",
            ),
            ("CWD", "501 CWD needs a directory name\r\n"),
        ];
        for (line, want) in rows {
            assert_eq!(wire(t.run(line)), want, "{line}");
            assert_eq!(t.session.cwd.as_str(), "/docs", "{line}");
        }
    }

    #[test]
    fn pwd_quotes_quotes() {
        let mut t = session();
        std::fs::create_dir(t.path("say \"hi\"")).unwrap();
        t.run("CWD say \"hi\"");
        assert_eq!(
            wire(t.run("PWD")),
            "257 \"/say \"\"hi\"\"\" is the current directory\r\n"
        );
    }

    #[test]
    fn symlinked_directories() {
        let outside = tempfile::tempdir().unwrap();
        let mut t = session();
        std::os::unix::fs::symlink("docs", t.path("d")).unwrap();
        std::os::unix::fs::symlink(outside.path(), t.path("out")).unwrap();
        std::os::unix::fs::symlink("/", t.path("slash")).unwrap();
        assert_eq!(wire(t.run("CWD d")), "250 directory changed to /d\r\n");
        t.run("CDUP");
        for line in ["CWD out", "CWD slash", "CWD slash/etc"] {
            let o = wire(t.run(line));
            assert!(
                o.starts_with("550 ") && o.contains("permission denied"),
                "{line}: {o}"
            );
            assert!(t.session.cwd.is_root());
        }
    }

    #[test]
    fn a_vanished_working_directory_still_lets_cdup_out() {
        let mut t = session();
        t.run("CWD empty");
        std::fs::remove_dir(t.path("empty")).unwrap();
        assert_eq!(
            wire(t.run("PWD")),
            "257 \"/empty\" is the current directory\r\n"
        );
        assert_eq!(wire(t.run("CWD .")), "550 /empty: no such directory\r\n");
        assert_eq!(wire(t.run("CDUP")), "250 directory changed to /\r\n");
    }

    #[test]
    fn permission_and_login() {
        let mut t = session();
        let mut users = t.session.config.users.clone();
        let root = t.dir.path().to_path_buf();
        users.add(ftpsh_core::User::from_spec("lister:pw:l", root).unwrap());
        t.session.config = Arc::new(ftpsh_core::ServerConfig {
            users,
            ..(*t.session.config).clone()
        });
        t.login_as("lister", "pw");
        assert_eq!(t.run("CWD docs").code(), Some(550));
        assert_eq!(t.run("CDUP").code(), Some(550));
        assert_eq!(t.run("PWD").code(), Some(257));
        let mut t = TestSession::logged_out(TestSession::registry_with(Arc::new(Navigate)));
        assert_eq!(t.run("PWD").code(), Some(530));
    }
}
