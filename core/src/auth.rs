//! Users and permissions.
//!
//! Permissions use pyftpdlib's letters, which seed 004 relies on:
//! `e` change directory, `l` list, `r` retrieve, `a` append, `d` delete,
//! `f` rename, `m` make directory, `w` store, `M` change mode (SITE CHMOD),
//! `T` change modification time (MFMT).
//!
//! Accounts ([`Users`]) hold what a login is checked against: the stored
//! password (a hash or plaintext, see [`credential`]), the account's root
//! and permissions, an optional limit of sessions, and the lock-out policy
//! for addresses that keep failing ([`LockoutPolicy`]). The password check
//! and the lock-out are functions of the account store ([`Users::login`]),
//! not of the `PASS` command.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use thiserror::Error;

pub mod credential;
mod guard;

use guard::LoginState;
pub use guard::{LockoutPolicy, SessionSlot, address_block};

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
    /// `w`: STOR, STOU.
    Write,
    /// `M`: SITE CHMOD.
    ChangeMode,
    /// `T`: MFMT.
    SetTime,
}

impl Permission {
    /// Every permission, in letter order `elradfmwMT`.
    pub const ALL: [Permission; 10] = [
        Self::ChangeDir,
        Self::List,
        Self::Retrieve,
        Self::Append,
        Self::Delete,
        Self::Rename,
        Self::MakeDir,
        Self::Write,
        Self::ChangeMode,
        Self::SetTime,
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
            Self::ChangeMode => 'M',
            Self::SetTime => 'T',
        }
    }

    fn bit(self) -> u16 {
        1 << (Self::ALL.iter().position(|p| *p == self).unwrap_or(0) as u16)
    }
}

/// A set of [`Permission`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Permissions(u16);

/// A permission string with a letter outside `elradfmwMT`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown permission letter {0:?} (expected some of \"elradfmwMT\")")]
pub struct BadPermission(pub char);

impl Permissions {
    /// Every permission (`elradfmwMT`).
    pub fn all() -> Self {
        Self(u16::MAX)
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

    /// These permissions without `p`.
    pub fn without(self, p: Permission) -> Self {
        Self(self.0 & !p.bit())
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
    /// The stored password: a PHC string (`$argon2id$…`), a SHA-crypt hash
    /// (`$6$…`, `$5$…`) or plaintext (see [`credential`]); `None` accepts
    /// any password (anonymous).
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
    /// all, `elradfmwMT`) with `root` as the home directory. The password may
    /// not contain `:` when PERMS is given. PASSWORD may be a hash (see
    /// [`credential`]), which keeps the password itself out of `ps`.
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

    /// True when `given` matches the stored password (slow for a hash:
    /// call it off the event loop).
    pub fn password_matches(&self, given: &str) -> bool {
        match &self.password {
            None => true,
            Some(stored) => credential::verify(stored, given),
        }
    }

    /// True for an account that takes any password (anonymous).
    pub fn is_anonymous(&self) -> bool {
        self.password.is_none()
    }
}

/// Why [`Users::login`] refused a login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum LoginRefused {
    /// Unknown user or wrong password (the two are not told apart): `530`.
    #[error("login incorrect")]
    Incorrect,
    /// The client's address is locked out after failed logins: `421`.
    #[error("too many failed logins from this address")]
    LockedOut,
    /// The account has its `max_sessions` logged in already: `421`.
    #[error("too many sessions for this user ({0})")]
    TooManySessions(usize),
}

/// A successful login: the account, and the slot counting the session
/// against the account's limit (drop it when the session logs out).
#[derive(Debug)]
pub struct Grant {
    /// The account.
    pub user: Arc<User>,
    /// Held while logged in.
    pub slot: SessionSlot,
}

/// The account store: users, their session limits, the lock-out policy,
/// and (shared by every clone and carried across reloads with
/// [`Users::keep_state_of`]) the failed-login and session counts.
#[derive(Debug, Clone, Default)]
pub struct Users {
    users: HashMap<String, Arc<User>>,
    max_sessions: HashMap<String, usize>,
    lockout: LockoutPolicy,
    state: Arc<LoginState>,
}

impl Users {
    /// An empty database, without lock-out.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces `user`, without a session limit.
    pub fn add(&mut self, user: User) {
        self.max_sessions.remove(&user.name);
        self.users.insert(user.name.clone(), Arc::new(user));
    }

    /// Adds or replaces `user`; at most `max_sessions` sessions may be
    /// logged in as it at once (`None`: no limit of its own).
    pub fn add_limited(&mut self, user: User, max_sessions: Option<usize>) {
        let name = user.name.clone();
        self.add(user);
        if let Some(n) = max_sessions {
            self.max_sessions.insert(name, n);
        }
    }

    /// Adds the read-only `anonymous` and `ftp` logins (any password, RFC
    /// 1635) rooted at `root`.
    pub fn add_anonymous(&mut self, root: PathBuf) {
        self.add_anonymous_with(root, Permissions::read_only());
    }

    /// Adds the `anonymous` and `ftp` logins with `permissions`.
    pub fn add_anonymous_with(&mut self, root: PathBuf, permissions: Permissions) {
        for name in ["anonymous", "ftp"] {
            self.add(User {
                name: name.to_owned(),
                password: None,
                root: root.clone(),
                permissions,
            });
        }
    }

    /// Sets the lock-out policy (default: none).
    pub fn set_lockout(&mut self, policy: LockoutPolicy) {
        self.lockout = policy;
    }

    /// The lock-out policy.
    pub fn lockout(&self) -> LockoutPolicy {
        self.lockout
    }

    /// Shares `old`'s failed-login and session counts, so a reloaded
    /// account store keeps addresses locked and sessions counted.
    pub fn keep_state_of(&mut self, old: &Users) {
        self.state = old.state.clone();
    }

    /// The account named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<User>> {
        self.users.get(name)
    }

    /// The user if `name` exists and `password` matches. Slow for hashed
    /// passwords; no lock-out or session limit (see [`Self::login`]).
    pub fn authenticate(&self, name: &str, password: &str) -> Option<Arc<User>> {
        match self.users.get(name) {
            Some(user) => user.password_matches(password).then(|| user.clone()),
            None => {
                credential::verify_nothing(password);
                None
            }
        }
    }

    /// True when `client`'s address is locked out after failed logins.
    pub fn is_locked_out(&self, client: IpAddr) -> bool {
        self.state.is_locked(self.lockout, client, Instant::now())
    }

    /// A complete login check from `client`: lock-out, password (slow for
    /// a hash: call it off the event loop), then the account's session
    /// limit. A wrong password counts towards the address's lock-out.
    ///
    /// # Errors
    /// [`LoginRefused`], naming the reply the client should get.
    pub fn login(&self, name: &str, password: &str, client: IpAddr) -> Result<Grant, LoginRefused> {
        if self.is_locked_out(client) {
            return Err(LoginRefused::LockedOut);
        }
        let Some(user) = self.authenticate(name, password) else {
            self.state.fail(self.lockout, client, Instant::now());
            return Err(LoginRefused::Incorrect);
        };
        let limit = self.max_sessions.get(name).copied();
        let slot = self
            .state
            .open_session(name, limit)
            .ok_or(LoginRefused::TooManySessions(limit.unwrap_or(0)))?;
        Ok(Grant { user, slot })
    }

    /// Sessions logged in as `name` now.
    pub fn sessions_of(&self, name: &str) -> usize {
        self.state.sessions_of(name)
    }

    /// True when `name` is an account that takes any password.
    pub fn is_anonymous(&self, name: &str) -> bool {
        self.users.get(name).is_some_and(|u| u.is_anonymous())
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
        assert_eq!(Permissions::all().to_string(), "elradfmwMT");
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

    #[test]
    fn login_locks_out_and_limits_sessions() {
        let mut users = Users::new();
        let hash = credential::hash_password("pw").unwrap();
        let mut alice = User::from_spec("alice:x", "/srv".into()).unwrap();
        alice.password = Some(hash);
        users.add_limited(alice, Some(1));
        users.set_lockout(LockoutPolicy {
            failures: 2,
            window: std::time::Duration::from_secs(60),
        });
        let here: IpAddr = "192.0.2.7".parse().unwrap();
        let there: IpAddr = "192.0.2.8".parse().unwrap();
        let grant = users.login("alice", "pw", here).unwrap();
        assert_eq!(grant.user.name, "alice");
        assert_eq!(
            users.login("alice", "pw", there).unwrap_err(),
            LoginRefused::TooManySessions(1)
        );
        drop(grant);
        assert_eq!(users.sessions_of("alice"), 0);
        assert_eq!(
            users.login("alice", "no", here).unwrap_err(),
            LoginRefused::Incorrect
        );
        assert_eq!(
            users.login("bob", "pw", here).unwrap_err(),
            LoginRefused::Incorrect
        );
        assert_eq!(
            users.login("alice", "pw", here).unwrap_err(),
            LoginRefused::LockedOut
        );
        // A reloaded store keeps the lock.
        let mut reloaded = Users::new();
        reloaded.set_lockout(users.lockout());
        reloaded.keep_state_of(&users);
        assert!(reloaded.is_locked_out(here));
        assert!(users.login("alice", "pw", there).is_ok());
    }
}
