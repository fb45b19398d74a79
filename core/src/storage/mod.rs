//! The storage trait: what every command uses instead of the filesystem.
//!
//! A [`Backend`] is chosen by the daemon's configuration (`--storage`) and
//! opens a [`Storage`] per logged-in session, rooted at the account's root:
//! the local back-end ([`local`]) serves a host directory through the
//! cap-std [`Jail`](crate::Jail), an object-store back-end (crate
//! `ftpsh-storage-opendal`) serves a key prefix of a bucket. Commands see
//! only [`VirtualPath`]s, already normalised, so `..` cannot leave the root
//! whatever the back-end; a back-end additionally makes sure that nothing
//! it resolves (symlinks on a disk) leads out of it.
//!
//! The shape follows SFTPGo's `vfs.Fs` and libunftp's `StorageBackend`: a
//! small set of blocking calls, made on worker threads, never on the event
//! loop. Errors are [`io::Error`]s whose [`io::ErrorKind`] the commands map
//! to reply codes with [`io_reply`](crate::io_reply); an operation a
//! back-end cannot do is [`io::ErrorKind::Unsupported`] (reply `502`), and
//! [`Capabilities`] says in advance which those are, so that `FEAT`, `HELP`
//! and the registry leave them out instead of failing late.
//!
//! What a read returns stays a description, not bytes ([`ReadBody`]): an
//! open local file the loop sends with `sendfile(2)`, or a blocking reader
//! the daemon drains on a thread of its own into the data connection. An
//! upload is an [`UploadSink`]: written by the loop when
//! writing cannot wait on the network (a local file), from a thread of its
//! own otherwise ([`UploadSink::blocking`]).

pub mod local;

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::SystemTime;

use crate::auth::User;
use crate::command::UploadSink;
use crate::jail::VirtualPath;

/// What a back-end can do beyond the operations every back-end has (stat,
/// list, read at an offset, atomic whole-file upload, delete, mkdir,
/// rmdir, rename of a file). Commands and the registry consult it: an
/// operation a back-end lacks is answered `502` (RFC 959 §4.2.1: command
/// not implemented), or `504` for a parameter it cannot honour (REST
/// before STOR), and its `FEAT` line is left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Capabilities {
    /// Writing into an existing file at its end (APPE, RFC 959 §4.1.3) or
    /// from a restart marker (REST+STOR, RFC 3659 §5.5). Object stores have
    /// no append: emulating it would rewrite the whole object.
    pub append: bool,
    /// Setting a file's modification time (MFMT, RFC 3659 draft
    /// "MFMT"; `SITE UTIME`).
    pub set_mtime: bool,
    /// Setting permission bits (`SITE CHMOD`).
    pub set_mode: bool,
    /// Metadata carries real owners, link counts and permission bits
    /// (MLST `unix.*` facts); without it they are synthesised.
    pub unix_metadata: bool,
}

impl Capabilities {
    /// Everything: a POSIX filesystem.
    pub const POSIX: Self = Self {
        append: true,
        set_mtime: true,
        set_mode: true,
        unix_metadata: true,
    };

    /// An object store (S3 and alike): no append, no atomic rename, no
    /// directory rename, no modification time or mode of one's choosing.
    pub const OBJECT_STORE: Self = Self {
        append: false,
        set_mtime: false,
        set_mode: false,
        unix_metadata: false,
    };

    /// What both `self` and `other` can do (a server whose accounts live
    /// on different back-ends promises no more before login).
    pub fn intersection(self, other: Self) -> Self {
        Self {
            append: self.append && other.append,
            set_mtime: self.set_mtime && other.set_mtime,
            set_mode: self.set_mode && other.set_mode,
            unix_metadata: self.unix_metadata && other.unix_metadata,
        }
    }

    /// Whether `c` is among these capabilities.
    pub fn has(&self, c: Capability) -> bool {
        match c {
            Capability::Append => self.append,
            Capability::SetMtime => self.set_mtime,
            Capability::SetMode => self.set_mode,
        }
    }
}

/// A capability a verb can require as a whole (see
/// [`VerbSpec::requires`](crate::VerbSpec::requires)): without it the
/// registry answers `502` and `FEAT` leaves the verb's line out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    /// [`Capabilities::append`] (APPE).
    Append,
    /// [`Capabilities::set_mtime`] (MFMT).
    SetMtime,
    /// [`Capabilities::set_mode`] (SITE CHMOD).
    SetMode,
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Append => "appending to a file",
            Self::SetMtime => "setting modification times",
            Self::SetMode => "changing permission bits",
        })
    }
}

/// The kind of a directory entry, after following symlinks inside the
/// root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// A regular file: the only kind RETR, SIZE and MDTM accept.
    File,
    /// A directory (on object stores: a key prefix or a `dir/` marker).
    Dir,
    /// Anything else a disk may hold (FIFO, device, socket): listed, never
    /// opened.
    Other,
}

/// What a listing and SIZE/MDTM/MLST need to know of one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// File, directory or other.
    pub kind: FileKind,
    /// `st_mode`: file type and permission bits (synthesised by back-ends
    /// without [`Capabilities::unix_metadata`]: `0o100644` for a file,
    /// `0o040755` for a directory).
    pub mode: u32,
    /// Size in bytes (0 for directories on object stores).
    pub len: u64,
    /// Modification time, seconds since the Unix epoch (UTC).
    pub mtime: i64,
    /// Hard link count (1 where unknown).
    pub nlink: u64,
    /// Owner's user id (0 where unknown).
    pub uid: u32,
    /// Owner's group id (0 where unknown).
    pub gid: u32,
    /// Identity of the object for MLST's `unique` fact (RFC 3659 §7.5.2):
    /// device and inode on a disk, a hash of the key on object stores.
    pub unique: (u64, u64),
}

impl Metadata {
    /// True for regular files.
    pub fn is_file(&self) -> bool {
        self.kind == FileKind::File
    }

    /// True for directories.
    pub fn is_dir(&self) -> bool {
        self.kind == FileKind::Dir
    }
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The entry's name (one path component, no `/`).
    pub name: String,
    /// Its metadata, symlinks inside the root followed.
    pub metadata: Metadata,
}

/// How an upload writes its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// STOR, STOU: a new version that replaces the old one only when
    /// committed, whole (RFC 959 §4.1.3 STOR; an aborted upload leaves the
    /// old file as it was).
    Replace,
    /// REST n + STOR (RFC 3659 §5.5): keep the first n bytes (n ≤ the
    /// file's size), write from there. Needs [`Capabilities::append`].
    Restart(u64),
    /// APPE (RFC 959 §4.1.3): write after the existing end, creating the
    /// file if missing. Needs [`Capabilities::append`].
    Append,
}

/// An opened file to send (RETR).
pub struct ReadFile {
    /// The file's size in bytes, as of opening.
    pub len: u64,
    /// Where the bytes come from.
    pub body: ReadBody,
}

impl fmt::Debug for ReadFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadFile")
            .field("len", &self.len)
            .field("body", &self.body)
            .finish()
    }
}

/// The body of a [`ReadFile`].
pub enum ReadBody {
    /// A local file, positioned anywhere: the transfer starts at the
    /// requested offset with `sendfile(2)` (or `pread`), on the loop.
    File(std::fs::File),
    /// A blocking reader that already starts at the requested offset (a
    /// ranged GET). It may wait on the network, so the daemon reads it on
    /// a thread of its own, never on the event loop.
    Stream(Box<dyn io::Read + Send>),
}

impl fmt::Debug for ReadBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(file) => f.debug_tuple("File").field(file).finish(),
            Self::Stream(_) => f.write_str("Stream(..)"),
        }
    }
}

/// One user's files, rooted at the account's root. Every method may block
/// (disk or network): call it on a worker thread.
///
/// Paths are absolute [`VirtualPath`]s inside the root (`/` is the root
/// itself). Errors are [`io::Error`]s: `NotFound`, `PermissionDenied`
/// (including a symlink that would leave the root), `AlreadyExists`,
/// `IsADirectory`, `NotADirectory`, `DirectoryNotEmpty`, `StorageFull`,
/// `InvalidFilename`, `Unsupported` (a capability the back-end lacks), or
/// another kind with a message (a network failure).
pub trait Storage: Send + Sync + fmt::Debug {
    /// What this back-end can do.
    fn capabilities(&self) -> Capabilities;

    /// The metadata of `path`, following symlinks inside the root.
    fn metadata(&self, path: &VirtualPath) -> io::Result<Metadata>;

    /// The metadata of `path` itself, not following a final symlink (what
    /// DELE and RNFR act on). Back-ends without symlinks: as
    /// [`Storage::metadata`].
    fn symlink_metadata(&self, path: &VirtualPath) -> io::Result<Metadata> {
        self.metadata(path)
    }

    /// The entries of the directory `path`, sorted by name. Entries that
    /// cannot be examined (a dangling symlink, one out of the root, one
    /// removed while listing) are left out rather than failing the
    /// listing.
    ///
    /// # Errors
    /// `NotFound` or `NotADirectory` for `path` itself.
    fn list(&self, path: &VirtualPath) -> io::Result<Vec<DirEntry>>;

    /// Opens the regular file `path` for sending from byte `offset`.
    ///
    /// # Errors
    /// `NotFound`; `InvalidInput` when `path` is not a regular file (the
    /// command answers `550 not a regular file`); `InvalidInput` when
    /// `offset` is past the end (the command checks first and answers
    /// `554`).
    fn open_read(&self, path: &VirtualPath, offset: u64) -> io::Result<ReadFile>;

    /// Starts an upload to `path`. Nothing is visible under `path` before
    /// [`UploadSink::commit`] for [`WriteMode::Replace`]; dropping the sink
    /// uncommitted leaves the old file (or object) as it was.
    ///
    /// # Errors
    /// `NotFound` (missing parent directory), `IsADirectory`,
    /// `InvalidFilename` (the root), `StorageFull`, `Unsupported` for
    /// [`WriteMode::Restart`]/[`WriteMode::Append`] without
    /// [`Capabilities::append`].
    fn create_upload(&self, path: &VirtualPath, mode: WriteMode)
    -> io::Result<Box<dyn UploadSink>>;

    /// Renames `from` to `to`, replacing a file at `to` (RFC 959 §4.1.3
    /// RNFR/RNTO). On a disk one atomic `rename(2)`; an object store copies
    /// then deletes (not atomic: both names may be seen for a moment, and a
    /// failure between the two leaves both).
    ///
    /// # Errors
    /// `NotFound`; `DirectoryNotEmpty` for a non-empty directory the
    /// back-end cannot rename (an object store would copy every object
    /// below it).
    fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> io::Result<()>;

    /// Deletes the file `path` (a symlink itself, not its target).
    ///
    /// # Errors
    /// `NotFound`; `IsADirectory` for a directory.
    fn remove_file(&self, path: &VirtualPath) -> io::Result<()>;

    /// Creates the directory `path` (its parent must exist).
    ///
    /// # Errors
    /// `AlreadyExists`, `NotFound` (missing parent).
    fn create_dir(&self, path: &VirtualPath) -> io::Result<()>;

    /// Removes the empty directory `path`.
    ///
    /// # Errors
    /// `NotFound`, `NotADirectory`, `DirectoryNotEmpty`.
    fn remove_dir(&self, path: &VirtualPath) -> io::Result<()>;

    /// Sets the modification time of the regular file `path` (MFMT).
    ///
    /// # Errors
    /// `NotFound`, `Unsupported` without [`Capabilities::set_mtime`].
    fn set_mtime(&self, path: &VirtualPath, mtime: SystemTime) -> io::Result<()>;

    /// Sets the permission bits (`0o7777` mask) of `path` (SITE CHMOD).
    ///
    /// # Errors
    /// `NotFound`, `Unsupported` without [`Capabilities::set_mode`].
    fn set_mode(&self, path: &VirtualPath, mode: u32) -> io::Result<()>;
}

/// Where accounts' files live: opens a [`Storage`] per login. Chosen once
/// by the daemon's configuration and shared by every session.
pub trait Backend: Send + Sync + fmt::Debug {
    /// What storages opened by this back-end can do (`FEAT` and `HELP`
    /// consult it before login).
    fn capabilities(&self) -> Capabilities;

    /// Opens `user`'s root. For the local back-end `user.root` is a host
    /// directory; for an object store it is a key prefix below the
    /// back-end's own prefix (`/` for the back-end's prefix itself).
    /// Blocking: call it on a worker.
    ///
    /// # Errors
    /// The root cannot be opened (the login is refused with `530 …: home
    /// directory unavailable`).
    fn open_root(&self, user: &User) -> io::Result<Arc<dyn Storage>>;

    /// A description for logs (`local`, `s3://bucket/prefix`); never sent
    /// to clients.
    fn describe(&self) -> String;
}

/// The error for an operation a back-end cannot do:
/// [`io::ErrorKind::Unsupported`], which commands answer with `502`.
pub fn unsupported(what: Capability) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("{what} is not supported by this server's storage"),
    )
}

/// The error for a path that is not a regular file where one is needed:
/// [`io::ErrorKind::InvalidInput`].
pub fn not_a_regular_file() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "not a regular file")
}

/// A restart marker past the end of the file (RFC 3659 §5.3), inside the
/// `InvalidInput` error of [`Storage::open_read`]: see [`restart_past_end`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("restart position {offset} is past the end ({len} bytes)")]
pub struct RestartPastEnd {
    /// The marker, in bytes.
    pub offset: u64,
    /// The file's size, in bytes.
    pub len: u64,
}

/// [`Storage::open_read`]'s check of a restart marker: `offset` bytes must
/// not be past the end of a file of `len` bytes.
///
/// # Errors
/// `InvalidInput` carrying [`RestartPastEnd`].
pub fn check_offset(offset: u64, len: u64) -> io::Result<()> {
    if offset > len {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            RestartPastEnd { offset, len },
        ));
    }
    Ok(())
}

/// The [`RestartPastEnd`] inside `err`, if that is what it is (the
/// command answers `554`, RFC 3659 §5.4, rather than `550`).
pub fn restart_past_end(err: &io::Error) -> Option<RestartPastEnd> {
    err.get_ref()?.downcast_ref::<RestartPastEnd>().copied()
}

/// The metadata of the regular file at `path` (symlinks inside the root
/// followed), checked without opening it: `open(2)` on a FIFO would block
/// until a writer appears.
///
/// # Errors
/// The reply to send: `550` when the path is missing, leaves the root, or
/// is not a regular file ([`not_regular_file`](crate::not_regular_file)).
pub fn regular_file_metadata(
    storage: &dyn Storage,
    path: &VirtualPath,
) -> Result<Metadata, crate::reply::Reply> {
    let meta = storage
        .metadata(path)
        .map_err(|e| crate::error::io_reply(&e, path))?;
    if meta.is_file() {
        Ok(meta)
    } else {
        Err(crate::error::not_regular_file(path))
    }
}
