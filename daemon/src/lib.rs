//! `ftpsh-daemon`: the FTP daemon `ftpshd` as a library.
//!
//! [`Server::bind`] takes a [`DaemonConfig`] and a command [`Registry`]
//! (normally [`builtin_registry`]); [`Server::run`] serves in the calling
//! thread (SIGINT/SIGTERM stop it) and [`Server::spawn`] on a thread of its
//! own (the shell's embedded server). The daemon knows no verb: every request
//! is dispatched through the registry, and the daemon only carries out the
//! [`Outcome`](ftpsh_core::Outcome)s commands return.
//!
//! Around the loop: [`config`] turns `ftpshd`'s TOML file and command line
//! into a [`DaemonConfig`]; a [`Reloader`] hands a new one to the running
//! loop (SIGHUP), which applies it to new logins only; [`metrics`] counts
//! what the loop does and serves it to Prometheus from a thread of its own;
//! [`xferlog`] writes the `xferlog(5)` transfer log from another.
//!
//! How a request flows: one `mio` event loop reads the control connection
//! into a pure state machine (framing, parse errors, login/permission checks,
//! the `425` guard, what may run during a transfer), lends the session to a
//! fixed pool of worker threads for [`Command::run`], and gets the session and
//! its outcome back through a channel and a `mio::Waker`. Passive listeners,
//! active-mode connects (non-blocking, from the control connection's local
//! address), data connections and transfers are pumped by the loop in
//! bounded chunks, `RETR` with `sendfile(2)` (through a converting reader in
//! `TYPE A`); uploads are committed (fsync, rename) on a worker. FTPS (RFC
//! 4217, [`tls`]) is a layer of each connection: a rustls `ServerConnection`
//! driven by the same readiness events, so the control state machine and the
//! pump see bytes either way (over TLS, `RETR` streams through a bounded
//! buffer instead of `sendfile`).
//!
//! The main trade-off: commands, which open, stat, list, rename, fsync, run
//! on workers, but the bytes of a transfer move on the loop thread —
//! `sendfile` from the page cache and `write` into the upload's temp file —
//! because handing every chunk to a thread would cost more than the copy.
//! A cold-cache `RETR` or a congested disk can therefore make the loop wait
//! on the disk for one chunk (at most 1 MiB) at a time.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use ftpsh_core::{Command, Registry, ServerConfig};

mod bridge;
pub mod config;
mod control;
mod event_loop;
pub mod metrics;
mod proxy_protocol;
mod resolver;
mod settle;
pub mod storage;
mod stream;
mod timer;
pub mod tls;
mod transfer;
mod workers;
pub mod xferlog;

pub use metrics::Metrics;

/// Settings of one daemon instance.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Address of the control-connection listener; port 0 picks a free port
    /// (read it back with [`Server::local_addr`]).
    pub listen: SocketAddr,
    /// Users, banner, passive ports, login delay.
    pub server: ServerConfig,
    /// How long a control connection may stay silent outside a transfer
    /// before it gets `421` and is closed (default 300 s).
    pub idle_timeout: Duration,
    /// How long a passive listener waits for its data connection (or an
    /// active-mode connect may take), and how long a data connection may
    /// make no progress (default 30 s).
    pub data_timeout: Duration,
    /// Most concurrent control connections; more get `421` and are closed
    /// (default 512).
    pub max_sessions: usize,
    /// Most concurrent control connections from one address (an IPv4
    /// address or an IPv6 /64); more get `421` and are closed. The library
    /// default is no limit; `ftpshd`'s is 50.
    pub max_sessions_per_ip: usize,
    /// Worker threads that run commands (default 4). Uploads are
    /// committed by a pool of their own that grows with the concurrent
    /// commits.
    pub workers: usize,
    /// Whether an upload is flushed to the disk before its `226`
    /// (default [`FsyncPolicy::Never`]).
    pub fsync_uploads: FsyncPolicy,
    /// Where to append the `xferlog(5)` transfer log, if anywhere.
    pub xferlog: Option<PathBuf>,
    /// FTPS (RFC 4217): the certificate and TLS settings (see
    /// [`tls::server_config_from_files`]). `None` answers `AUTH TLS` with
    /// `431`. Whether TLS is required is `server.tls`; its `available` flag
    /// is derived from this field.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Address of a second listener whose control connections start with a
    /// TLS handshake (implicit FTPS, conventionally port 990); needs `tls`.
    pub implicit_tls_listen: Option<SocketAddr>,
    /// Every control connection, on either listener, starts with a PROXY
    /// protocol header (v1 or v2, HAProxy's `proxy-protocol.txt`) sent by a load
    /// balancer; the client address it carries is the session's peer. A
    /// connection without a valid header within the data timeout (at most
    /// 10 s) is closed without a reply (default false).
    pub proxy_protocol: bool,
    /// Shortest settle window of an upload on a control connection that
    /// came through a load balancer (with a PROXY protocol header naming
    /// the client): how long, at least, the end of an upload's data
    /// connection waits for the control connection's end (a killed client)
    /// before the upload is committed; at most 20 ms (default 5 ms).
    pub settle_min_proxied: Duration,
}

/// When a completed upload is flushed to the disk (`fsync(2)`).
///
/// Either way an upload appears under its name only complete, with one
/// `rename(2)` (`APPE` and `REST`+`STOR` write in place), so neither a
/// client nor a crash of the daemon ever sees a torn file; the policy
/// decides what a crash of the *machine* (power loss, kernel panic) can
/// lose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// Flush each upload before its `226`: a `226` means the data is on
    /// the disk. Costs one flush per upload (on the test VM's disk about
    /// 0.3 ms alone, milliseconds when many run together).
    Always,
    /// Leave the data to the kernel's writeback (about 30 s on Linux), as
    /// vsftpd, proftpd and pyftpdlib do: after a power loss the last
    /// uploads may be missing or empty.
    #[default]
    Never,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            server: ServerConfig::default(),
            idle_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(30),
            max_sessions: 512,
            max_sessions_per_ip: usize::MAX,
            workers: 4,
            fsync_uploads: FsyncPolicy::default(),
            xferlog: None,
            tls: None,
            implicit_tls_listen: None,
            proxy_protocol: false,
            settle_min_proxied: settle::SETTLE_MIN_PROXIED,
        }
    }
}

/// The built-in command list: one line per command crate.
pub fn builtin_commands() -> Vec<Arc<dyn Command>> {
    [
        ftpsh_cmd_session::commands(),
        ftpsh_cmd_fs::commands(),
        ftpsh_cmd_ls::commands(),
        ftpsh_cmd_rm::commands(),
        ftpsh_cmd_size::commands(),
        ftpsh_cmd_site::commands(),
        ftpsh_cmd_transfer::commands(),
        ftpsh_cmd_tls::commands(),
    ]
    .concat()
}

/// A registry holding [`builtin_commands`]. Verb collisions between built-in
/// commands are a bug caught by this crate's tests; should one slip through,
/// the colliding command is skipped and logged rather than aborting.
pub fn builtin_registry() -> Registry {
    let mut registry = Registry::new();
    for command in builtin_commands() {
        if let Err(e) = registry.register(command) {
            tracing::error!("built-in command not registered: {e}");
        }
    }
    registry
}

/// A bound daemon that is not serving yet.
pub struct Server {
    parts: event_loop::Parts,
    addr: SocketAddr,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds the control-connection listener (and the implicit-TLS one, if
    /// configured) and creates the poller.
    ///
    /// # Errors
    /// The I/O error from binding `config.listen` or creating the poller;
    /// `InvalidInput` for an implicit-TLS listener without `tls`.
    pub fn bind(config: DaemonConfig, registry: Registry) -> io::Result<Server> {
        let parts = event_loop::Parts::bind(config, registry)?;
        let addr = parts.listener.local_addr()?;
        Ok(Self { parts, addr })
    }

    /// The address the listener is bound to (with the real port when bound
    /// to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The metrics the event loop keeps (serve them with
    /// [`metrics::serve`]).
    pub fn metrics(&self) -> Arc<Metrics> {
        self.parts.metrics.clone()
    }

    /// A handle that hands the running loop a new configuration.
    pub fn reloader(&self) -> Reloader {
        Reloader {
            tx: self.parts.reload_tx.clone(),
            waker: self.parts.waker.clone(),
        }
    }

    /// The address of the implicit-TLS listener, if one is configured.
    pub fn implicit_tls_addr(&self) -> Option<SocketAddr> {
        self.parts.implicit_addr()
    }

    /// Serves in the calling thread until SIGINT or SIGTERM, then sends
    /// `421` to every session, closes them and returns. The signal handlers
    /// are removed again on return.
    ///
    /// # Errors
    /// Failing to start the workers or install the signal handlers, or a
    /// fatal error of the poller.
    pub fn run(self) -> io::Result<()> {
        event_loop::EventLoop::new(self.parts, true)?.run()
    }

    /// Serves on a new thread until [`ServerHandle::shutdown`] (or drop).
    /// No signal handlers are installed: signals are the caller's.
    ///
    /// # Errors
    /// Failing to start the workers or the thread.
    pub fn spawn(self) -> io::Result<ServerHandle> {
        let stop = self.parts.stop.clone();
        let waker = self.parts.waker.clone();
        let reloader = self.reloader();
        let implicit = self.parts.implicit_addr();
        let event_loop = event_loop::EventLoop::new(self.parts, false)?;
        let thread = std::thread::Builder::new()
            .name("ftpshd".to_owned())
            .spawn(move || event_loop.run())?;
        Ok(ServerHandle {
            addr: self.addr,
            implicit,
            stop,
            waker,
            reloader,
            thread: Some(thread),
        })
    }
}

/// Hands a new configuration to a running daemon (SIGHUP).
///
/// Accounts, passwords, roots, permissions, banner, passive ports and
/// address, login and lock-out settings, timeouts and session limits take
/// effect for new logins; a session already logged in keeps the account
/// and settings it logged in with until it logs in again. Failed-login and
/// session counts carry over. `listen`, `workers` and the xferlog path need
/// a restart (a change is logged and ignored); the xferlog file is reopened.
#[derive(Clone)]
pub struct Reloader {
    tx: crossbeam_channel::Sender<DaemonConfig>,
    waker: Arc<mio::Waker>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader").finish_non_exhaustive()
    }
}

impl Reloader {
    /// Queues `config` for the loop and wakes it.
    ///
    /// # Errors
    /// The loop has stopped, or waking it failed.
    pub fn reload(&self, config: DaemonConfig) -> io::Result<()> {
        self.tx
            .send(config)
            .map_err(|_| io::Error::other("the server has stopped"))?;
        self.waker.wake()
    }
}

/// A daemon running on its own thread. Dropping it shuts it down.
pub struct ServerHandle {
    addr: SocketAddr,
    implicit: Option<SocketAddr>,
    stop: Arc<AtomicBool>,
    waker: Arc<mio::Waker>,
    reloader: Reloader,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("local_addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle that hands the running loop a new configuration.
    pub fn reloader(&self) -> Reloader {
        self.reloader.clone()
    }

    /// The address of the implicit-TLS listener, if one is configured.
    pub fn implicit_tls_addr(&self) -> Option<SocketAddr> {
        self.implicit
    }

    /// Stops accepting, sends `421` to every session, closes them, waits
    /// for running commands and joins the server thread.
    ///
    /// # Errors
    /// The event loop's fatal error, if it had one.
    pub fn shutdown(mut self) -> io::Result<()> {
        self.stop()
    }

    fn stop(&mut self) -> io::Result<()> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        self.stop.store(true, Ordering::SeqCst);
        self.waker.wake()?;
        thread
            .join()
            .map_err(|_| io::Error::other("the server thread panicked"))?
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::warn!("server shutdown: {e}");
        }
    }
}
