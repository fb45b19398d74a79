//! STAT, RFC 959 §4.1.3.

use ftpsh_core::time::unix_now;
use ftpsh_core::{
    Command, Outcome, Permission, Reply, ReplyCode, Request, Session, TransferType, VerbSpec,
};

use crate::format::list_line;
use crate::list::listing;

/// STAT: status over the control connection.
///
/// RFC 959 §4.1.3: without an argument, STAT reports the status of the
/// server and this session as a 211 multi-line reply — who is logged in,
/// the transfer parameters, the working directory. With a pathname it
/// answers like LIST, but on the control connection (213, one `ls -l` line
/// per entry), which needs the `l` permission and no data connection. It
/// may be sent while a transfer is in progress; the transfer itself is the
/// event loop's, so it is not described here.
#[derive(Debug, Clone, Copy, Default)]
pub struct Status;

impl Command for Status {
    fn name(&self) -> &str {
        "stat"
    }

    fn verbs(&self) -> Vec<VerbSpec> {
        vec![
            VerbSpec::new(
                "STAT",
                "STAT [<SP> pathname]",
                "session status, or a listing over the control connection",
            )
            .during_transfer()
            .example("STAT", 211, "session status")
            .example("STAT docs", 213, "ls -l lines of docs")
            .example("STAT -la hello.txt", 213, "one file; options are ignored")
            .example("STAT missing", 550, "no such file"),
        ]
    }

    fn run(&self, request: &Request, session: &mut Session) -> Outcome {
        if request.verb != "STAT" {
            return Outcome::unhandled(&request.verb);
        }
        if request.arg_or_empty().trim().is_empty() {
            return status(session).into();
        }
        // The registry cannot require `l` for STAT as a whole: plain STAT
        // needs no permission.
        if !session.allows(Permission::List) {
            return Reply::new(
                ReplyCode::FILE_UNAVAILABLE,
                "STAT: permission denied (needs 'l')",
            )
            .into();
        }
        match listing(request, session) {
            Ok(entries) => {
                let now = unix_now();
                let path = match crate::strip_options(request.arg_or_empty()).trim_end() {
                    "" => session.cwd.to_string(),
                    typed => typed.to_owned(),
                };
                let mut lines = vec![format!("Status of {path}:")];
                lines.extend(entries.iter().map(|e| list_line(e, now)));
                lines.push("End of status".to_owned());
                Reply::multiline(ReplyCode::FILE_STATUS, lines).into()
            }
            Err(reply) => reply.into(),
        }
    }
}

fn status(session: &Session) -> Reply {
    let user = match session.user() {
        Some(u) => format!("logged in as {}", u.name),
        None => "not logged in".to_owned(),
    };
    let ty = match session.transfer_type {
        TransferType::Ascii => "ASCII (A)",
        TransferType::Binary => "BINARY (I)",
    };
    let on_off = |b: bool| if b { "on" } else { "off" };
    Reply::multiline(
        ReplyCode::SYSTEM_STATUS,
        [
            "ftpshd status:".to_owned(),
            format!("connected from {}", session.peer),
            user,
            format!("TYPE: {ty}, MODE: S (stream), STRU: F (file)"),
            format!("working directory: {}", session.cwd),
            format!(
                "UTF8 {}, EPSV ALL {}",
                on_off(session.utf8),
                on_off(session.epsv_all)
            ),
            "End of status".to_owned(),
        ],
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ftpsh_core::testkit::{check_examples, check_hostile_paths};

    use super::*;
    use crate::testutil::{fix_times, reply, session};

    #[test]
    fn examples() {
        check_examples(Arc::new(Status));
    }

    #[test]
    fn hostile_paths() {
        check_hostile_paths(Arc::new(Status), "STAT {}");
    }

    #[test]
    fn session_status() {
        let mut t = session(Arc::new(Status));
        t.session.transfer_type = TransferType::Ascii;
        t.session.cwd = t.session.cwd.resolve("docs").unwrap();
        let wire = String::from_utf8(reply(t.run("STAT")).to_wire()).unwrap();
        assert_eq!(
            wire,
            "211-ftpshd status:\r\n connected from 127.0.0.1:0\r\n logged in as alice\r\n \
             TYPE: ASCII (A), MODE: S (stream), STRU: F (file)\r\n working directory: /docs\r\n \
             UTF8 on, EPSV ALL off\r\n211 End of status\r\n"
        );
    }

    #[test]
    fn path_status_rfc959() {
        let mut t = session(Arc::new(Status));
        fix_times(&t, 0);
        let wire = String::from_utf8(reply(t.run("STAT docs")).to_wire()).unwrap();
        assert_eq!(
            wire,
            "213-Status of docs:\r\n -rw-r--r--    1 ftp      ftp             7 Jan  1  1970 readme.md\r\n213 End of status\r\n"
        );
        let r = reply(t.run("STAT -l hello.txt"));
        assert_eq!(r.lines.len(), 3);
        assert_eq!(r.lines[0], "Status of hello.txt:");
        assert!(r.lines[1].ends_with(" 13 Jan  1  1970 hello.txt"), "{r}");
        t.session.cwd = t.session.cwd.resolve("docs").unwrap();
        let r = reply(t.run("STAT -la"));
        assert_eq!(r.lines[0], "Status of /docs:");
        assert!(r.lines[1].ends_with(" readme.md"));
        t.session.cwd = ftpsh_core::VirtualPath::root();
        let r = reply(t.run("STAT empty"));
        assert_eq!(r.lines, ["Status of empty:", "End of status"]);
        assert_eq!(
            reply(t.run("STAT missing")).to_wire(),
            b"550 /missing: no such file or directory\r\n"
        );
    }

    #[test]
    fn permission_and_login() {
        let mut t = session(Arc::new(Status));
        let mut users = t.session.config.users.clone();
        let root = t.dir.path().to_path_buf();
        users.add(ftpsh_core::User::from_spec("getter:pw:r", root).unwrap());
        t.session.config = Arc::new(ftpsh_core::ServerConfig {
            users,
            ..(*t.session.config).clone()
        });
        t.login_as("getter", "pw");
        assert_eq!(t.run("STAT").code(), Some(211));
        assert_eq!(t.run("STAT docs").code(), Some(550));
        let mut t = ftpsh_core::testkit::TestSession::logged_out(
            ftpsh_core::testkit::TestSession::registry_with(Arc::new(Status)),
        );
        assert_eq!(t.run("STAT").code(), Some(530));
    }
}
