//! The embedded default (product brief §3): an in-process `ftpshd` on
//! 127.0.0.1 over a temporary root, so `connme` and `--batch` work on a
//! fresh machine with nothing else installed.
//!
//! It is the daemon's own library (`ftpsh-daemon`) started on a thread, so
//! the shell talks to it over real sockets exactly as to any other server.
//! The root directory lives as long as the shell; `byebye` and `connme`
//! again find the same files.
//!
//! Besides the built-in commands it serves the example plugin's `HASH`
//! (SHA-256 of a file, draft-bryan-ftp-hash), linked into the binary with
//! `ftpsh_plugin_host::register_static` rather than loaded from a `.so`:
//! `hash` and `--verify` then work on a fresh machine too. The trade-off is
//! that the shell links exactly one plugin crate this way (every plugin
//! exports the same entry symbol); other plugins belong in a real
//! `ftpshd --plugin-dir`.

use std::io;
use std::net::SocketAddr;
use std::path::Path;

use ftpsh_core::{Registry, ServerConfig, User, Users};
use ftpsh_daemon::{DaemonConfig, Server, ServerHandle, builtin_registry};
use rand::Rng;
use rand::distr::Alphanumeric;

/// The embedded server's default login name.
pub const DEFAULT_USER: &str = "ftpsh";

/// The embedded server's commands: the daemon's built-ins plus the
/// linked-in `HASH` plugin.
///
/// # Errors
/// The plugin host's refusal (a verb collision or a malformed table),
/// which would be a build mistake rather than anything a user did.
pub fn registry() -> io::Result<Registry> {
    let mut registry = builtin_registry();
    ftpsh_plugin_host::register_static(&mut registry, &[&ftpsh_plugin_hash::FTPSH_PLUGIN])
        .map_err(io::Error::other)?;
    Ok(registry)
}

/// How to set up the embedded server.
#[derive(Debug, Clone)]
pub struct EmbeddedSpec {
    /// Login name.
    pub user: String,
    /// Password; `None` picks a random one (20 alphanumerics).
    pub password: Option<String>,
    /// The `220` greeting, if not the daemon's default.
    pub banner: Option<String>,
    /// Serve FTPS only (`--require-tls`) with a certificate for 127.0.0.1
    /// generated at start; the shell trusts exactly that certificate.
    pub tls: bool,
}

impl Default for EmbeddedSpec {
    fn default() -> Self {
        Self {
            user: DEFAULT_USER.to_owned(),
            password: None,
            banner: None,
            tls: false,
        }
    }
}

/// A running embedded server and its temporary root. Dropping it stops
/// the server and removes the root.
pub struct EmbeddedServer {
    handle: Option<ServerHandle>,
    root: tempfile::TempDir,
    user: String,
    password: String,
    /// With [`EmbeddedSpec::tls`]: how the shell reaches it.
    tls: Option<crate::tls::ClientTls>,
}

impl std::fmt::Debug for EmbeddedServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedServer")
            .field("addr", &self.addr())
            .field("root", &self.root.path())
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl EmbeddedServer {
    /// Creates the temporary root and starts serving on 127.0.0.1 with an
    /// OS-chosen port.
    ///
    /// # Errors
    /// Creating the directory, building the [`registry`], binding or
    /// starting the server thread.
    pub fn start(spec: &EmbeddedSpec) -> io::Result<Self> {
        let root = tempfile::Builder::new().prefix("ftpsh-root-").tempdir()?;
        let password = spec.password.clone().unwrap_or_else(|| {
            rand::rng()
                .sample_iter(&Alphanumeric)
                .take(20)
                .map(char::from)
                .collect()
        });
        let mut users = Users::new();
        users.add(User {
            name: spec.user.clone(),
            password: Some(password.clone()),
            root: root.path().to_path_buf(),
            permissions: ftpsh_core::Permissions::all(),
        });
        let mut server = ServerConfig {
            users,
            ..ServerConfig::default()
        };
        if let Some(banner) = &spec.banner {
            server.banner = banner.clone();
        }
        let mut config = DaemonConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            server,
            ..DaemonConfig::default()
        };
        let mut tls = None;
        if spec.tls {
            let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])
                .map_err(io::Error::other)?;
            let cert_pem = cert.cert.pem();
            let key_pem = cert.signing_key.serialize_pem();
            config.tls = Some(
                ftpsh_daemon::tls::server_config_from_pem(cert_pem.as_bytes(), key_pem.as_bytes())
                    .map_err(io::Error::other)?,
            );
            // Not --require-tls-session-reuse: the shell's rustls uses each
            // TLS 1.3 ticket once, and this server sends none on uploads
            // (see ftpsh-daemon's tls module), so a long run of uploads
            // would run out of tickets. Resumed sessions are still checked
            // to be this session's.
            config.server.tls.required = true;
            tls = Some(
                crate::tls::ClientTls::trusting_pem(
                    crate::tls::TlsMode::Explicit,
                    cert_pem.as_bytes(),
                )
                .map_err(io::Error::other)?,
            );
        }
        let handle = Server::bind(config, registry()?)?.spawn()?;
        Ok(Self {
            handle: Some(handle),
            root,
            user: spec.user.clone(),
            password,
            tls,
        })
    }

    /// The control-connection address.
    pub fn addr(&self) -> SocketAddr {
        self.handle
            .as_ref()
            .map(ServerHandle::local_addr)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// The served directory.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// The login name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// With [`EmbeddedSpec::tls`]: the client TLS setup that trusts this
    /// server's generated certificate.
    pub fn client_tls(&self) -> Option<&crate::tls::ClientTls> {
        self.tls.as_ref()
    }

    /// Stops the server (sending `421` to any session) and joins its
    /// thread; the root is removed when `self` drops.
    ///
    /// # Errors
    /// The server's fatal error, if it had one.
    pub fn shutdown(mut self) -> io::Result<()> {
        match self.handle.take() {
            Some(h) => h.shutdown(),
            None => Ok(()),
        }
    }
}
