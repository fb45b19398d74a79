//! The filesystem jail: every path a client names resolves inside its user's
//! root (RFC 2577 §5 "protecting against directory traversal").
//!
//! Two layers. [`VirtualPath`] normalises what the client typed against the
//! session's current directory, lexically, so `..` stops at `/`. [`Jail`] then
//! performs every filesystem call through a `cap-std` [`Dir`] capability
//! opened on the root, so symlinks pointing outside, absolute symlink targets
//! and races cannot leave it either: cap-std refuses any resolution that
//! would step out of the directory handle.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use thiserror::Error;

/// A normalised absolute path inside the jail, as the client sees it:
/// always starts with `/`, no `.`/`..` components, no trailing `/` (except
/// the root itself), no empty components, no NUL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VirtualPath(String);

/// A client path that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PathError {
    /// The path contains a NUL byte (reply `501`).
    #[error("path contains a NUL byte")]
    Nul,
    /// The path is empty (reply `501`).
    #[error("empty path")]
    Empty,
}

impl VirtualPath {
    /// The jail root, `/`.
    pub fn root() -> Self {
        Self("/".to_owned())
    }

    /// Resolves `arg` (absolute, or relative to `self`) to a normalised path.
    /// `..` above `/` stays at `/`, as on a chrooted server.
    ///
    /// # Errors
    /// [`PathError::Nul`] or [`PathError::Empty`].
    pub fn resolve(&self, arg: &str) -> Result<Self, PathError> {
        if arg.contains('\0') {
            return Err(PathError::Nul);
        }
        if arg.is_empty() {
            return Err(PathError::Empty);
        }
        let mut parts: Vec<&str> = if arg.starts_with('/') {
            Vec::new()
        } else {
            self.components().collect()
        };
        for part in arg.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                p => parts.push(p),
            }
        }
        Ok(Self::from_parts(&parts))
    }

    fn from_parts(parts: &[&str]) -> Self {
        let mut s = String::with_capacity(parts.iter().map(|p| p.len() + 1).sum::<usize>().max(1));
        for p in parts {
            s.push('/');
            s.push_str(p);
        }
        if s.is_empty() {
            s.push('/');
        }
        Self(s)
    }

    /// The components below the root, in order.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|c| !c.is_empty())
    }

    /// True for `/`.
    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }

    /// The path as the client sees it, e.g. `/docs/a.txt`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path relative to the jail root, for cap-std calls: `.` for the
    /// root, otherwise the path without its leading `/`.
    pub fn relative(&self) -> &Path {
        if self.is_root() {
            Path::new(".")
        } else {
            Path::new(&self.0[1..])
        }
    }

    /// The parent directory (the root is its own parent).
    pub fn parent(&self) -> Self {
        let parts: Vec<&str> = self.components().collect();
        Self::from_parts(&parts[..parts.len().saturating_sub(1)])
    }

    /// The last component, or `None` for the root.
    pub fn file_name(&self) -> Option<&str> {
        self.components().last()
    }

    /// `self` with `name` appended as one more component.
    pub fn join(&self, name: &str) -> Result<Self, PathError> {
        self.resolve(name)
    }
}

impl fmt::Display for VirtualPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user's root directory as a capability. Cloning is cheap (shared handle).
#[derive(Debug, Clone)]
pub struct Jail {
    root: Arc<Dir>,
    path: Arc<PathBuf>,
}

impl Jail {
    /// Opens `root` as the jail. This is the only ambient-authority call;
    /// everything afterwards goes through the handle.
    ///
    /// # Errors
    /// The I/O error from opening the directory.
    pub fn open(root: &Path) -> io::Result<Self> {
        let dir = Dir::open_ambient_dir(root, ambient_authority())?;
        Ok(Self {
            root: Arc::new(dir),
            path: Arc::new(root.to_path_buf()),
        })
    }

    /// The root directory handle. Join [`VirtualPath::relative`] paths to it.
    pub fn dir(&self) -> &Dir {
        &self.root
    }

    /// Where the root is on the host, for logs only; never send it to a
    /// client.
    pub fn host_path(&self) -> &Path {
        &self.path
    }

    /// The metadata of the regular file at `path` (symlinks inside the jail
    /// followed), checked without opening it: `open(2)` on a FIFO would
    /// block until a writer appears.
    ///
    /// # Errors
    /// The reply to send: `550` when the path is missing, leaves the jail,
    /// or is not a regular file ([`not_regular_file`]).
    ///
    /// [`not_regular_file`]: crate::error::not_regular_file
    pub fn regular_file_metadata(
        &self,
        path: &VirtualPath,
    ) -> Result<cap_std::fs::Metadata, crate::reply::Reply> {
        let meta = self
            .root
            .metadata(path.relative())
            .map_err(|e| crate::error::io_reply(&e, path))?;
        if meta.is_file() {
            Ok(meta)
        } else {
            Err(crate::error::not_regular_file(path))
        }
    }

    /// Opens the directory at `path` as a capability of its own.
    ///
    /// # Errors
    /// `NotFound`, `NotADirectory`, or `PermissionDenied` when resolution
    /// would leave the jail.
    pub fn open_dir(&self, path: &VirtualPath) -> io::Result<Dir> {
        if path.is_root() {
            self.root.try_clone()
        } else {
            self.root.open_dir(path.relative())
        }
    }
}

/// The jails of logged-in sessions, shared per root: a session costs its
/// control connection's socket and no directory descriptor of its own.
///
/// 10,000 sessions of one user hold one descriptor for their root, not
/// 10,000 (which, with the sockets, would exhaust a 20,000 limit). The
/// cache holds weak references, so a root nobody is logged into is closed;
/// and a root that was replaced on the host (another directory renamed into
/// its place) is opened afresh for new logins, as a per-login open would.
#[derive(Debug, Default)]
pub struct JailCache {
    open: Mutex<HashMap<PathBuf, Cached>>,
}

#[derive(Debug)]
struct Cached {
    dir: Weak<Dir>,
    path: Arc<PathBuf>,
    /// Device and inode of the directory when it was opened.
    id: (u64, u64),
}

impl JailCache {
    /// A shared handle on the jail at `root`, opening it if no live session
    /// holds it. Blocking (a `stat`, maybe an `open`): call it on a worker.
    ///
    /// # Errors
    /// The I/O error from opening or examining the directory.
    pub fn open(&self, root: &Path) -> io::Result<Jail> {
        let meta = std::fs::metadata(root)?;
        let id = (meta.dev(), meta.ino());
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(cached) = open.get(root)
            && cached.id == id
            && let Some(dir) = cached.dir.upgrade()
        {
            return Ok(Jail {
                root: dir,
                path: cached.path.clone(),
            });
        }
        let jail = Jail::open(root)?;
        let opened = jail.root.dir_metadata()?;
        // Dead entries go when another root is opened: the map stays as
        // large as the set of roots in use, plus the last one released.
        open.retain(|_, c| c.dir.strong_count() > 0);
        open.insert(
            root.to_path_buf(),
            Cached {
                dir: Arc::downgrade(&jail.root),
                path: jail.path.clone(),
                id: (
                    cap_std::fs::MetadataExt::dev(&opened),
                    cap_std::fs::MetadataExt::ino(&opened),
                ),
            },
        );
        Ok(jail)
    }

    /// Roots with a live shared handle.
    pub fn len(&self) -> usize {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.values().filter(|c| c.dir.strong_count() > 0).count()
    }

    /// True when no root is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn resolve_table() {
        let cwd = VirtualPath::root().resolve("/docs/sub").unwrap();
        let rows = [
            ("a.txt", "/docs/sub/a.txt"),
            ("/a.txt", "/a.txt"),
            ("..", "/docs"),
            ("../..", "/"),
            ("../../../../etc/passwd", "/etc/passwd"),
            ("./x/./y/", "/docs/sub/x/y"),
            ("//x//y", "/x/y"),
            ("/", "/"),
            ("dir\\b.txt", "/docs/sub/dir\\b.txt"),
        ];
        for (arg, want) in rows {
            assert_eq!(cwd.resolve(arg).unwrap().as_str(), want, "{arg}");
        }
        assert_eq!(cwd.resolve("a\0b"), Err(PathError::Nul));
        assert_eq!(cwd.resolve(""), Err(PathError::Empty));
    }

    #[test]
    fn parent_and_name() {
        let p = VirtualPath::root().resolve("/a/b").unwrap();
        assert_eq!(p.parent().as_str(), "/a");
        assert_eq!(p.file_name(), Some("b"));
        assert_eq!(VirtualPath::root().parent().as_str(), "/");
        assert_eq!(VirtualPath::root().file_name(), None);
        assert_eq!(VirtualPath::root().relative(), Path::new("."));
    }

    #[test]
    fn symlink_out_of_jail_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"top secret").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("escape")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.path().join("passwd")).unwrap();
        let jail = Jail::open(root.path()).unwrap();
        let p = VirtualPath::root().resolve("escape/secret").unwrap();
        assert!(jail.dir().read(p.relative()).is_err());
        let p = VirtualPath::root().resolve("passwd").unwrap();
        assert!(jail.dir().read(p.relative()).is_err());
        assert!(
            jail.open_dir(&VirtualPath::root().resolve("escape").unwrap())
                .is_err()
        );
    }

    #[test]
    fn jail_cache_shares_one_descriptor_per_root() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let cache = JailCache::default();
        let fds = || std::fs::read_dir("/proc/self/fd").unwrap().count();
        let j1 = cache.open(a.path()).unwrap();
        let before = fds();
        let many: Vec<Jail> = (0..100).map(|_| cache.open(a.path()).unwrap()).collect();
        assert_eq!(fds(), before, "no descriptor per session");
        assert!(many.iter().all(|j| Arc::ptr_eq(&j.root, &j1.root)));
        let other = cache.open(b.path()).unwrap();
        assert!(!Arc::ptr_eq(&other.root, &j1.root));
        assert_eq!(cache.len(), 2);
        drop((j1, many));
        assert_eq!(cache.len(), 1, "a root nobody holds is closed");
        // A root replaced on the host is opened afresh.
        let path = b.path().to_path_buf();
        let moved = b.path().with_extension("old");
        std::fs::rename(&path, &moved).unwrap();
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("new.txt"), b"new").unwrap();
        let fresh = cache.open(&path).unwrap();
        assert!(!Arc::ptr_eq(&fresh.root, &other.root));
        assert!(fresh.dir().exists("new.txt"));
        std::fs::remove_dir_all(&moved).unwrap();
        assert!(cache.open(Path::new("/nonexistent/ftpsh-root")).is_err());
    }

    proptest! {
        /// No sequence of components, however hostile, resolves to a path
        /// with `..`, `.` or an empty component, or to a relative path that
        /// is absolute.
        #[test]
        fn resolve_never_escapes(
            cwd in proptest::collection::vec("[a-z.]{1,3}", 0..4),
            arg in proptest::collection::vec(prop_oneof!["\\.\\.", "\\.", "", "[a-z]{1,3}", "/"], 0..12),
        ) {
            let cwd = VirtualPath::root().resolve(&format!("/{}", cwd.join("/"))).unwrap();
            let arg = arg.join("/");
            if let Ok(p) = cwd.resolve(&arg) {
                prop_assert!(p.as_str().starts_with('/'));
                prop_assert!(p.components().all(|c| c != ".." && c != "." && !c.is_empty()));
                prop_assert!(p.relative().is_relative());
            }
        }

        /// Through the jail, any client path reads only files under the root.
        #[test]
        fn jail_reads_only_inside(arg in "[./a-z]{0,24}") {
            let base = tempfile::tempdir().unwrap();
            let root = base.path().join("root");
            std::fs::create_dir_all(root.join("a")).unwrap();
            std::fs::write(base.path().join("outside"), b"OUT").unwrap();
            std::fs::write(root.join("a/inside"), b"IN").unwrap();
            let jail = Jail::open(&root).unwrap();
            if let Ok(p) = VirtualPath::root().resolve(&format!("a/{arg}outside"))
                && let Ok(data) = jail.dir().read(p.relative())
            {
                prop_assert_ne!(data, b"OUT".to_vec());
            }
        }
    }
}
