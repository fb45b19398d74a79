//! LIST (alias LS) and NLST, RFC 959 §4.1.3.

use ftpsh_core::time::unix_now;
use ftpsh_core::{
    Command, DataSource, Outcome, Permission, Reply, ReplyCode, Request, Session, Transfer,
    VerbSpec, VirtualPath, io_reply, path_reply,
};

use crate::format::{EntryInfo, display_name, list_line};
use crate::read::{entry_info, list_dir, stat};
use crate::strip_options;

/// LIST and NLST: a directory listing over the data connection.
///
/// RFC 959 §4.1.3: LIST of a directory lists its entries, of a file that
/// file, in a form meant for people — here `ls -l` lines (see
/// [`list_line`](crate::format::list_line)); without a pathname, the
/// working directory. NLST sends only the names, one per line, for
/// programs such as `mget`. Lines end in CRLF whatever the transfer type.
/// Leading option words (`-la`) that clients add are ignored. A missing
/// path is a 550 and no data connection is used.
#[derive(Debug, Clone, Copy, Default)]
pub struct List;

impl Command for List {
    fn name(&self) -> &str {
        "ls"
    }

    fn verbs(&self) -> Vec<VerbSpec> {
        vec![
            VerbSpec::new(
                "LIST",
                "LIST [<SP> pathname]",
                "list a directory, ls -l style",
            )
            .alias("LS")
            .permission(Permission::List)
            .data()
            .example("LIST", 150, "the working directory")
            .example("LIST -la docs", 150, "options are ignored")
            .example("LS hello.txt", 150, "one file, with the seed's verb")
            .example("LIST missing", 550, "no such directory"),
            VerbSpec::new(
                "NLST",
                "NLST [<SP> pathname]",
                "list names only, one per line",
            )
            .permission(Permission::List)
            .data()
            .example("NLST", 150, "names in the working directory")
            .example("NLST docs", 150, "names in docs")
            .example("NLST missing", 550, "no such directory"),
        ]
    }

    fn run(&self, request: &Request, session: &mut Session) -> Outcome {
        let names_only = match request.verb.as_str() {
            "LIST" => false,
            "NLST" => true,
            other => return Outcome::unhandled(other),
        };
        match listing(request, session) {
            Ok(entries) => {
                let now = unix_now();
                let mut out = Vec::new();
                for e in &entries {
                    let line = if names_only {
                        display_name(&e.name)
                    } else {
                        list_line(e, now)
                    };
                    out.extend_from_slice(line.as_bytes());
                    out.extend_from_slice(b"\r\n");
                }
                let what = if names_only {
                    "name list"
                } else {
                    "directory listing"
                };
                Outcome::Transfer {
                    opening: Reply::new(
                        ReplyCode::FILE_STATUS_OK,
                        format!("here comes the {what}"),
                    ),
                    transfer: Transfer::Send(DataSource::Bytes(out)),
                }
            }
            Err(reply) => reply.into(),
        }
    }
}

/// The entries LIST, NLST and STAT show for the request's argument: a
/// directory's entries, or one entry named as the client typed it.
pub(crate) fn listing(request: &Request, session: &Session) -> Result<Vec<EntryInfo>, Reply> {
    let storage = session.require_storage()?;
    let storage = storage.as_ref();
    let arg = strip_options(request.arg_or_empty());
    let path: VirtualPath = if arg.is_empty() {
        session.cwd.clone()
    } else {
        session.cwd.resolve(arg).map_err(|e| path_reply(&e))?
    };
    let meta = stat(storage, &path).map_err(|e| io_reply(&e, &path))?;
    if meta.is_dir() {
        list_dir(storage, &path).map_err(|e| io_reply(&e, &path))
    } else {
        Ok(vec![entry_info(arg.to_owned(), &meta)])
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ftpsh_core::testkit::{check_examples, check_hostile_paths};

    use super::*;
    use crate::testutil::{fix_times, reply, sent, session};

    #[test]
    fn examples() {
        check_examples(Arc::new(List));
    }

    #[test]
    fn hostile_paths() {
        for template in ["LIST {}", "LS {}", "LIST -la {}", "NLST {}"] {
            check_hostile_paths(Arc::new(List), template);
        }
    }

    #[test]
    fn list_root_like_ls_l() {
        let mut t = session(Arc::new(List));
        // A day ago: recent, so the time of day is shown.
        let when = unix_now() - 86_400;
        fix_times(&t, when as u64);
        let stamp = ftpsh_core::UtcTime::from_unix(when);
        let date = format!(
            "{} {:>2} {:02}:{:02}",
            stamp.month_abbrev(),
            stamp.day,
            stamp.hour,
            stamp.minute
        );
        let (opening, body) = sent(t.run("LIST"));
        assert_eq!(
            opening.to_wire(),
            b"150 here comes the directory listing\r\n"
        );
        let lines: Vec<&str> = body.split("\r\n").collect();
        assert_eq!(lines.len(), 5, "{body:?}");
        assert_eq!(lines[4], "", "every line ends in CRLF");
        assert!(!body.replace("\r\n", "").contains('\n'));
        assert_eq!(
            lines[0],
            format!("-rw-r--r--    1 ftp      ftp          3000 {date} data.bin")
        );
        assert!(lines[1].starts_with("drwx"), "{}", lines[1]);
        assert!(lines[1].ends_with(&format!(" {date} docs")), "{}", lines[1]);
        assert!(lines[2].ends_with(" empty"));
        assert_eq!(
            lines[3],
            format!("-rw-r--r--    1 ftp      ftp            13 {date} hello.txt")
        );
    }

    #[test]
    fn list_of_a_file_and_with_options() {
        let mut t = session(Arc::new(List));
        fix_times(&t, 0);
        let (_, body) = sent(t.run("LIST docs/readme.md"));
        assert_eq!(
            body,
            "-rw-r--r--    1 ftp      ftp             7 Jan  1  1970 docs/readme.md\r\n"
        );
        for line in ["LIST -la docs", "LIST -a -l /docs", "LS docs"] {
            let (_, body) = sent(t.run(line));
            assert!(body.ends_with(" readme.md\r\n"), "{line}: {body:?}");
            assert_eq!(body.lines().count(), 1, "{line}");
        }
        t.session.cwd = t.session.cwd.resolve("docs").unwrap();
        let (_, body) = sent(t.run("LIST -l"));
        assert!(body.ends_with(" readme.md\r\n"));
        let (_, body) = sent(t.run("LIST /empty"));
        assert_eq!(body, "");
    }

    #[test]
    fn nlst_names_only() {
        let mut t = session(Arc::new(List));
        let (opening, body) = sent(t.run("NLST"));
        assert_eq!(opening.text(), "here comes the name list");
        assert_eq!(body, "data.bin\r\ndocs\r\nempty\r\nhello.txt\r\n");
        let (_, body) = sent(t.run("NLST docs"));
        assert_eq!(body, "readme.md\r\n");
        let (_, body) = sent(t.run("NLST hello.txt"));
        assert_eq!(body, "hello.txt\r\n");
        let (_, body) = sent(t.run("NLST -1 empty"));
        assert_eq!(body, "");
    }

    #[test]
    fn errors() {
        let mut t = session(Arc::new(List));
        let r = reply(t.run("LIST missing"));
        assert_eq!(r.to_wire(), b"550 /missing: no such file or directory\r\n");
        let r = reply(t.run("NLST -l hello.txt/x"));
        assert_eq!(r.to_wire(), b"550 /hello.txt/x: not a directory\r\n");
        let r = reply(List.run(&Request::new("LIST", Some("-l a\0b")), &mut t.session));
        assert_eq!(r.code, ReplyCode::PARAMETER_SYNTAX_ERROR);
        t.login_as("reader", "pw");
        assert_eq!(t.run("LIST").code(), Some(150));
        let mut t = ftpsh_core::testkit::TestSession::logged_out(
            ftpsh_core::testkit::TestSession::registry_with(Arc::new(List)),
        );
        assert_eq!(t.run("LIST").code(), Some(530));
    }

    #[test]
    fn symlinks_resolve_inside_the_jail_and_bad_entries_are_skipped() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"outside").unwrap();
        let mut t = session(Arc::new(List));
        fix_times(&t, 0);
        let link = |target: &std::path::Path, name: &str| {
            std::os::unix::fs::symlink(target, t.path(name)).unwrap()
        };
        link("hello.txt".as_ref(), "alias.txt");
        link("../hello.txt".as_ref(), "docs/up.txt");
        link("docs".as_ref(), "d");
        link(outside.path(), "escape");
        link("/etc/passwd".as_ref(), "passwd");
        link("nowhere".as_ref(), "dangling");
        let (_, body) = sent(t.run("NLST"));
        assert_eq!(
            body,
            "alias.txt\r\nd\r\ndata.bin\r\ndocs\r\nempty\r\nhello.txt\r\n"
        );
        let (_, body) = sent(t.run("LIST"));
        let alias = body.lines().next().unwrap();
        assert!(
            alias.starts_with("-rw-r--r--    1 ftp      ftp            13 "),
            "{alias}"
        );
        assert!(body.lines().nth(1).unwrap().starts_with('d'));
        // The subdirectory's link leaves `docs` but not the root.
        let (_, body) = sent(t.run("NLST docs"));
        assert_eq!(body, "readme.md\r\nup.txt\r\n");
        // A symlinked directory lists its target's entries.
        let (_, body) = sent(t.run("NLST d"));
        assert_eq!(body, "readme.md\r\nup.txt\r\n");
        for line in ["LIST escape", "LIST passwd", "NLST dangling"] {
            assert_eq!(t.run(line).code(), Some(550), "{line}");
        }
    }

    #[test]
    fn odd_names_stay_on_one_line() {
        let mut t = session(Arc::new(List));
        std::fs::write(t.path("two\r\nlines"), b"").unwrap();
        std::fs::write(t.path("with space"), b"").unwrap();
        let (_, body) = sent(t.run("NLST"));
        assert!(body.contains("two??lines\r\n"), "{body:?}");
        assert!(body.contains("with space\r\n"));
        assert_eq!(body.matches("\r\n").count(), body.matches('\n').count());
        let (_, body) = sent(t.run("LIST with space"));
        assert!(body.ends_with(" with space\r\n"));
    }
}
