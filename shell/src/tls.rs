//! FTPS for the shell (RFC 4217): which TLS a URL asks for, the rustls
//! client configuration, and the connector suppaftp uses for the control
//! connection and every data connection.
//!
//! `ftpes://HOST` is explicit TLS (`AUTH TLS` on the normal port, refused
//! if the server cannot), `ftps://HOST` implicit TLS (port 990 by default),
//! and `--tls` asks for explicit TLS with an `ftp://` URL: the conventions of
//! FileZilla and curl. Data connections are protected (`PBSZ 0`, `PROT P`)
//! and resume the control connection's TLS session: one `ClientConfig` —
//! and so one session cache — serves the control connection and all data
//! connections under the same server name, which is what vsftpd's default
//! `require_ssl_reuse=YES` demands.
//!
//! Certificates are checked against the system's trust store
//! (`rustls-native-certs`), not a compiled-in copy of Mozilla's list
//! (`webpki-roots`): the administrator's store is kept current by the
//! distribution and holds the private CAs an organisation installs, which
//! is where FTP servers on internal networks get their certificates.
//! `--ca-file` adds a CA; `--insecure` skips verification, with a warning.
//!
//! The main trade-off: the handshake is completed eagerly inside the
//! connector, so a verification failure surfaces at connect time as one
//! line naming the host and the reason, instead of as an I/O error on the
//! first command.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use suppaftp::{FtpError, FtpResult, RustlsConnector, TlsConnector, TlsStream};
use thiserror::Error;

/// How long [`close_upload`] waits for the server's `close_notify`.
pub(crate) const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The conventional port of implicit FTPS.
pub const IMPLICIT_PORT: u16 = 990;

/// How a connection uses TLS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain FTP (`ftp://`).
    #[default]
    Off,
    /// `AUTH TLS` on the control port, required (`ftpes://`, `--tls`).
    Explicit,
    /// TLS from the first byte (`ftps://`, port 990).
    Implicit,
}

/// The command-line TLS settings.
#[derive(Debug, Clone, Default)]
pub struct TlsFlags {
    /// `--tls`: explicit TLS for `ftp://` URLs.
    pub require: bool,
    /// `--ca-file PEM`: also trust these CA certificates.
    pub ca_file: Option<PathBuf>,
    /// `--insecure`: do not verify the server's certificate.
    pub insecure: bool,
}

/// Why TLS could not be set up before connecting.
#[derive(Debug, Error)]
pub enum TlsSetupError {
    /// The `--ca-file` could not be read or holds no certificate.
    #[error("--ca-file {path}: {reason}")]
    CaFile {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No trusted root at all (empty system store, no `--ca-file`).
    #[error("no trusted CA certificates: install the system's CA bundle or pass --ca-file")]
    NoRoots,
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A TLS client setup for one server: shared by the control connection and
/// all its data connections (and reconnections), so sessions resume.
#[derive(Clone)]
pub struct ClientTls {
    /// Explicit or implicit.
    pub mode: TlsMode,
    config: Arc<ClientConfig>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl ClientTls {
    /// The setup for `mode` (`None` for [`TlsMode::Off`]). With
    /// `flags.insecure` a warning goes to stderr.
    ///
    /// # Errors
    /// [`TlsSetupError`].
    pub fn new(mode: TlsMode, flags: &TlsFlags) -> Result<Option<Self>, TlsSetupError> {
        if mode == TlsMode::Off {
            return Ok(None);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let config = if flags.insecure {
            eprintln!(
                "ftpsh: warning: --insecure: the server's TLS certificate is not verified; \
                 anyone on the path can read and change this session"
            );
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
                .with_no_client_auth()
        } else {
            builder
                .with_root_certificates(roots(flags.ca_file.as_deref())?)
                .with_no_client_auth()
        };
        Ok(Some(Self {
            mode,
            config: Arc::new(config),
        }))
    }

    /// A setup for `mode` that trusts only the certificate(s) in `pem` (the
    /// embedded server's own).
    ///
    /// # Errors
    /// No certificate in `pem`, or rustls refused the configuration.
    pub fn trusting_pem(mode: TlsMode, pem: &[u8]) -> Result<Self, TlsSetupError> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| TlsSetupError::CaFile {
                path: "embedded certificate".to_owned(),
                reason: e.to_string(),
            })?;
            roots.add(cert)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            mode,
            config: Arc::new(config),
        })
    }

    /// The connector for suppaftp (see [`Connector`]); `timeout` bounds
    /// every read and write of the handshake.
    pub(crate) fn connector(&self, timeout: std::time::Duration) -> Connector {
        Connector {
            inner: RustlsConnector::from(self.config.clone()),
            timeout,
        }
    }
}

/// The line `connme` prints for a protected connection.
pub fn describe_mode(mode: TlsMode) -> &'static str {
    match mode {
        TlsMode::Off => "plain FTP: nothing is encrypted",
        TlsMode::Explicit => "TLS: control and data connections protected (AUTH TLS, PROT P)",
        TlsMode::Implicit => "TLS: control and data connections protected (implicit TLS, PROT P)",
    }
}

/// The system's trust store plus `ca_file`.
fn roots(ca_file: Option<&Path>) -> Result<RootCertStore, TlsSetupError> {
    let mut roots = RootCertStore::empty();
    // Unreadable system certificates are skipped: one bad file in
    // /etc/ssl/certs must not make every server untrusted.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca_file {
        let err = |reason: String| TlsSetupError::CaFile {
            path: path.display().to_string(),
            reason,
        };
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| err(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| err(e.to_string()))?;
        if certs.is_empty() {
            return Err(err("no CERTIFICATE section".to_owned()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| err(e.to_string()))?;
        }
    }
    if roots.is_empty() {
        return Err(TlsSetupError::NoRoots);
    }
    Ok(roots)
}

/// suppaftp's rustls connector, completing the handshake before it
/// returns so that a certificate problem is reported as
/// `TLS with HOST: REASON` rather than as a broken pipe later.
pub(crate) struct Connector {
    inner: RustlsConnector,
    timeout: std::time::Duration,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Connector")
    }
}

impl TlsConnector for Connector {
    type Stream = <RustlsConnector as TlsConnector>::Stream;

    fn connect(&self, domain: &str, stream: std::net::TcpStream) -> FtpResult<Self::Stream> {
        stream
            .set_read_timeout(Some(self.timeout))
            .and_then(|()| stream.set_write_timeout(Some(self.timeout)))
            .map_err(FtpError::ConnectionError)?;
        let mut tls = self.inner.connect(domain, stream)?;
        let inner = tls.mut_ref();
        // Bounded by the timeouts: each round makes progress or fails.
        while inner.conn.is_handshaking() {
            inner
                .conn
                .complete_io(&mut inner.sock)
                .map_err(|e| FtpError::SecureError(describe(domain, &e)))?;
        }
        Ok(tls)
    }
}

/// Ends the sending side of an upload's protected data connection:
/// `close_notify`, then reads until the server's own (at most `timeout`
/// per read), so the TLS 1.3 session tickets the server sent on it are
/// taken in and nothing is left unread — closing a socket with unread bytes
/// sends a reset, which can destroy the end of the upload on the server.
/// A plain data connection is left alone.
pub(crate) fn close_upload<T>(data: &mut suppaftp::DataStream<T>, timeout: std::time::Duration)
where
    T: TlsStream<InnerStream = rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>>,
{
    use std::io::{Read, Write};
    let suppaftp::DataStream::Ssl(tls) = data else {
        return;
    };
    let inner = tls.mut_ref();
    inner.conn.send_close_notify();
    if inner.flush().is_err() || inner.sock.set_read_timeout(Some(timeout)).is_err() {
        return;
    }
    let mut buf = [0u8; 4096];
    // Bounded: the server closes, or a read times out; and at most 1,024
    // reads of whatever it still sends.
    for _ in 0..1024 {
        match inner.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// `TLS with HOST: REASON`, the reason from rustls when it has one.
fn describe(domain: &str, e: &std::io::Error) -> String {
    let reason = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .map_or_else(|| e.to_string(), rustls::Error::to_string);
    format!("TLS with {domain}: {reason}")
}

/// `--insecure`: accepts any certificate, still checking that the server
/// holds its key (the handshake signature).
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Opens an implicit-FTPS control connection to the first of `addrs` that
/// accepts: TLS from the first byte, then the greeting, `PBSZ 0` and
/// `PROT P`. `timeout` bounds the handshake and every later read and
/// write of the control connection. (Explicit TLS is suppaftp's
/// `into_secure`: `AUTH TLS`, handshake, `PBSZ 0`, `PROT P`.)
///
/// suppaftp connects by itself here, so the TCP connect is bounded by the
/// system's timeout rather than the shell's.
///
/// # Errors
/// As [`connect`], or the last address's connection error.
pub(crate) fn connect_implicit(
    addrs: &[std::net::SocketAddr],
    host: &str,
    tls: &ClientTls,
    timeout: std::time::Duration,
) -> FtpResult<suppaftp::RustlsFtpStream> {
    let mut last = FtpError::ConnectionError(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        "host has no address",
    ));
    for addr in addrs {
        match suppaftp::RustlsFtpStream::connect_secure_implicit(addr, tls.connector(timeout), host)
        {
            Ok(mut ftp) => {
                let socket = ftp.get_ref();
                socket
                    .set_read_timeout(Some(timeout))
                    .and_then(|()| socket.set_write_timeout(Some(timeout)))
                    .map_err(FtpError::ConnectionError)?;
                drop(socket);
                ftp.custom_command("PBSZ 0", &[suppaftp::Status::CommandOk])?;
                ftp.custom_command("PROT P", &[suppaftp::Status::CommandOk])?;
                return Ok(ftp);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}
