//! Mapping filesystem errors to reply codes (RFC 959 §4.2.2, RFC 3659).
//!
//! Messages are lowercase fragments that name the client's path; host paths
//! never reach the client.

use std::io;

use crate::jail::{PathError, VirtualPath};
use crate::reply::{Reply, ReplyCode};

/// What ran out, when `err` says a resource of the process or the system
/// is exhausted: file descriptors (`EMFILE`, `ENFILE`) or socket memory
/// (`ENOBUFS`, `ENOMEM`). `None` for any other error. Port exhaustion
/// shows as `AddrInUse` and depends on whether a port range was
/// configured: the caller names it.
pub fn exhausted_resource(err: &io::Error) -> Option<&'static str> {
    const ENFILE: i32 = 23;
    const EMFILE: i32 = 24;
    const ENOMEM: i32 = 12;
    const ENOBUFS: i32 = 105;
    match err.raw_os_error()? {
        EMFILE => Some("out of file descriptors (the server's open-file limit is reached)"),
        ENFILE => Some("out of file descriptors (the system-wide open-file limit is reached)"),
        ENOBUFS | ENOMEM => Some("out of socket memory"),
        _ => None,
    }
}

/// The reply for an I/O error on `path`:
///
/// | error kind | code | text |
/// |---|---|---|
/// | `NotFound` | 550 | `<path>: no such file or directory` |
/// | `PermissionDenied` (includes leaving the jail) | 550 | `<path>: permission denied` |
/// | `AlreadyExists` | 553 | `<path>: already exists` |
/// | `IsADirectory` | 550 | `<path>: is a directory` |
/// | `NotADirectory` | 550 | `<path>: not a directory` |
/// | `DirectoryNotEmpty` | 550 | `<path>: directory not empty` |
/// | `StorageFull` / `QuotaExceeded` | 452 | `<path>: insufficient storage space` |
/// | `FileTooLarge` | 552 | `<path>: exceeded storage allocation` |
/// | `InvalidFilename` | 553 | `<path>: file name not allowed` |
/// | `InvalidInput` | 550 | `<path>: <error>` (e.g. not a regular file) |
/// | `Unsupported` | 502 | `<path>: <error>` (a storage capability it lacks) |
/// | anything else | 451 | `<path>: local error: <error>` |
pub fn io_reply(err: &io::Error, path: &VirtualPath) -> Reply {
    use io::ErrorKind as K;
    let (code, what) = match err.kind() {
        K::NotFound => (
            ReplyCode::FILE_UNAVAILABLE,
            "no such file or directory".to_owned(),
        ),
        K::PermissionDenied => (ReplyCode::FILE_UNAVAILABLE, "permission denied".to_owned()),
        K::AlreadyExists => (ReplyCode::BAD_FILE_NAME, "already exists".to_owned()),
        K::IsADirectory => (ReplyCode::FILE_UNAVAILABLE, "is a directory".to_owned()),
        K::NotADirectory => (ReplyCode::FILE_UNAVAILABLE, "not a directory".to_owned()),
        K::DirectoryNotEmpty => (
            ReplyCode::FILE_UNAVAILABLE,
            "directory not empty".to_owned(),
        ),
        K::StorageFull | K::QuotaExceeded => (
            ReplyCode::INSUFFICIENT_STORAGE,
            "insufficient storage space".to_owned(),
        ),
        K::FileTooLarge => (
            ReplyCode::EXCEEDED_STORAGE,
            "exceeded storage allocation".to_owned(),
        ),
        K::InvalidFilename => (ReplyCode::BAD_FILE_NAME, "file name not allowed".to_owned()),
        K::InvalidInput => (ReplyCode::FILE_UNAVAILABLE, strip_os_suffix(err)),
        K::Unsupported => (ReplyCode::NOT_IMPLEMENTED, strip_os_suffix(err)),
        _ => (
            ReplyCode::LOCAL_ERROR,
            format!("local error: {}", strip_os_suffix(err)),
        ),
    };
    Reply::new(code, format!("{path}: {what}"))
}

/// `io::Error`'s display with the " (os error N)" suffix removed.
fn strip_os_suffix(err: &io::Error) -> String {
    let s = err.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_lowercase(),
        None => s.to_lowercase(),
    }
}

/// The reply for a path that exists but is not a regular file (a
/// directory, FIFO or device) where a command needs one: `550`.
pub fn not_regular_file(path: &VirtualPath) -> Reply {
    Reply::new(
        ReplyCode::FILE_UNAVAILABLE,
        format!("{path}: not a regular file"),
    )
}

/// The reply for a path the client typed that cannot be used: `501`.
pub fn path_reply(err: &PathError) -> Reply {
    Reply::new(
        ReplyCode::PARAMETER_SYNTAX_ERROR,
        format!("bad path: {err}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let p = VirtualPath::root().resolve("a.txt").unwrap();
        let r = io_reply(&io::Error::from(io::ErrorKind::NotFound), &p);
        assert_eq!(r.to_wire(), b"550 /a.txt: no such file or directory\r\n");
        let r = io_reply(&io::Error::from(io::ErrorKind::StorageFull), &p);
        assert_eq!(r.code, ReplyCode::INSUFFICIENT_STORAGE);
        let r = io_reply(&io::Error::from_raw_os_error(5), &p);
        assert_eq!(r.code, ReplyCode::LOCAL_ERROR);
        assert!(!r.text().contains("os error"));
    }

    #[test]
    fn names_what_ran_out() {
        let e = |n| io::Error::from_raw_os_error(n);
        assert!(
            exhausted_resource(&e(24))
                .unwrap()
                .contains("open-file limit")
        );
        assert!(exhausted_resource(&e(23)).unwrap().contains("system-wide"));
        assert_eq!(exhausted_resource(&e(105)), Some("out of socket memory"));
        assert_eq!(exhausted_resource(&e(2)), None);
        assert_eq!(exhausted_resource(&io::Error::other("x")), None);
    }
}
