//! STOR (alias UPLOAD) and APPE, RFC 959 §4.1.3, with REST STREAM (RFC 3659
//! §5).

use ftpsh_core::ascii::FromNetwork;
use ftpsh_core::storage::{Capability, regular_file_metadata};
use ftpsh_core::{
    Command, Outcome, Permission, Reply, ReplyCode, Request, Session, Storage, Transfer,
    TransferType, UploadSink, VerbSpec, VirtualPath, WriteMode, io_reply, not_regular_file,
};

use crate::outcome;

/// STOR and APPE: receive a file over the data connection.
///
/// RFC 959 §4.1.3: STOR stores the data as a file, replacing an existing
/// one of the same name; APPE appends the data to the file, creating it if
/// it does not exist. RFC 3659 §5.5: after `REST n`, STOR overwrites the
/// file from byte n on, keeping the first n bytes (a resumed upload); a
/// marker past the end of the file is a 554 and a missing file a 550, as
/// for RETR. APPE after REST is refused (503, see [`Command::run`]).
///
/// A plain STOR is atomic: the bytes go to an unnamed temporary file in the
/// target directory that replaces the target only once the client closed
/// the data connection normally, so an aborted or dropped upload leaves the
/// old file (or no file). Resuming and appending must write into the
/// existing file, so REST+STOR needs the `a` permission as well as `w`.
/// Targets that exist but are not regular files (directories, FIFOs,
/// devices) are refused with 550.
#[derive(Debug, Clone, Copy, Default)]
pub struct Upload;

impl Command for Upload {
    fn name(&self) -> &str {
        "upload"
    }

    fn verbs(&self) -> Vec<VerbSpec> {
        vec![
            VerbSpec::new("STOR", "STOR <SP> pathname", "upload a file, replacing it")
                .needs_arg()
                .alias("UPLOAD")
                .permission(Permission::Write)
                .data()
                .example("STOR new.txt", 150, "ready to receive new.txt")
                .example(
                    "UPLOAD docs/notes.md",
                    150,
                    "the seed's verb, into a directory",
                )
                .example("STOR hello.txt", 150, "replaces hello.txt once complete")
                .example("STOR docs", 550, "a directory cannot be replaced")
                .example("STOR nodir/a.txt", 550, "the directory must exist")
                .example("STOR /", 553, "not a file name")
                .example("STOR", 501, "a file name is required"),
            VerbSpec::new(
                "APPE",
                "APPE <SP> pathname",
                "append to a file, creating it",
            )
            .needs_arg()
            .permission(Permission::Append)
            .requires(Capability::Append)
            .data()
            .example("APPE hello.txt", 150, "appends to hello.txt")
            .example("APPE fresh.log", 150, "creates fresh.log")
            .example("APPE docs", 550, "a directory is not a file")
            .example("APPE", 501, "a file name is required"),
        ]
    }

    fn run(&self, request: &Request, session: &mut Session) -> Outcome {
        // The marker belongs to this command whatever happens to it.
        let offset = session.take_restart_offset();
        match request.verb.as_str() {
            "STOR" => outcome(stor(request, session, offset)),
            // RFC 3659 §5.3: the command after REST "should be either RETR
            // or STOR"; APPE after a marker is a bad sequence (pyftpdlib
            // answers 450), refused before anything is opened.
            "APPE" if offset > 0 => Reply::new(
                ReplyCode::BAD_SEQUENCE,
                format!("APPE cannot follow REST {offset}: resume with REST and STOR"),
            )
            .into(),
            "APPE" => outcome(appe(request, session)),
            other => Outcome::unhandled(other),
        }
    }
}

fn stor(request: &Request, session: &Session, offset: u64) -> Result<Outcome, Reply> {
    let storage = session.require_storage()?;
    let path = session.path_arg(request, "a file name")?;
    refuse_special(storage.as_ref(), &path)?;
    let mode = if offset == 0 {
        WriteMode::Replace
    } else {
        // RFC 959 §4.2.1: 504, "command not implemented for that
        // parameter": STOR is, resuming it at a marker is not.
        if !storage.capabilities().append {
            return Err(Reply::new(
                ReplyCode::PARAMETER_NOT_IMPLEMENTED,
                format!(
                    "{path}: resuming an upload (REST {offset} then STOR) is not supported by \
                     this server's storage; send the whole file"
                ),
            ));
        }
        if !session.allows(Permission::Append) {
            return Err(Reply::new(
                ReplyCode::FILE_UNAVAILABLE,
                format!("{path}: resuming an upload needs permission 'a'"),
            ));
        }
        check_restart(storage.as_ref(), &path, offset)?;
        WriteMode::Restart(offset)
    };
    let sink = storage.create_upload(&path, mode).map_err(|e| match mode {
        WriteMode::Replace => new_file_reply(&e, &path),
        _ => upload_reply(&e, &path),
    })?;
    let restart = if offset > 0 {
        format!(", restarting at {offset}")
    } else {
        String::new()
    };
    Ok(receive(
        format!("ok to send data for {path}{restart}"),
        for_type(session, sink),
    ))
}

/// RFC 3659 §5.5: resuming needs the file and a marker inside it. A missing
/// file is 550 (RFC 959 §4.2 "file unavailable"), a marker past its end 554
/// ("invalid REST parameter", §5.4 of RFC 3659), as RETR answers.
fn check_restart(storage: &dyn Storage, path: &VirtualPath, offset: u64) -> Result<(), Reply> {
    let len = regular_file_metadata(storage, path)?.len;
    if offset > len {
        return Err(Reply::new(
            ReplyCode(554),
            format!("{path}: invalid restart position {offset} (file is {len} bytes)"),
        ));
    }
    Ok(())
}

fn appe(request: &Request, session: &Session) -> Result<Outcome, Reply> {
    let storage = session.require_storage()?;
    let path = session.path_arg(request, "a file name")?;
    refuse_special(storage.as_ref(), &path)?;
    let sink = storage
        .create_upload(&path, WriteMode::Append)
        .map_err(|e| upload_reply(&e, &path))?;
    Ok(receive(
        format!("ok to send data to append to {path}"),
        for_type(session, sink),
    ))
}

/// The reply for an upload that cannot start: as [`io_reply`], except that
/// the root (no file name) is `553 not a file name`, and that a new file
/// whose directory is missing (or is a file) names that directory.
pub(crate) fn upload_reply(err: &std::io::Error, path: &VirtualPath) -> Reply {
    if path.is_root() {
        return Reply::new(ReplyCode::BAD_FILE_NAME, format!("{path}: not a file name"));
    }
    io_reply(err, path)
}

/// [`upload_reply`] for a whole-file upload (STOR, STOU), which needs the
/// directory and nothing else.
pub(crate) fn new_file_reply(err: &std::io::Error, path: &VirtualPath) -> Reply {
    use std::io::ErrorKind;
    match err.kind() {
        ErrorKind::NotFound | ErrorKind::NotADirectory if !path.is_root() => {
            io_reply(err, &path.parent())
        }
        _ => upload_reply(err, path),
    }
}

/// The sink, converting CRLF to LF in `TYPE A` (RFC 959 §3.1.1.1).
pub(crate) fn for_type(session: &Session, sink: Box<dyn UploadSink>) -> Box<dyn UploadSink> {
    match session.transfer_type {
        TransferType::Binary => sink,
        TransferType::Ascii => Box::new(FromNetwork::new(sink)),
    }
}

fn receive(text: String, sink: Box<dyn UploadSink>) -> Outcome {
    Outcome::Transfer {
        opening: Reply::new(ReplyCode::FILE_STATUS_OK, text),
        transfer: Transfer::Receive(sink),
    }
}

/// Refuses an existing target that is neither a regular file nor a
/// directory (the upload sinks report directories themselves). Opening a
/// FIFO for writing would block a worker until a reader appears.
pub(crate) fn refuse_special(storage: &dyn Storage, path: &VirtualPath) -> Result<(), Reply> {
    match storage.metadata(path) {
        Ok(m) if !m.is_file() && !m.is_dir() => Err(not_regular_file(path)),
        // Missing targets are created; other errors are reported by the
        // sink, which knows whether it follows the name.
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Arc;

    use ftpsh_core::testkit::{check_examples, check_hostile_paths};

    use super::*;
    use crate::testutil::{login_with, session};

    #[test]
    fn examples() {
        check_examples(Arc::new(Upload));
    }

    fn sink(o: Outcome) -> (Reply, Box<dyn UploadSink>) {
        match o {
            Outcome::Transfer {
                opening,
                transfer: Transfer::Receive(sink),
            } => (opening, sink),
            other => panic!("expected an upload, got {other:?}"),
        }
    }

    /// Writes `data` in small chunks, as the event loop would, then commits.
    fn upload(o: Outcome, data: &[u8]) -> Reply {
        let (_, mut s) = sink(o);
        for chunk in data.chunks(1000) {
            s.write_all(chunk).unwrap();
        }
        assert_eq!(s.written(), data.len() as u64);
        s.commit()
    }

    fn text(o: &Outcome) -> String {
        match o {
            Outcome::Reply(r) => r.text().to_owned(),
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    #[test]
    fn stor_creates_and_replaces_atomically() {
        let mut t = session();
        let (opening, mut s) = sink(t.run("STOR hello.txt"));
        assert_eq!(opening.to_wire(), b"150 ok to send data for /hello.txt\r\n");
        s.write_all(b"replaced").unwrap();
        // Until the commit the old file is untouched.
        assert_eq!(
            std::fs::read(t.path("hello.txt")).unwrap(),
            b"hello, world\n"
        );
        let r = s.commit();
        assert_eq!(r.code, ReplyCode::CLOSING_DATA, "{r}");
        assert_eq!(std::fs::read(t.path("hello.txt")).unwrap(), b"replaced");

        let big: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
        let r = upload(t.run("UPLOAD docs/big.bin"), &big);
        assert_eq!(r.code, ReplyCode::CLOSING_DATA, "{r}");
        assert_eq!(std::fs::read(t.path("docs/big.bin")).unwrap(), big);
    }

    #[test]
    fn dropped_stor_leaves_old_file() {
        let mut t = session();
        let (_, mut s) = sink(t.run("STOR hello.txt"));
        s.write_all(b"half of it").unwrap();
        drop(s);
        assert_eq!(
            std::fs::read(t.path("hello.txt")).unwrap(),
            b"hello, world\n"
        );
        let names: Vec<_> = std::fs::read_dir(t.dir.path()).unwrap().collect();
        assert_eq!(names.len(), 4, "no stray temp file");
    }

    #[test]
    fn rest_stor_resumes_in_place() {
        let mut t = session();
        t.run("REST 7");
        let (opening, mut s) = sink(t.run("STOR hello.txt"));
        assert_eq!(
            opening.text(),
            "ok to send data for /hello.txt, restarting at 7"
        );
        s.write_all(b"there\n").unwrap();
        assert_eq!(s.commit().code, ReplyCode::CLOSING_DATA);
        assert_eq!(
            std::fs::read(t.path("hello.txt")).unwrap(),
            b"hello, there\n"
        );
        assert_eq!(t.session.restart_offset, 0);
        // Past the end: refused, and the marker is gone.
        t.run("REST 100");
        assert_eq!(t.run("STOR hello.txt").code(), Some(554));
        assert_eq!(t.session.restart_offset, 0);
        assert_eq!(
            std::fs::read(t.path("hello.txt")).unwrap(),
            b"hello, there\n"
        );
    }

    #[test]
    fn rest_stor_needs_append_permission() {
        let mut t = session();
        login_with(&mut t, "writer:pw:elrw");
        t.run("REST 3");
        let o = t.run("STOR hello.txt");
        assert_eq!(
            text(&o),
            "/hello.txt: resuming an upload needs permission 'a'"
        );
        assert_eq!(
            std::fs::read(t.path("hello.txt")).unwrap(),
            b"hello, world\n"
        );
        // Without a marker the same user may replace the file.
        assert_eq!(t.run("STOR hello.txt").code(), Some(150));
        assert_eq!(t.run("APPE hello.txt").code(), Some(550));
    }

    #[test]
    fn appe_appends_or_creates() {
        let mut t = session();
        let (opening, mut s) = sink(t.run("APPE hello.txt"));
        assert_eq!(opening.text(), "ok to send data to append to /hello.txt");
        s.write_all(b"more\n").unwrap();
        assert_eq!(s.commit().code, ReplyCode::CLOSING_DATA);
        assert_eq!(
            std::fs::read(t.path("hello.txt")).unwrap(),
            b"hello, world\nmore\n"
        );
        let r = upload(t.run("APPE docs/new.log"), b"line\n");
        assert_eq!(r.code, ReplyCode::CLOSING_DATA);
        assert_eq!(std::fs::read(t.path("docs/new.log")).unwrap(), b"line\n");
        // APPE after REST is refused, and clears the marker.
        t.run("REST 2");
        assert_eq!(t.run("APPE docs/new.log").code(), Some(503));
        assert_eq!(t.session.restart_offset, 0);
        upload(t.run("APPE docs/new.log"), b"again\n");
        assert_eq!(
            std::fs::read(t.path("docs/new.log")).unwrap(),
            b"line\nagain\n"
        );
    }

    /// REST corner cases, each with the RFC text its code follows.
    #[test]
    fn restart_table_rfc3659_5() {
        let rows = [
            (
                "REST 13\nSTOR hello.txt",
                150,
                "§5.5 marker at the end resumes",
            ),
            (
                "REST 14\nSTOR hello.txt",
                554,
                "§5.4 554 invalid REST parameter",
            ),
            (
                "REST 99\nSTOR missing.txt",
                550,
                "RFC 959 §4.2 550 file unavailable",
            ),
            ("REST 1\nSTOR docs", 550, "a directory is not resumable"),
            (
                "REST 1\nAPPE hello.txt",
                503,
                "§5.3 REST is followed by RETR or STOR",
            ),
            ("REST 0\nAPPE hello.txt", 150, "a zero marker is no marker"),
        ];
        for (lines, code, rfc) in rows {
            let mut t = session();
            let mut last = None;
            for line in lines.split('\n') {
                last = t.run(line).code();
            }
            assert_eq!(last, Some(code), "{lines:?}: {rfc}");
            assert_eq!(t.session.restart_offset, 0, "{lines:?}: marker consumed");
            assert_eq!(
                std::fs::read(t.path("hello.txt")).unwrap(),
                b"hello, world\n",
                "{lines:?}"
            );
        }
    }

    #[test]
    fn ascii_type_stores_lf_rfc959_3_1_1_1() {
        let mut t = session();
        t.session.transfer_type = TransferType::Ascii;
        // The CR of a CRLF arrives at the end of one chunk, its LF at the
        // start of the next.
        let (_, mut s) = sink(t.run("STOR a.txt"));
        s.write_all(b"one\r").unwrap();
        s.write_all(b"\ntwo\r\nbare\rcr\r\n").unwrap();
        assert_eq!(s.commit().code, ReplyCode::CLOSING_DATA);
        assert_eq!(
            std::fs::read(t.path("a.txt")).unwrap(),
            b"one\ntwo\nbare\rcr\n"
        );
        let (_, mut s) = sink(t.run("APPE a.txt"));
        s.write_all(b"three\r\n").unwrap();
        assert_eq!(s.written(), 6, "bytes stored, after conversion");
        assert_eq!(s.commit().code, ReplyCode::CLOSING_DATA);
        assert_eq!(
            std::fs::read(t.path("a.txt")).unwrap(),
            b"one\ntwo\nbare\rcr\nthree\n"
        );
    }

    #[test]
    fn errors() {
        let mut t = session();
        let rows = [
            ("STOR docs", 550, "/docs: is a directory"),
            ("STOR nodir/a.txt", 550, "/nodir: no such file or directory"),
            ("STOR /", 553, "/: not a file name"),
            ("STOR", 501, "STOR needs an argument: STOR <SP> pathname"),
            ("APPE", 501, "APPE needs an argument: APPE <SP> pathname"),
            ("APPE docs", 550, "/docs: is a directory"),
            (
                "APPE nodir/a.txt",
                550,
                "/nodir/a.txt: no such file or directory",
            ),
            ("STOR hello.txt/x", 550, "/hello.txt: not a directory"),
        ];
        for (line, code, want) in rows {
            let o = t.run(line);
            assert_eq!(o.code(), Some(code), "{line}: {o:?}");
            assert_eq!(text(&o), want, "{line}");
        }
    }

    #[test]
    fn fifo_targets_are_refused_without_blocking() {
        let mut t = session();
        t.mkfifo("pipe");
        for line in ["STOR pipe", "APPE pipe"] {
            assert_eq!(text(&t.run(line)), "/pipe: not a regular file", "{line}");
        }
        t.run("REST 1");
        assert_eq!(text(&t.run("STOR pipe")), "/pipe: not a regular file");
    }

    #[test]
    fn permissions() {
        let mut t = session();
        t.login_as("reader", "pw");
        for line in ["STOR x", "UPLOAD x", "APPE hello.txt"] {
            let o = t.run(line);
            assert_eq!(o.code(), Some(550), "{line}");
            assert!(text(&o).contains("permission denied"), "{line}");
        }
        assert!(!t.path("x").exists());
    }

    #[test]
    fn hostile_paths() {
        check_hostile_paths(Arc::new(Upload), "STOR {}");
        check_hostile_paths(Arc::new(Upload), "UPLOAD {}");
        check_hostile_paths(Arc::new(Upload), "APPE {}");
    }

    #[test]
    fn symlink_out_of_the_root_is_never_written_through() {
        let outside = tempfile::tempdir().unwrap();
        let secret = outside.path().join("secret");
        std::fs::write(&secret, b"outside").unwrap();
        let mut t = session();
        std::os::unix::fs::symlink(&secret, t.path("link")).unwrap();
        // APPE and REST+STOR would write through the link: refused.
        assert_eq!(t.run("APPE link").code(), Some(550));
        t.run("REST 1");
        assert_eq!(t.run("STOR link").code(), Some(550));
        // A plain STOR replaces the link itself with a new file.
        let r = upload(t.run("STOR link"), b"inside");
        assert_eq!(r.code, ReplyCode::CLOSING_DATA, "{r}");
        assert_eq!(std::fs::read(&secret).unwrap(), b"outside");
        assert!(!t.path("link").is_symlink());
        assert_eq!(std::fs::read(t.path("link")).unwrap(), b"inside");
    }
}
