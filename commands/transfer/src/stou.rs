//! STOU, RFC 959 §4.1.3 (store unique), with RFC 1123 §4.1.2.9's reply.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::io;

use ftpsh_core::{
    Command, Outcome, Permission, Reply, ReplyCode, Request, Session, Storage, Transfer, VerbSpec,
    VirtualPath, WriteMode, io_reply, path_reply,
};

use crate::outcome;

/// Numbered names tried after a wanted name that is taken (`name.1` …).
const NUMBERED_TRIES: u32 = 99;

/// Random names tried before giving up (each is 64 random bits, so a
/// second try practically never happens).
const RANDOM_TRIES: u32 = 8;

/// STOU: store the data connection's bytes under a name that does not
/// exist yet in the current directory.
///
/// RFC 959 §4.1.3: like STOR, except that the file is created in the
/// current directory under a name unique to that directory, and the 250
/// transfer-complete reply must include the name generated. RFC 1123
/// §4.1.2.9 fixes the preliminary reply as `150 FILE: pathname`, which is
/// what clients read; here the name is given relative to the current
/// directory, as pyftpdlib does. STOU takes no argument in RFC 959; like
/// pyftpdlib, an optional argument is taken as the wanted name, used if
/// free and numbered (`name.1`, `name.2`, …) otherwise. Without one the name
/// is `ftpsh.` and 16 random hex digits.
///
/// The upload is atomic like STOR's ([`WriteMode::Replace`]). The name is checked
/// free when STOU runs and the file appears under it at the end of the
/// transfer; another client storing that exact name in between would be
/// replaced — with random names, practically impossible.
#[derive(Debug, Clone, Copy, Default)]
pub struct UniqueUpload;

impl Command for UniqueUpload {
    fn name(&self) -> &str {
        "unique-upload"
    }

    fn verbs(&self) -> Vec<VerbSpec> {
        vec![
            VerbSpec::new(
                "STOU",
                "STOU [<SP> pathname]",
                "upload a file under a new, unique name",
            )
            .permission(Permission::Write)
            .data()
            .example("STOU", 150, "FILE: ftpsh.<random>")
            .example("STOU report.txt", 150, "FILE: report.txt")
            .example(
                "STOU hello.txt",
                150,
                "FILE: hello.txt.1, the name is taken",
            )
            .example("STOU nodir/x", 550, "the directory must exist"),
        ]
    }

    fn run(&self, request: &Request, session: &mut Session) -> Outcome {
        if request.verb != "STOU" {
            return Outcome::unhandled(&request.verb);
        }
        // A restart marker makes no sense for a new file; it is used up.
        session.take_restart_offset();
        outcome(stou(request, session))
    }
}

fn stou(request: &Request, session: &Session) -> Result<Outcome, Reply> {
    let storage = session.require_storage()?;
    let storage = storage.as_ref();
    let path = match request.arg.as_deref().map(str::trim) {
        Some(wanted) if !wanted.is_empty() => {
            let wanted = session.cwd.resolve(wanted).map_err(|e| path_reply(&e))?;
            numbered(storage, &wanted)?
        }
        _ => random(storage, &session.cwd)?,
    };
    let sink = storage
        .create_upload(&path, WriteMode::Replace)
        .map_err(|e| crate::stor::new_file_reply(&e, &path))?;
    let sink = crate::stor::for_type(session, sink);
    let shown = path.file_name().unwrap_or_default();
    Ok(Outcome::Transfer {
        opening: Reply::new(ReplyCode::FILE_STATUS_OK, format!("FILE: {shown}")),
        transfer: Transfer::Receive(sink),
    })
}

/// True when nothing (not even a dangling symlink) has this name.
fn is_free(storage: &dyn Storage, path: &VirtualPath) -> Result<bool, Reply> {
    match storage.symlink_metadata(path) {
        Ok(_) => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // The directory itself must exist.
            let parent = path.parent();
            match storage.metadata(&parent) {
                Ok(m) if m.is_dir() => Ok(true),
                Ok(_) => Err(io_reply(
                    &io::Error::from(io::ErrorKind::NotADirectory),
                    &parent,
                )),
                Err(e) => Err(io_reply(&e, &parent)),
            }
        }
        Err(e) => Err(io_reply(&e, path)),
    }
}

fn numbered(storage: &dyn Storage, wanted: &VirtualPath) -> Result<VirtualPath, Reply> {
    let Some(name) = wanted.file_name() else {
        return Err(Reply::new(
            ReplyCode::BAD_FILE_NAME,
            format!("{wanted}: not a file name"),
        ));
    };
    if is_free(storage, wanted)? {
        return Ok(wanted.clone());
    }
    let parent = wanted.parent();
    for n in 1..=NUMBERED_TRIES {
        let candidate = parent
            .join(&format!("{name}.{n}"))
            .map_err(|e| path_reply(&e))?;
        if is_free(storage, &candidate)? {
            return Ok(candidate);
        }
    }
    Err(no_unique_name(wanted))
}

fn random(storage: &dyn Storage, dir: &VirtualPath) -> Result<VirtualPath, Reply> {
    let state = RandomState::new();
    for i in 0..RANDOM_TRIES {
        // RandomState is seeded from the OS's random source.
        let candidate = dir
            .join(&format!("ftpsh.{:016x}", state.hash_one(i)))
            .map_err(|e| path_reply(&e))?;
        if is_free(storage, &candidate)? {
            return Ok(candidate);
        }
    }
    Err(no_unique_name(dir))
}

fn no_unique_name(path: &VirtualPath) -> Reply {
    Reply::new(
        ReplyCode::FILE_UNAVAILABLE_BUSY,
        format!("{path}: no unique file name available"),
    )
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Arc;

    use ftpsh_core::UploadSink;
    use ftpsh_core::testkit::{check_examples, check_hostile_paths};

    use super::*;
    use crate::testutil::session;

    #[test]
    fn examples() {
        check_examples(Arc::new(UniqueUpload));
    }

    fn sink(o: Outcome) -> (String, Box<dyn UploadSink>) {
        match o {
            Outcome::Transfer {
                opening,
                transfer: Transfer::Receive(sink),
            } => (String::from_utf8(opening.to_wire()).unwrap(), sink),
            other => panic!("expected an upload, got {other:?}"),
        }
    }

    #[test]
    fn random_names_are_new_and_atomic() {
        let mut t = session();
        let (a, mut sa) = sink(t.run("STOU"));
        let (b, _) = sink(t.run("STOU"));
        assert!(a.starts_with("150 FILE: ftpsh."), "{a}");
        assert_ne!(a, b);
        let name = a.trim_end().trim_start_matches("150 FILE: ").to_owned();
        sa.write_all(b"unique").unwrap();
        assert!(!t.path(&name).exists(), "visible before the commit");
        assert_eq!(sa.commit().code, ReplyCode::CLOSING_DATA);
        assert_eq!(std::fs::read(t.path(&name)).unwrap(), b"unique");
    }

    #[test]
    fn wanted_names_are_numbered_when_taken() {
        let mut t = session();
        std::fs::write(t.path("hello.txt.1"), b"").unwrap();
        let (opening, s) = sink(t.run("STOU hello.txt"));
        assert_eq!(opening, "150 FILE: hello.txt.2\r\n");
        assert_eq!(s.commit().code, ReplyCode::CLOSING_DATA);
        assert_eq!(
            std::fs::read(t.path("hello.txt")).unwrap(),
            b"hello, world\n"
        );
        t.session.cwd = t.session.cwd.resolve("docs").unwrap();
        let (opening, _) = sink(t.run("STOU"));
        assert!(opening.starts_with("150 FILE: ftpsh."), "{opening}");
        // A directory's name is taken too.
        let (opening, _) = sink(t.run("STOU /empty"));
        assert_eq!(opening, "150 FILE: empty.1\r\n");
    }

    #[test]
    fn refusals() {
        let mut t = session();
        assert_eq!(t.run("STOU nodir/x").code(), Some(550));
        assert_eq!(t.run("STOU /").code(), Some(553));
        t.login_as("reader", "pw");
        assert_eq!(t.run("STOU").code(), Some(550));
        assert_eq!(std::fs::read_dir(t.dir.path()).unwrap().count(), 4);
    }

    #[test]
    fn hostile_paths() {
        check_hostile_paths(Arc::new(UniqueUpload), "STOU {}");
    }
}
