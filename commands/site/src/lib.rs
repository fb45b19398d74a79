//! `SITE` (RFC 959 §4.1.3) and its built-in sub-commands `SITE HELP` and
//! `SITE CHMOD`.
//!
//! RFC 959 §4.1.3: SITE is "used by the server to provide services specific
//! to his system that are essential to file transfer but not sufficiently
//! universal to be included as commands in the protocol"; its argument is a
//! sub-command and the sub-command's arguments.
//!
//! **How SITE is extended.** A sub-command is a [`VerbSpec`] marked with
//! [`VerbSpec::site`], declared by any [`Command`] — this crate's, another
//! command crate's or a plugin's — exactly like a verb:
//!
//! ```
//! # use ftpsh_core::{Command, Outcome, Permission, Reply, ReplyCode, Request, Session, VerbSpec};
//! struct Quota;
//! impl Command for Quota {
//!     fn name(&self) -> &str { "quota" }
//!     fn verbs(&self) -> Vec<VerbSpec> {
//!         vec![VerbSpec::new("QUOTA", "SITE QUOTA", "show the disk quota").site().no_arg()]
//!     }
//!     fn run(&self, request: &Request, _: &mut Session) -> Outcome {
//!         // request.verb is "QUOTA"; request.arg is what followed it.
//!         Reply::new(ReplyCode::OK, "no quota").into()
//!     }
//! }
//! ```
//!
//! A shared-library plugin (the C ABI, `ftpsh-plugin-api`) declares one by
//! giving its verb a syntax that starts with `SITE` and the verb (`"SITE
//! XECHO <SP> text"`); the plugin host marks such a verb `.site()`.
//!
//! The registry keeps sub-commands in a namespace of their own (so `SITE
//! HASH` never collides with a `HASH` verb), routes `SITE QUOTA args` to the
//! declaring command with the request rewritten to verb `QUOTA` and argument
//! `args`, and applies the spec's argument rule, login and permission
//! checks first. `SITE HELP` lists every registered sub-command from the
//! specs, so it cannot drift. The `SITE` verb itself (this crate) only
//! answers what no sub-command claimed: `501` without an argument, `500` for
//! an unknown sub-command (as pyftpdlib).
//!
//! The main trade-off: `SITE CHMOD` changes only the permission bits
//! (`0`–`0777`); setuid, setgid and sticky bits are refused, since a
//! jailed FTP user has no business setting them.

use std::sync::Arc;

use ftpsh_core::{
    Command, Outcome, Permission, Reply, ReplyCode, Request, Session, VerbSpec, io_reply,
};

/// The commands of this crate, for the built-in list.
pub fn commands() -> Vec<Arc<dyn Command>> {
    vec![Arc::new(Site)]
}

/// `SITE`, `SITE HELP` and `SITE CHMOD`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Site;

impl Command for Site {
    fn name(&self) -> &str {
        "site"
    }

    fn verbs(&self) -> Vec<VerbSpec> {
        vec![
            VerbSpec::new(
                "SITE",
                "SITE <SP> sub-command [<SP> arguments]",
                "server-specific commands; SITE HELP lists them",
            )
            .needs_arg()
            .example("SITE NOSUCH", 500, "an unknown sub-command")
            .example("SITE", 501, "a sub-command is required"),
            VerbSpec::new("HELP", "SITE HELP", "list the SITE sub-commands")
                .site()
                .no_arg()
                .example("SITE HELP", 214, "the SITE sub-commands")
                .example("SITE help x", 501, "SITE HELP takes no argument"),
            VerbSpec::new(
                "CHMOD",
                "SITE CHMOD <SP> mode <SP> pathname",
                "change a file's permission bits (octal, at most 777)",
            )
            .site()
            .needs_arg()
            .permission(Permission::ChangeMode)
            .requires(ftpsh_core::Capability::SetMode)
            .example("SITE CHMOD 640 hello.txt", 200, "rw-r-----")
            .example("SITE chmod 755 docs", 200, "a directory")
            .example("SITE CHMOD 4755 hello.txt", 501, "no setuid")
            .example("SITE CHMOD 9 hello.txt", 501, "not octal")
            .example("SITE CHMOD 644", 501, "a pathname is required")
            .example("SITE CHMOD 644 missing", 550, "no such file"),
        ]
    }

    fn run(&self, request: &Request, session: &mut Session) -> Outcome {
        match request.verb.as_str() {
            "SITE" => {
                let arg = request.arg_or_empty().trim();
                let name = arg.split(' ').next().unwrap_or_default();
                Reply::new(
                    ReplyCode::SYNTAX_ERROR,
                    format!(
                        "SITE {}: unknown SITE command, see SITE HELP",
                        name.to_ascii_uppercase()
                    ),
                )
                .into()
            }
            "HELP" => session.registry.site_help_reply().into(),
            "CHMOD" => chmod(request, session).unwrap_or_else(|r| r).into(),
            other => Outcome::unhandled(other),
        }
    }
}

/// `SITE CHMOD mode pathname`: the path goes through the jail like any
/// other, so nothing outside the root can be changed.
fn chmod(request: &Request, session: &Session) -> Result<Reply, Reply> {
    let storage = session.require_storage()?;
    let arg = request.arg_or_empty().trim_start();
    let (mode_text, path_text) = arg.split_once(' ').unwrap_or((arg, ""));
    let syntax = |why: &str| {
        Reply::new(
            ReplyCode::PARAMETER_SYNTAX_ERROR,
            format!("SITE CHMOD {arg}: {why}"),
        )
    };
    let mode = (!mode_text.is_empty()
        && mode_text.len() <= 4
        && mode_text.bytes().all(|b| (b'0'..=b'7').contains(&b)))
    .then(|| u32::from_str_radix(mode_text, 8).ok())
    .flatten()
    .ok_or_else(|| syntax("the mode must be an octal number such as 644"))?;
    if mode > 0o777 {
        return Err(syntax(
            "only permission bits (at most 777) may be set, not setuid, setgid or sticky",
        ));
    }
    if path_text.is_empty() {
        return Err(syntax("a pathname is required after the mode"));
    }
    let path = session
        .cwd
        .resolve(path_text)
        .map_err(|e| ftpsh_core::path_reply(&e))?;
    if path.is_root() {
        return Err(Reply::new(
            ReplyCode::FILE_UNAVAILABLE,
            "/: the root's mode cannot be changed",
        ));
    }
    storage
        .set_mode(&path, mode)
        .map_err(|e| io_reply(&e, &path))?;
    Ok(Reply::new(
        ReplyCode::OK,
        format!("SITE CHMOD: mode of {path} set to {mode:03o}"),
    ))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use ftpsh_core::testkit::{TestSession, check_examples, check_hostile_paths};

    use super::*;

    #[test]
    fn examples() {
        check_examples(Arc::new(Site));
    }

    fn session() -> TestSession {
        TestSession::new(TestSession::registry_with(Arc::new(Site)))
    }

    fn mode(t: &TestSession, rel: &str) -> u32 {
        std::fs::metadata(t.path(rel)).unwrap().permissions().mode() & 0o7777
    }

    fn text(o: Outcome) -> String {
        match o {
            Outcome::Reply(r) => String::from_utf8(r.to_wire()).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn chmod_changes_the_mode_in_the_jail() {
        let mut t = session();
        assert_eq!(
            text(t.run("SITE CHMOD 600 hello.txt")),
            "200 SITE CHMOD: mode of /hello.txt set to 600\r\n"
        );
        assert_eq!(mode(&t, "hello.txt"), 0o600);
        t.session.cwd = t.session.cwd.resolve("docs").unwrap();
        assert_eq!(t.run("site chmod 0444 readme.md").code(), Some(200));
        assert_eq!(mode(&t, "docs/readme.md"), 0o444);
        assert_eq!(t.run("SITE CHMOD 700 my file").code(), Some(550));
        std::fs::write(t.path("docs/my file"), b"").unwrap();
        assert_eq!(t.run("SITE CHMOD 700 my file").code(), Some(200));
        assert_eq!(mode(&t, "docs/my file"), 0o700);
    }

    /// (request, code, rule)
    #[test]
    fn chmod_table() {
        let rows = [
            ("SITE CHMOD 644 hello.txt", 200, "pyftpdlib SITE CHMOD"),
            ("SITE CHMOD 7777 hello.txt", 501, "no setuid/setgid/sticky"),
            ("SITE CHMOD 1000 hello.txt", 501, "no sticky bit"),
            ("SITE CHMOD 888 hello.txt", 501, "octal digits only"),
            ("SITE CHMOD -1 hello.txt", 501, "octal digits only"),
            (
                "SITE CHMOD rwx hello.txt",
                501,
                "symbolic modes are not supported",
            ),
            ("SITE CHMOD 644", 501, "a pathname is required"),
            ("SITE CHMOD", 501, "RFC 959 §5.3.1: arguments are required"),
            ("SITE CHMOD 644 /", 550, "the root stays as it is"),
            ("SITE CHMOD 644 nope", 550, "RFC 959 §4.2: file unavailable"),
            ("SITE NOPE 1", 500, "pyftpdlib: unknown SITE command"),
            ("SITE", 501, "RFC 959 §5.3.1 SITE <SP> <string>"),
            ("SITE  HELP", 214, "blanks before the sub-command"),
        ];
        for (line, code, rule) in rows {
            let mut t = session();
            let o = t.run(line);
            assert_eq!(o.code(), Some(code), "{line}: {rule}: {o:?}");
        }
    }

    #[test]
    fn chmod_needs_permission_m() {
        let mut t = session();
        t.login_as("reader", "pw");
        let o = text(t.run("SITE CHMOD 777 hello.txt"));
        assert_eq!(o, "550 SITE CHMOD: permission denied (needs 'M')\r\n");
        assert_ne!(mode(&t, "hello.txt"), 0o777);
        let mut t = TestSession::logged_out(TestSession::registry_with(Arc::new(Site)));
        assert_eq!(t.run("SITE CHMOD 777 hello.txt").code(), Some(530));
    }

    #[test]
    fn hostile_paths() {
        check_hostile_paths(Arc::new(Site), "SITE CHMOD 777 {}");
    }

    #[test]
    fn site_help_lists_sub_commands_from_their_specs() {
        let mut t = session();
        let help = text(t.run("SITE HELP"));
        assert_eq!(
            help,
            "214-SITE commands recognized:\r\n \
             SITE CHMOD <SP> mode <SP> pathname -- change a file's permission bits (octal, at most 777) (permission 'M')\r\n \
             SITE HELP -- list the SITE sub-commands\r\n214 Help OK.\r\n"
        );
    }

    /// A second command adds a sub-command without touching this crate,
    /// and a sub-command may share its name with a verb.
    #[test]
    fn another_command_extends_site() {
        struct Hash;
        impl Command for Hash {
            fn name(&self) -> &str {
                "hash"
            }
            fn verbs(&self) -> Vec<VerbSpec> {
                vec![
                    VerbSpec::new("HASH", "SITE HASH <SP> pathname", "hash a file")
                        .site()
                        .needs_arg()
                        .permission(Permission::Retrieve),
                ]
            }
            fn run(&self, request: &Request, _: &mut Session) -> Outcome {
                Reply::new(
                    ReplyCode::OK,
                    format!("{} {}", request.verb, request.arg_or_empty()),
                )
                .into()
            }
        }
        let mut registry = TestSession::registry_with(Arc::new(Site));
        registry.register(Arc::new(Hash)).unwrap();
        assert!(registry.lookup("HASH").is_none(), "not a verb of its own");
        // The same sub-command twice is a collision, named as such.
        let err = registry.register(Arc::new(Hash)).unwrap_err();
        assert!(err.to_string().contains("SITE HASH"), "{err}");
        let mut t = TestSession::new(registry);
        assert_eq!(text(t.run("SITE hash  a b")), "200 HASH a b\r\n");
        assert_eq!(t.run("SITE HASH").code(), Some(501));
        assert!(text(t.run("SITE HELP")).contains("SITE HASH <SP> pathname -- hash a file"));
        // HELP describes a sub-command as it does a verb.
        let help = t.session.registry.help_reply(Some("site  hash"));
        assert_eq!(
            help.text(),
            "Syntax: SITE HASH <SP> pathname -- hash a file"
        );
    }
}
