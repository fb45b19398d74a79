//! RETR (alias DOWNLOAD), RFC 959 §4.1.3, with REST STREAM (RFC 3659 §5).

use ftpsh_core::ascii::ToNetwork;
use ftpsh_core::storage::{RestartPastEnd, restart_past_end};
use ftpsh_core::{
    Command, DataSource, Outcome, Permission, ReadBody, Reply, ReplyCode, Request, Session,
    Transfer, TransferType, VerbSpec, io_reply,
};

use crate::outcome;

/// RETR: send a copy of a regular file over the data connection, from the
/// restart marker (REST) to its end.
///
/// RFC 959 §4.1.3: the file at the server end is left unchanged. RFC 3659
/// §5.5: after `REST n` the transfer starts at byte n; a marker past the end
/// of the file is refused with 554 and nothing is sent. Only regular files
/// are sent (550 otherwise): a directory has no contents to send, and
/// opening a FIFO or device could block a worker forever.
///
/// The opened file goes to the event loop as [`DataSource::File`]; the
/// preliminary reply names the path and the number of bytes to come, in the
/// `(N bytes)` form that curl reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct Download;

impl Command for Download {
    fn name(&self) -> &str {
        "download"
    }

    fn verbs(&self) -> Vec<VerbSpec> {
        vec![
            VerbSpec::new("RETR", "RETR <SP> pathname", "download a file")
                .needs_arg()
                .alias("DOWNLOAD")
                .permission(Permission::Retrieve)
                .data()
                .example("RETR hello.txt", 150, "sends the 13 bytes of hello.txt")
                .example("DOWNLOAD docs/readme.md", 150, "the seed's verb")
                .example("RETR missing.txt", 550, "no such file")
                .example("RETR docs", 550, "a directory is not a regular file")
                .example("RETR", 501, "a file name is required"),
        ]
    }

    fn run(&self, request: &Request, session: &mut Session) -> Outcome {
        if request.verb != "RETR" {
            return Outcome::unhandled(&request.verb);
        }
        // The marker belongs to this command whatever happens to it.
        let offset = session.take_restart_offset();
        outcome(retr(request, session, offset))
    }
}

fn retr(request: &Request, session: &Session, offset: u64) -> Result<Outcome, Reply> {
    let storage = session.require_storage()?;
    let path = session.path_arg(request, "a file name")?;
    // One call: the storage checks that it is a regular file (before
    // opening: open(2) on a FIFO waits for a writer) and the marker.
    let opened = storage
        .open_read(&path, offset)
        .map_err(|e| match restart_past_end(&e) {
            Some(RestartPastEnd { len, .. }) => Reply::new(
                ReplyCode(554),
                format!("{path}: invalid restart position {offset} (file is {len} bytes)"),
            ),
            // InvalidInput is "not a regular file" (550).
            None => io_reply(&e, &path),
        })?;
    let len = opened.len;
    let mode = match session.transfer_type {
        TransferType::Binary => "BINARY",
        TransferType::Ascii => "ASCII",
    };
    let restart = if offset > 0 {
        format!(", restarting at {offset}")
    } else {
        String::new()
    };
    let (size, source) = match (session.transfer_type, opened.body) {
        (TransferType::Binary, ReadBody::File(file)) => (
            format!(" ({} bytes)", len - offset),
            DataSource::File { file, offset },
        ),
        (TransferType::Binary, ReadBody::Stream(reader)) => (
            format!(" ({} bytes)", len - offset),
            DataSource::Blocking(reader),
        ),
        // REST is refused in TYPE A and TYPE clears the marker, so the
        // offset is 0. No byte count: the CRLFs make it larger, and curl
        // checks the transfer against the count it reads here.
        (TransferType::Ascii, ReadBody::File(file)) => (
            String::new(),
            DataSource::Reader(Box::new(ToNetwork::new(file))),
        ),
        (TransferType::Ascii, ReadBody::Stream(reader)) => (
            String::new(),
            DataSource::Blocking(Box::new(ToNetwork::new(reader))),
        ),
    };
    let opening = Reply::new(
        ReplyCode::FILE_STATUS_OK,
        format!("opening {mode} mode data connection for {path}{restart}{size}"),
    );
    Ok(Outcome::Transfer {
        opening,
        transfer: Transfer::Send(source),
    })
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Seek, SeekFrom};
    use std::sync::Arc;

    use ftpsh_core::testkit::{check_examples, check_hostile_paths};

    use super::*;
    use crate::testutil::{login_with, session};

    #[test]
    fn examples() {
        check_examples(Arc::new(Download));
    }

    /// Reads what the daemon would send: the file from `offset` to its end.
    fn sent(o: Outcome) -> (Reply, Vec<u8>) {
        match o {
            Outcome::Transfer {
                opening,
                transfer: Transfer::Send(DataSource::File { mut file, offset }),
            } => {
                file.seek(SeekFrom::Start(offset)).unwrap();
                let mut buf = Vec::new();
                file.read_to_end(&mut buf).unwrap();
                (opening, buf)
            }
            other => panic!("expected a file transfer, got {other:?}"),
        }
    }

    fn text(o: &Outcome) -> String {
        match o {
            Outcome::Reply(r) => r.text().to_owned(),
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    #[test]
    fn retr_sends_the_whole_file() {
        let mut t = session();
        let (opening, data) = sent(t.run("RETR hello.txt"));
        assert_eq!(
            opening.to_wire(),
            b"150 opening BINARY mode data connection for /hello.txt (13 bytes)\r\n"
        );
        assert_eq!(data, b"hello, world\n");
        let (_, data) = sent(t.run("DOWNLOAD /data.bin"));
        assert_eq!(data, std::fs::read(t.path("data.bin")).unwrap());
        t.session.cwd = t.session.cwd.resolve("docs").unwrap();
        let (opening, data) = sent(t.run("RETR readme.md"));
        assert!(opening.text().contains("/docs/readme.md (7 bytes)"));
        assert_eq!(data, b"# docs\n");
    }

    #[test]
    fn ascii_type_sends_crlf_rfc959_3_1_1_1() {
        let mut t = session();
        std::fs::write(t.path("lines.txt"), b"one\ntwo\r\nthree").unwrap();
        t.session.transfer_type = TransferType::Ascii;
        let o = t.run("RETR lines.txt");
        let Outcome::Transfer {
            opening,
            transfer: Transfer::Send(DataSource::Reader(mut r)),
        } = o
        else {
            panic!("expected a converting reader, got {o:?}");
        };
        assert_eq!(
            opening.text(),
            "opening ASCII mode data connection for /lines.txt"
        );
        let mut data = Vec::new();
        r.read_to_end(&mut data).unwrap();
        assert_eq!(data, b"one\r\ntwo\r\nthree");
    }

    #[test]
    fn restart_marker_is_used_once() {
        let mut t = session();
        assert_eq!(t.run("REST 7").code(), Some(350));
        let (opening, data) = sent(t.run("RETR hello.txt"));
        assert_eq!(
            opening.text(),
            "opening BINARY mode data connection for /hello.txt, restarting at 7 (6 bytes)"
        );
        assert_eq!(data, b"world\n");
        assert_eq!(t.session.restart_offset, 0);
        let (_, data) = sent(t.run("RETR hello.txt"));
        assert_eq!(data.len(), 13);
        // A marker at the very end sends nothing, successfully.
        t.run("REST 13");
        let (_, data) = sent(t.run("RETR hello.txt"));
        assert!(data.is_empty());
    }

    #[test]
    fn restart_past_the_end_is_554_and_forgotten() {
        let mut t = session();
        t.run("REST 14");
        let o = t.run("RETR hello.txt");
        assert_eq!(o.code(), Some(554));
        assert_eq!(
            text(&o),
            "/hello.txt: invalid restart position 14 (file is 13 bytes)"
        );
        assert_eq!(t.session.restart_offset, 0);
        // A failed RETR consumes the marker too.
        t.run("REST 5");
        assert_eq!(t.run("RETR missing").code(), Some(550));
        assert_eq!(t.session.restart_offset, 0);
    }

    #[test]
    fn errors() {
        let mut t = session();
        let o = t.run("RETR missing.txt");
        assert_eq!(o.code(), Some(550));
        assert_eq!(text(&o), "/missing.txt: no such file or directory");
        let o = t.run("RETR empty");
        assert_eq!(text(&o), "/empty: not a regular file");
        assert_eq!(text(&t.run("RETR /")), "/: not a regular file");
        assert_eq!(
            text(&t.run("RETR")),
            "RETR needs an argument: RETR <SP> pathname"
        );
        assert_eq!(t.run("RETR hello.txt/x").code(), Some(550));
    }

    #[test]
    fn fifo_is_refused_without_blocking() {
        let mut t = session();
        t.mkfifo("pipe");
        assert_eq!(text(&t.run("RETR pipe")), "/pipe: not a regular file");
    }

    #[test]
    fn permission_r_is_required() {
        let mut t = session();
        login_with(&mut t, "lister:pw:el");
        let o = t.run("RETR hello.txt");
        assert_eq!(o.code(), Some(550));
        assert!(text(&o).contains("permission denied"));
        let mut t = session();
        t.login_as("reader", "pw");
        assert_eq!(t.run("RETR hello.txt").code(), Some(150));
    }

    #[test]
    fn hostile_paths() {
        check_hostile_paths(Arc::new(Download), "RETR {}");
        check_hostile_paths(Arc::new(Download), "DOWNLOAD {}");
    }

    #[test]
    fn symlinks_resolve_inside_the_jail_only() {
        let mut t = session();
        std::os::unix::fs::symlink("hello.txt", t.path("inside")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", t.path("passwd")).unwrap();
        std::os::unix::fs::symlink("../../../../etc/passwd", t.path("docs/up")).unwrap();
        let (_, data) = sent(t.run("RETR inside"));
        assert_eq!(data, b"hello, world\n");
        for line in ["RETR passwd", "RETR docs/up"] {
            let o = t.run(line);
            assert_eq!(o.code(), Some(550), "{line}: {o:?}");
            assert!(text(&o).contains("permission denied"), "{line}: {o:?}");
        }
    }
}
