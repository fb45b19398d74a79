//! Errors: the one-line start-up [`Error`] of a storage URI, and the
//! mapping of OpenDAL errors to the [`io::ErrorKind`]s the commands turn
//! into reply codes ([`ftpsh_core::io_reply`]).

use std::io;

use opendal::ErrorKind as K;

/// Why an object-store back-end cannot be used: a bad URI, an unreachable
/// endpoint, a missing bucket, refused credentials. One line, never a
/// secret: the daemon prints it and stops at start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URI cannot be parsed or has a bad option.
    #[error("bad storage URI {uri:?}: {reason}")]
    Uri {
        /// The URI, secrets replaced by `***`.
        uri: String,
        /// What is wrong.
        reason: String,
    },
    /// OpenDAL refused the configuration (a missing or bad option of the
    /// service).
    #[error("storage {storage}: bad configuration: {reason}")]
    Config {
        /// The storage, as [`ftpsh_core::Backend::describe`] gives it.
        storage: String,
        /// OpenDAL's reason.
        reason: String,
    },
    /// The endpoint did not answer (refused, unresolvable, timed out).
    #[error("storage {storage}: cannot reach the endpoint: {reason}")]
    Unreachable {
        /// The storage.
        storage: String,
        /// The cause (connection refused, no answer within N s...).
        reason: String,
    },
    /// The endpoint answered that the bucket (or container, directory)
    /// does not exist.
    #[error("storage {storage}: bucket {bucket} does not exist")]
    NoBucket {
        /// The storage.
        storage: String,
        /// The bucket's name (`?` when the service has none).
        bucket: String,
    },
    /// The endpoint refused the credentials or the access.
    #[error("storage {storage}: access denied: {reason}")]
    Denied {
        /// The storage.
        storage: String,
        /// The cause.
        reason: String,
    },
    /// Anything else the endpoint answered.
    #[error("storage {storage}: {reason}")]
    Other {
        /// The storage.
        storage: String,
        /// The cause.
        reason: String,
    },
}

/// The value of `field: "…"` in a service error's debug text (OpenDAL
/// gives S3's errors as `S3Error { code: "NoSuchBucket", message: "…" }`).
fn quoted_field<'a>(text: &'a str, field: &str) -> Option<&'a str> {
    let start = text.find(&format!("{field}: \""))? + field.len() + 3;
    let len = text[start..].find('"')?;
    Some(&text[start..start + len])
}

/// The S3 error code in `err` (`NoSuchBucket`, `AccessDenied`...), if any.
pub(crate) fn service_code(err: &opendal::Error) -> Option<&str> {
    quoted_field(err.message(), "code")
}

/// The innermost cause of `err`, one line: `connection refused` rather
/// than OpenDAL's whole context; `NoSuchBucket: The specified bucket does
/// not exist` rather than the service error's debug text.
pub(crate) fn short_reason(err: &opendal::Error) -> String {
    let mut cause: &dyn std::error::Error = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let message = match (service_code(err), quoted_field(err.message(), "message")) {
        (Some(code), Some(text)) => format!("{code}: {text}"),
        _ => err.message().to_owned(),
    };
    let text = if std::ptr::addr_eq(cause, err as &dyn std::error::Error) {
        message
    } else {
        format!("{message}: {cause}")
    };
    let line = text.lines().next().unwrap_or_default().trim();
    let mut line = line.to_owned();
    if line.len() > 200 {
        let mut cut = 200;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
        line.push('…');
    }
    line
}

/// The [`io::Error`] for an OpenDAL error: the kinds the commands know
/// (`NotFound` → 550, `AlreadyExists` → 553, `Unsupported` → 502...), and
/// `Other` with a short message for network and service failures (451).
pub(crate) fn to_io(err: opendal::Error) -> io::Error {
    let kind = match err.kind() {
        K::NotFound => io::ErrorKind::NotFound,
        K::PermissionDenied => io::ErrorKind::PermissionDenied,
        K::AlreadyExists => io::ErrorKind::AlreadyExists,
        K::IsADirectory => io::ErrorKind::IsADirectory,
        K::NotADirectory => io::ErrorKind::NotADirectory,
        K::Unsupported => io::ErrorKind::Unsupported,
        K::RangeNotSatisfied => io::ErrorKind::InvalidInput,
        K::IsSameFile => io::ErrorKind::InvalidInput,
        _ => io::ErrorKind::Other,
    };
    let what = match err.kind() {
        K::RateLimited => "object store busy (rate limited)",
        K::ConditionNotMatch | K::Conflict => "object changed meanwhile",
        _ if err.is_temporary() => "object store unavailable",
        _ => "object store error",
    };
    io::Error::new(kind, format!("{what}: {}", short_reason(&err)))
}

/// An [`io::Error`] coming out of OpenDAL's std adapters (reader), its
/// message shortened like [`to_io`]'s.
pub(crate) fn shorten_io(err: io::Error) -> io::Error {
    let kind = err.kind();
    let Some(inner) = err.get_ref() else {
        return err;
    };
    match inner.downcast_ref::<opendal::Error>() {
        Some(e) => {
            let mapped = to_io(opendal::Error::new(e.kind(), short_reason(e)));
            if kind == io::ErrorKind::Other {
                mapped
            } else {
                io::Error::new(kind, mapped.to_string())
            }
        }
        None => err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        let e = |k| to_io(opendal::Error::new(k, "x")).kind();
        assert_eq!(e(K::NotFound), io::ErrorKind::NotFound);
        assert_eq!(e(K::PermissionDenied), io::ErrorKind::PermissionDenied);
        assert_eq!(e(K::AlreadyExists), io::ErrorKind::AlreadyExists);
        assert_eq!(e(K::IsADirectory), io::ErrorKind::IsADirectory);
        assert_eq!(e(K::NotADirectory), io::ErrorKind::NotADirectory);
        assert_eq!(e(K::Unsupported), io::ErrorKind::Unsupported);
        assert_eq!(e(K::Unexpected), io::ErrorKind::Other);
        assert_eq!(e(K::RateLimited), io::ErrorKind::Other);
        let err = to_io(
            opendal::Error::new(K::Unexpected, "send http request")
                .set_temporary()
                .set_source(io::Error::from(io::ErrorKind::ConnectionRefused)),
        );
        assert_eq!(
            err.to_string(),
            "object store unavailable: send http request: connection refused"
        );
        let wrapped = shorten_io(io::Error::other(opendal::Error::new(
            K::Unexpected,
            "boom\nsecond line",
        )));
        assert_eq!(wrapped.to_string(), "object store error: boom");
        let s3 = opendal::Error::new(
            K::ConfigInvalid,
            r#"S3Error { code: "NoSuchBucket", message: "The specified bucket does not exist", resource: "/b" }"#,
        );
        assert_eq!(service_code(&s3), Some("NoSuchBucket"));
        assert_eq!(
            short_reason(&s3),
            "NoSuchBucket: The specified bucket does not exist"
        );
    }
}
