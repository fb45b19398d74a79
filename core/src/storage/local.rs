//! The local back-end: a host directory per account, served through the
//! cap-std [`Jail`], with `O_TMPFILE` atomic uploads ([`AtomicUpload`]) and
//! open files the loop sends with `sendfile(2)`. The default back-end.
//!
//! It lives in `ftpsh-core` rather than a crate of its own because it adds
//! no dependency the core does not already have, and because it is what
//! every command crate's tests run against (`testkit`): a separate crate
//! would need the test kit moved out of core as well.

use std::io;
use std::sync::Arc;
use std::time::SystemTime;

use std::fs::FileTimes;

use cap_std::fs::{MetadataExt, Permissions, PermissionsExt};

use super::{
    Backend, Capabilities, DirEntry, FileKind, Metadata, ReadBody, ReadFile, Storage, WriteMode,
    not_a_regular_file,
};
use crate::auth::User;
use crate::command::UploadSink;
use crate::jail::{Jail, JailCache, VirtualPath};
use crate::spare::SpareTemps;
use crate::upload::{AtomicUpload, InPlaceUpload};

/// Host directories, one per account root, each opened once and shared by
/// the sessions logged into it ([`JailCache`]).
#[derive(Debug, Default)]
pub struct LocalBackend {
    jails: JailCache,
    /// Temp files made ahead for series of uploads (see [`crate::spare`]).
    spares: Arc<SpareTemps>,
}

impl LocalBackend {
    /// A back-end with no root open yet.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Backend for LocalBackend {
    fn capabilities(&self) -> Capabilities {
        Capabilities::POSIX
    }

    fn open_root(&self, user: &User) -> io::Result<Arc<dyn Storage>> {
        Ok(Arc::new(LocalStorage {
            jail: self.jails.open(&user.root)?,
            spares: Some(Arc::clone(&self.spares)),
        }))
    }

    fn describe(&self) -> String {
        "local".to_owned()
    }
}

/// One account's host directory.
#[derive(Debug, Clone)]
pub struct LocalStorage {
    jail: Jail,
    /// The back-end's spare temp files; none for a storage of its own.
    spares: Option<Arc<SpareTemps>>,
}

impl LocalStorage {
    /// Storage over an open jail, without spare temp files.
    pub fn new(jail: Jail) -> Self {
        Self { jail, spares: None }
    }

    /// Opens `root` as a storage of its own (tests, tools): no sharing.
    ///
    /// # Errors
    /// The I/O error from opening the directory.
    pub fn open(root: &std::path::Path) -> io::Result<Self> {
        Ok(Self::new(Jail::open(root)?))
    }
}

/// [`Metadata`] of a cap-std stat.
pub fn metadata_of(meta: &cap_std::fs::Metadata) -> Metadata {
    let kind = if meta.is_file() {
        FileKind::File
    } else if meta.is_dir() {
        FileKind::Dir
    } else {
        FileKind::Other
    };
    Metadata {
        kind,
        mode: meta.mode(),
        len: meta.len(),
        mtime: meta.mtime(),
        nlink: meta.nlink(),
        uid: meta.uid(),
        gid: meta.gid(),
        unique: (meta.dev(), meta.ino()),
    }
}

impl Storage for LocalStorage {
    fn capabilities(&self) -> Capabilities {
        Capabilities::POSIX
    }

    fn metadata(&self, path: &VirtualPath) -> io::Result<Metadata> {
        Ok(metadata_of(&self.jail.dir().metadata(path.relative())?))
    }

    fn symlink_metadata(&self, path: &VirtualPath) -> io::Result<Metadata> {
        Ok(metadata_of(
            &self.jail.dir().symlink_metadata(path.relative())?,
        ))
    }

    fn list(&self, path: &VirtualPath) -> io::Result<Vec<DirEntry>> {
        let dir = self.jail.open_dir(path)?;
        let mut entries: Vec<DirEntry> = dir
            .entries()?
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let name = entry.file_name();
                // Stat through the root, not through `dir`: a symlink such
                // as `../hello.txt` inside a subdirectory leaves `dir` but
                // not the jail, and must still resolve.
                let meta = self.jail.dir().metadata(path.relative().join(&name)).ok()?;
                Some(DirEntry {
                    name: name.to_string_lossy().into_owned(),
                    metadata: metadata_of(&meta),
                })
            })
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    fn open_read(&self, path: &VirtualPath, offset: u64) -> io::Result<ReadFile> {
        // Check before opening: open(2) on a FIFO waits for a writer.
        if !self.jail.dir().metadata(path.relative())?.is_file() {
            return Err(not_a_regular_file());
        }
        let file = self.jail.dir().open(path.relative())?;
        // Stat the opened file too: the name may have been replaced
        // meanwhile.
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(not_a_regular_file());
        }
        let len = meta.len();
        super::check_offset(offset, len)?;
        Ok(ReadFile {
            len,
            body: ReadBody::File(file.into_std()),
        })
    }

    fn create_upload(
        &self,
        path: &VirtualPath,
        mode: WriteMode,
    ) -> io::Result<Box<dyn UploadSink>> {
        Ok(match mode {
            WriteMode::Replace => Box::new(AtomicUpload::create_with(
                &self.jail,
                path,
                self.spares.as_deref(),
            )?),
            WriteMode::Restart(offset) => {
                Box::new(InPlaceUpload::open(&self.jail, path, Some(offset))?)
            }
            WriteMode::Append => Box::new(InPlaceUpload::open(&self.jail, path, None)?),
        })
    }

    fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> io::Result<()> {
        let dir = self.jail.dir();
        dir.rename(from.relative(), dir, to.relative())
    }

    fn remove_file(&self, path: &VirtualPath) -> io::Result<()> {
        if self.jail.dir().symlink_metadata(path.relative())?.is_dir() {
            return Err(io::Error::from(io::ErrorKind::IsADirectory));
        }
        self.jail.dir().remove_file(path.relative())
    }

    fn create_dir(&self, path: &VirtualPath) -> io::Result<()> {
        self.jail.dir().create_dir(path.relative())
    }

    fn remove_dir(&self, path: &VirtualPath) -> io::Result<()> {
        self.jail.dir().remove_dir(path.relative())
    }

    fn set_mtime(&self, path: &VirtualPath, mtime: SystemTime) -> io::Result<()> {
        if !self.jail.dir().metadata(path.relative())?.is_file() {
            return Err(not_a_regular_file());
        }
        // Set through an open handle, so the path is resolved once, inside
        // the jail.
        let file = self.jail.dir().open(path.relative())?.into_std();
        if !file.metadata()?.is_file() {
            return Err(not_a_regular_file());
        }
        file.set_times(FileTimes::new().set_modified(mtime))
    }

    fn set_mode(&self, path: &VirtualPath, mode: u32) -> io::Result<()> {
        self.jail
            .dir()
            .set_permissions(path.relative(), Permissions::from_mode(mode & 0o7777))
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    fn storage() -> (tempfile::TempDir, LocalStorage) {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("a.txt"), b"hello").unwrap();
        let s = LocalStorage::open(d.path()).unwrap();
        (d, s)
    }

    fn p(s: &str) -> VirtualPath {
        VirtualPath::root().resolve(s).unwrap()
    }

    #[test]
    fn stat_list_read() {
        let (_d, s) = storage();
        assert!(s.metadata(&p("/a.txt")).unwrap().is_file());
        assert_eq!(s.metadata(&p("/a.txt")).unwrap().len, 5);
        assert!(s.metadata(&p("/sub")).unwrap().is_dir());
        let names: Vec<String> = s
            .list(&p("/"))
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["a.txt", "sub"]);
        let f = s.open_read(&p("/a.txt"), 2).unwrap();
        assert_eq!(f.len, 5);
        let ReadBody::File(mut file) = f.body else {
            panic!("local reads are files")
        };
        let mut all = String::new();
        file.read_to_string(&mut all).unwrap();
        assert_eq!(all, "hello");
        assert_eq!(
            s.open_read(&p("/a.txt"), 6).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(
            s.open_read(&p("/sub"), 0).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(
            s.open_read(&p("/nope"), 0).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn upload_modes() {
        let (d, s) = storage();
        let mut up = s.create_upload(&p("/a.txt"), WriteMode::Replace).unwrap();
        up.write_all(b"new").unwrap();
        assert_eq!(std::fs::read(d.path().join("a.txt")).unwrap(), b"hello");
        assert_eq!(up.commit().code.0, 226);
        assert_eq!(std::fs::read(d.path().join("a.txt")).unwrap(), b"new");
        let mut up = s.create_upload(&p("/a.txt"), WriteMode::Append).unwrap();
        up.write_all(b"er").unwrap();
        up.commit();
        assert_eq!(std::fs::read(d.path().join("a.txt")).unwrap(), b"newer");
        let mut up = s
            .create_upload(&p("/a.txt"), WriteMode::Restart(1))
            .unwrap();
        up.write_all(b"ow").unwrap();
        up.commit();
        assert_eq!(std::fs::read(d.path().join("a.txt")).unwrap(), b"now");
        let dropped = s.create_upload(&p("/a.txt"), WriteMode::Replace).unwrap();
        drop(dropped);
        assert_eq!(std::fs::read(d.path().join("a.txt")).unwrap(), b"now");
        assert_eq!(
            s.create_upload(&p("/"), WriteMode::Replace)
                .err()
                .unwrap()
                .kind(),
            io::ErrorKind::InvalidFilename
        );
        assert_eq!(
            s.create_upload(&p("/sub"), WriteMode::Replace)
                .err()
                .unwrap()
                .kind(),
            io::ErrorKind::IsADirectory
        );
    }

    #[test]
    fn tree_operations() {
        let (d, s) = storage();
        s.create_dir(&p("/new")).unwrap();
        assert_eq!(
            s.create_dir(&p("/new")).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        s.rename(&p("/a.txt"), &p("/new/b.txt")).unwrap();
        assert!(d.path().join("new/b.txt").is_file());
        assert_eq!(
            s.remove_dir(&p("/new")).unwrap_err().kind(),
            io::ErrorKind::DirectoryNotEmpty
        );
        assert_eq!(
            s.remove_file(&p("/new")).unwrap_err().kind(),
            io::ErrorKind::IsADirectory
        );
        s.set_mode(&p("/new/b.txt"), 0o600).unwrap();
        assert_eq!(s.metadata(&p("/new/b.txt")).unwrap().mode & 0o777, 0o600);
        let when = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
        s.set_mtime(&p("/new/b.txt"), when).unwrap();
        assert_eq!(s.metadata(&p("/new/b.txt")).unwrap().mtime, 1_000_000_000);
        s.remove_file(&p("/new/b.txt")).unwrap();
        s.remove_dir(&p("/new")).unwrap();
        assert!(!d.path().join("new").exists());
    }
}
