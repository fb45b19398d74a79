//! `storage` (`--storage URI`): where accounts' files live. The local disk
//! by default; an object store (`s3://BUCKET[/PREFIX]?...`, `fs:///DIR`,
//! `opendal+SERVICE://?...`, see `ftpsh-storage-opendal`) for every
//! account, or per account (`storage` in its `[[users]]` table, `local` for
//! the disk). On an object store an account's `root` is a key prefix below
//! the URI's prefix (default `/`: the prefix itself), not a host directory.
//!
//! Each object store is built once at start and checked (endpoint
//! reachable, bucket present): a bad URI, an unreachable endpoint or a
//! missing bucket stops the daemon with one line. A reload keeps the
//! storage of the start (changing it needs a restart).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io;
use std::sync::Arc;

use anyhow::Context;
use ftpsh_core::storage::local::LocalBackend;
use ftpsh_core::{Backend, Capabilities, Storage, User};

/// Where one account's files live.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub enum Place {
    /// Host directories (`root` is a directory).
    #[default]
    Local,
    /// An object store, by its storage URI (`root` is a key prefix).
    Uri(String),
}

impl Place {
    /// `local`, or a storage URI.
    pub fn parse(s: &str) -> Self {
        if s == "local" {
            Self::Local
        } else {
            Self::Uri(s.to_owned())
        }
    }

    /// True for host directories.
    pub fn is_local(&self) -> bool {
        matches!(self, Self::Local)
    }
}

impl fmt::Debug for Place {
    // URIs may carry secret keys: never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local => f.write_str("Local"),
            Self::Uri(_) => f.write_str("Uri(..)"),
        }
    }
}

/// The storage of every account: a default, and the accounts whose own
/// `storage` differs from it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoragePlan {
    /// `storage` (`--storage`).
    pub default: Place,
    /// Accounts with a `storage` of their own.
    pub users: BTreeMap<String, Place>,
}

impl StoragePlan {
    /// Builds the back-ends, one per distinct place, each object store
    /// checked (see [`ftpsh_storage_opendal::backend_from_uri`]).
    ///
    /// # Errors
    /// The store's one-line error (bad URI, unreachable endpoint, missing
    /// bucket, refused credentials), naming the account for a per-account
    /// storage.
    pub fn build(&self) -> anyhow::Result<Arc<dyn Backend>> {
        // One back-end per place: accounts on one bucket share its
        // connections.
        let mut built: HashMap<Place, Arc<dyn Backend>> = HashMap::new();
        let mut get = |place: &Place| -> anyhow::Result<Arc<dyn Backend>> {
            if let Some(b) = built.get(place) {
                return Ok(b.clone());
            }
            let backend: Arc<dyn Backend> = match place {
                Place::Local => Arc::new(LocalBackend::new()),
                Place::Uri(uri) => ftpsh_storage_opendal::backend_from_uri(uri)?,
            };
            built.insert(place.clone(), backend.clone());
            Ok(backend)
        };
        let default = get(&self.default)?;
        if self.users.is_empty() {
            return Ok(default);
        }
        let mut users = HashMap::new();
        for (name, place) in &self.users {
            let backend = get(place).with_context(|| format!("user {name:?}"))?;
            users.insert(name.clone(), backend);
        }
        Ok(Arc::new(PerAccount::new(default, users)))
    }
}

/// Back-ends chosen per account: the default, or the account's own.
#[derive(Debug)]
struct PerAccount {
    default: Arc<dyn Backend>,
    users: HashMap<String, Arc<dyn Backend>>,
    /// What every back-end can do: `FEAT` and `HELP` before login promise
    /// no more (after login the session's own storage answers).
    common: Capabilities,
}

impl PerAccount {
    fn new(default: Arc<dyn Backend>, users: HashMap<String, Arc<dyn Backend>>) -> Self {
        let common = users
            .values()
            .map(|b| b.capabilities())
            .fold(default.capabilities(), Capabilities::intersection);
        Self {
            default,
            users,
            common,
        }
    }
}

impl Backend for PerAccount {
    fn capabilities(&self) -> Capabilities {
        self.common
    }

    fn open_root(&self, user: &User) -> io::Result<Arc<dyn Storage>> {
        self.users
            .get(&user.name)
            .unwrap_or(&self.default)
            .open_root(user)
    }

    fn describe(&self) -> String {
        let mut out = self.default.describe();
        let mut names: Vec<&String> = self.users.keys().collect();
        names.sort();
        for name in names {
            out.push_str(&format!("; {name}: {}", self.users[name].describe()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places() {
        assert_eq!(Place::parse("local"), Place::Local);
        assert!(Place::parse("s3://b").is_local().eq(&false));
        assert_eq!(
            format!("{:?}", Place::parse("s3://b?secret_access_key=S")),
            "Uri(..)"
        );
    }

    #[test]
    fn per_account_backends() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("alice")).unwrap();
        std::fs::create_dir(dir.path().join("bob")).unwrap();
        let plan = StoragePlan {
            default: Place::Local,
            users: BTreeMap::from([(
                "bob".to_owned(),
                Place::Uri(format!("fs://{}", dir.path().display())),
            )]),
        };
        let backend = plan.build().unwrap();
        assert_eq!(backend.capabilities(), Capabilities::OBJECT_STORE);
        assert!(backend.describe().contains("; bob: fs://"));
        // alice: the local disk, her root a host directory.
        let alice = User::from_spec("alice:pw", dir.path().join("alice")).unwrap();
        let s = backend.open_root(&alice).unwrap();
        assert_eq!(s.capabilities(), Capabilities::POSIX);
        // bob: the store, his root a prefix below its directory.
        let bob = User::from_spec("bob:pw", "/bob".into()).unwrap();
        let s = backend.open_root(&bob).unwrap();
        assert_eq!(s.capabilities(), Capabilities::OBJECT_STORE);
        s.create_dir(&ftpsh_core::VirtualPath::root().resolve("/made").unwrap())
            .unwrap();
        assert!(dir.path().join("bob/made").is_dir());
    }

    #[test]
    fn a_bad_store_stops_the_start_with_one_line() {
        let plan = StoragePlan {
            default: Place::Uri(
                "s3://b?endpoint=http://127.0.0.1:1&access_key_id=k&secret_access_key=SECRET"
                    .into(),
            ),
            users: BTreeMap::new(),
        };
        let err = format!("{:#}", plan.build().unwrap_err());
        assert!(
            err.starts_with("storage s3://b/ at http://127.0.0.1:1: cannot reach the endpoint"),
            "{err}"
        );
        assert!(!err.contains("SECRET") && !err.contains('\n'), "{err}");
        let plan = StoragePlan {
            default: Place::Local,
            users: BTreeMap::from([("bob".to_owned(), Place::Uri("s3://".into()))]),
        };
        let err = format!("{:#}", plan.build().unwrap_err());
        assert!(err.starts_with("user \"bob\": bad storage URI"), "{err}");
    }

    /// `storage` in the file: roots become key prefixes (no host
    /// directory needed), accounts may have a storage of their own.
    #[test]
    fn config_keys() {
        use crate::config::Options;
        let resolve = |text: &str| Options::from_toml(text).unwrap().resolve(None, None);
        let r = resolve(
            "storage = \"s3://b/p?endpoint=http://127.0.0.1:1\"\nanonymous = true\n\
             [[users]]\nname = \"alice\"\npassword = \"plain:pw\"\nroot = \"/alice\"\n\
             [[users]]\nname = \"bob\"\npassword = \"plain:pw\"\n",
        )
        .unwrap();
        assert_eq!(
            r.storage.default,
            Place::parse("s3://b/p?endpoint=http://127.0.0.1:1")
        );
        assert!(r.storage.users.is_empty());
        let users = &r.daemon.server.users;
        assert_eq!(
            users.get("alice").unwrap().root,
            std::path::Path::new("/alice")
        );
        assert_eq!(users.get("bob").unwrap().root, std::path::Path::new("/"));

        let dir = tempfile::tempdir().unwrap();
        let r = resolve(&format!(
            "root = {:?}\n\
             [[users]]\nname = \"alice\"\npassword = \"plain:pw\"\n\
             [[users]]\nname = \"bob\"\npassword = \"plain:pw\"\nstorage = \"fs:///srv/objects\"\n",
            dir.path()
        ))
        .unwrap();
        assert_eq!(r.storage.default, Place::Local);
        assert_eq!(
            r.storage.users,
            BTreeMap::from([("bob".to_owned(), Place::parse("fs:///srv/objects"))])
        );
        assert_eq!(
            r.daemon.server.users.get("bob").unwrap().root,
            std::path::Path::new("/")
        );

        let err = resolve(
            "storage = \"s3://b\"\n\
             [[users]]\nname = \"c\"\npassword = \"plain:pw\"\nstorage = \"local\"\n",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("storage \"local\" but no root"),
            "{err}"
        );
    }
}
