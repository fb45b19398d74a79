//! [`OpendalStorage`]: one account's key prefix, as the commands see it.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::time::SystemTime;

use ftpsh_core::storage::{not_a_regular_file, unsupported};
use ftpsh_core::{
    Capabilities, Capability, DirEntry, FileKind, Metadata, ReadBody, ReadFile, Storage,
    UploadSink, VirtualPath, WriteMode,
};
use opendal::options::ListOptions;

use crate::backend::Shared;
use crate::error::{shorten_io, to_io};
use crate::keys::{child_name, dir_key, file_key, same_key, user_prefix};
use crate::upload::Upload;

/// The largest object one server-side copy (S3 `CopyObject`) may copy;
/// larger files are copied through the server (read, then a multipart
/// upload).
const MAX_SERVER_COPY: u64 = 5 << 30;

/// `st_mode` of a file: a regular file, `rw-r--r--`.
const FILE_MODE: u32 = 0o100_644;
/// `st_mode` of a directory: `rwxr-xr-x`.
const DIR_MODE: u32 = 0o040_755;

/// What a path is in the store.
enum Found {
    /// An object: its metadata.
    File(opendal::Metadata),
    /// A directory: a `dir/` marker or objects below `dir/` (the marker's
    /// time when known).
    Dir(Option<i64>),
    /// Neither.
    Missing,
}

/// One account's files: the keys below its prefix. Every method blocks on
/// the network: call it on a worker thread, never on the event loop.
#[derive(Debug, Clone)]
pub struct OpendalStorage {
    shared: Arc<Shared>,
    /// `alice/`, or empty for the back-end's prefix itself.
    prefix: String,
}

fn seconds(t: Option<opendal::raw::Timestamp>) -> Option<i64> {
    t.map(|t| t.into_inner().as_second())
}

fn err(kind: io::ErrorKind, what: &str) -> io::Error {
    io::Error::new(kind, what.to_owned())
}

impl OpendalStorage {
    pub(crate) fn new(shared: Arc<Shared>, root: &std::path::Path) -> io::Result<Self> {
        Ok(Self {
            shared,
            prefix: user_prefix(root)?,
        })
    }

    /// The key prefix of this account (`alice/`, or empty).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn file_key(&self, path: &VirtualPath) -> String {
        file_key(&self.prefix, path)
    }

    fn dir_key(&self, path: &VirtualPath) -> String {
        dir_key(&self.prefix, path)
    }

    fn op(&self) -> &opendal::blocking::Operator {
        &self.shared.op
    }

    fn file_metadata(&self, key: &str, meta: &opendal::Metadata) -> Metadata {
        Metadata {
            kind: FileKind::File,
            mode: FILE_MODE,
            len: meta.content_length(),
            mtime: seconds(meta.last_modified()).unwrap_or(0),
            nlink: 1,
            uid: 0,
            gid: 0,
            unique: self.shared.unique(key),
        }
    }

    fn dir_metadata(&self, key: &str, mtime: Option<i64>) -> Metadata {
        Metadata {
            kind: FileKind::Dir,
            mode: DIR_MODE,
            len: 0,
            mtime: mtime.unwrap_or(0),
            nlink: 1,
            uid: 0,
            gid: 0,
            unique: self.shared.unique(key),
        }
    }

    /// Up to `n` entries of the directory key `dir` (its marker included
    /// when there is one). A missing directory lists nothing.
    fn first_entries(&self, dir: &str, n: usize) -> io::Result<Vec<opendal::Entry>> {
        let lister = match self.op().lister_options(
            dir,
            ListOptions {
                limit: Some(n),
                ..Default::default()
            },
        ) {
            Ok(l) => l,
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(to_io(e)),
        };
        let mut out = Vec::new();
        for entry in lister.take(n) {
            match entry {
                Ok(e) => out.push(e),
                Err(e) if e.kind() == opendal::ErrorKind::NotFound => break,
                Err(e) => return Err(to_io(e)),
            }
        }
        Ok(out)
    }

    /// Whether `path` is a file, a directory or nothing. A key wins over a
    /// prefix of the same name.
    fn lookup(&self, path: &VirtualPath) -> io::Result<Found> {
        if path.is_root() {
            return Ok(Found::Dir(None));
        }
        match self.op().stat(&self.file_key(path)) {
            Ok(meta) if meta.is_dir() => return Ok(Found::Dir(seconds(meta.last_modified()))),
            Ok(meta) => return Ok(Found::File(meta)),
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => {}
            Err(e) => return Err(to_io(e)),
        }
        let dir = self.dir_key(path);
        let first = self.first_entries(&dir, 1)?;
        Ok(match first.first() {
            Some(e) if same_key(e.path(), &dir) => {
                Found::Dir(seconds(e.metadata().last_modified()))
            }
            Some(_) => Found::Dir(None),
            None => Found::Missing,
        })
    }

    /// The parent of `path` must be a directory (creating below a missing
    /// one is `NotFound`, like a disk).
    fn check_parent(&self, path: &VirtualPath) -> io::Result<()> {
        let parent = path.parent();
        match self.lookup(&parent)? {
            Found::Dir(_) => Ok(()),
            Found::File(_) => Err(err(
                io::ErrorKind::NotADirectory,
                "the parent is not a directory",
            )),
            Found::Missing => Err(err(
                io::ErrorKind::NotFound,
                "the parent directory does not exist",
            )),
        }
    }

    /// True when the directory key `dir` holds anything but its marker.
    fn has_children(&self, dir: &str) -> io::Result<bool> {
        Ok(self
            .first_entries(dir, 2)?
            .iter()
            .any(|e| !same_key(e.path(), dir)))
    }

    fn upload(&self, key: &str, path: &VirtualPath) -> io::Result<Upload> {
        Upload::start(&self.shared, key, path.clone())
    }

    /// Copies the object `from` to `to`: server-side when the service can
    /// (and the object is small enough for one copy), else through here.
    fn copy_object(&self, from: &str, to: &str, len: u64, path: &VirtualPath) -> io::Result<()> {
        let cap = self.shared.aop.info().capability();
        if cap.copy && len <= MAX_SERVER_COPY {
            return self.op().copy(from, to).map(|_| ()).map_err(to_io);
        }
        let mut reader = self.reader(from, 0, len)?;
        let mut upload = self.upload(to, path)?;
        io::copy(&mut reader, &mut upload)?;
        upload.finish()
    }

    fn reader(&self, key: &str, offset: u64, len: u64) -> io::Result<Box<dyn io::Read + Send>> {
        if offset >= len {
            return Ok(Box::new(io::empty()));
        }
        let reader = self
            .op()
            .reader(key)
            .and_then(|r| r.into_std_read(offset..len))
            .map_err(to_io)?;
        Ok(Box::new(ShortErrors(reader)))
    }
}

/// A reader whose errors carry short messages (they end a transfer with
/// `451 transfer aborted: local error: <message>`).
struct ShortErrors<R>(R);

impl<R: io::Read> io::Read for ShortErrors<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(shorten_io)
    }
}

impl Storage for OpendalStorage {
    fn capabilities(&self) -> Capabilities {
        Capabilities::OBJECT_STORE
    }

    fn metadata(&self, path: &VirtualPath) -> io::Result<Metadata> {
        match self.lookup(path)? {
            Found::File(meta) => Ok(self.file_metadata(&self.file_key(path), &meta)),
            Found::Dir(mtime) => Ok(self.dir_metadata(&self.dir_key(path), mtime)),
            Found::Missing => Err(io::Error::from(io::ErrorKind::NotFound)),
        }
    }

    fn list(&self, path: &VirtualPath) -> io::Result<Vec<DirEntry>> {
        if !path.is_root() {
            match self.op().stat(&self.file_key(path)) {
                Ok(meta) if meta.is_file() => {
                    return Err(io::Error::from(io::ErrorKind::NotADirectory));
                }
                Ok(_) => {}
                Err(e) if e.kind() == opendal::ErrorKind::NotFound => {}
                Err(e) => return Err(to_io(e)),
            }
        }
        let dir = self.dir_key(path);
        let lister = match self.op().lister(&dir) {
            Ok(l) => Some(l),
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => None,
            Err(e) => return Err(to_io(e)),
        };
        let mut exists = path.is_root();
        let mut entries: BTreeMap<String, DirEntry> = BTreeMap::new();
        for entry in lister.into_iter().flatten() {
            let entry = match entry {
                Ok(e) => e,
                Err(e) if e.kind() == opendal::ErrorKind::NotFound => break,
                Err(e) => return Err(to_io(e)),
            };
            exists = true;
            if same_key(entry.path(), &dir) {
                continue;
            }
            let Some(name) = child_name(entry.path(), &dir) else {
                continue;
            };
            let key = entry.path();
            let metadata = if entry.metadata().is_dir() {
                self.dir_metadata(key, seconds(entry.metadata().last_modified()))
            } else if entry.metadata().last_modified().is_none() {
                // Services whose listings carry no times (OpenDAL's fs):
                // one stat each. S3 listings carry size and time.
                match self.op().stat(key) {
                    Ok(meta) => self.file_metadata(key, &meta),
                    // Removed while listing: left out.
                    Err(_) => continue,
                }
            } else {
                self.file_metadata(key, entry.metadata())
            };
            let name = name.to_owned();
            // A file and a prefix of the same name: the file is what
            // `metadata` sees, so it is what the listing shows.
            if entries
                .get(&name)
                .is_some_and(|e: &DirEntry| e.metadata.is_file())
            {
                continue;
            }
            entries.insert(name.clone(), DirEntry { name, metadata });
        }
        if !exists {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        Ok(entries.into_values().collect())
    }

    fn open_read(&self, path: &VirtualPath, offset: u64) -> io::Result<ReadFile> {
        let meta = match self.lookup(path)? {
            Found::File(meta) => meta,
            Found::Dir(_) => return Err(not_a_regular_file()),
            Found::Missing => return Err(io::Error::from(io::ErrorKind::NotFound)),
        };
        let len = meta.content_length();
        ftpsh_core::storage::check_offset(offset, len)?;
        Ok(ReadFile {
            len,
            body: ReadBody::Stream(self.reader(&self.file_key(path), offset, len)?),
        })
    }

    fn create_upload(
        &self,
        path: &VirtualPath,
        mode: WriteMode,
    ) -> io::Result<Box<dyn UploadSink>> {
        if mode != WriteMode::Replace {
            return Err(unsupported(Capability::Append));
        }
        if path.is_root() {
            return Err(io::Error::from(io::ErrorKind::InvalidFilename));
        }
        if let Found::Dir(_) = self.lookup(path)? {
            return Err(io::Error::from(io::ErrorKind::IsADirectory));
        }
        self.check_parent(path)?;
        Ok(Box::new(self.upload(&self.file_key(path), path)?))
    }

    fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> io::Result<()> {
        let source = self.lookup(from)?;
        if from == to {
            return match source {
                Found::Missing => Err(io::Error::from(io::ErrorKind::NotFound)),
                _ => Ok(()),
            };
        }
        match source {
            Found::Missing => Err(io::Error::from(io::ErrorKind::NotFound)),
            Found::File(meta) => {
                if to.is_root() {
                    return Err(io::Error::from(io::ErrorKind::IsADirectory));
                }
                if let Found::Dir(_) = self.lookup(to)? {
                    return Err(io::Error::from(io::ErrorKind::IsADirectory));
                }
                self.check_parent(to)?;
                let (from_key, to_key) = (self.file_key(from), self.file_key(to));
                if self.shared.aop.info().capability().rename {
                    // OpenDAL's fs: one rename(2).
                    return self.op().rename(&from_key, &to_key).map_err(to_io);
                }
                // Not atomic: between the two, both names exist; a failure
                // of the delete leaves both.
                self.copy_object(&from_key, &to_key, meta.content_length(), to)?;
                self.op().delete(&from_key).map_err(to_io)
            }
            Found::Dir(_) => {
                if from.is_root() || to.is_root() {
                    return Err(err(
                        io::ErrorKind::PermissionDenied,
                        "the root cannot be renamed",
                    ));
                }
                if to.as_str().starts_with(&format!("{}/", from.as_str())) {
                    return Err(err(
                        io::ErrorKind::InvalidInput,
                        "cannot move a directory into itself",
                    ));
                }
                if !matches!(self.lookup(to)?, Found::Missing) {
                    return Err(io::Error::from(io::ErrorKind::AlreadyExists));
                }
                self.check_parent(to)?;
                let (from_dir, to_dir) = (self.dir_key(from), self.dir_key(to));
                // Renaming a non-empty directory would copy every object
                // below it: refused (an object store would copy every object below it).
                if self.has_children(&from_dir)? {
                    return Err(io::Error::from(io::ErrorKind::DirectoryNotEmpty));
                }
                self.op().create_dir(&to_dir).map_err(to_io)?;
                self.op().delete(&from_dir).map_err(to_io)
            }
        }
    }

    fn remove_file(&self, path: &VirtualPath) -> io::Result<()> {
        match self.lookup(path)? {
            Found::File(_) => self.op().delete(&self.file_key(path)).map_err(to_io),
            Found::Dir(_) => Err(io::Error::from(io::ErrorKind::IsADirectory)),
            Found::Missing => Err(io::Error::from(io::ErrorKind::NotFound)),
        }
    }

    fn create_dir(&self, path: &VirtualPath) -> io::Result<()> {
        if !matches!(self.lookup(path)?, Found::Missing) {
            return Err(io::Error::from(io::ErrorKind::AlreadyExists));
        }
        self.check_parent(path)?;
        self.op().create_dir(&self.dir_key(path)).map_err(to_io)
    }

    fn remove_dir(&self, path: &VirtualPath) -> io::Result<()> {
        if path.is_root() {
            return Err(err(
                io::ErrorKind::PermissionDenied,
                "the root cannot be removed",
            ));
        }
        match self.lookup(path)? {
            Found::File(_) => Err(io::Error::from(io::ErrorKind::NotADirectory)),
            Found::Missing => Err(io::Error::from(io::ErrorKind::NotFound)),
            Found::Dir(_) => {
                let dir = self.dir_key(path);
                if self.has_children(&dir)? {
                    return Err(io::Error::from(io::ErrorKind::DirectoryNotEmpty));
                }
                self.op().delete(&dir).map_err(to_io)
            }
        }
    }

    fn set_mtime(&self, _path: &VirtualPath, _mtime: SystemTime) -> io::Result<()> {
        Err(unsupported(Capability::SetMtime))
    }

    fn set_mode(&self, _path: &VirtualPath, _mode: u32) -> io::Result<()> {
        Err(unsupported(Capability::SetMode))
    }
}
