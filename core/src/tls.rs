//! The security state of a session (RFC 4217, FTP over TLS), as commands
//! see it.
//!
//! The daemon owns the TLS connections themselves; commands only read and
//! change what RFC 4217 makes part of the session: whether the control
//! connection is protected (`AUTH TLS`, §4), whether `PBSZ` was sent, and
//! the data-channel protection level set with `PROT` (both from RFC 2228). The policy
//! ([`TlsPolicy`]) says whether TLS is available at all and whether the
//! server requires it for logins and data connections (§§ 11–12).

use crate::reply::{Reply, ReplyCode};

/// Server-wide TLS policy (part of [`ServerConfig`](crate::ServerConfig)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TlsPolicy {
    /// A certificate is configured: `AUTH TLS` can succeed (`431` otherwise).
    pub available: bool,
    /// Non-anonymous logins need a protected control connection, and their
    /// data connections need `PROT P` (RFC 4217 §§ 11–12).
    pub required: bool,
    /// A protected data connection must resume the TLS session of its
    /// control connection (`522` otherwise), as vsftpd's `require_ssl_reuse`.
    pub session_reuse_required: bool,
}

/// Data-channel protection level (RFC 2228 `PROT`, as RFC 4217 uses it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Protection {
    /// `PROT C`: data connections in clear text (the initial level).
    #[default]
    Clear,
    /// `PROT P`: data connections use TLS.
    Private,
}

/// The security state of one control connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TlsState {
    /// The control connection is protected by TLS (after `AUTH TLS`'s `234`,
    /// or from the start on the implicit-TLS listener).
    pub control: bool,
    /// `PBSZ` was accepted; `PROT` is refused with `503` until then.
    pub pbsz: bool,
    /// The level data connections get.
    pub protection: Protection,
}

impl TlsState {
    /// The state after `REIN` (RFC 4217 §13 on REIN and the security
    /// state). This server keeps the control connection's TLS session —
    /// returning to clear text in band would let anyone who can inject
    /// bytes downgrade the session — and resets `PBSZ` and `PROT` to their
    /// initial values, so a new login negotiates data protection again.
    pub fn reinitialized(self) -> Self {
        Self {
            control: self.control,
            ..Self::default()
        }
    }
}

/// `530` for a `USER`/`PASS` on a clear control connection when the policy
/// requires TLS and `name` is not an anonymous account (RFC 4217 §11: the
/// server may refuse an unprotected login), otherwise `None`.
pub fn login_refusal(policy: TlsPolicy, state: TlsState, anonymous: bool) -> Option<Reply> {
    (policy.required && !state.control && !anonymous).then(|| {
        Reply::new(
            ReplyCode::NOT_LOGGED_IN,
            "TLS required: send AUTH TLS before USER (RFC 4217)",
        )
    })
}

/// `522` for a transfer over a clear data connection when the policy
/// requires protected data and the user is not anonymous (RFC 4217 §12:
/// the server refuses data connections without the protection it needs).
pub fn data_refusal(policy: TlsPolicy, state: TlsState, anonymous: bool) -> Option<Reply> {
    (policy.required && state.protection == Protection::Clear && !anonymous).then(|| {
        Reply::new(
            ReplyCode(522),
            "data connections must be protected: send PBSZ 0 and PROT P first",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_follow_the_policy() {
        let required = TlsPolicy {
            available: true,
            required: true,
            session_reuse_required: false,
        };
        let clear = TlsState::default();
        let protected = TlsState {
            control: true,
            pbsz: true,
            protection: Protection::Private,
        };
        assert_eq!(
            login_refusal(required, clear, false).map(|r| r.code.0),
            Some(530)
        );
        assert!(
            login_refusal(required, clear, true).is_none(),
            "anonymous exempt"
        );
        assert!(login_refusal(required, protected, false).is_none());
        assert!(login_refusal(TlsPolicy::default(), clear, false).is_none());
        assert_eq!(
            data_refusal(required, clear, false).map(|r| r.code.0),
            Some(522)
        );
        assert!(data_refusal(required, protected, false).is_none());
        assert!(data_refusal(required, clear, true).is_none());
        let rein = protected.reinitialized();
        assert!(rein.control && !rein.pbsz && rein.protection == Protection::Clear);
    }
}
