//! Reading entries through the session's storage.

use std::io;

use ftpsh_core::{Metadata, Storage, VirtualPath};

use crate::format::EntryInfo;

/// The listing fields of `meta`, under `name`.
pub fn entry_info(name: String, meta: &Metadata) -> EntryInfo {
    EntryInfo {
        name,
        mode: meta.mode,
        nlink: meta.nlink,
        size: meta.len,
        mtime: meta.mtime,
        dev: meta.unique.0,
        ino: meta.unique.1,
        uid: meta.uid,
        gid: meta.gid,
    }
}

/// The metadata of `path`, following symlinks inside the root only.
///
/// # Errors
/// `NotFound`, or `PermissionDenied` for a symlink that leads out of the
/// root.
pub fn stat(storage: &dyn Storage, path: &VirtualPath) -> io::Result<Metadata> {
    storage.metadata(path)
}

/// The entries of the directory `path`, sorted by name (see
/// [`Storage::list`]: entries that cannot be examined are left out).
/// Names that are not UTF-8 are shown with replacement characters.
///
/// # Errors
/// When `path` cannot be listed as a directory.
pub fn list_dir(storage: &dyn Storage, path: &VirtualPath) -> io::Result<Vec<EntryInfo>> {
    Ok(storage
        .list(path)?
        .into_iter()
        .map(|e| entry_info(e.name, &e.metadata))
        .collect())
}
