//! Stored passwords and how a given one is checked against them.
//!
//! An account's stored password is one of:
//! - a PHC string `$argon2id$v=19$m=…,t=…,p=…$salt$hash` (also `$argon2i$`
//!   and `$argon2d$`), checked with RustCrypto's `argon2` using the cost
//!   parameters in the string;
//! - a SHA-crypt hash `$6$[rounds=N$]salt$hash` (SHA-512) or `$5$…`
//!   (SHA-256), the format of `/etc/shadow` and proftpd's `AuthUserFile`;
//! - anything else: a plaintext password, compared in constant time.
//!
//! Checking a hash is deliberately slow (Argon2id with OWASP's parameters
//! takes tens of milliseconds): it runs in `Command::run`, on a worker
//! thread, never on the event loop.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use sha_crypt::ShaCrypt;
use thiserror::Error;

/// What kind of secret a stored password is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// A PHC string of the Argon2 family.
    Argon2,
    /// A `$6$` (SHA-512) or `$5$` (SHA-256) crypt hash.
    ShaCrypt,
    /// A plaintext password.
    Plain,
}

impl CredentialKind {
    /// Classifies a stored password by its prefix.
    pub fn of(stored: &str) -> Self {
        if stored.starts_with("$argon2") {
            Self::Argon2
        } else if stored.starts_with("$6$") || stored.starts_with("$5$") {
            Self::ShaCrypt
        } else {
            Self::Plain
        }
    }
}

/// A stored password hash that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CredentialError {
    /// A `$argon2…$` string that is not a valid PHC string.
    #[error("not a valid Argon2 PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$hash): {0}")]
    Argon2(String),
    /// A `$6$`/`$5$` string that is not a valid crypt hash.
    #[error("not a valid SHA-crypt hash ($6$[rounds=N$]salt$hash): {0}")]
    ShaCrypt(String),
    /// Hashing failed (random salt unavailable, bad parameters).
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// Checks that a stored password hash can be used, without a password:
/// the PHC string or crypt hash parses. Plaintext always passes.
///
/// # Errors
/// [`CredentialError`] naming the format expected.
pub fn validate(stored: &str) -> Result<CredentialKind, CredentialError> {
    let kind = CredentialKind::of(stored);
    match kind {
        CredentialKind::Argon2 => {
            let hash =
                PasswordHash::new(stored).map_err(|e| CredentialError::Argon2(e.to_string()))?;
            if hash.hash.is_none() || hash.salt.is_none() {
                return Err(CredentialError::Argon2("salt or hash missing".to_owned()));
            }
            argon2::Params::try_from(&hash).map_err(|e| CredentialError::Argon2(e.to_string()))?;
        }
        CredentialKind::ShaCrypt => {
            // A wrong password must fail as "invalid", a malformed hash as
            // something else: that tells the two apart without a password.
            match ShaCrypt::default().verify_password(b"", stored) {
                Ok(()) | Err(argon2::password_hash::Error::PasswordInvalid) => {}
                Err(e) => return Err(CredentialError::ShaCrypt(e.to_string())),
            }
        }
        CredentialKind::Plain => {}
    }
    Ok(kind)
}

/// True when `given` matches the stored password. A malformed hash matches
/// nothing.
pub fn verify(stored: &str, given: &str) -> bool {
    match CredentialKind::of(stored) {
        CredentialKind::Argon2 => PasswordHash::new(stored).is_ok_and(|h| {
            Argon2::default()
                .verify_password(given.as_bytes(), &h)
                .is_ok()
        }),
        CredentialKind::ShaCrypt => ShaCrypt::default()
            .verify_password(given.as_bytes(), stored)
            .is_ok(),
        CredentialKind::Plain => constant_time_eq(stored.as_bytes(), given.as_bytes()),
    }
}

/// Spends about the time of checking one Argon2id password, for a user
/// name that does not exist: unknown and known names then take as long to
/// be refused, which does not tell an attacker which accounts exist.
pub fn verify_nothing(given: &str) {
    static DUMMY: LazyLock<Option<String>> = LazyLock::new(|| hash_password("ftpshd").ok());
    if let Some(hash) = DUMMY.as_deref() {
        let _ = verify(hash, given);
    }
}

/// Hashes `password` with Argon2id, OWASP's recommended parameters (19 MiB,
/// 2 iterations, 1 lane) and a random 16-byte salt, as a PHC string.
///
/// # Errors
/// [`CredentialError::Hash`] when no random salt can be had.
pub fn hash_password(password: &str) -> Result<String, CredentialError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| CredentialError::Hash(e.to_string()))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_roundtrip() {
        let h = hash_password("s3cret").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert_eq!(validate(&h), Ok(CredentialKind::Argon2));
        assert!(verify(&h, "s3cret"));
        assert!(!verify(&h, "s3cret "));
        assert!(!verify(&h, ""));
    }

    #[test]
    fn sha_crypt_hashes_from_glibc() {
        // `openssl passwd -6 -salt saltsalt secret` and `-5`.
        let sha512 = "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1";
        let sha256 = "$5$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.lpPdS5sA";
        assert_eq!(validate(sha512), Ok(CredentialKind::ShaCrypt));
        assert_eq!(validate(sha256), Ok(CredentialKind::ShaCrypt));
        assert!(verify(sha512, "secret"));
        assert!(verify(sha256, "secret"));
        assert!(!verify(sha512, "Secret"));
        assert!(!verify(sha256, "secret2"));
    }

    #[test]
    fn malformed_hashes_are_refused_and_match_nothing() {
        for bad in ["$argon2id$v=19$nonsense", "$argon2id$", "$6$", "$5$a$b$c$d"] {
            assert!(validate(bad).is_err(), "{bad}");
            assert!(!verify(bad, ""), "{bad}");
        }
    }

    #[test]
    fn plaintext_compares_exactly() {
        assert_eq!(validate("pw"), Ok(CredentialKind::Plain));
        assert!(verify("pw", "pw"));
        assert!(!verify("pw", "pW"));
        assert!(!verify("pw", "pw\0"));
    }
}
