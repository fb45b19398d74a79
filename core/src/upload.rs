//! Upload sinks: where STOR and APPE write.
//!
//! [`AtomicUpload`] writes to an unnamed `O_TMPFILE` in the target directory
//! (via `cap-tempfile`) and only [`commit`](UploadSink::commit) links it over
//! the final name with one `rename(2)`, so an interrupted, aborted or failed
//! upload never replaces or corrupts an existing file and leaves no stray
//! file behind. With a [`SpareTemps`], a series of uploads into one
//! directory takes temp files made ahead of time (see [`crate::spare`]).
//! [`InPlaceUpload`] writes into an existing file at an offset
//! (APPE, REST+STOR), which is what resuming requires.

use std::io::{self, Seek, SeekFrom, Write};

use cap_std::fs::{Dir, File, OpenOptions, Permissions, PermissionsExt};
use cap_tempfile::TempFile;

use crate::command::{UploadSink, commit_reply};
use crate::jail::{Jail, VirtualPath};
use crate::reclaim;
use crate::reply::Reply;
use crate::spare::{self, SpareTemps};

/// The unnamed file an atomic upload writes into.
enum Temp<'d> {
    /// Made for this upload.
    Own(TempFile<'d>),
    /// A spare made ahead of time in the same directory (always an
    /// `O_TMPFILE`).
    Spare(std::fs::File),
}

impl Temp<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Own(t) => t.write(buf),
            Self::Spare(f) => f.write(buf),
        }
    }

    fn sync_data(&self) -> io::Result<()> {
        match self {
            Self::Own(t) => t.as_file().sync_data(),
            Self::Spare(f) => f.sync_data(),
        }
    }

    /// Sets the final mode and links the file over `name` in `dir`.
    fn commit(self, dir: &Dir, name: &str, written: u64) -> io::Result<()> {
        match self {
            Self::Own(t) => {
                t.as_file().set_permissions(Permissions::from_mode(0o644))?;
                t.replace(name)
            }
            Self::Spare(f) => {
                use std::os::unix::fs::PermissionsExt as _;
                f.set_permissions(std::fs::Permissions::from_mode(0o644))?;
                // Nothing written moved the spare's times since it was
                // made: an empty upload is stamped now, as a new file is.
                if written == 0 {
                    let now = std::time::SystemTime::now();
                    f.set_times(std::fs::FileTimes::new().set_modified(now))?;
                }
                spare::link_as(dir, &f, name)
            }
        }
    }
}

type MaybeTemp<'a> = Option<Temp<'a>>;

self_cell::self_cell!(
    /// The target directory handle and the temp file that borrows it, kept
    /// together so the pair can move between threads.
    struct TempInDir {
        owner: Dir,
        #[covariant]
        dependent: MaybeTemp,
    }
);

/// A new file that appears under its final name only when committed.
pub struct AtomicUpload {
    cell: TempInDir,
    name: String,
    path: VirtualPath,
    written: u64,
}

impl AtomicUpload {
    /// Creates the temp file in `path`'s directory.
    ///
    /// # Errors
    /// `NotFound`/`NotADirectory` when the directory is missing,
    /// `IsADirectory` when the target is a directory, `InvalidFilename` for
    /// the root, `StorageFull` when the disk is full (see
    /// [`crate::io_reply`] for their reply codes).
    pub fn create(jail: &Jail, path: &VirtualPath) -> io::Result<Self> {
        Self::create_with(jail, path, None)
    }

    /// [`create`](Self::create), taking a spare temp file from `spares`
    /// when one is ready in the directory (and telling `spares` of the
    /// upload, so that a series of them gets spares).
    ///
    /// # Errors
    /// As [`create`](Self::create).
    pub fn create_with(
        jail: &Jail,
        path: &VirtualPath,
        spares: Option<&SpareTemps>,
    ) -> io::Result<Self> {
        let name = path
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidFilename, "not a file name"))?
            .to_owned();
        let dir = jail.open_dir(&path.parent())?;
        match dir.symlink_metadata(&name) {
            Ok(m) if m.is_dir() => {
                return Err(io::Error::from(io::ErrorKind::IsADirectory));
            }
            // The version this upload replaces stays intact until the
            // commit; its cached pages go now, so that the upload's own
            // pages can reuse that memory (see `crate::reclaim`).
            Ok(m) if m.is_file() && m.len() >= reclaim::DROP_CACHE_MIN => {
                reclaim::drop_cache(&dir, &name);
            }
            _ => {}
        }
        let spare = spares.and_then(|s| s.take(&dir));
        let cell = TempInDir::try_new(dir, |dir| match spare {
            Some(file) => Ok(Some(Temp::Spare(file))),
            None => TempFile::new(dir).map(|t| Some(Temp::Own(t))),
        })?;
        Ok(Self {
            cell,
            name,
            path: path.clone(),
            written: 0,
        })
    }
}

impl Write for AtomicUpload {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.cell.with_dependent_mut(|_, t| match t {
            Some(t) => t.write(buf),
            None => Err(io::Error::other("upload already committed")),
        })?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl UploadSink for AtomicUpload {
    fn sync(&mut self) -> io::Result<()> {
        self.cell.with_dependent_mut(|_, t| match t {
            Some(t) => t.sync_data(),
            None => Err(io::Error::other("upload already committed")),
        })
    }

    fn commit(mut self: Box<Self>) -> Reply {
        let name = self.name.clone();
        let written = self.written;
        let result = self.cell.with_dependent_mut(|dir, t| -> io::Result<()> {
            let t = t
                .take()
                .ok_or_else(|| io::Error::other("upload already committed"))?;
            // The data was made durable first (`sync`) when the policy asks
            // for it; the name comes last, with one rename(2), so a reader
            // sees the old file or the complete new one, never a torn one.
            // The replaced inode is freed after the directory is unlocked
            // (see `crate::reclaim`).
            reclaim::replace_then_free(dir, &name, || t.commit(dir, &name, written))
        });
        commit_reply(result, &self.path, self.written)
    }

    fn written(&self) -> u64 {
        self.written
    }
}

/// Writes into a file in place, from an offset (REST+STOR) or at its end
/// (APPE).
pub struct InPlaceUpload {
    file: File,
    path: VirtualPath,
    written: u64,
}

impl InPlaceUpload {
    /// Opens (creating if needed) `path` for writing at `offset`, or at its
    /// end when `offset` is `None`. A REST offset past the end is refused.
    ///
    /// # Errors
    /// `NotFound` (missing directory), `IsADirectory`, `InvalidInput` for a
    /// restart offset past the end, `StorageFull`.
    pub fn open(jail: &Jail, path: &VirtualPath, offset: Option<u64>) -> io::Result<Self> {
        let mut opts = OpenOptions::new();
        opts.write(true).create(true);
        let mut file = jail.dir().open_with(path.relative(), &opts)?;
        let meta = file.metadata()?;
        if meta.is_dir() {
            return Err(io::Error::from(io::ErrorKind::IsADirectory));
        }
        let len = meta.len();
        let start = match offset {
            Some(o) if o > len => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("restart offset {o} is past the end of the file ({len} bytes)"),
                ));
            }
            Some(o) => {
                // REST+STOR replaces everything after the marker.
                file.set_len(o)?;
                o
            }
            None => len,
        };
        file.seek(SeekFrom::Start(start))?;
        Ok(Self {
            file,
            path: path.clone(),
            written: 0,
        })
    }
}

impl Write for InPlaceUpload {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl UploadSink for InPlaceUpload {
    fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn commit(self: Box<Self>) -> Reply {
        // Written in place: the bytes are already where they belong.
        commit_reply(Ok(()), &self.path, self.written)
    }

    fn written(&self) -> u64 {
        self.written
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::ReplyCode;

    fn jail() -> (tempfile::TempDir, Jail) {
        let d = tempfile::tempdir().unwrap();
        let j = Jail::open(d.path()).unwrap();
        (d, j)
    }

    #[test]
    fn atomic_upload_replaces_only_on_commit() {
        let (d, jail) = jail();
        std::fs::write(d.path().join("a.txt"), b"old").unwrap();
        let p = VirtualPath::root().resolve("a.txt").unwrap();
        let mut up = Box::new(AtomicUpload::create(&jail, &p).unwrap());
        up.write_all(b"new contents").unwrap();
        assert_eq!(std::fs::read(d.path().join("a.txt")).unwrap(), b"old");
        up.sync().unwrap();
        assert_eq!(std::fs::read(d.path().join("a.txt")).unwrap(), b"old");
        let reply = up.commit();
        assert_eq!(reply.code, ReplyCode::CLOSING_DATA, "{reply}");
        assert_eq!(
            std::fs::read(d.path().join("a.txt")).unwrap(),
            b"new contents"
        );
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
        let mode = std::fs::metadata(d.path().join("a.txt"))
            .unwrap()
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o644
        );
    }

    #[test]
    fn dropped_upload_leaves_old_file_and_no_trace() {
        let (d, jail) = jail();
        std::fs::write(d.path().join("a.txt"), b"old").unwrap();
        let p = VirtualPath::root().resolve("a.txt").unwrap();
        let mut up = AtomicUpload::create(&jail, &p).unwrap();
        up.write_all(&[7u8; 100_000]).unwrap();
        drop(up);
        assert_eq!(std::fs::read(d.path().join("a.txt")).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn upload_into_missing_dir_or_onto_dir_fails() {
        let (d, jail) = jail();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        let p = VirtualPath::root().resolve("nope/a.txt").unwrap();
        assert_eq!(
            AtomicUpload::create(&jail, &p).err().unwrap().kind(),
            io::ErrorKind::NotFound
        );
        let p = VirtualPath::root().resolve("sub").unwrap();
        assert_eq!(
            AtomicUpload::create(&jail, &p).err().unwrap().kind(),
            io::ErrorKind::IsADirectory
        );
    }

    #[test]
    fn in_place_resume_and_append() {
        let (d, jail) = jail();
        std::fs::write(d.path().join("r.bin"), b"0123456789").unwrap();
        let p = VirtualPath::root().resolve("r.bin").unwrap();
        let mut up = Box::new(InPlaceUpload::open(&jail, &p, Some(4)).unwrap());
        up.write_all(b"abc").unwrap();
        assert_eq!(up.commit().code, ReplyCode::CLOSING_DATA);
        assert_eq!(std::fs::read(d.path().join("r.bin")).unwrap(), b"0123abc");
        let mut up = Box::new(InPlaceUpload::open(&jail, &p, None).unwrap());
        up.write_all(b"XY").unwrap();
        up.commit();
        assert_eq!(std::fs::read(d.path().join("r.bin")).unwrap(), b"0123abcXY");
        assert!(InPlaceUpload::open(&jail, &p, Some(100)).is_err());
    }
}
