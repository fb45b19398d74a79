//! Users and permissions.
//!
//! Permissions use pyftpdlib's letters, which seed 004 relies on:
//! `e` change directory, `l` list, `r` retrieve, `a` append, `d` delete,
//! `f` rename, `m` make directory, `w` store.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use thiserror::Error;

/// One permission a command may require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// `e`: CWD, CDUP.
    ChangeDir,
    /// `l`: LIST, NLST, MLSD, MLST, SIZE, MDTM, STAT of a path.
    List,
    /// `r`: RETR.
    Retrieve,
    /// `a`: APPE, and REST+STOR.
    Append,
    /// `d`: DELE, RMD.
    Delete,
    /// `f`: RNFR, RNTO.
    Rename,
    /// `m`: MKD.
    MakeDir,
    /// `w`: STOR.
    Write,
}

impl Permission {
    /// Every permission, in letter order `elradfmw`.
    pub const ALL: [Permission; 8] = [
        Self::ChangeDir,
        Self::List,
        Self::Retrieve,
        Self::Append,
        Self::Delete,
        Self::Rename,
        Self::MakeDir,
        Self::Write,
    ];

    /// The pyftpdlib letter.
    pub fn letter(self) -> char {
        match self {
            Self::ChangeDir => 'e',
            Self::List => 'l',
            Self::Retrieve => 'r',
            Self::Append => 'a',
            Self::Delete => 'd',
            Self::Rename => 'f',
            Self::MakeDir => 'm',
            Self::Write => 'w',
        }
    }

    fn bit(self) -> u8 {
        1 << (Self::ALL.iter().position(|p| *p == self).unwrap_or(0) as u8)
    }
}

/// A set of [`Permission`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Permissions(u8);

/// A permission string with a letter outside `elradfmw`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown permission letter {0:?} (expected some of \"elradfmw\")")]
pub struct BadPermission(pub char);

impl Permissions {
    /// All eight permissions.
    pub fn all() -> Self {
        Self(u8::MAX)
    }

    /// Read-only access (`elr`), as for anonymous users.
    pub fn read_only() -> Self {
        Self::parse("elr").unwrap_or_default()
    }

    /// Parses letters such as `"elradfmw"`.
    ///
    /// # Errors
    /// [`BadPermission`] naming the first unknown letter.
    pub fn parse(letters: &str) -> Result<Self, BadPermission> {
        letters.chars().try_fold(Self(0), |acc, c| {
            Permission::ALL
                .iter()
                .find(|p| p.letter() == c)
                .map(|p| Self(acc.0 | p.bit()))
                .ok_or(BadPermission(c))
        })
    }

    /// True when `p` is granted.
    pub fn allows(self, p: Permission) -> bool {
        self.0 & p.bit() != 0
    }
}

impl fmt::Display for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in Permission::ALL {
            if self.allows(p) {
                write!(f, "{}", p.letter())?;
            }
        }
        Ok(())
    }
}

/// An account: name, password, home directory (the jail root) and
/// permissions.
#[derive(Clone)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Password; `None` accepts any password (anonymous).
    pub password: Option<String>,
    /// The jail root on the host.
    pub root: PathBuf,
    /// What the user may do.
    pub permissions: Permissions,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("root", &self.root)
            .field("permissions", &self.permissions.to_string())
            .finish_non_exhaustive()
    }
}

/// A malformed `NAME:PASSWORD[:PERMS]` user specification.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UserSpecError {
    /// No `:` between name and password.
    #[error("expected NAME:PASSWORD[:PERMS], got {0:?}")]
    Shape(String),
    /// Empty name.
    #[error("empty user name")]
    EmptyName,
    /// Bad permission letters.
    #[error(transparent)]
    Permission(#[from] BadPermission),
}

impl User {
    /// Parses the command-line form `NAME:PASSWORD[:PERMS]` (PERMS default
    /// `elradfmw`) with `root` as the home directory. The password may not
    /// contain `:` when PERMS is given.
    ///
    /// # Errors
    /// [`UserSpecError`].
    pub fn from_spec(spec: &str, root: PathBuf) -> Result<Self, UserSpecError> {
        let (name, rest) = spec
            .split_once(':')
            .ok_or_else(|| UserSpecError::Shape(spec.to_owned()))?;
        if name.is_empty() {
            return Err(UserSpecError::EmptyName);
        }
        let (password, permissions) = match rest.rsplit_once(':') {
            Some((pw, perms)) => (pw, Permissions::parse(perms)?),
            None => (rest, Permissions::all()),
        };
        Ok(Self {
            name: name.to_owned(),
            password: Some(password.to_owned()),
            root,
            permissions,
        })
    }

    fn password_matches(&self, given: &str) -> bool {
        match &self.password {
            None => true,
            Some(pw) => constant_time_eq(pw.as_bytes(), given.as_bytes()),
        }
    }
}

/// Compares without an early exit, so response timing does not reveal how
/// much of a password was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() != b.len()) as u8;
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0xAA);
    }
    diff == 0
}

/// The user database.
#[derive(Debug, Clone, Default)]
pub struct Users {
    users: HashMap<String, Arc<User>>,
}

impl Users {
    /// An empty database.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces `user`.
    pub fn add(&mut self, user: User) {
        self.users.insert(user.name.clone(), Arc::new(user));
    }

    /// Adds the read-only `anonymous` and `ftp` logins (any password, RFC
    /// 1635) rooted at `root`.
    pub fn add_anonymous(&mut self, root: PathBuf) {
        for name in ["anonymous", "ftp"] {
            self.add(User {
                name: name.to_owned(),
                password: None,
                root: root.clone(),
                permissions: Permissions::read_only(),
            });
        }
    }

    /// The user if `name` exists and `password` matches.
    pub fn authenticate(&self, name: &str, password: &str) -> Option<Arc<User>> {
        let user = self.users.get(name)?;
        user.password_matches(password).then(|| user.clone())
    }

    /// True when `name` is an account that takes any password.
    pub fn is_anonymous(&self, name: &str) -> bool {
        self.users.get(name).is_some_and(|u| u.password.is_none())
    }

    /// Number of accounts.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// True when there are no accounts.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_roundtrip() {
        assert_eq!(Permissions::all().to_string(), "elradfmw");
        assert_eq!(Permissions::parse("wre").unwrap().to_string(), "erw");
        assert_eq!(Permissions::parse("elx"), Err(BadPermission('x')));
        assert!(!Permissions::read_only().allows(Permission::Write));
    }

    #[test]
    fn user_spec() {
        let u = User::from_spec("alice:s3cret", "/srv".into()).unwrap();
        assert_eq!(u.permissions, Permissions::all());
        let u = User::from_spec("bob:pw:elr", "/srv".into()).unwrap();
        assert_eq!(u.password.as_deref(), Some("pw"));
        assert_eq!(u.permissions.to_string(), "elr");
        assert!(User::from_spec("nocolon", "/".into()).is_err());
        assert!(User::from_spec(":pw", "/".into()).is_err());
    }

    #[test]
    fn authentication() {
        let mut users = Users::new();
        users.add(User::from_spec("alice:pw", "/srv".into()).unwrap());
        users.add_anonymous("/pub".into());
        assert!(users.authenticate("alice", "pw").is_some());
        assert!(users.authenticate("alice", "pW").is_none());
        assert!(users.authenticate("alice", "").is_none());
        assert!(users.authenticate("nobody", "pw").is_none());
        assert!(users.authenticate("anonymous", "me@example.org").is_some());
        assert!(users.is_anonymous("ftp"));
    }
}
