//! The daemon's TLS configuration (RFC 4217): certificate and key from PEM,
//! TLS 1.2 and 1.3 only, and session resumption set up so that every data
//! connection of a session can resume the control connection's session.
//!
//! Resumption and the data-connection binding (RFC 4217 §10): every
//! control connection gets its own copy of the configuration
//! ([`session_config`]) with its own ticket key and session cache, used for
//! its data connections too. A data connection can therefore resume only a
//! session issued to *its* control connection — a ticket from another
//! session does not decrypt and becomes a full handshake — for TLS 1.2
//! (tickets and session IDs) as for 1.3. TLS 1.3 tickets are stateless, so
//! a client may present the same ticket on every data connection, not only
//! the first two. (TLS 1.3 tickets also carry a per-connection binding,
//! checked as a second line; rustls does not return it for TLS 1.2.)
//!
//! [`Ticketer`]: rustls::crypto::ring::Ticketer

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    /// The certificate or key file could not be read or holds no usable PEM
    /// section.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: String,
        /// What was wrong with it.
        reason: String,
    },
    /// rustls refused the certificate/key pair (e.g. they do not match).
    #[error("certificate and key: {0}")]
    Rustls(#[from] rustls::Error),
}

/// TLS 1.2 session-ID cache entries per control connection: its own
/// session plus those of a few data connections.
const SESSION_CACHE: usize = 8;

/// A copy of `base` for one control connection and its data connections:
/// its own ticket key and session cache (see the module docs).
///
/// # Errors
/// The ticket key could not be generated (no randomness).
pub fn session_config(base: &ServerConfig) -> Result<Arc<ServerConfig>, rustls::Error> {
    let mut config = base.clone();
    config.ticketer = rustls::crypto::ring::Ticketer::new()?;
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(SESSION_CACHE);
    Ok(Arc::new(config))
}

/// Builds the server configuration from PEM files. `key` may be the same
/// file as `cert` (one file holding the chain and the key, as pyftpdlib's
/// `keycert.pem`).
///
/// # Errors
/// A file that cannot be read, holds no certificate or no private key, or a
/// key that does not match the certificate.
pub fn server_config_from_files(
    cert: &Path,
    key: &Path,
) -> Result<Arc<ServerConfig>, TlsConfigError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|e| TlsConfigError::Pem {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    };
    let cert_pem = read(cert)?;
    let key_pem = if key == cert {
        cert_pem.clone()
    } else {
        read(key)?
    };
    server_config_from_pem(&cert_pem, &key_pem).map_err(|e| match e {
        TlsConfigError::Pem { path, reason } => TlsConfigError::Pem {
            path: if path == "certificate" {
                cert.display().to_string()
            } else {
                key.display().to_string()
            },
            reason,
        },
        other => other,
    })
}

/// Builds the server configuration from PEM text (certificate chain first).
///
/// # Errors
/// As [`server_config_from_files`].
pub fn server_config_from_pem(
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<ServerConfig>, TlsConfigError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsConfigError::Pem {
            path: "certificate".to_owned(),
            reason: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsConfigError::Pem {
            path: "certificate".to_owned(),
            reason: "no CERTIFICATE section".to_owned(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsConfigError::Pem {
        path: "key".to_owned(),
        reason: format!("no usable private key: {e}"),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // rustls implements nothing older than TLS 1.2: the minimum is built in.
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    // Ticket key and session cache are per control connection: see
    // `session_config`. Tickets are reusable (stateless); clients that use
    // each only once (rustls) get 8 — rustls keeps at most 8 per server —
    // on the control connection and on every download, none on uploads
    // (see `without_tickets`).
    config.send_tls13_tickets = 8;
    Ok(Arc::new(config))
}

/// A copy of a session's configuration (same ticket key and session
/// cache, so resumption works alike) that sends no TLS 1.3 tickets: for
/// upload data connections, whose client never reads.
pub fn without_tickets(session: &Arc<ServerConfig>) -> Arc<ServerConfig> {
    let mut config = ServerConfig::clone(session);
    config.send_tls13_tickets = 0;
    Arc::new(config)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn one_file_may_hold_both_and_garbage_is_named() {
        let key = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let both = format!("{}{}", key.cert.pem(), key.signing_key.serialize_pem());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keycert.pem");
        std::fs::write(&path, &both).unwrap();
        server_config_from_files(&path, &path).unwrap();

        let bad = dir.path().join("bad.pem");
        std::fs::write(&bad, "not pem").unwrap();
        let e = server_config_from_files(&bad, &path)
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad.pem") && e.contains("CERTIFICATE"), "{e}");
        let e = server_config_from_files(&path, &dir.path().join("missing"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing"), "{e}");

        let other = rcgen::generate_simple_self_signed(vec!["other".to_owned()]).unwrap();
        let e = server_config_from_pem(
            key.cert.pem().as_bytes(),
            other.signing_key.serialize_pem().as_bytes(),
        )
        .unwrap_err();
        assert!(matches!(e, TlsConfigError::Rustls(_)), "{e}");
    }
}
