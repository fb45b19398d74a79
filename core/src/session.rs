//! Per-connection session state that commands read and change.
//!
//! The daemon owns one [`Session`] per control connection and lends it to a
//! worker for the duration of one command, so commands never share mutable
//! state and need no locks. Loop-only state (sockets, buffers, the transfer
//! in progress) lives in the daemon, not here.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::{Permission, SessionSlot, User, Users};
use crate::jail::VirtualPath;
use crate::passive_address::PassiveAddress;
use crate::registry::Registry;
use crate::reply::{Reply, ReplyCode};
use crate::request::Request;
use crate::storage::{Backend, Capabilities, Storage};
use crate::tls::{TlsPolicy, TlsState};

/// Server-wide settings that commands need.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Accounts.
    pub users: Users,
    /// The `220` greeting text.
    pub banner: String,
    /// Ports for passive listeners; `None` lets the OS choose.
    pub passive_ports: Option<RangeInclusive<u16>>,
    /// The address PASV announces instead of the control connection's
    /// local one (NAT); `None` announces the local address.
    pub passive_address: Option<Arc<PassiveAddress>>,
    /// How long a failed `PASS` waits before its `530`.
    pub login_failure_delay: Duration,
    /// Wrong passwords on one control connection after which it is closed
    /// (each still gets its `530`); 0 never closes.
    pub max_login_failures: u32,
    /// Where accounts' files live (`ftpshd --storage`; the local disk by
    /// default). Shared by every session and kept across reloads.
    pub storage: Arc<dyn Backend>,
    /// FTPS (RFC 4217) availability and requirements.
    pub tls: TlsPolicy,
    /// Whether PORT and EPRT (active mode) are served; `false` (ftpshd
    /// `--no-active`) answers them with `502`.
    pub active_mode: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            users: Users::new(),
            banner: "ftpshd ready".to_owned(),
            passive_ports: None,
            passive_address: None,
            login_failure_delay: Duration::from_secs(1),
            max_login_failures: 3,
            storage: Arc::new(crate::storage::local::LocalBackend::new()),
            tls: TlsPolicy::default(),
            active_mode: true,
        }
    }
}

/// FTP representation type (RFC 959 §3.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransferType {
    /// `TYPE A`: file data goes over the wire with CRLF line ends and is
    /// stored with LF ([`crate::ascii`]); listings always use CRLF.
    Ascii,
    /// `TYPE I`.
    #[default]
    Binary,
}

/// Login progress (RFC 959 §5.4 USER/PASS sequence).
#[derive(Debug, Clone, Default)]
pub enum Login {
    /// Nothing sent yet.
    #[default]
    None,
    /// `USER` accepted, waiting for `PASS`.
    NeedPassword {
        /// The name given with USER.
        user: String,
    },
    /// Logged in.
    LoggedIn {
        /// The account.
        user: Arc<User>,
        /// The user's root, opened by the server's [`Backend`].
        storage: Arc<dyn Storage>,
    },
}

/// The state of one control connection, as commands see it.
#[derive(Debug, Clone)]
pub struct Session {
    /// Server-wide settings.
    pub config: Arc<ServerConfig>,
    /// The command registry (for FEAT and HELP).
    pub registry: Arc<Registry>,
    /// The client's address.
    pub peer: SocketAddr,
    /// Our end of the control connection (the address PASV announces).
    pub local: SocketAddr,
    /// Login progress.
    pub login: Login,
    /// Failed PASS attempts on this connection.
    pub failed_logins: u32,
    /// Counts this session against its account's `max_sessions` while
    /// logged in (see [`Users::login`]).
    pub login_slot: Option<Arc<SessionSlot>>,
    /// Current directory.
    pub cwd: VirtualPath,
    /// Representation type.
    pub transfer_type: TransferType,
    /// Restart marker from REST (RFC 3659 §5), consumed by the next
    /// RETR/STOR/APPE.
    pub restart_offset: u64,
    /// Source path from RNFR, consumed by RNTO.
    pub rename_from: Option<VirtualPath>,
    /// Bytes announced with `ALLO` (RFC 959 §4.1.3), consumed by the next
    /// transfer: an upload whose data connection ends before that many
    /// bytes arrived is refused (`426`) and never committed.
    pub allocation: Option<u64>,
    /// True after `EPSV ALL` (RFC 2428 §4): PASV is refused from then on.
    pub epsv_all: bool,
    /// True after `OPTS UTF8 ON` (RFC 2640); paths are UTF-8 either way.
    pub utf8: bool,
    /// TLS on the control connection, `PBSZ` and `PROT` (RFC 4217).
    pub tls: TlsState,
    /// The facts MLST and MLSD print, set by `OPTS MLST` (RFC 3659 §7.9).
    pub mlst_facts: crate::mlst::FactSet,
}

impl Session {
    /// A fresh, logged-out session.
    pub fn new(
        config: Arc<ServerConfig>,
        registry: Arc<Registry>,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> Self {
        Self {
            config,
            registry,
            peer,
            local,
            login: Login::None,
            failed_logins: 0,
            login_slot: None,
            cwd: VirtualPath::root(),
            transfer_type: TransferType::default(),
            restart_offset: 0,
            rename_from: None,
            allocation: None,
            epsv_all: false,
            utf8: true,
            tls: TlsState::default(),
            mlst_facts: crate::mlst::FactSet::default(),
        }
    }

    /// The logged-in user, if any.
    pub fn user(&self) -> Option<&Arc<User>> {
        match &self.login {
            Login::LoggedIn { user, .. } => Some(user),
            _ => None,
        }
    }

    /// The user's storage, if logged in.
    pub fn storage(&self) -> Option<&Arc<dyn Storage>> {
        match &self.login {
            Login::LoggedIn { storage, .. } => Some(storage),
            _ => None,
        }
    }

    /// What the session's storage can do: the logged-in user's, or the
    /// server's back-end's before login (for `FEAT`).
    pub fn capabilities(&self) -> Capabilities {
        match self.storage() {
            Some(s) => s.capabilities(),
            None => self.config.storage.capabilities(),
        }
    }

    /// True when `p` is granted to the logged-in user.
    pub fn allows(&self, p: Permission) -> bool {
        self.user().is_some_and(|u| u.permissions.allows(p))
    }

    /// Resets everything a new login must not inherit (REIN, a second USER).
    pub fn reset_login(&mut self) {
        self.login = Login::None;
        self.login_slot = None;
        self.cwd = VirtualPath::root();
        self.restart_offset = 0;
        self.rename_from = None;
        self.allocation = None;
    }

    /// Takes the pending restart marker, leaving 0.
    pub fn take_restart_offset(&mut self) -> u64 {
        std::mem::take(&mut self.restart_offset)
    }

    /// The storage of the logged-in user (a cheap handle clone), for
    /// commands that must not run without one.
    ///
    /// # Errors
    /// `530` when nobody is logged in (the registry normally checks this
    /// first; this keeps a command safe when run directly).
    pub fn require_storage(&self) -> Result<Arc<dyn Storage>, Reply> {
        self.storage().cloned().ok_or_else(|| {
            Reply::new(
                ReplyCode::NOT_LOGGED_IN,
                "please log in with USER and PASS first",
            )
        })
    }

    /// Resolves the request's path argument against the current directory
    /// (see [`VirtualPath::resolve`]).
    ///
    /// # Errors
    /// `501 <VERB> needs <what>` when the argument is missing (e.g.
    /// `501 RETR needs a file name`), `501 bad path: ...` for a NUL byte.
    pub fn path_arg(&self, request: &Request, what: &str) -> Result<VirtualPath, Reply> {
        let arg = request.arg.as_deref().unwrap_or("");
        if arg.is_empty() {
            return Err(Reply::new(
                ReplyCode::PARAMETER_SYNTAX_ERROR,
                format!("{} needs {what}", request.verb),
            ));
        }
        self.cwd
            .resolve(arg)
            .map_err(|e| crate::error::path_reply(&e))
    }
}
