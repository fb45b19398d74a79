//! The safe Rust side: implement [`Plugin`], then
//! [`export_plugin!`](crate::export_plugin) it. Files are reached only
//! through [`Host`], whose methods call the host's jail callbacks.

use std::fmt;
use std::io;

use crate::abi::{self, FtpshBytes, FtpshHost, FtpshStat};

/// A command plugin. One instance serves every request, possibly from
/// several worker threads at once, hence `Send + Sync`.
pub trait Plugin: Send + Sync + 'static {
    /// Short name, e.g. `"hash"`: shown in the daemon's log and in `451`
    /// replies.
    fn name(&self) -> &str;

    /// The verbs this plugin answers. Called once, when the host loads the
    /// library.
    fn verbs(&self) -> Vec<Verb>;

    /// Handles one request (its verb is one of [`Plugin::verbs`], upper
    /// case). Login and the verb's permission were checked by the host.
    ///
    /// Runs on a daemon worker thread: it may block on the disk through
    /// `host`, but must finish in bounded time, since the client waits
    /// for the reply and the worker is unavailable meanwhile.
    ///
    /// # Errors
    /// An [`Error`] is answered with `451` and its message. Expected
    /// failures (a missing file) should be returned as an ordinary
    /// [`Reply`], e.g. [`HostError::reply`]. A panic is caught and answered
    /// with `451` too; the daemon keeps serving.
    fn run(&self, request: &Request<'_>, host: &Host<'_>) -> Result<Reply, Error>;
}

/// One verb's declaration; see [`abi::FtpshVerb`] for each field's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verb {
    /// 1 to 16 ASCII letters.
    pub verb: String,
    /// Syntax in RFC notation, e.g. `"HASH <SP> pathname"`.
    pub syntax: String,
    /// One-line help.
    pub help: String,
    /// The `FEAT` line (RFC 2389), if any.
    pub feat: Option<String>,
    /// The permission letter required (`elradfmw`), if any.
    pub permission: Option<char>,
    /// True when login is required (the default).
    pub login: bool,
}

impl Verb {
    /// A verb that requires login and no permission.
    pub fn new(verb: &str, syntax: &str, help: &str) -> Self {
        Self {
            verb: verb.to_owned(),
            syntax: syntax.to_owned(),
            help: help.to_owned(),
            feat: None,
            permission: None,
            login: true,
        }
    }

    /// Requires the permission `letter` (`'r'` retrieve, `'l'` list, `'w'`
    /// store, ...).
    pub fn permission(mut self, letter: char) -> Self {
        self.permission = Some(letter);
        self
    }

    /// Adds a `FEAT` line.
    pub fn feat(mut self, line: &str) -> Self {
        self.feat = Some(line.to_owned());
        self
    }

    /// Allows the verb before login.
    pub fn no_login(mut self) -> Self {
        self.login = false;
        self
    }
}

/// One request, borrowed from the host for the duration of
/// [`Plugin::run`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// The canonical verb, upper case.
    pub verb: &'a str,
    /// The argument as the client sent it, or `None`.
    pub arg: Option<&'a str>,
    /// The session's current directory (`/` is the user's root).
    pub cwd: &'a str,
    /// The logged-in user, if any.
    pub user: Option<&'a str>,
}

/// The reply a request gets: a code (200-599) and one line of text. CR
/// and LF in the text become spaces on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Reply code (RFC 959 §4.2).
    pub code: u16,
    /// Reply text.
    pub text: String,
}

impl Reply {
    /// A reply.
    pub fn new(code: u16, text: impl Into<String>) -> Self {
        Self {
            code,
            text: text.into(),
        }
    }
}

/// A failure inside [`Plugin::run`]; answered with `451` and this message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(String);

impl Error {
    /// An error with `message` (a lowercase fragment, e.g. `"digest
    /// failed"`).
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<HostError> for Error {
    fn from(e: HostError) -> Self {
        Self(e.to_string())
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Self(e.to_string())
    }
}

impl From<String> for Error {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for Error {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

/// What a host callback reported (the `FTPSH_ERR_*` codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostError {
    /// No such file or directory.
    NotFound,
    /// No permission, or the path resolves outside the user's root.
    AccessDenied,
    /// A directory where a file is needed.
    IsDirectory,
    /// Not a directory.
    NotDirectory,
    /// The target exists.
    AlreadyExists,
    /// Disk or quota full.
    NoSpace,
    /// Empty path, NUL byte.
    BadPath,
    /// A bad argument (a bug in the caller).
    Invalid,
    /// The session is not logged in.
    NotLoggedIn,
    /// Too many handles open in this request.
    TooManyHandles,
    /// A buffer was too small (handled inside this crate).
    BufferTooSmall,
    /// Any other I/O error.
    Io,
    /// The host callback panicked.
    Panic,
    /// A code this crate does not know (a newer host).
    Other(i32),
}

impl HostError {
    /// The error for a negative `FTPSH_ERR_*` code.
    pub fn from_code(code: i32) -> Self {
        match code {
            abi::FTPSH_ERR_NOT_FOUND => Self::NotFound,
            abi::FTPSH_ERR_ACCESS_DENIED => Self::AccessDenied,
            abi::FTPSH_ERR_IS_DIRECTORY => Self::IsDirectory,
            abi::FTPSH_ERR_NOT_DIRECTORY => Self::NotDirectory,
            abi::FTPSH_ERR_ALREADY_EXISTS => Self::AlreadyExists,
            abi::FTPSH_ERR_NO_SPACE => Self::NoSpace,
            abi::FTPSH_ERR_BAD_PATH => Self::BadPath,
            abi::FTPSH_ERR_INVALID => Self::Invalid,
            abi::FTPSH_ERR_NOT_LOGGED_IN => Self::NotLoggedIn,
            abi::FTPSH_ERR_TOO_MANY_HANDLES => Self::TooManyHandles,
            abi::FTPSH_ERR_BUFFER_TOO_SMALL => Self::BufferTooSmall,
            abi::FTPSH_ERR_IO => Self::Io,
            abi::FTPSH_ERR_PANIC => Self::Panic,
            other => Self::Other(other),
        }
    }

    /// The `FTPSH_ERR_*` code.
    pub fn code(self) -> i32 {
        match self {
            Self::NotFound => abi::FTPSH_ERR_NOT_FOUND,
            Self::AccessDenied => abi::FTPSH_ERR_ACCESS_DENIED,
            Self::IsDirectory => abi::FTPSH_ERR_IS_DIRECTORY,
            Self::NotDirectory => abi::FTPSH_ERR_NOT_DIRECTORY,
            Self::AlreadyExists => abi::FTPSH_ERR_ALREADY_EXISTS,
            Self::NoSpace => abi::FTPSH_ERR_NO_SPACE,
            Self::BadPath => abi::FTPSH_ERR_BAD_PATH,
            Self::Invalid => abi::FTPSH_ERR_INVALID,
            Self::NotLoggedIn => abi::FTPSH_ERR_NOT_LOGGED_IN,
            Self::TooManyHandles => abi::FTPSH_ERR_TOO_MANY_HANDLES,
            Self::BufferTooSmall => abi::FTPSH_ERR_BUFFER_TOO_SMALL,
            Self::Io => abi::FTPSH_ERR_IO,
            Self::Panic => abi::FTPSH_ERR_PANIC,
            Self::Other(c) => c,
        }
    }

    /// The reply a built-in command gives for this error on `path`, with
    /// the same codes and wording as ftpshd's own commands: `550` not
    /// found / permission denied / is a directory / not a directory, `553`
    /// already exists, `452` no space, `501` bad path, `530` not logged
    /// in, `451` anything else.
    pub fn reply(self, path: &str) -> Reply {
        let code = match self {
            Self::NotFound | Self::AccessDenied | Self::IsDirectory | Self::NotDirectory => 550,
            Self::AlreadyExists => 553,
            Self::NoSpace => 452,
            Self::BadPath => 501,
            Self::NotLoggedIn => 530,
            _ => 451,
        };
        Reply::new(code, format!("{path}: {self}"))
    }

    fn io_kind(self) -> io::ErrorKind {
        match self {
            Self::NotFound => io::ErrorKind::NotFound,
            Self::AccessDenied | Self::NotLoggedIn => io::ErrorKind::PermissionDenied,
            Self::IsDirectory => io::ErrorKind::IsADirectory,
            Self::NotDirectory => io::ErrorKind::NotADirectory,
            Self::AlreadyExists => io::ErrorKind::AlreadyExists,
            Self::NoSpace => io::ErrorKind::StorageFull,
            Self::BadPath | Self::Invalid => io::ErrorKind::InvalidInput,
            _ => io::ErrorKind::Other,
        }
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io => f.write_str("local error"),
            _ => f.write_str(abi::error_name(self.code())),
        }
    }
}

impl std::error::Error for HostError {}

impl From<HostError> for io::Error {
    fn from(e: HostError) -> Self {
        io::Error::new(e.io_kind(), e)
    }
}

fn check(code: i32) -> Result<i32, HostError> {
    if code < 0 {
        Err(HostError::from_code(code))
    } else {
        Ok(code)
    }
}

/// What kind of file a [`Stat`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// Anything else.
    Other,
}

/// File metadata from the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// File, directory or other.
    pub kind: Kind,
    /// Size in bytes.
    pub size: u64,
    /// Last modification, seconds since the Unix epoch.
    pub mtime: i64,
}

impl Stat {
    fn from_raw(raw: &FtpshStat) -> Self {
        Self {
            kind: match raw.kind {
                abi::FTPSH_KIND_FILE => Kind::File,
                abi::FTPSH_KIND_DIR => Kind::Dir,
                _ => Kind::Other,
            },
            size: raw.size,
            mtime: raw.mtime,
        }
    }

    /// True for a directory.
    pub fn is_dir(&self) -> bool {
        self.kind == Kind::Dir
    }
}

/// The host, as a plugin sees it during one request: every file it touches
/// goes through these methods, which resolve paths against the session's
/// current directory inside the user's root (the jail). Paths are the
/// client's: `a.txt`, `../b`, `/docs/c` — `..` stops at the root.
pub struct Host<'a> {
    raw: &'a FtpshHost,
}

impl fmt::Debug for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Host")
            .field("abi_version", &self.raw.abi_version)
            .finish_non_exhaustive()
    }
}

#[allow(unsafe_code)]
impl<'a> Host<'a> {
    /// Wraps the host table.
    ///
    /// # Safety
    /// `raw` must be the table the host passed to `run`, with callbacks
    /// valid for `'a`, and `raw.struct_size` must cover the version 1
    /// layout.
    pub(crate) unsafe fn new(raw: &'a FtpshHost) -> Self {
        Self { raw }
    }

    /// Sets the reply (used by the export glue).
    pub(crate) fn reply(&self, code: u16, text: &str) -> Result<(), HostError> {
        // SAFETY: `raw` is valid for 'a (constructor contract); the text is
        // borrowed for the call only and copied by the host.
        check(unsafe { (self.raw.reply)(self.raw.ctx, u32::from(code), bytes(text)) }).map(drop)
    }

    /// Metadata of `path` (symlinks followed). Needs permission `l` or `r`.
    ///
    /// # Errors
    /// [`HostError::NotFound`], [`HostError::AccessDenied`], ...
    pub fn stat(&self, path: &str) -> Result<Stat, HostError> {
        let mut out = FtpshStat::empty();
        // SAFETY: as in `reply`; `out` is a live, correctly sized record.
        check(unsafe { (self.raw.stat)(self.raw.ctx, bytes(path), &mut out) })?;
        Ok(Stat::from_raw(&out))
    }

    /// Opens `path` for reading. Needs permission `r`.
    ///
    /// # Errors
    /// [`HostError::NotFound`], [`HostError::IsDirectory`],
    /// [`HostError::AccessDenied`], ...
    pub fn open(&self, path: &str) -> Result<File<'a>, HostError> {
        let mut handle = 0u64;
        let mut out = FtpshStat::empty();
        // SAFETY: as in `stat`; `handle` is a live u64.
        check(unsafe {
            (self.raw.open)(
                self.raw.ctx,
                bytes(path),
                abi::FTPSH_OPEN_READ,
                &mut handle,
                &mut out,
            )
        })?;
        Ok(File {
            raw: self.raw,
            handle,
            stat: Stat::from_raw(&out),
            pos: 0,
        })
    }

    /// Creates (or, on commit, replaces) `path`. Needs permission `w`.
    /// Nothing appears under the name until [`NewFile::commit`].
    ///
    /// # Errors
    /// [`HostError::NotFound`] (no such directory),
    /// [`HostError::IsDirectory`], [`HostError::AccessDenied`], ...
    pub fn create(&self, path: &str) -> Result<NewFile<'a>, HostError> {
        let mut handle = 0u64;
        // SAFETY: as in `open`; a null stat pointer is allowed for writes.
        check(unsafe {
            (self.raw.open)(
                self.raw.ctx,
                bytes(path),
                abi::FTPSH_OPEN_WRITE,
                &mut handle,
                std::ptr::null_mut(),
            )
        })?;
        Ok(NewFile {
            raw: self.raw,
            handle: Some(handle),
        })
    }

    /// Lists the directory `path`. Needs permission `l`.
    ///
    /// # Errors
    /// [`HostError::NotFound`], [`HostError::NotDirectory`], ...
    pub fn list(&self, path: &str) -> Result<Listing<'a>, HostError> {
        let mut handle = 0u64;
        // SAFETY: as in `open`.
        check(unsafe { (self.raw.list_open)(self.raw.ctx, bytes(path), &mut handle) })?;
        Ok(Listing {
            raw: self.raw,
            handle,
            name: vec![0; 256],
            done: false,
        })
    }
}

fn bytes(s: &str) -> FtpshBytes {
    FtpshBytes::new(s.as_bytes())
}

#[allow(unsafe_code)]
fn close(raw: &FtpshHost, handle: u64) {
    // SAFETY: `raw` is valid while the handle's owner exists (it borrows
    // the host for 'a). Closing cannot fail in a way the caller could act
    // on, so the code is ignored.
    let _ = unsafe { (raw.close)(raw.ctx, handle) };
}

/// A file opened for reading with [`Host::open`]; closed on drop. Reads
/// are positional, so [`File::read_at`] needs no `&mut`; the
/// [`io::Read`] implementation keeps its own position.
pub struct File<'a> {
    raw: &'a FtpshHost,
    handle: u64,
    stat: Stat,
    pos: u64,
}

impl fmt::Debug for File<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("File")
            .field("handle", &self.handle)
            .field("stat", &self.stat)
            .finish()
    }
}

impl File<'_> {
    /// Metadata of the opened file (taken when it was opened).
    pub fn stat(&self) -> Stat {
        self.stat
    }

    /// Reads up to `buf.len()` bytes at byte `offset`; 0 means end of file.
    ///
    /// # Errors
    /// [`HostError::Io`] and friends.
    #[allow(unsafe_code)]
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, HostError> {
        let mut n = 0usize;
        // SAFETY: `raw` is valid for 'a; `buf` is a live writable slice of
        // `buf.len()` bytes and `n` a live usize, both only for this call.
        check(unsafe {
            (self.raw.read)(
                self.raw.ctx,
                self.handle,
                offset,
                buf.as_mut_ptr(),
                buf.len(),
                &mut n,
            )
        })?;
        // A host must not claim more than it was given room for.
        if n > buf.len() {
            return Err(HostError::Invalid);
        }
        Ok(n)
    }
}

impl io::Read for File<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.read_at(self.pos, buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Drop for File<'_> {
    fn drop(&mut self) {
        close(self.raw, self.handle);
    }
}

/// A file being written with [`Host::create`]. Dropped without
/// [`NewFile::commit`], it leaves no trace and any existing file as it was.
pub struct NewFile<'a> {
    raw: &'a FtpshHost,
    handle: Option<u64>,
}

impl fmt::Debug for NewFile<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewFile")
            .field("handle", &self.handle)
            .finish()
    }
}

#[allow(unsafe_code)]
impl NewFile<'_> {
    /// Appends all of `data`.
    ///
    /// # Errors
    /// [`HostError::NoSpace`], [`HostError::Io`], ...
    pub fn write_all_bytes(&mut self, data: &[u8]) -> Result<(), HostError> {
        let handle = self.handle.ok_or(HostError::Invalid)?;
        // SAFETY: `raw` is valid for 'a; `data` is borrowed for the call
        // and copied by the host.
        check(unsafe { (self.raw.write)(self.raw.ctx, handle, FtpshBytes::new(data)) }).map(drop)
    }

    /// Makes the file appear under its name, replacing any file there in
    /// one atomic rename.
    ///
    /// # Errors
    /// [`HostError::NoSpace`], [`HostError::Io`], ...; the file is then
    /// discarded.
    pub fn commit(mut self) -> Result<(), HostError> {
        let handle = self.handle.take().ok_or(HostError::Invalid)?;
        // SAFETY: as in `write_all_bytes`. The host closes the handle
        // whatever the outcome, so it is not closed again on drop.
        check(unsafe { (self.raw.commit)(self.raw.ctx, handle) }).map(drop)
    }
}

impl io::Write for NewFile<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all_bytes(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for NewFile<'_> {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            close(self.raw, h);
        }
    }
}

/// One entry of a [`Listing`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The entry's name (no directory part).
    pub name: String,
    /// Its metadata; symlinks are not followed.
    pub stat: Stat,
}

/// The entries of a directory, from [`Host::list`], in the order the file
/// system returns them; closed on drop.
pub struct Listing<'a> {
    raw: &'a FtpshHost,
    handle: u64,
    name: Vec<u8>,
    done: bool,
}

impl fmt::Debug for Listing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listing")
            .field("handle", &self.handle)
            .finish()
    }
}

impl Iterator for Listing<'_> {
    type Item = Result<DirEntry, HostError>;

    #[allow(unsafe_code)]
    fn next(&mut self) -> Option<Self::Item> {
        // Two tries at most: the second with a buffer of the size the host
        // asked for.
        for _ in 0..2 {
            if self.done {
                return None;
            }
            let mut len = 0usize;
            let mut out = FtpshStat::empty();
            // SAFETY: `raw` is valid for 'a; the name buffer, `len` and
            // `out` are live for the call.
            let rc = unsafe {
                (self.raw.list_next)(
                    self.raw.ctx,
                    self.handle,
                    self.name.as_mut_ptr(),
                    self.name.len(),
                    &mut len,
                    &mut out,
                )
            };
            match rc {
                0 => {
                    self.done = true;
                    return None;
                }
                1 if len <= self.name.len() => {
                    let name = String::from_utf8_lossy(&self.name[..len]).into_owned();
                    return Some(Ok(DirEntry {
                        name,
                        stat: Stat::from_raw(&out),
                    }));
                }
                abi::FTPSH_ERR_BUFFER_TOO_SMALL if len > self.name.len() && len <= 1 << 16 => {
                    self.name.resize(len, 0);
                }
                rc => {
                    self.done = true;
                    let e = if rc < 0 {
                        HostError::from_code(rc)
                    } else {
                        HostError::Invalid
                    };
                    return Some(Err(e));
                }
            }
        }
        self.done = true;
        Some(Err(HostError::BufferTooSmall))
    }
}

impl Drop for Listing<'_> {
    fn drop(&mut self) {
        close(self.raw, self.handle);
    }
}
