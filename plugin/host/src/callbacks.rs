//! The host callbacks a plugin's `run` receives, bound to one session for
//! one request. Every file operation resolves the plugin's path with
//! [`VirtualPath::resolve`] against the session's current directory and
//! performs it through the session's cap-std [`Jail`], so a plugin can
//! reach exactly what the built-in commands can, no more.
//!
//! The state sits behind a mutex: the ABI allows callbacks from any thread
//! during `run`, and no callback calls back into the plugin, so the lock is
//! never taken twice on one thread.

#![allow(unsafe_code)]

use std::collections::BTreeMap;
use std::ffi::c_void;
use std::io::{self, Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, MutexGuard, PoisonError};

use std::os::unix::fs::FileExt;
use std::sync::Arc;

use ftpsh_core::{
    DirEntry, Metadata, Permission, ReadBody, Reply, ReplyCode, Request, Session, Storage,
    UploadSink, VirtualPath, WriteMode,
};
use ftpsh_plugin_api::abi::{
    ABI_VERSION, FTPSH_ERR_ACCESS_DENIED, FTPSH_ERR_ALREADY_EXISTS, FTPSH_ERR_BAD_PATH,
    FTPSH_ERR_BUFFER_TOO_SMALL, FTPSH_ERR_INVALID, FTPSH_ERR_IO, FTPSH_ERR_IS_DIRECTORY,
    FTPSH_ERR_NO_SPACE, FTPSH_ERR_NOT_DIRECTORY, FTPSH_ERR_NOT_FOUND, FTPSH_ERR_NOT_LOGGED_IN,
    FTPSH_ERR_PANIC, FTPSH_ERR_TOO_MANY_HANDLES, FTPSH_KIND_DIR, FTPSH_KIND_FILE, FTPSH_KIND_OTHER,
    FTPSH_OK, FTPSH_OPEN_READ, FTPSH_OPEN_WRITE, FtpshBytes, FtpshHost, FtpshRequest, FtpshStat,
    MAX_HANDLES, RunFn,
};

/// Longest reply text kept from a plugin, in bytes; the rest is cut so a
/// plugin cannot make the daemon queue an unbounded line.
const MAX_REPLY_TEXT: usize = 4096;

/// What one `run` call produced.
#[derive(Debug)]
pub(crate) struct Invocation {
    /// `run`'s return value (`FTPSH_OK` or an `FTPSH_ERR_*` code).
    pub code: i32,
    /// The last reply the plugin set, if any.
    pub reply: Option<Reply>,
}

enum Handle {
    Read(ReadHandle),
    Write(Box<dyn UploadSink>),
    List(Box<ListState>),
}

/// A file opened for reading: a local file is read at any offset; a
/// stream (object storage) sequentially, and opened again when a plugin
/// reads elsewhere.
enum ReadHandle {
    File(std::fs::File),
    Stream {
        reader: Box<dyn Read + Send>,
        pos: u64,
        path: VirtualPath,
    },
}

struct ListState {
    entries: std::vec::IntoIter<DirEntry>,
    /// An entry whose name did not fit the caller's buffer, kept for the
    /// retry.
    pending: Option<(Vec<u8>, Metadata)>,
}

struct Ctx<'s> {
    session: &'s Session,
    reply: Option<Reply>,
    handles: BTreeMap<u64, Handle>,
    next_handle: u64,
}

type Result<T> = std::result::Result<T, i32>;

// The ABI lets a plugin call back from any thread during `run`, so the
// state behind the mutex must be movable between threads.
const _: () = {
    fn send<T: Send>() {}
    #[allow(dead_code)]
    fn ctx_is_send() {
        send::<Ctx<'static>>();
    }
};

impl Ctx<'_> {
    fn storage(&self) -> Result<&Arc<dyn Storage>> {
        self.session.storage().ok_or(FTPSH_ERR_NOT_LOGGED_IN)
    }

    fn require(&self, any_of: &[Permission]) -> Result<()> {
        self.storage()?;
        if any_of.iter().any(|p| self.session.allows(*p)) {
            Ok(())
        } else {
            Err(FTPSH_ERR_ACCESS_DENIED)
        }
    }

    fn resolve(&self, path: &str) -> Result<VirtualPath> {
        self.session
            .cwd
            .resolve(path)
            .map_err(|_| FTPSH_ERR_BAD_PATH)
    }

    fn insert(&mut self, h: Handle) -> Result<u64> {
        if self.handles.len() >= MAX_HANDLES {
            return Err(FTPSH_ERR_TOO_MANY_HANDLES);
        }
        // Handles are never reused within a request, so a stale handle
        // cannot reach a newer file.
        self.next_handle += 1;
        self.handles.insert(self.next_handle, h);
        Ok(self.next_handle)
    }
}

/// Runs a plugin's `run` for `request` with callbacks bound to `session`.
///
/// # Safety
/// `run` must be the validated `run` pointer of a loaded (never unloaded)
/// plugin.
pub(crate) unsafe fn invoke(run: RunFn, request: &Request, session: &Session) -> Invocation {
    let state = Mutex::new(Ctx {
        session,
        reply: None,
        handles: BTreeMap::new(),
        next_handle: 0,
    });
    let host = FtpshHost {
        abi_version: ABI_VERSION,
        struct_size: size_of::<FtpshHost>() as u32,
        ctx: (&raw const state).cast_mut().cast::<c_void>(),
        reply: cb_reply,
        stat: cb_stat,
        open: cb_open,
        read: cb_read,
        write: cb_write,
        commit: cb_commit,
        close: cb_close,
        list_open: cb_list_open,
        list_next: cb_list_next,
    };
    let cwd = session.cwd.as_str();
    let user = session.user().map(|u| u.name.as_str());
    let req = FtpshRequest {
        struct_size: size_of::<FtpshRequest>() as u32,
        verb: FtpshBytes::new(request.verb.as_bytes()),
        arg: FtpshBytes::from_option(request.arg.as_deref().map(str::as_bytes)),
        cwd: FtpshBytes::new(cwd.as_bytes()),
        user: FtpshBytes::from_option(user.map(str::as_bytes)),
    };
    // SAFETY: `host`, `req` and everything they point to live until the
    // end of this function, after `run` returns; `run` is a valid plugin
    // entry (caller contract) that never unwinds (ABI contract).
    let code = unsafe { run(&host, &req) };
    // Handles still open are dropped with the state: reads closed,
    // uncommitted writes discarded.
    let ctx = state.into_inner().unwrap_or_else(PoisonError::into_inner);
    Invocation {
        code,
        reply: ctx.reply,
    }
}

/// Runs a callback body: catches panics and flattens errors to codes.
fn guard(f: impl FnOnce() -> Result<i32>) -> i32 {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(code)) | Ok(Err(code)) => code,
        Err(payload) => {
            // Forgotten, not dropped: a panicking drop here would unwind
            // across `extern "C"` and abort the daemon.
            std::mem::forget(payload);
            FTPSH_ERR_PANIC
        }
    }
}

/// The state behind `ctx`.
///
/// # Safety
/// `ctx` must be the pointer `invoke` put in the host table, used during
/// that `run` call.
unsafe fn lock<'a>(ctx: *mut c_void) -> Result<MutexGuard<'a, Ctx<'a>>> {
    // SAFETY: `ctx` points to the live mutex in `invoke` (caller contract).
    let state = unsafe { ctx.cast::<Mutex<Ctx<'a>>>().as_ref() }.ok_or(FTPSH_ERR_INVALID)?;
    // A callback that panicked while holding the lock leaves only handle
    // bookkeeping behind, which stays consistent; carry on.
    Ok(state.lock().unwrap_or_else(PoisonError::into_inner))
}

/// The plugin's path argument as text.
///
/// # Safety
/// `b` must be null or valid for the call.
unsafe fn path_arg<'a>(b: FtpshBytes) -> Result<&'a str> {
    // SAFETY: caller contract.
    let bytes = unsafe { b.as_bytes() }.ok_or(FTPSH_ERR_BAD_PATH)?;
    std::str::from_utf8(bytes).map_err(|_| FTPSH_ERR_BAD_PATH)
}

fn io_code(e: &io::Error) -> i32 {
    use io::ErrorKind as K;
    match e.kind() {
        K::NotFound => FTPSH_ERR_NOT_FOUND,
        K::PermissionDenied => FTPSH_ERR_ACCESS_DENIED,
        K::IsADirectory => FTPSH_ERR_IS_DIRECTORY,
        K::NotADirectory => FTPSH_ERR_NOT_DIRECTORY,
        K::AlreadyExists => FTPSH_ERR_ALREADY_EXISTS,
        K::StorageFull | K::QuotaExceeded | K::FileTooLarge => FTPSH_ERR_NO_SPACE,
        K::InvalidFilename | K::InvalidInput => FTPSH_ERR_BAD_PATH,
        _ => match e.raw_os_error() {
            // cap-std reports an escape attempt (`..` through a symlink,
            // an absolute symlink) as EPERM or EACCES.
            Some(libc::EPERM | libc::EACCES) => FTPSH_ERR_ACCESS_DENIED,
            Some(libc::ELOOP) => FTPSH_ERR_ACCESS_DENIED,
            _ => FTPSH_ERR_IO,
        },
    }
}

fn reply_code(reply: &Reply) -> i32 {
    match reply.code.0 {
        452 | 552 => FTPSH_ERR_NO_SPACE,
        553 => FTPSH_ERR_BAD_PATH,
        550 => FTPSH_ERR_NOT_FOUND,
        _ => FTPSH_ERR_IO,
    }
}

/// Writes `meta` to a caller's stat record, if it is not null.
///
/// # Safety
/// `out` must be null or point to a writable record of at least its
/// declared `struct_size`.
unsafe fn write_stat(out: *mut FtpshStat, meta: &Metadata) -> Result<()> {
    if out.is_null() {
        return Ok(());
    }
    // SAFETY: non-null and writable (caller contract); `struct_size` is
    // read before anything is written, and only version 1 fields, which a
    // record of at least that size holds, are written.
    unsafe {
        if ((*out).struct_size as usize) < size_of::<FtpshStat>() {
            return Err(FTPSH_ERR_INVALID);
        }
        (*out).kind = if meta.is_file() {
            FTPSH_KIND_FILE
        } else if meta.is_dir() {
            FTPSH_KIND_DIR
        } else {
            FTPSH_KIND_OTHER
        };
        (*out).size = meta.len;
        (*out).mtime = meta.mtime;
    }
    Ok(())
}

/// Writes `value` to a caller's out-pointer.
///
/// # Safety
/// `out` must be null or writable.
unsafe fn put<T>(out: *mut T, value: T) -> Result<()> {
    if out.is_null() {
        return Err(FTPSH_ERR_INVALID);
    }
    // SAFETY: non-null and writable (caller contract).
    unsafe { out.write(value) };
    Ok(())
}

unsafe extern "C" fn cb_reply(ctx: *mut c_void, code: u32, text: FtpshBytes) -> i32 {
    guard(|| {
        // SAFETY: ABI contract for every callback: `ctx` is the host's and
        // byte arguments are valid for the call.
        let mut c = unsafe { lock(ctx) }?;
        // One request gets one final reply: a 1xx would leave the client
        // waiting for another that never comes.
        let code = u16::try_from(code)
            .ok()
            .filter(|c| (200..=599).contains(c))
            .ok_or(FTPSH_ERR_INVALID)?;
        // SAFETY: as above.
        let bytes = unsafe { text.as_bytes() }.unwrap_or_default();
        let mut end = bytes.len().min(MAX_REPLY_TEXT);
        let mut text = String::from_utf8_lossy(&bytes[..end]).into_owned();
        // Reply::new turns CR and LF into spaces; NUL goes the same way.
        text = text.replace('\0', " ");
        if text.len() > MAX_REPLY_TEXT {
            end = MAX_REPLY_TEXT;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
        }
        c.reply = Some(Reply::new(ReplyCode(code), text));
        Ok(FTPSH_OK)
    })
}

unsafe extern "C" fn cb_stat(ctx: *mut c_void, path: FtpshBytes, out: *mut FtpshStat) -> i32 {
    guard(|| {
        // SAFETY: ABI contract (see `cb_reply`).
        let c = unsafe { lock(ctx) }?;
        let path = unsafe { path_arg(path) }?;
        c.require(&[Permission::List, Permission::Retrieve])?;
        let vp = c.resolve(path)?;
        let meta = c.storage()?.metadata(&vp).map_err(|e| io_code(&e))?;
        // SAFETY: ABI contract.
        unsafe { write_stat(out, &meta) }?;
        Ok(FTPSH_OK)
    })
}

unsafe extern "C" fn cb_open(
    ctx: *mut c_void,
    path: FtpshBytes,
    mode: u32,
    out_handle: *mut u64,
    out_stat: *mut FtpshStat,
) -> i32 {
    guard(|| {
        // SAFETY: ABI contract (see `cb_reply`).
        let mut c = unsafe { lock(ctx) }?;
        let path = unsafe { path_arg(path) }?;
        if out_handle.is_null() {
            return Err(FTPSH_ERR_INVALID);
        }
        let vp = c.resolve(path)?;
        let handle = match mode {
            FTPSH_OPEN_READ => {
                c.require(&[Permission::Retrieve])?;
                let storage = c.storage()?;
                // Stat first: opening a FIFO inside the root would park the
                // worker until a writer appears.
                let meta = storage.metadata(&vp).map_err(|e| io_code(&e))?;
                if meta.is_dir() {
                    return Err(FTPSH_ERR_IS_DIRECTORY);
                }
                if !meta.is_file() {
                    return Err(FTPSH_ERR_ACCESS_DENIED);
                }
                let opened = storage.open_read(&vp, 0).map_err(|e| match e.kind() {
                    io::ErrorKind::InvalidInput => FTPSH_ERR_ACCESS_DENIED,
                    _ => io_code(&e),
                })?;
                let meta = Metadata {
                    len: opened.len,
                    ..meta
                };
                // SAFETY: ABI contract.
                unsafe { write_stat(out_stat, &meta) }?;
                Handle::Read(match opened.body {
                    ReadBody::File(file) => ReadHandle::File(file),
                    ReadBody::Stream(reader) => ReadHandle::Stream {
                        reader,
                        pos: 0,
                        path: vp,
                    },
                })
            }
            FTPSH_OPEN_WRITE => {
                c.require(&[Permission::Write])?;
                let storage = c.storage()?;
                if vp.is_root() {
                    return Err(FTPSH_ERR_IS_DIRECTORY);
                }
                let upload = storage
                    .create_upload(&vp, WriteMode::Replace)
                    .map_err(|e| io_code(&e))?;
                Handle::Write(upload)
            }
            _ => return Err(FTPSH_ERR_INVALID),
        };
        let id = c.insert(handle)?;
        // SAFETY: checked non-null above; writable per the ABI.
        unsafe { put(out_handle, id) }?;
        Ok(FTPSH_OK)
    })
}

unsafe extern "C" fn cb_read(
    ctx: *mut c_void,
    handle: u64,
    offset: u64,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: ABI contract (see `cb_reply`).
        let mut c = unsafe { lock(ctx) }?;
        let storage = c.storage()?.clone();
        let Some(Handle::Read(file)) = c.handles.get_mut(&handle) else {
            return Err(FTPSH_ERR_INVALID);
        };
        if out_len.is_null() || (buf.is_null() && cap > 0) || cap > isize::MAX as usize {
            return Err(FTPSH_ERR_INVALID);
        }
        let n = if cap == 0 {
            0
        } else {
            // SAFETY: `buf` is non-null and, per the ABI, `cap` writable
            // bytes for this call. It is zeroed first because a slice must
            // not cover uninitialised memory.
            let slice = unsafe {
                std::ptr::write_bytes(buf, 0, cap);
                std::slice::from_raw_parts_mut(buf, cap)
            };
            read_at(file, storage.as_ref(), slice, offset)?
        };
        // SAFETY: checked non-null above; writable per the ABI.
        unsafe { put(out_len, n) }?;
        Ok(FTPSH_OK)
    })
}

unsafe extern "C" fn cb_write(ctx: *mut c_void, handle: u64, data: FtpshBytes) -> i32 {
    guard(|| {
        // SAFETY: ABI contract (see `cb_reply`).
        let mut c = unsafe { lock(ctx) }?;
        let bytes = unsafe { data.as_bytes() }.ok_or(FTPSH_ERR_INVALID)?;
        let Some(Handle::Write(upload)) = c.handles.get_mut(&handle) else {
            return Err(FTPSH_ERR_INVALID);
        };
        upload.write_all(bytes).map_err(|e| io_code(&e))?;
        Ok(FTPSH_OK)
    })
}

unsafe extern "C" fn cb_commit(ctx: *mut c_void, handle: u64) -> i32 {
    guard(|| {
        // SAFETY: ABI contract (see `cb_reply`).
        let mut c = unsafe { lock(ctx) }?;
        match c.handles.remove(&handle) {
            Some(Handle::Write(upload)) => {
                let reply = upload.commit();
                if reply.code == ReplyCode::CLOSING_DATA {
                    Ok(FTPSH_OK)
                } else {
                    Err(reply_code(&reply))
                }
            }
            Some(other) => {
                // Not a write handle: put it back untouched.
                c.handles.insert(handle, other);
                Err(FTPSH_ERR_INVALID)
            }
            None => Err(FTPSH_ERR_INVALID),
        }
    })
}

unsafe extern "C" fn cb_close(ctx: *mut c_void, handle: u64) -> i32 {
    guard(|| {
        // SAFETY: ABI contract (see `cb_reply`).
        let mut c = unsafe { lock(ctx) }?;
        c.handles
            .remove(&handle)
            .map(drop)
            .ok_or(FTPSH_ERR_INVALID)?;
        Ok(FTPSH_OK)
    })
}

unsafe extern "C" fn cb_list_open(ctx: *mut c_void, path: FtpshBytes, out_handle: *mut u64) -> i32 {
    guard(|| {
        // SAFETY: ABI contract (see `cb_reply`).
        let mut c = unsafe { lock(ctx) }?;
        let path = unsafe { path_arg(path) }?;
        if out_handle.is_null() {
            return Err(FTPSH_ERR_INVALID);
        }
        c.require(&[Permission::List])?;
        let vp = c.resolve(path)?;
        let entries = c.storage()?.list(&vp).map_err(|e| io_code(&e))?;
        let id = c.insert(Handle::List(Box::new(ListState {
            entries: entries.into_iter(),
            pending: None,
        })))?;
        // SAFETY: checked non-null; writable per the ABI.
        unsafe { put(out_handle, id) }?;
        Ok(FTPSH_OK)
    })
}

unsafe extern "C" fn cb_list_next(
    ctx: *mut c_void,
    handle: u64,
    name_buf: *mut u8,
    name_cap: usize,
    out_name_len: *mut usize,
    out_stat: *mut FtpshStat,
) -> i32 {
    guard(|| {
        // SAFETY: ABI contract (see `cb_reply`).
        let mut c = unsafe { lock(ctx) }?;
        let Some(Handle::List(state)) = c.handles.get_mut(&handle) else {
            return Err(FTPSH_ERR_INVALID);
        };
        let ListState { entries, pending } = &mut **state;
        if out_name_len.is_null() || (name_buf.is_null() && name_cap > 0) {
            return Err(FTPSH_ERR_INVALID);
        }
        let (name, meta) = match pending.take() {
            Some(p) => p,
            None => match entries.next() {
                None => return Ok(0),
                Some(entry) => (entry.name.into_bytes(), entry.metadata),
            },
        };
        // SAFETY: checked non-null; writable per the ABI.
        unsafe { put(out_name_len, name.len()) }?;
        if name.len() > name_cap {
            *pending = Some((name, meta));
            return Err(FTPSH_ERR_BUFFER_TOO_SMALL);
        }
        // SAFETY: `name_buf` holds `name_cap >= name.len()` writable bytes
        // (ABI contract); the regions cannot overlap, `name` is ours.
        unsafe {
            if !name.is_empty() {
                std::ptr::copy_nonoverlapping(name.as_ptr(), name_buf, name.len());
            }
            write_stat(out_stat, &meta)?;
        }
        Ok(1)
    })
}

/// Reads up to `buf.len()` bytes at `offset`: `pread` on a local file; on a
/// stream, from where it is, after opening it again at `offset` when the
/// plugin reads somewhere else.
fn read_at(
    handle: &mut ReadHandle,
    storage: &dyn Storage,
    buf: &mut [u8],
    offset: u64,
) -> Result<usize> {
    loop {
        let read = match handle {
            ReadHandle::File(file) => file.read_at(buf, offset),
            ReadHandle::Stream { reader, pos, path } => {
                if *pos != offset {
                    let opened = storage
                        .open_read(path, offset)
                        .map_err(|e| match e.kind() {
                            // Past the end: nothing more to read.
                            io::ErrorKind::InvalidInput => FTPSH_ERR_INVALID,
                            _ => io_code(&e),
                        })?;
                    *reader = match opened.body {
                        ReadBody::Stream(r) => r,
                        ReadBody::File(f) => Box::new(f),
                    };
                    *pos = offset;
                }
                reader.read(buf).inspect(|n| *pos += *n as u64)
            }
        };
        match read {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_code(&e)),
        }
    }
}
