//! The raw C ABI, version 1. Everything here is `#[repr(C)]` and made of
//! integers, `(pointer, length)` byte pairs and `extern "C"` function
//! pointers, so a plugin may be written in any language that can export a C
//! function.
//!
//! # Versioning rules
//!
//! - The ABI *major* version is in the entry symbol's name
//!   ([`ENTRY_SYMBOL`] = `ftpsh_plugin_v1`) and in every table's
//!   `abi_version`. An incompatible change (a field removed, retyped or
//!   reordered, a meaning changed) bumps it: new symbol `ftpsh_plugin_v2`,
//!   and a host that speaks both looks up both.
//! - Compatible changes only ever *append* fields at the end of a struct.
//!   Every struct that may grow starts with (or, for [`FtpshPlugin`],
//!   carries) `struct_size`, the size in bytes the writer was compiled
//!   with. A reader checks `struct_size` is at least the size of the version
//!   1 layout, and reads a later field only when `struct_size` covers it.
//! - Arrays of growable structs carry their element stride
//!   ([`FtpshPlugin::verb_size`]), so the host indexes a verb array built
//!   with a longer [`FtpshVerb`] correctly.
//!
//! # Ownership
//!
//! Nothing allocated on one side is freed on the other. Bytes cross as
//! [`FtpshBytes`] borrowed for the duration of the call and are copied by the
//! receiver. The plugin table returned by the entry symbol must stay valid
//! and unchanged for the life of the process (the host never unloads a
//! plugin), so it needs no free function.
//!
//! # Threads
//!
//! The host may call `run` from several worker threads at once, one request
//! per call. The [`FtpshHost`] callbacks given to `run` are valid only until
//! that `run` returns; they may be called from any thread meanwhile.

use std::ffi::c_void;

/// The ABI major version this crate implements.
pub const ABI_VERSION: u32 = 1;

/// Name of the entry symbol for [`ABI_VERSION`]: an `extern "C" fn() ->
/// *const FtpshPlugin` exported unmangled by every plugin.
pub const ENTRY_SYMBOL: &str = "ftpsh_plugin_v1";

/// The entry symbol's name for any ABI major version (`ftpsh_plugin_v<N>`).
/// The host probes other versions only to explain a mismatch.
pub fn entry_symbol(version: u32) -> String {
    format!("ftpsh_plugin_v{version}")
}

/// Type of the entry symbol. Returns the plugin table, or null when the
/// plugin failed to initialise (the host then refuses the library).
pub type EntryFn = unsafe extern "C" fn() -> *const FtpshPlugin;

/// Type of [`FtpshPlugin::run`]: handle one request. Returns [`FTPSH_OK`]
/// after sending exactly one reply through [`FtpshHost::reply`], or a
/// negative `FTPSH_ERR_*` code; the host then answers `451`, quoting the
/// text of the reply sent before returning, if any.
pub type RunFn = unsafe extern "C" fn(host: *const FtpshHost, request: *const FtpshRequest) -> i32;

/// A borrowed byte string: `len` bytes at `ptr`. A null `ptr` (with `len`
/// 0) means "absent", which matters for optional fields such as
/// [`FtpshRequest::arg`]; an empty present string has a non-null `ptr`.
/// Text is UTF-8 unless a field says otherwise.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct FtpshBytes {
    /// First byte, or null.
    pub ptr: *const u8,
    /// Length in bytes.
    pub len: usize,
}

impl FtpshBytes {
    /// The absent value.
    pub const NULL: Self = Self {
        ptr: std::ptr::null(),
        len: 0,
    };

    /// Borrows `bytes` (the result is valid while `bytes` is).
    pub fn new(bytes: &[u8]) -> Self {
        Self {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
        }
    }

    /// `Some(bytes)` or [`FtpshBytes::NULL`].
    pub fn from_option(bytes: Option<&[u8]>) -> Self {
        bytes.map_or(Self::NULL, Self::new)
    }

    /// True when absent.
    pub fn is_null(&self) -> bool {
        self.ptr.is_null()
    }

    /// The bytes, or `None` when absent or when `len` is impossibly large.
    ///
    /// # Safety
    /// Unless null, `ptr` must point to `len` initialised bytes that stay
    /// valid and unmodified for `'a`.
    #[allow(unsafe_code)]
    pub unsafe fn as_bytes<'a>(&self) -> Option<&'a [u8]> {
        if self.ptr.is_null() || self.len > isize::MAX as usize {
            return None;
        }
        // SAFETY: non-null and length checked above; validity for 'a is the
        // caller's contract.
        Some(unsafe { std::slice::from_raw_parts(self.ptr, self.len) })
    }
}

/// The plugin table: what a plugin is. Returned by the entry symbol; must
/// stay valid and unchanged for the life of the process.
#[repr(C)]
#[derive(Debug)]
pub struct FtpshPlugin {
    /// Must equal [`ABI_VERSION`] (the number in the entry symbol's name).
    pub abi_version: u32,
    /// `size_of::<FtpshPlugin>()` as the plugin was compiled; at least the
    /// version 1 size.
    pub struct_size: u32,
    /// Short plugin name (`"hash"`), UTF-8, used in logs and replies.
    pub name: FtpshBytes,
    /// Array of `verb_count` verb descriptions, `verb_size` bytes apart.
    pub verbs: *const FtpshVerb,
    /// Number of verbs (1 to [`MAX_VERBS`]).
    pub verb_count: usize,
    /// Stride of the `verbs` array: `size_of::<FtpshVerb>()` as the plugin
    /// was compiled; at least the version 1 size.
    pub verb_size: usize,
    /// The request handler. Null is refused at load.
    pub run: Option<RunFn>,
}

/// Most verbs one plugin may declare.
pub const MAX_VERBS: usize = 64;

/// Longest string (bytes) in a plugin or verb description.
pub const MAX_TEXT: usize = 1024;

/// One command verb a plugin answers.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct FtpshVerb {
    /// The verb: 1 to 16 ASCII letters (RFC 959 §5.3 allows 3-4, extensions
    /// use more). Matched case-insensitively; must not be a verb the daemon
    /// already has.
    pub verb: FtpshBytes,
    /// Syntax in RFC notation, e.g. `"HASH <SP> pathname"`, shown by `HELP
    /// verb`. A syntax starting with `SITE` and the verb (`"SITE XECHO
    /// <SP> text"`) makes the verb a `SITE` sub-command: clients send
    /// `SITE XECHO text`, `run` sees verb `XECHO` and argument `text`, it
    /// is listed by `SITE HELP`, and it never collides with a plain verb of
    /// the same name.
    pub syntax: FtpshBytes,
    /// One-line help text, shown by `HELP verb`.
    pub help: FtpshBytes,
    /// The line this verb adds to the `FEAT` reply (RFC 2389 §3.2), without
    /// the leading space, or null for none.
    pub feat: FtpshBytes,
    /// The permission letter the user needs (`b'r'`, one of `elradfmwMT`), or
    /// 0 for none. Checked by the host before `run`; a refused request gets
    /// `550` without reaching the plugin.
    pub permission: u8,
    /// 1 when the verb needs a logged-in user (`530` otherwise), 0 when it
    /// may run before login. File callbacks always need a login.
    pub login: u8,
}

/// One request, as the host passes it to `run`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct FtpshRequest {
    /// `size_of::<FtpshRequest>()` as the host was compiled.
    pub struct_size: u32,
    /// The canonical verb, upper case.
    pub verb: FtpshBytes,
    /// The argument exactly as the client sent it (may contain spaces), or
    /// null when there was none.
    pub arg: FtpshBytes,
    /// The session's current directory, e.g. `/docs` (always absolute
    /// inside the user's root).
    pub cwd: FtpshBytes,
    /// The logged-in user's name, or null before login.
    pub user: FtpshBytes,
}

/// [`FtpshStat::kind`]: a regular file.
pub const FTPSH_KIND_FILE: u32 = 1;
/// [`FtpshStat::kind`]: a directory.
pub const FTPSH_KIND_DIR: u32 = 2;
/// [`FtpshStat::kind`]: anything else (device, socket, dangling symlink).
pub const FTPSH_KIND_OTHER: u32 = 3;

/// File metadata written by the host. The caller sets `struct_size` to the
/// size it allocated; the host fills the fields that fit.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct FtpshStat {
    /// Set by the caller: `size_of::<FtpshStat>()` as it was compiled.
    pub struct_size: u32,
    /// `FTPSH_KIND_FILE`, `FTPSH_KIND_DIR` or `FTPSH_KIND_OTHER`.
    pub kind: u32,
    /// Size in bytes.
    pub size: u64,
    /// Last modification, seconds since the Unix epoch (UTC).
    pub mtime: i64,
}

impl FtpshStat {
    /// An empty record with `struct_size` set, ready to be filled.
    pub fn empty() -> Self {
        Self {
            struct_size: size_of::<Self>() as u32,
            ..Self::default()
        }
    }
}

/// [`FtpshHost::open`] mode: read an existing file.
pub const FTPSH_OPEN_READ: u32 = 1;
/// [`FtpshHost::open`] mode: create a new file or replace an existing one.
/// The data goes to an unnamed temporary file and appears under the name
/// only on [`FtpshHost::commit`]; closing without commit leaves any
/// existing file untouched.
pub const FTPSH_OPEN_WRITE: u32 = 2;

/// Success.
pub const FTPSH_OK: i32 = 0;
/// No such file or directory (FTP `550`).
pub const FTPSH_ERR_NOT_FOUND: i32 = -1;
/// Access denied: the user lacks the permission letter, the OS refused, or
/// the path resolves outside the user's root (FTP `550`).
pub const FTPSH_ERR_ACCESS_DENIED: i32 = -2;
/// The path is a directory where a file is needed.
pub const FTPSH_ERR_IS_DIRECTORY: i32 = -3;
/// A path component, or the listed path, is not a directory.
pub const FTPSH_ERR_NOT_DIRECTORY: i32 = -4;
/// The target already exists.
pub const FTPSH_ERR_ALREADY_EXISTS: i32 = -5;
/// The disk or quota is full (FTP `452`).
pub const FTPSH_ERR_NO_SPACE: i32 = -6;
/// The path is not usable: empty, not UTF-8, contains NUL (FTP `501`).
pub const FTPSH_ERR_BAD_PATH: i32 = -7;
/// A bad argument: unknown handle or mode, null pointer, struct too small,
/// reply code out of range.
pub const FTPSH_ERR_INVALID: i32 = -8;
/// File callbacks need a logged-in session (FTP `530`).
pub const FTPSH_ERR_NOT_LOGGED_IN: i32 = -9;
/// Too many handles open in this request (the limit is
/// [`MAX_HANDLES`]).
pub const FTPSH_ERR_TOO_MANY_HANDLES: i32 = -10;
/// The caller's buffer is too small; the needed size was written.
pub const FTPSH_ERR_BUFFER_TOO_SMALL: i32 = -11;
/// Any other I/O error (FTP `451`).
pub const FTPSH_ERR_IO: i32 = -12;
/// The callee panicked; the panic was caught at the boundary.
pub const FTPSH_ERR_PANIC: i32 = -13;
/// Returned by `run`: the request failed inside the plugin.
pub const FTPSH_ERR_FAILED: i32 = -14;

/// Most file and listing handles open at once in one request.
pub const MAX_HANDLES: usize = 16;

/// The host's side of a request: callbacks through which a plugin answers
/// and touches files. Every path is resolved against the session's current
/// directory inside the user's root, exactly like the built-in commands'
/// paths: `..` stops at the root and symlinks cannot leave it.
///
/// Every callback returns [`FTPSH_OK`] (or a documented positive value) or
/// a negative `FTPSH_ERR_*` code, never unwinds, and copies any bytes it is
/// given before returning.
#[repr(C)]
#[derive(Debug)]
pub struct FtpshHost {
    /// The host's ABI major version ([`ABI_VERSION`]).
    pub abi_version: u32,
    /// `size_of::<FtpshHost>()` as the host was compiled; a plugin built
    /// against a later minor layout checks it before using a later field.
    pub struct_size: u32,
    /// Opaque host state; pass it back as the first argument of every
    /// callback.
    pub ctx: *mut c_void,
    /// Sets the reply to the request: `code` must be 200-599 (one request
    /// gets one final reply, so preliminary 1xx codes are refused); CR and
    /// LF in `text` become spaces. A later call replaces an earlier one.
    pub reply: unsafe extern "C" fn(ctx: *mut c_void, code: u32, text: FtpshBytes) -> i32,
    /// Metadata of `path` (symlinks followed, inside the root). Needs
    /// permission `l` or `r`.
    pub stat: unsafe extern "C" fn(ctx: *mut c_void, path: FtpshBytes, out: *mut FtpshStat) -> i32,
    /// Opens `path` with `mode` ([`FTPSH_OPEN_READ`], needs `r`;
    /// [`FTPSH_OPEN_WRITE`], needs `w`) and writes a handle to
    /// `out_handle`. For reads, the opened file's metadata goes to
    /// `out_stat` unless it is null (the same file that will be read, so no
    /// race with a rename). Directories cannot be opened.
    pub open: unsafe extern "C" fn(
        ctx: *mut c_void,
        path: FtpshBytes,
        mode: u32,
        out_handle: *mut u64,
        out_stat: *mut FtpshStat,
    ) -> i32,
    /// Reads up to `cap` bytes at byte `offset` of a read handle into
    /// `buf` and writes the count to `out_len` (0 at end of file).
    pub read: unsafe extern "C" fn(
        ctx: *mut c_void,
        handle: u64,
        offset: u64,
        buf: *mut u8,
        cap: usize,
        out_len: *mut usize,
    ) -> i32,
    /// Appends all of `data` to a write handle.
    pub write: unsafe extern "C" fn(ctx: *mut c_void, handle: u64, data: FtpshBytes) -> i32,
    /// Makes a write handle's file appear under its name (one atomic
    /// rename) and closes the handle.
    pub commit: unsafe extern "C" fn(ctx: *mut c_void, handle: u64) -> i32,
    /// Closes any handle; an uncommitted write is discarded. Handles still
    /// open when `run` returns are closed by the host.
    pub close: unsafe extern "C" fn(ctx: *mut c_void, handle: u64) -> i32,
    /// Opens the directory `path` for listing. Needs permission `l`.
    pub list_open:
        unsafe extern "C" fn(ctx: *mut c_void, path: FtpshBytes, out_handle: *mut u64) -> i32,
    /// Next entry of a listing handle: writes the name (UTF-8 when the
    /// file system name is; otherwise lossily converted) into `name_buf`,
    /// its length to `out_name_len` and its metadata (symlinks not
    /// followed) to `out_stat`, and returns 1; returns 0 at the end. When
    /// `name_cap` is too small it writes the needed length, returns
    /// [`FTPSH_ERR_BUFFER_TOO_SMALL`] and keeps the entry for the next call.
    /// `.` and `..` are not listed.
    pub list_next: unsafe extern "C" fn(
        ctx: *mut c_void,
        handle: u64,
        name_buf: *mut u8,
        name_cap: usize,
        out_name_len: *mut usize,
        out_stat: *mut FtpshStat,
    ) -> i32,
}

/// A short name for an `FTPSH_ERR_*` code, for messages.
pub fn error_name(code: i32) -> &'static str {
    match code {
        FTPSH_OK => "ok",
        FTPSH_ERR_NOT_FOUND => "no such file or directory",
        FTPSH_ERR_ACCESS_DENIED => "permission denied",
        FTPSH_ERR_IS_DIRECTORY => "is a directory",
        FTPSH_ERR_NOT_DIRECTORY => "not a directory",
        FTPSH_ERR_ALREADY_EXISTS => "already exists",
        FTPSH_ERR_NO_SPACE => "insufficient storage space",
        FTPSH_ERR_BAD_PATH => "bad path",
        FTPSH_ERR_INVALID => "invalid argument",
        FTPSH_ERR_NOT_LOGGED_IN => "not logged in",
        FTPSH_ERR_TOO_MANY_HANDLES => "too many open handles",
        FTPSH_ERR_BUFFER_TOO_SMALL => "buffer too small",
        FTPSH_ERR_IO => "local error",
        FTPSH_ERR_PANIC => "panicked",
        FTPSH_ERR_FAILED => "failed",
        _ => "unknown error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The version 1 layouts are frozen: these sizes (on 64-bit targets)
    /// may only grow, by appending fields.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn v1_layout_sizes() {
        assert_eq!(size_of::<FtpshBytes>(), 16);
        assert_eq!(size_of::<FtpshPlugin>(), 56);
        assert_eq!(size_of::<FtpshVerb>(), 72);
        assert_eq!(size_of::<FtpshRequest>(), 72);
        assert_eq!(size_of::<FtpshStat>(), 24);
        assert_eq!(size_of::<FtpshHost>(), 16 + 9 * 8);
        assert_eq!(std::mem::offset_of!(FtpshPlugin, run), 48);
        assert_eq!(std::mem::offset_of!(FtpshHost, list_next), 80);
    }

    #[test]
    fn symbol_names() {
        assert_eq!(entry_symbol(ABI_VERSION), ENTRY_SYMBOL);
        assert_eq!(entry_symbol(2), "ftpsh_plugin_v2");
    }

    #[test]
    fn bytes_roundtrip() {
        let data = b"abc";
        let b = FtpshBytes::new(data);
        // SAFETY: `data` outlives the borrow.
        #[allow(unsafe_code)]
        let back = unsafe { b.as_bytes() };
        assert_eq!(back, Some(&data[..]));
        assert!(FtpshBytes::NULL.is_null());
        #[allow(unsafe_code)]
        let none = unsafe { FtpshBytes::NULL.as_bytes() };
        assert_eq!(none, None);
        assert!(!FtpshBytes::new(b"").is_null());
    }
}
