//! The DEST argument of `upload FILE [DEST]` and `download FILE [DEST]`
//! (seed 000, product brief §5), parsed once so the shell and the daemon's
//! seed aliases agree on it.
//!
//! DEST is one of:
//!
//! | DEST | meaning |
//! |---|---|
//! | *(absent)* | same name as the source, in the current directory |
//! | `b.txt` | new name `b.txt` in the current directory |
//! | `dir\b.txt`, `dir/b.txt` | new name `b.txt` in directory `dir` |
//! | `dir\`, `dir/`, `.`, `..` | the source's name in directory `dir` |
//! | `dir` (an existing directory) | the source's name inside it |
//!
//! A backslash is a path separator here, never an escape: the seeds'
//! Windows-style `dir\newname.ext` is the documented form. Because `dir`
//! alone is ambiguous (a new name without extension, or a directory),
//! [`Dest::resolve`] asks the caller whether it names an existing directory
//! on the target side; everything else is decided lexically, so the parser
//! itself never touches a filesystem or a network.
//!
//! The seed's second rule — a rename must keep the file's extension — is
//! [`extension_change`]; callers refuse such a rename unless forced.

use std::fmt;

use thiserror::Error;

/// A DEST argument that cannot name a target.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DestError {
    /// The argument is empty.
    #[error("empty destination")]
    Empty,
    /// The argument contains a NUL byte.
    #[error("destination contains a NUL byte")]
    Nul,
    /// The source has no file name to reuse (`upload dir/` into `docs/`).
    #[error("{0:?} has no file name")]
    NoFileName(String),
}

/// A parsed DEST argument: path components with both separators
/// normalised to `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dest {
    absolute: bool,
    parts: Vec<String>,
    trailing_separator: bool,
}

/// Where a transfer writes: an optional directory (as typed, `/`-separated,
/// relative to the target side's current directory unless it starts with
/// `/`) and a file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The directory, or `None` for the current directory.
    pub dir: Option<String>,
    /// The file name; never empty, never contains a separator.
    pub name: String,
}

impl Target {
    /// The target as one `/`-separated path (`docs/b.txt`, `/b.txt`,
    /// `b.txt`).
    pub fn path(&self) -> String {
        match self.dir.as_deref() {
            None => self.name.clone(),
            Some("/") => format!("/{}", self.name),
            Some(dir) => format!("{dir}/{}", self.name),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

/// Replaces every `\` by `/`: in the shell's file arguments a backslash is a
/// path separator (seed 000's `dir\newname.ext`).
pub fn normalize_separators(path: &str) -> String {
    path.replace('\\', "/")
}

/// The last component of `path` (either separator), ignoring trailing
/// separators; `None` when there is none or it is `.`/`..`.
pub fn file_name(path: &str) -> Option<&str> {
    let trimmed = path.trim_end_matches(['/', '\\']);
    let name = trimmed.rsplit(['/', '\\']).next()?;
    (!name.is_empty() && name != "." && name != "..").then_some(name)
}

/// The extension of a file name: the text after its last `.`, unless that
/// dot starts the name (`.profile` has none) or ends it (`a.` has none).
pub fn extension(name: &str) -> Option<&str> {
    let (stem, ext) = name.rsplit_once('.')?;
    (!stem.is_empty() && !ext.is_empty()).then_some(ext)
}

/// `Some((from, to))` when renaming `source_name` to `target_name` changes
/// the extension (compared case-insensitively, so `A.TXT` → `a.txt` is
/// fine); `None` otherwise. A missing extension is the empty string.
pub fn extension_change(source_name: &str, target_name: &str) -> Option<(String, String)> {
    let from = extension(source_name).unwrap_or("");
    let to = extension(target_name).unwrap_or("");
    (!from.eq_ignore_ascii_case(to)).then(|| (from.to_owned(), to.to_owned()))
}

impl Dest {
    /// Parses a DEST argument.
    ///
    /// # Errors
    /// [`DestError::Empty`] or [`DestError::Nul`].
    pub fn parse(arg: &str) -> Result<Self, DestError> {
        if arg.is_empty() {
            return Err(DestError::Empty);
        }
        if arg.contains('\0') {
            return Err(DestError::Nul);
        }
        let arg = normalize_separators(arg);
        let parts = arg
            .split('/')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(Self {
            absolute: arg.starts_with('/'),
            trailing_separator: arg.ends_with('/'),
            parts,
        })
    }

    /// True when the argument can only name a directory: it ends with a
    /// separator, is `/`, or its last component is `.` or `..`.
    pub fn is_explicit_dir(&self) -> bool {
        self.trailing_separator
            || self
                .parts
                .last()
                .is_none_or(|last| last == "." || last == "..")
    }

    /// The whole argument as a `/`-separated path.
    pub fn as_path(&self) -> String {
        let joined = self.parts.join("/");
        match (self.absolute, joined.is_empty()) {
            (true, _) => format!("/{joined}"),
            (false, true) => ".".to_owned(),
            (false, false) => joined,
        }
    }

    /// Resolves the target for a transfer of `source` (a path; its last
    /// component is the default name). `is_dir(path)` tells whether `path`
    /// (as returned by [`Dest::as_path`]) is an existing directory on the
    /// target side; it is only asked when the argument is ambiguous.
    ///
    /// # Errors
    /// [`DestError::NoFileName`] when the target is a directory and `source`
    /// has no file name to reuse.
    pub fn resolve(
        &self,
        source: &str,
        mut is_dir: impl FnMut(&str) -> bool,
    ) -> Result<Target, DestError> {
        let whole = self.as_path();
        if self.is_explicit_dir() || is_dir(&whole) {
            let name = file_name(source).ok_or_else(|| DestError::NoFileName(source.to_owned()))?;
            let dir = (whole != ".").then_some(whole);
            return Ok(Target {
                dir,
                name: name.to_owned(),
            });
        }
        // Not explicit-dir, so there is at least one component.
        let (name, dir_parts) = self
            .parts
            .split_last()
            .ok_or_else(|| DestError::NoFileName(source.to_owned()))?;
        let dir = match (self.absolute, dir_parts.is_empty()) {
            (true, _) => Some(format!("/{}", dir_parts.join("/"))),
            (false, true) => None,
            (false, false) => Some(dir_parts.join("/")),
        };
        Ok(Target {
            dir,
            name: name.clone(),
        })
    }
}

/// Resolves an optional DEST for `source`: without DEST the target is the
/// source's file name in the current directory.
///
/// # Errors
/// As [`Dest::parse`] and [`Dest::resolve`].
pub fn resolve(
    source: &str,
    dest: Option<&str>,
    is_dir: impl FnMut(&str) -> bool,
) -> Result<Target, DestError> {
    match dest {
        None => {
            let name = file_name(source).ok_or_else(|| DestError::NoFileName(source.to_owned()))?;
            Ok(Target {
                dir: None,
                name: name.to_owned(),
            })
        }
        Some(arg) => Dest::parse(arg)?.resolve(source, is_dir),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(dir: Option<&str>, name: &str) -> Target {
        Target {
            dir: dir.map(str::to_owned),
            name: name.to_owned(),
        }
    }

    /// Table of (source, DEST, existing directories, expected target path).
    #[test]
    fn dest_table() {
        let cases: &[(&str, Option<&str>, &[&str], &str)] = &[
            ("a.txt", None, &[], "a.txt"),
            ("docs/a.txt", None, &[], "a.txt"),
            ("docs\\a.txt", None, &[], "a.txt"),
            ("a.txt", Some("b.txt"), &[], "b.txt"),
            ("a.txt", Some("dir\\b.txt"), &[], "dir/b.txt"),
            ("a.txt", Some("dir/b.txt"), &[], "dir/b.txt"),
            ("a.txt", Some("dir\\sub\\b.txt"), &[], "dir/sub/b.txt"),
            ("a.txt", Some("dir/"), &[], "dir/a.txt"),
            ("a.txt", Some("dir\\"), &[], "dir/a.txt"),
            ("a.txt", Some("dir"), &["dir"], "dir/a.txt"),
            ("a.txt", Some("dir"), &[], "dir"),
            ("a.txt", Some("."), &[], "a.txt"),
            ("a.txt", Some(".."), &[], "../a.txt"),
            ("a.txt", Some("/"), &[], "/a.txt"),
            ("a.txt", Some("/up/b.txt"), &[], "/up/b.txt"),
            ("a.txt", Some("\\up\\b.txt"), &[], "/up/b.txt"),
            ("a.txt", Some("dir//b.txt"), &[], "dir/b.txt"),
            ("a.txt", Some("x/y"), &["x/y"], "x/y/a.txt"),
        ];
        for (source, dest, dirs, expected) in cases {
            let got = resolve(source, *dest, |p| dirs.contains(&p))
                .unwrap_or_else(|e| panic!("{source} {dest:?}: {e}"));
            assert_eq!(got.path(), *expected, "{source} {dest:?}");
        }
    }

    #[test]
    fn targets_split_dir_and_name() {
        let t = resolve("a.txt", Some("dir\\b.txt"), |_| false).unwrap();
        assert_eq!(t, target(Some("dir"), "b.txt"));
        let t = resolve("a.txt", Some("/b.txt"), |_| false).unwrap();
        assert_eq!(t, target(Some("/"), "b.txt"));
        assert_eq!(t.path(), "/b.txt");
    }

    #[test]
    fn is_dir_is_only_asked_when_ambiguous() {
        let mut asked = Vec::new();
        resolve("a.txt", Some("dir/"), |p| {
            asked.push(p.to_owned());
            false
        })
        .unwrap();
        assert!(asked.is_empty());
        resolve("a.txt", Some("dir\\b.txt"), |p| {
            asked.push(p.to_owned());
            false
        })
        .unwrap();
        assert_eq!(asked, ["dir/b.txt"]);
    }

    #[test]
    fn errors() {
        assert_eq!(Dest::parse(""), Err(DestError::Empty));
        assert_eq!(Dest::parse("a\0b"), Err(DestError::Nul));
        assert_eq!(
            resolve("/", Some("x/"), |_| false),
            Err(DestError::NoFileName("/".into()))
        );
        assert_eq!(
            resolve("..", None, |_| false),
            Err(DestError::NoFileName("..".into()))
        );
    }

    #[test]
    fn extensions() {
        assert_eq!(extension("a.txt"), Some("txt"));
        assert_eq!(extension("a.tar.gz"), Some("gz"));
        assert_eq!(extension(".profile"), None);
        assert_eq!(extension("README"), None);
        assert_eq!(extension("a."), None);
        assert_eq!(extension_change("a.txt", "b.txt"), None);
        assert_eq!(extension_change("a.TXT", "b.txt"), None);
        assert_eq!(extension_change("README", "COPYING"), None);
        assert_eq!(
            extension_change("a.txt", "b.bin"),
            Some(("txt".into(), "bin".into()))
        );
        assert_eq!(
            extension_change("a.txt", "b"),
            Some(("txt".into(), String::new()))
        );
    }

    #[test]
    fn file_names() {
        assert_eq!(file_name("a/b.txt"), Some("b.txt"));
        assert_eq!(file_name("a\\b.txt"), Some("b.txt"));
        assert_eq!(file_name("a/b/"), Some("b"));
        assert_eq!(file_name("/"), None);
        assert_eq!(file_name("."), None);
    }

    proptest::proptest! {
        /// No input panics, and a resolved name never contains a separator.
        #[test]
        fn never_panics(source in ".{0,20}", dest in proptest::option::of(".{0,20}")) {
            if let Ok(t) = resolve(&source, dest.as_deref(), |p| p.len() % 2 == 0) {
                proptest::prop_assert!(!t.name.is_empty());
                proptest::prop_assert!(!t.name.contains(['/', '\\']));
            }
        }
    }
}
