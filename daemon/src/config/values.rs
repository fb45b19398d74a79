//! Values of the config file that are checked as they are parsed, so an
//! error points at the line, and the defaults of the options.

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

use ftpsh_core::Permissions;
use ftpsh_core::auth::credential::{self, CredentialKind};
use serde::Deserialize;

use crate::FsyncPolicy;

/// A stored password from the file: checked at parse time, so an error
/// points at the line.
#[derive(Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct Secret {
    pub(super) stored: String,
    pub(super) plain: bool,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.plain {
            "Secret(plain)"
        } else {
            "Secret(hash)"
        })
    }
}

impl TryFrom<String> for Secret {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        if let Some(plain) = s.strip_prefix("plain:") {
            if plain.is_empty() {
                return Err("empty password".to_owned());
            }
            if CredentialKind::of(plain) != CredentialKind::Plain {
                return Err(
                    "a plain: password may not start like a hash ($argon2, $6$, $5$)".to_owned(),
                );
            }
            return Ok(Self {
                stored: plain.to_owned(),
                plain: true,
            });
        }
        match credential::validate(&s) {
            Ok(CredentialKind::Plain) => Err(
                "plaintext password refused: use a hash from `ftpshd hash-password` \
                 ($argon2id$…, or $6$/$5$ crypt), or write plain:PASSWORD"
                    .to_owned(),
            ),
            Ok(_) => Ok(Self {
                stored: s,
                plain: false,
            }),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Permission letters, checked at parse time.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "String")]
pub struct Perms(pub Permissions);

impl TryFrom<String> for Perms {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl FromStr for Perms {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Permissions::parse(s).map(Perms).map_err(|e| e.to_string())
    }
}

/// A range of ports `LOW-HIGH`, 1 ≤ LOW ≤ HIGH.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct PortRange(pub RangeInclusive<u16>);

impl TryFrom<String> for PortRange {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl FromStr for PortRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (low, high) = s
            .split_once('-')
            .ok_or_else(|| format!("expected LOW-HIGH, got {s:?}"))?;
        let port = |p: &str| {
            p.trim()
                .parse::<u16>()
                .map_err(|_| format!("{p:?} is not a port number"))
        };
        let (low, high) = (port(low)?, port(high)?);
        if low == 0 || low > high {
            return Err(format!(
                "{s:?} is not a range of ports 1-65535, low to high"
            ));
        }
        Ok(Self(low..=high))
    }
}

/// `fsync_uploads`: `always` or `never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct FsyncWhen(pub FsyncPolicy);

impl TryFrom<String> for FsyncWhen {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl FromStr for FsyncWhen {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "always" => Ok(Self(FsyncPolicy::Always)),
            "never" => Ok(Self(FsyncPolicy::Never)),
            _ => Err(format!("{s:?}: expected \"always\" or \"never\"")),
        }
    }
}

/// Defaults of the options that have one.
pub mod defaults {
    /// `listen`.
    pub const LISTEN: &str = "127.0.0.1:2121";
    /// `idle_timeout`, seconds.
    pub const IDLE_TIMEOUT: u64 = 300;
    /// `data_timeout`, seconds.
    pub const DATA_TIMEOUT: u64 = 30;
    /// `max_sessions`.
    pub const MAX_SESSIONS: usize = 512;
    /// `max_sessions_per_ip`, as vsftpd's `max_per_ip` suggests.
    pub const MAX_SESSIONS_PER_IP: usize = 50;
    /// `max_login_failures`.
    pub const MAX_LOGIN_FAILURES: u32 = 3;
    /// `login_failure_delay`, seconds.
    pub const LOGIN_FAILURE_DELAY: u64 = 1;
    /// `workers`.
    pub const WORKERS: usize = 4;
}
