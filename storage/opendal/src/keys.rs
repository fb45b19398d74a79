//! From client paths to object keys: the jail of an object store.
//!
//! A user's root is a key prefix (`alice/` or the empty prefix) below the
//! back-end's own root, and a [`VirtualPath`] — normalised, without `.`,
//! `..` or empty components — is appended to it. Nothing else builds keys,
//! so no client path can name a key outside the user's prefix (see the
//! property tests below).

use std::io;
use std::path::Path;

use ftpsh_core::VirtualPath;

/// The key prefix of an account root: `user.root` normalised like a client
/// path (`..` stops at the top, empty and `.` components dropped), each
/// component followed by `/`. The root `/` is the empty prefix (the
/// back-end's own prefix).
///
/// # Errors
/// `InvalidInput` for a root that is not UTF-8 or contains a NUL.
pub(crate) fn user_prefix(root: &Path) -> io::Result<String> {
    let text = root.to_str().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "an object-store root must be UTF-8",
        )
    })?;
    if text.is_empty() {
        return Ok(String::new());
    }
    let path = VirtualPath::root()
        .resolve(text)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    Ok(path.components().map(|c| format!("{c}/")).collect())
}

/// The key of the object `path` would be as a file, below `prefix`. For
/// the root this is the prefix itself (callers treat the root as a
/// directory before asking).
pub(crate) fn file_key(prefix: &str, path: &VirtualPath) -> String {
    let rel = &path.as_str()[1..];
    let mut key = String::with_capacity(prefix.len() + rel.len());
    key.push_str(prefix);
    key.push_str(rel);
    key
}

/// The key of the directory `path`: its file key and `/` (the marker's
/// key and the prefix of its children). The root is `prefix`, or `/` for
/// the back-end's root itself (OpenDAL's name for its root).
pub(crate) fn dir_key(prefix: &str, path: &VirtualPath) -> String {
    if path.is_root() {
        if prefix.is_empty() {
            "/".to_owned()
        } else {
            prefix.to_owned()
        }
    } else {
        let mut key = file_key(prefix, path);
        key.push('/');
        key
    }
}

/// True when the listed entry `entry` is the directory `dir` itself (its
/// marker), whatever the leading and trailing slashes.
pub(crate) fn same_key(entry: &str, dir: &str) -> bool {
    entry.trim_matches('/') == dir.trim_matches('/')
}

/// The name a listed entry has in the directory whose key is `dir`: the
/// last component, without a trailing `/`. `None` for entries that are not
/// one level below `dir`, or whose names a client could not use (empty,
/// `.` or `..`, from keys such as `a//b` or `a/../b` written by other
/// tools).
pub(crate) fn child_name<'a>(entry: &'a str, dir: &str) -> Option<&'a str> {
    let dir = dir.trim_matches('/');
    let entry = entry.trim_start_matches('/').trim_end_matches('/');
    let rest = if dir.is_empty() {
        entry
    } else {
        entry.strip_prefix(dir)?.strip_prefix('/')?
    };
    if rest.is_empty() || rest == "." || rest == ".." || rest.contains('/') {
        return None;
    }
    Some(rest)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn p(s: &str) -> VirtualPath {
        VirtualPath::root().resolve(s).unwrap()
    }

    #[test]
    fn prefixes() {
        assert_eq!(user_prefix(Path::new("/")).unwrap(), "");
        assert_eq!(user_prefix(Path::new("")).unwrap(), "");
        assert_eq!(user_prefix(Path::new("/alice")).unwrap(), "alice/");
        assert_eq!(user_prefix(Path::new("home//bob/")).unwrap(), "home/bob/");
        assert_eq!(user_prefix(Path::new("/../../etc/./x")).unwrap(), "etc/x/");
    }

    #[test]
    fn keys() {
        assert_eq!(file_key("alice/", &p("/a/b.txt")), "alice/a/b.txt");
        assert_eq!(dir_key("alice/", &p("/a")), "alice/a/");
        assert_eq!(dir_key("alice/", &p("/")), "alice/");
        assert_eq!(dir_key("", &p("/")), "/");
        assert_eq!(file_key("", &p("/x")), "x");
    }

    #[test]
    fn names() {
        assert_eq!(child_name("alice/a/", "alice/"), Some("a"));
        assert_eq!(child_name("alice/a.txt", "alice/"), Some("a.txt"));
        assert_eq!(child_name("a.txt", "/"), Some("a.txt"));
        assert_eq!(child_name("alice/", "alice/"), None);
        assert_eq!(child_name("alice/a/b", "alice/"), None);
        assert_eq!(child_name("bob/a", "alice/"), None);
        assert_eq!(child_name("alice/../", "alice/"), None);
        assert_eq!(child_name("alicex/a", "alice/"), None);
        assert!(same_key("alice/", "alice/"));
        assert!(same_key("/", "/"));
        assert!(!same_key("alice/a/", "alice/"));
    }

    proptest! {
        /// Whatever a client types, from whatever current directory, the
        /// keys of the path it resolves to stay below the user's prefix,
        /// with no component that could climb out of it.
        #[test]
        fn no_path_leaves_the_prefix(
            root in "(/?([a-z.]{1,3}|\\.\\.)){0,4}/?",
            cwd in "(/([a-z.]{1,3}|\\.\\.)){0,4}",
            arg in "[a-z./]{1,24}",
        ) {
            let prefix = user_prefix(Path::new(&root)).unwrap();
            prop_assert!(prefix.is_empty() || prefix.ends_with('/'));
            for c in prefix.split('/').filter(|c| !c.is_empty()) {
                prop_assert!(c != "." && c != "..");
            }
            let cwd = VirtualPath::root().resolve(if cwd.is_empty() { "/" } else { &cwd }).unwrap();
            let Ok(path) = cwd.resolve(&arg) else { return Ok(()) };
            for key in [file_key(&prefix, &path), dir_key(&prefix, &path)] {
                let key = key.trim_start_matches('/');
                prop_assert!(key.starts_with(&prefix), "{key} leaves {prefix}");
                let rest = &key[prefix.len()..];
                prop_assert!(!rest.starts_with('/'));
                for c in rest.trim_end_matches('/').split('/').filter(|_| !rest.is_empty()) {
                    prop_assert!(!c.is_empty() && c != "." && c != "..", "bad component in {key}");
                }
            }
        }

        /// Two different users' prefixes never name the same key.
        #[test]
        fn prefixes_are_disjoint(a in "[a-z]{1,4}", b in "[a-z]{1,4}", arg in "[a-z./]{1,16}") {
            prop_assume!(a != b);
            let pa = user_prefix(Path::new(&a)).unwrap();
            let pb = user_prefix(Path::new(&b)).unwrap();
            let Ok(path) = VirtualPath::root().resolve(&arg) else { return Ok(()) };
            prop_assert!(!file_key(&pa, &path).starts_with(&pb));
        }
    }
}
