//! MLSD and MLST, RFC 3659 §7.

use ftpsh_core::{
    Command, DataSource, Outcome, Permission, Permissions, Reply, ReplyCode, Request, Session,
    Transfer, VerbSpec, VirtualPath, io_reply,
};

use ftpsh_core::mlst::FactSet;

use crate::format::{display_name, mlsx_facts};
use crate::read::{entry_info, list_dir, stat};

/// MLSD and MLST: machine-readable listings.
///
/// RFC 3659 §7: each object is described by facts, `name=value;` pairs
/// followed by one space and the name, so programs need no guessing about
/// column layout. MLSD (§7.2) sends one such line per entry of a directory
/// over the data connection; its argument must be a directory (501
/// otherwise) and defaults to the working directory. MLST (§7.3) describes
/// one object in the control connection's reply: `250-` header, one line
/// that starts with a single space and ends with the object's full
/// pathname, `250 End`. The facts are those the session selected with `OPTS
/// MLST` (§7.9), by default `type`, `size`, `modify` and `perm`; `unique`,
/// `unix.mode`, `unix.uid` and `unix.gid` can be selected too. The `FEAT`
/// line lists them all and stars the selected ones (§7.8).
#[derive(Debug, Clone, Copy, Default)]
pub struct MachineList;

impl Command for MachineList {
    fn name(&self) -> &str {
        "mlsx"
    }

    fn verbs(&self) -> Vec<VerbSpec> {
        vec![
            VerbSpec::new(
                "MLSD",
                "MLSD [<SP> pathname]",
                "list a directory as RFC 3659 facts",
            )
            .permission(Permission::List)
            .data()
            .example("MLSD", 150, "the working directory")
            .example("MLSD docs", 150, "another directory")
            .example("MLSD hello.txt", 501, "a file is not a directory")
            .example("MLSD missing", 550, "no such directory"),
            VerbSpec::new(
                "MLST",
                "MLST [<SP> pathname]",
                "describe one object as RFC 3659 facts",
            )
            .permission(Permission::List)
            .feat(&FactSet::default().feat_line())
            .example("MLST hello.txt", 250, "facts of a file")
            .example("MLST", 250, "facts of the working directory")
            .example("MLST missing", 550, "no such file"),
        ]
    }

    fn run(&self, request: &Request, session: &mut Session) -> Outcome {
        let result = match request.verb.as_str() {
            "MLSD" => mlsd(request, session),
            "MLST" => mlst(request, session),
            other => return Outcome::unhandled(other),
        };
        result.unwrap_or_else(Outcome::Reply)
    }
}

/// The path argument, or the working directory when there is none.
fn target(request: &Request, session: &Session) -> Result<VirtualPath, Reply> {
    match request.arg.as_deref() {
        None | Some("") => Ok(session.cwd.clone()),
        Some(_) => session.path_arg(request, "a pathname"),
    }
}

/// The facts to print: those selected (`OPTS MLST`) that the session's
/// storage can give (RFC 3659 §7.9: a fact the server cannot give is left
/// out).
fn facts(session: &Session) -> ftpsh_core::mlst::FactSet {
    session
        .mlst_facts
        .intersection(ftpsh_core::mlst::FactSet::available(session.capabilities()))
}

/// What MLSx's `perm` fact (RFC 3659 §7.5.5) may promise: the user's
/// permissions, less what the session's storage cannot do (no `a` on an
/// object store, which has no append).
fn user_permissions(session: &Session) -> Permissions {
    let granted = session.user().map(|u| u.permissions).unwrap_or_default();
    if session.capabilities().append {
        granted
    } else {
        granted.without(ftpsh_core::Permission::Append)
    }
}

fn mlsd(request: &Request, session: &Session) -> Result<Outcome, Reply> {
    let storage = session.require_storage()?;
    let storage = storage.as_ref();
    let path = target(request, session)?;
    let meta = stat(storage, &path).map_err(|e| io_reply(&e, &path))?;
    if !meta.is_dir() {
        return Err(Reply::new(
            ReplyCode::PARAMETER_SYNTAX_ERROR,
            format!("{path}: not a directory"),
        ));
    }
    let perms = user_permissions(session);
    let mut out = Vec::new();
    for e in list_dir(storage, &path).map_err(|e| io_reply(&e, &path))? {
        out.extend_from_slice(mlsx_facts(&e, perms, facts(session)).as_bytes());
        out.push(b' ');
        out.extend_from_slice(display_name(&e.name).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    Ok(Outcome::Transfer {
        opening: Reply::new(
            ReplyCode::FILE_STATUS_OK,
            format!("here comes the machine listing of {path}"),
        ),
        transfer: Transfer::Send(DataSource::Bytes(out)),
    })
}

fn mlst(request: &Request, session: &Session) -> Result<Outcome, Reply> {
    let storage = session.require_storage()?;
    let storage = storage.as_ref();
    let path = target(request, session)?;
    let meta = stat(storage, &path).map_err(|e| io_reply(&e, &path))?;
    let entry = entry_info(path.to_string(), &meta);
    let facts = mlsx_facts(&entry, user_permissions(session), facts(session));
    Ok(Reply::multiline(
        ReplyCode::FILE_ACTION_OK,
        [
            format!("Listing {path}"),
            format!("{facts} {path}"),
            "End".to_owned(),
        ],
    )
    .into())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ftpsh_core::testkit::{check_examples, check_hostile_paths};

    use super::*;
    use crate::testutil::{fix_times, reply, sent, session};

    #[test]
    fn examples() {
        check_examples(Arc::new(MachineList));
    }

    #[test]
    fn hostile_paths() {
        check_hostile_paths(Arc::new(MachineList), "MLSD {}");
        check_hostile_paths(Arc::new(MachineList), "MLST {}");
    }

    #[test]
    fn mlsd_rfc3659_7_2() {
        let mut t = session(Arc::new(MachineList));
        fix_times(&t, 1_732_181_400);
        let (opening, body) = sent(t.run("MLSD"));
        assert_eq!(opening.text(), "here comes the machine listing of /");
        let lines: Vec<&str> = body.split_terminator("\r\n").collect();
        assert_eq!(lines.len(), 4, "{body:?}");
        assert_eq!(
            lines[0],
            "type=file;size=3000;modify=20241121093000;perm=adfrw; data.bin"
        );
        assert!(
            lines[1].starts_with("type=dir;size=")
                && lines[1].ends_with(";modify=20241121093000;perm=cdeflmp; docs"),
            "{}",
            lines[1]
        );
        assert!(lines[2].ends_with("; empty"));
        assert_eq!(
            lines[3],
            "type=file;size=13;modify=20241121093000;perm=adfrw; hello.txt"
        );
        let (_, body) = sent(t.run("MLSD /empty"));
        assert_eq!(body, "");
        // Facts follow the user's permissions.
        t.login_as("reader", "pw");
        let (_, body) = sent(t.run("MLSD docs"));
        assert_eq!(
            body,
            "type=file;size=7;modify=20241121093000;perm=r; readme.md\r\n"
        );
    }

    #[test]
    fn mlst_rfc3659_7_3() {
        let mut t = session(Arc::new(MachineList));
        fix_times(&t, 0);
        let r = reply(t.run("MLST hello.txt"));
        assert_eq!(
            String::from_utf8(r.to_wire()).unwrap(),
            "250-Listing /hello.txt\r\n type=file;size=13;modify=19700101000000;perm=adfrw; /hello.txt\r\n250 End\r\n"
        );
        t.session.cwd = t.session.cwd.resolve("docs").unwrap();
        let r = reply(t.run("MLST"));
        assert!(r.lines[1].starts_with("type=dir;"), "{r}");
        assert!(r.lines[1].ends_with("; /docs"), "{r}");
        let r = reply(t.run("MLST ../empty"));
        assert!(r.lines[1].ends_with("perm=cdeflmp; /empty"), "{r}");
    }

    /// RFC 3659 §7.9: after OPTS MLST, MLST and MLSD print exactly the
    /// selected facts.
    #[test]
    fn selected_facts_only() {
        use ftpsh_core::mlst::Fact;
        let mut t = session(Arc::new(MachineList));
        fix_times(&t, 0);
        t.session.mlst_facts = FactSet::of(&[Fact::Modify, Fact::UnixMode, Fact::Unique]);
        let r = reply(t.run("MLST hello.txt"));
        let line = &r.lines[1];
        let (facts, name) = line.split_once(' ').unwrap();
        assert_eq!(name, "/hello.txt");
        let names: Vec<&str> = facts
            .split_terminator(';')
            .map(|f| f.split_once('=').unwrap().0)
            .collect();
        assert_eq!(names, ["modify", "unique", "unix.mode"], "{line}");
        let mode = std::fs::metadata(t.path("hello.txt")).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert!(
            facts.contains(&format!("unix.mode=0{:o};", mode.mode() & 0o7777)),
            "{line}"
        );
        assert!(facts.contains(&format!("unique={:x}g{:x};", mode.dev(), mode.ino())));
        let (_, body) = sent(t.run("MLSD docs"));
        assert_eq!(body.matches('=').count(), 3, "{body:?}");
        t.session.mlst_facts = FactSet::empty();
        let r = reply(t.run("MLST hello.txt"));
        assert_eq!(r.lines[1], " /hello.txt");
    }

    #[test]
    fn errors() {
        let mut t = session(Arc::new(MachineList));
        let rows = [
            ("MLSD hello.txt", "501 /hello.txt: not a directory\r\n"),
            (
                "MLSD missing",
                "550 /missing: no such file or directory\r\n",
            ),
            (
                "MLST missing",
                "550 /missing: no such file or directory\r\n",
            ),
            ("MLST hello.txt/x", "550 /hello.txt/x: not a directory\r\n"),
        ];
        for (line, want) in rows {
            assert_eq!(reply(t.run(line)).to_wire(), want.as_bytes(), "{line}");
        }
        let r = reply(MachineList.run(&Request::new("MLST", Some("\0")), &mut t.session));
        assert_eq!(r.code, ReplyCode::PARAMETER_SYNTAX_ERROR);
    }

    #[test]
    fn symlinks() {
        let mut t = session(Arc::new(MachineList));
        fix_times(&t, 0);
        std::os::unix::fs::symlink("hello.txt", t.path("alias")).unwrap();
        std::os::unix::fs::symlink("/etc", t.path("etc")).unwrap();
        let (_, body) = sent(t.run("MLSD"));
        assert!(body.starts_with("type=file;size=13;modify=19700101000000;perm=adfrw; alias\r\n"));
        assert!(!body.contains(" etc\r\n"));
        assert_eq!(t.run("MLST etc").code(), Some(550));
        assert_eq!(t.run("MLSD etc").code(), Some(550));
    }

    #[test]
    fn newline_in_a_name_cannot_add_reply_lines() {
        let mut t = session(Arc::new(MachineList));
        std::fs::write(t.path("x\r\n250 fake"), b"").unwrap();
        let r = reply(t.run("MLST x\r\n250 fake"));
        let wire = String::from_utf8(r.to_wire()).unwrap();
        assert_eq!(wire.matches("\r\n").count(), 3, "{wire:?}");
        let (_, body) = sent(t.run("MLSD"));
        assert!(body.contains("; x??250 fake\r\n"), "{body:?}");
    }
}
