//! SIZE (the seed's `size FILE`): the size of a file in bytes.
//!
//! RFC 3659 §4: SIZE answers `213 <bytes>` with the number of bytes a RETR
//! of the file would transfer in the current transfer type, and 550 when the
//! file does not exist or its size cannot be told. In `TYPE I` that is the
//! size on disk. In `TYPE A` every LF goes out as CRLF, so the transfer
//! size is only known after reading the whole file; as pyftpdlib does,
//! SIZE then answers 550 ("SIZE not allowed in ASCII mode") rather than
//! spend a full read of a possibly huge file on every SIZE or answer a
//! wrong number (vsftpd's choice). Clients send `TYPE I` before SIZE
//! (curl, lftp, ftplib's `size()`). Only regular files have one: directories, FIFOs
//! and devices get 550 "not a regular file" (§4.2 leaves other objects to
//! the server). Symlinks are followed inside the jail only.
//!
//! The main trade-off: the reply is the exact byte count and nothing else,
//! as clients parse it; the shell turns it into the seed's "1.23 MiB" form.

use std::sync::Arc;

use ftpsh_core::{
    Command, Outcome, Permission, Reply, ReplyCode, Request, Session, TransferType, VerbSpec,
};

/// SIZE: the transfer size of one regular file.
#[derive(Debug, Clone, Copy, Default)]
pub struct Size;

/// The commands of this crate, for the built-in list.
pub fn commands() -> Vec<Arc<dyn Command>> {
    vec![Arc::new(Size)]
}

impl Command for Size {
    fn name(&self) -> &str {
        "size"
    }

    fn verbs(&self) -> Vec<VerbSpec> {
        vec![
            VerbSpec::new("SIZE", "SIZE <SP> pathname", "the size of a file in bytes")
                .needs_arg()
                .permission(Permission::List)
                .feat("SIZE")
                .example("SIZE hello.txt", 213, "13 bytes")
                .example("SIZE data.bin", 213, "3000 bytes")
                .example("SIZE missing.txt", 550, "no such file")
                .example("SIZE docs", 550, "a directory is not a regular file")
                .example("SIZE", 501, "a file name is required"),
        ]
    }

    fn run(&self, request: &Request, session: &mut Session) -> Outcome {
        if request.verb != "SIZE" {
            return Outcome::unhandled(&request.verb);
        }
        size(request, session).unwrap_or_else(Outcome::Reply)
    }
}

fn size(request: &Request, session: &Session) -> Result<Outcome, Reply> {
    let storage = session.require_storage()?;
    let path = session.path_arg(request, "a file name")?;
    let meta = ftpsh_core::storage::regular_file_metadata(storage.as_ref(), &path)?;
    if session.transfer_type == TransferType::Ascii {
        return Err(Reply::new(
            ReplyCode::FILE_UNAVAILABLE,
            format!("{path}: SIZE not allowed in ASCII mode, send TYPE I first"),
        ));
    }
    Ok(Reply::new(ReplyCode::FILE_STATUS, meta.len.to_string()).into())
}

#[cfg(test)]
mod tests {
    use ftpsh_core::testkit::{TestSession, check_examples, check_hostile_paths};

    use super::*;

    #[test]
    fn examples() {
        check_examples(Arc::new(Size));
    }

    #[test]
    fn hostile_paths() {
        check_hostile_paths(Arc::new(Size), "SIZE {}");
    }

    fn session() -> TestSession {
        TestSession::new(TestSession::registry_with(Arc::new(Size)))
    }

    fn wire(o: Outcome) -> String {
        match o {
            Outcome::Reply(r) => String::from_utf8(r.to_wire()).unwrap(),
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    #[test]
    fn ascii_mode_rfc3659_4() {
        let mut t = session();
        t.session.transfer_type = TransferType::Ascii;
        assert_eq!(
            wire(t.run("SIZE hello.txt")),
            "550 /hello.txt: SIZE not allowed in ASCII mode, send TYPE I first\r\n"
        );
        // The file's own errors still come first.
        assert_eq!(t.run("SIZE nope").code(), Some(550));
        t.session.transfer_type = TransferType::Binary;
        assert_eq!(wire(t.run("SIZE hello.txt")), "213 13\r\n");
    }

    #[test]
    fn sizes_rfc3659_4() {
        let mut t = session();
        let rows = [
            ("SIZE hello.txt", "213 13\r\n"),
            ("SIZE /data.bin", "213 3000\r\n"),
            ("SIZE docs/readme.md", "213 7\r\n"),
            ("SIZE docs/../hello.txt", "213 13\r\n"),
            ("SIZE docs", "550 /docs: not a regular file\r\n"),
            ("SIZE /", "550 /: not a regular file\r\n"),
            ("SIZE nope", "550 /nope: no such file or directory\r\n"),
            ("SIZE hello.txt/x", "550 /hello.txt/x: not a directory\r\n"),
            ("SIZE", "501 SIZE needs an argument: SIZE <SP> pathname\r\n"),
        ];
        for (line, want) in rows {
            assert_eq!(wire(t.run(line)), want, "{line}");
        }
        // Large files are not truncated to 32 bits.
        let f = std::fs::File::create(t.path("sparse")).unwrap();
        f.set_len(5 << 30).unwrap();
        assert_eq!(wire(t.run("SIZE sparse")), "213 5368709120\r\n");
    }

    #[test]
    fn symlinks_inside_and_out() {
        let mut t = session();
        std::os::unix::fs::symlink("data.bin", t.path("inside")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", t.path("passwd")).unwrap();
        std::os::unix::fs::symlink("missing", t.path("dangling")).unwrap();
        assert_eq!(wire(t.run("SIZE inside")), "213 3000\r\n");
        assert_eq!(
            wire(t.run("SIZE passwd")),
            "550 /passwd: permission denied\r\n"
        );
        assert_eq!(t.run("SIZE dangling").code(), Some(550));
    }

    #[test]
    fn fifo_is_not_a_regular_file() {
        let mut t = session();
        t.mkfifo("pipe");
        assert_eq!(
            wire(t.run("SIZE pipe")),
            "550 /pipe: not a regular file\r\n"
        );
    }

    #[test]
    fn needs_permission_l() {
        let mut t = session();
        t.login_as("reader", "pw");
        assert_eq!(t.run("SIZE hello.txt").code(), Some(213));
        let mut users = t.session.config.users.clone();
        let root = t.dir.path().to_path_buf();
        users.add(ftpsh_core::User::from_spec("getter:pw:r", root).unwrap());
        t.session.config = Arc::new(ftpsh_core::ServerConfig {
            users,
            ..(*t.session.config).clone()
        });
        t.login_as("getter", "pw");
        assert_eq!(
            wire(t.run("SIZE hello.txt")),
            "550 SIZE: permission denied (needs 'l')\r\n"
        );
        let mut t = TestSession::logged_out(TestSession::registry_with(Arc::new(Size)));
        assert_eq!(t.run("SIZE hello.txt").code(), Some(530));
    }
}
