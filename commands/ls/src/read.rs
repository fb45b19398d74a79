//! Reading entries through the jail.

use std::io;

use cap_std::fs::{Metadata, MetadataExt};
use ftpsh_core::{Jail, VirtualPath};

use crate::format::EntryInfo;

/// The listing fields of `meta`, under `name`.
pub fn entry_info(name: String, meta: &Metadata) -> EntryInfo {
    EntryInfo {
        name,
        mode: meta.mode(),
        nlink: meta.nlink(),
        size: meta.len(),
        mtime: meta.mtime(),
        dev: meta.dev(),
        ino: meta.ino(),
        uid: meta.uid(),
        gid: meta.gid(),
    }
}

/// The metadata of `path`, following symlinks inside the jail only.
///
/// # Errors
/// `NotFound`, or `PermissionDenied` for a symlink that leads out of the
/// root.
pub fn stat(jail: &Jail, path: &VirtualPath) -> io::Result<Metadata> {
    jail.dir().metadata(path.relative())
}

/// The entries of the directory `path`, sorted by name.
///
/// Symlinks are shown as what they resolve to inside the jail; entries that
/// cannot be stat'ed — dangling symlinks, symlinks out of the root, entries
/// removed while listing — are left out rather than failing the listing.
/// Names that are not UTF-8 are shown with replacement characters.
///
/// # Errors
/// When `path` cannot be opened as a directory.
pub fn list_dir(jail: &Jail, path: &VirtualPath) -> io::Result<Vec<EntryInfo>> {
    let dir = jail.open_dir(path)?;
    let mut entries: Vec<EntryInfo> = dir
        .entries()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name();
            // Stat through the root, not through `dir`: a symlink such as
            // `../hello.txt` inside a subdirectory leaves `dir` but not the
            // jail, and must still resolve.
            let meta = jail.dir().metadata(path.relative().join(&name)).ok()?;
            Some(entry_info(name.to_string_lossy().into_owned(), &meta))
        })
        .collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}
