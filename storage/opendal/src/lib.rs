//! Object storage for ftpsh: an [`ftpsh_core::Backend`] over Apache
//! OpenDAL, for S3 and S3-compatible stores (MinIO, SeaweedFS, Ceph RGW,
//! R2...) and, by configuration, any service OpenDAL has (GCS, Azure Blob,
//! WebDAV...).
//!
//! # Choosing it
//!
//! [`backend_from_uri`] builds the back-end from a storage URI and checks at
//! once that the endpoint answers and the bucket exists (within
//! [`CHECK_TIMEOUT`]), so that the daemon stops at start with one line
//! ([`Error`]) instead of failing every login:
//!
//! | URI | what |
//! |---|---|
//! | `s3://BUCKET[/PREFIX]` | AWS S3, virtual-host style, region `us-east-1` |
//! | `s3://BUCKET[/PREFIX]?endpoint=http://127.0.0.1:8333` | an S3-compatible store, path style |
//! | options | `endpoint`, `region`, `access_key_id`, `secret_access_key`, `session_token`, `virtual_host_style=true\|false`, `upload_parts=N` (parts of one upload in flight at once, 1-16, default 1: each holds [`CHUNK`] bytes) |
//! | `fs:///ABS/DIR` | a host directory through OpenDAL's `fs` service |
//! | `opendal+SERVICE://?KEY=VALUE&...` | any OpenDAL service compiled in, options passed to [`opendal::Operator::via_iter`] as they are |
//!
//! Without `access_key_id`/`secret_access_key` the credentials come from the
//! standard `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (and
//! `AWS_SESSION_TOKEN`) variables or `~/.aws`; instance metadata is not
//! asked (use `opendal+s3://?bucket=B&disable_ec2_metadata=false`).
//! Percent-encode `+`, `/` and `&` in query values (`%2B`, `%2F`, `%26`).
//! Secrets never appear in logs or errors ([`ftpsh_core::Backend::describe`]).
//!
//! The `opendal+` form reaches the other services compiled in ([`SERVICES`]:
//! this crate's features `azblob`, `gcs` and `webdav`, on by default; add
//! another by enabling its `opendal/services-NAME` feature); their options
//! are OpenDAL's, passed as they are:
//! `opendal+gcs://?bucket=B&root=/ftp&credential_path=/etc/gcs.json`,
//! `opendal+azblob://?container=C&endpoint=https://ACCOUNT.blob.core.windows.net&account_name=A&account_key=K`,
//! `opendal+webdav://?endpoint=https://dav.example&root=/ftp&username=U&password=P`.
//! Tested: `s3` (against SeaweedFS) and `fs`; for `azblob` and `webdav`
//! only that they are built and checked at start.
//! Without credentials in the options, `gcs` and `azblob` look for the
//! cloud's instance credentials (its metadata server), as their SDKs do.
//!
//! # Layout
//!
//! An account's `root` is a key prefix below the URI's prefix (`/alice` →
//! keys `PREFIX/alice/...`; `/` → the prefix itself). Client paths are
//! normalised [`VirtualPath`](ftpsh_core::VirtualPath)s appended to it, so
//! no path names a key outside the account's prefix. A directory is a
//! marker object `dir/` (written by MKD) or any object whose key starts
//! with `dir/` (written by another S3 client); a file is an object.
//!
//! # What each command does
//!
//! | command | on the object store | reply |
//! |---|---|---|
//! | STOR, STOU | multipart upload ([`CHUNK`]-byte parts), completed when the data connection closes; small files one `PutObject` at the end | 226; 550 missing parent directory; 550 onto a directory |
//! | ABOR / lost connection during STOR | multipart upload aborted; the old object stays whole | 426 |
//! | APPE, REST + STOR | — (no append on object stores) | 502 / 504 |
//! | RETR, REST + RETR | one ranged `GET` from the offset, streamed | 226; 550 directory |
//! | SIZE, MDTM, MLST | `HEAD` (size, last-modified; mode 0644, directories 0755, `unique` = hash of the key); a directory's time is its marker's, or the epoch without one (and in listings) | 213 / 250 |
//! | LIST, NLST, MLSD | one level, `ListObjectsV2` with delimiter `/`; names sorted, the directory's own marker left out | 226 |
//! | RNFR/RNTO of a file | `CopyObject` then `DeleteObject` (objects over 5 GiB: copied through the server) | 250 |
//! | RNFR/RNTO of a directory | empty (marker only): new marker, old marker deleted; non-empty: refused; onto an existing name: refused | 250; 550 not empty; 553 exists |
//! | DELE | `DeleteObject`; a directory is refused | 250; 550 is a directory |
//! | MKD | marker object `dir/`; the parent must exist (root, marker, or any object below it) | 257; 553 exists; 550 no parent |
//! | RMD | marker deleted when nothing else is below it | 250; 550 not empty |
//! | MFMT, SITE CHMOD | — | 502 |
//!
//! # Not atomic
//!
//! - A file rename is two requests: another client may see both names
//!   for a moment, and a failure between them leaves both.
//! - MKD, RMD and the checks before them (does the parent exist? is the
//!   directory empty?) are separate requests: an object written meanwhile
//!   by someone else is not seen. Deleting a marker never deletes what is
//!   below it.
//! - An upload replaces an object atomically (a reader sees the old or
//!   the new one), but two concurrent uploads to one key: the last
//!   completed wins.
//! - An aborted multipart upload is aborted by a request sent when the
//!   upload is dropped; if the daemon dies first, its parts stay until the
//!   bucket's lifecycle rule for incomplete uploads removes them (set one).
//!
//! # Threads
//!
//! Every [`Storage`](ftpsh_core::Storage) method, reader and upload blocks
//! on the network: the daemon calls them on worker threads (uploads report
//! [`UploadSink::blocking`](ftpsh_core::UploadSink::blocking)). OpenDAL's
//! futures run on one process-wide tokio runtime of two threads, created on
//! first use.

mod backend;
mod error;
mod keys;
mod storage;
mod upload;
mod uri;

#[cfg(test)]
mod tests;

#[cfg(feature = "testing")]
pub mod testing;

pub use backend::{CHECK_TIMEOUT, IO_TIMEOUT, OpendalBackend, REQUEST_TIMEOUT, backend_from_uri};
pub use error::Error;
pub use storage::OpendalStorage;
pub use upload::CHUNK;

/// The OpenDAL services compiled in (Cargo features `azblob`, `gcs`,
/// `webdav`, on by default; `s3` and `fs` always).
pub const SERVICES: &[&str] = &[
    "s3",
    "fs",
    #[cfg(feature = "azblob")]
    "azblob",
    #[cfg(feature = "gcs")]
    "gcs",
    #[cfg(feature = "webdav")]
    "webdav",
];
