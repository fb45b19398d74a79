//! `ftpshd`'s configuration: one set of [`Options`] read from a TOML file
//! (`--config FILE`) and from the command line, every option a file key of
//! the same name (`--passive-ports` is `passive_ports`); a command-line
//! option overrides the file's. [`Options::resolve`] checks them and builds
//! the [`DaemonConfig`] the event loop runs with.
//!
//! A file is refused whole at start, with `FILE:LINE:COLUMN: message` for
//! an unknown key or a bad value; on reload (SIGHUP) the same error is
//! logged and the running configuration stays.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use ftpsh_core::auth::credential;
use ftpsh_core::{LockoutPolicy, PassiveAddress, Permissions, ServerConfig, User, Users};
use serde::Deserialize;
use toml::Spanned;

use crate::DaemonConfig;
use crate::storage::{Place, StoragePlan};

/// Every option of `ftpshd`, from the command line or the file. `None`
/// means "not given here"; [`Options::merge`] lets the command line win
/// and [`Options::resolve`] fills in the defaults.
#[derive(Debug, Default, Clone, clap::Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// Address of the control-connection listener; port 0 picks a free one
    /// [default: 127.0.0.1:2121].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// Directory served: the root of every account without one of its own
    /// (and of anonymous, without anonymous_root). With an object-store
    /// `storage`, a key prefix below the URI's [default there: /].
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Where accounts' files live: "local" (host directories) or an object
    /// store, s3://BUCKET/PREFIX?endpoint=URL&region=R&... (keys from
    /// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or options), fs:///DIR or
    /// opendal+SERVICE://?KEY=VALUE...; roots are then key prefixes. Checked
    /// at start; a reload keeps the storage of the start [default: local].
    #[arg(long, value_name = "URI")]
    pub storage: Option<String>,

    /// An account: NAME:PASSWORD, or NAME:PASSWORD:PERMS with PERMS letters
    /// from "elradfmwMT" (default all). PASSWORD may be a hash from
    /// `ftpshd hash-password`, which keeps it out of `ps`. Repeatable; adds
    /// to the file's `[[users]]`. Without any account, user "ftpsh" gets a
    /// random password, printed once.
    #[arg(long = "user", value_name = "NAME:PASSWORD[:PERMS]")]
    #[serde(skip)]
    pub user: Vec<String>,

    /// Accounts of the config file (`[[users]]` tables; not a command-line
    /// option).
    #[arg(skip)]
    #[serde(default)]
    pub users: Vec<UserEntry>,

    /// Also accept the logins "anonymous" and "ftp" with any password,
    /// read-only unless anonymous_perms says otherwise [default: false].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub anonymous: Option<bool>,

    /// Root directory of the anonymous logins [default: root].
    #[arg(long, value_name = "DIR")]
    pub anonymous_root: Option<PathBuf>,

    /// Permission letters of the anonymous logins [default: elr].
    #[arg(long, value_name = "PERMS")]
    pub anonymous_perms: Option<Perms>,

    /// Ports for passive data connections, LOW-HIGH [default: any free
    /// port]. Open exactly these in a firewall.
    #[arg(long, value_name = "LOW-HIGH")]
    pub passive_ports: Option<PortRange>,

    /// Address announced in PASV replies instead of the local one (the
    /// public address of a host behind NAT): an IPv4 address, or a DNS name
    /// looked up again every 5 minutes. EPSV is not affected.
    #[arg(long, value_name = "ADDR|NAME")]
    pub passive_address: Option<String>,

    /// Refuse active mode: PORT and EPRT get 502 and the server never
    /// connects out (clients use EPSV or PASV) [default: false].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub no_active: Option<bool>,

    /// Seconds a control connection may stay idle outside a transfer
    /// [default: 300].
    #[arg(long, value_name = "SECS")]
    pub idle_timeout: Option<u64>,

    /// Seconds to wait for a passive data connection, or for progress on
    /// one [default: 30].
    #[arg(long, value_name = "SECS")]
    pub data_timeout: Option<u64>,

    /// Most concurrent sessions; more are refused with 421 [default: 512].
    #[arg(long, value_name = "N")]
    pub max_sessions: Option<usize>,

    /// Most concurrent sessions from one client address (IPv6: one /64);
    /// more are refused with 421 [default: 50].
    #[arg(long, value_name = "N")]
    pub max_sessions_per_ip: Option<usize>,

    /// Wrong passwords on one control connection after which it is closed
    /// (each gets its 530 first); 0 never closes [default: 3].
    #[arg(long, value_name = "N")]
    pub max_login_failures: Option<u32>,

    /// Seconds a wrong password waits for its 530 [default: 1].
    #[arg(long, value_name = "SECS")]
    pub login_failure_delay: Option<u64>,

    /// Failed logins from one address (IPv6: one /64), each within
    /// lockout_window of the previous, after which the address is refused
    /// with 421; 0 never locks [default: 3].
    #[arg(long, value_name = "N")]
    pub lockout_failures: Option<u32>,

    /// Seconds failed logins are remembered, and a lock lasts after the
    /// last one [default: 120].
    #[arg(long, value_name = "SECS")]
    pub lockout_window: Option<u64>,

    /// The text of the 220 greeting [default: "ftpshd ready"].
    #[arg(long, value_name = "TEXT")]
    pub banner: Option<String>,

    /// Worker threads that run commands [default: 4].
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,

    /// When an upload is flushed to the disk: "always" (before its 226:
    /// a 226 means on disk) or "never" (left to the kernel's writeback, as
    /// vsftpd and pyftpdlib do; a power loss may lose the last uploads).
    /// Either way a file appears under its name only complete [default:
    /// never].
    #[arg(long, value_name = "WHEN")]
    pub fsync_uploads: Option<FsyncWhen>,

    /// Directory of command plugins (shared libraries, `*.so`) to load at
    /// start; their verbs join the built-ins. A plugin that cannot be loaded
    /// stops the daemon with a message naming the file.
    #[arg(long, value_name = "DIR")]
    pub plugin_dir: Option<PathBuf>,

    /// Append one line per transfer to FILE, in the xferlog(5) format of
    /// wu-ftpd, proftpd and vsftpd (reopened on SIGHUP, for logrotate).
    #[arg(long, value_name = "FILE")]
    pub xferlog: Option<PathBuf>,

    /// FTPS (RFC 4217): certificate chain, PEM. Enables AUTH TLS.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,

    /// Private key, PEM [default: the tls_cert file, which may hold both].
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,

    /// Also listen for implicit FTPS (TLS from the first byte; port 990 by
    /// convention). Needs tls_cert.
    #[arg(long, value_name = "ADDR")]
    pub implicit_tls_listen: Option<SocketAddr>,

    /// Refuse USER/PASS (530) and data connections (522) without TLS,
    /// except for anonymous logins [default: false]. Needs tls_cert.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub require_tls: Option<bool>,

    /// Refuse (522) a protected data connection that does not resume the
    /// control connection's TLS session, as vsftpd's require_ssl_reuse
    /// [default: false].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub require_tls_session_reuse: Option<bool>,

    /// Every control connection (both listeners) starts with a PROXY
    /// protocol header, v1 or v2, as HAProxy's send-proxy(-v2) sends it;
    /// its client address counts everywhere (limits, lock-out, logs, data
    /// connection checks). A connection without one is closed. Only the
    /// balancer may then reach the listeners [default: false].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub proxy_protocol: Option<bool>,

    /// With proxy_protocol: microseconds an upload whose data connection
    /// ended waits, at least, for its control connection to end too (a
    /// killed client, whose two FINs the balancer relays separately)
    /// before it is committed; at most 20000 [default: 5000].
    #[arg(long, value_name = "MICROSECONDS")]
    pub settle_min_proxied_us: Option<u64>,

    /// Serve Prometheus metrics on http://ADDR/metrics.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,

    /// Started as root: switch to this user and its groups once the
    /// listeners are bound, so that uploads are owned by it.
    #[arg(long, value_name = "USER")]
    pub run_as: Option<String>,

    /// Allow serving as root (without run_as) [default: false]. The
    /// environment variable FTPSHD_ALLOW_ROOT=1 does the same (the
    /// workspace's tests set it: CI runs them as root).
    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        env = "FTPSHD_ALLOW_ROOT",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub allow_root: Option<bool>,
}

/// One `[[users]]` table of the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    /// Login name.
    pub name: Spanned<String>,
    /// `$argon2id$…` (from `ftpshd hash-password`), `$6$…`/`$5$…` crypt,
    /// or `plain:PASSWORD`.
    pub password: Secret,
    /// The account's own root [default: the global root; `/` on a storage
    /// of its own].
    #[serde(default)]
    pub root: Option<Spanned<PathBuf>>,
    /// The account's own storage (a URI, or `local`) [default: the global
    /// storage].
    #[serde(default)]
    pub storage: Option<Spanned<String>>,
    /// Permission letters [default: all, elradfmwMT].
    #[serde(default)]
    pub perms: Option<Perms>,
    /// Most sessions logged in as this account at once [default: no limit
    /// of its own].
    #[serde(default)]
    pub max_sessions: Option<usize>,
}

mod values;

pub use values::{FsyncWhen, Perms, PortRange, Secret, defaults};

/// What the daemon runs with, besides its [`DaemonConfig`].
#[derive(Debug)]
pub struct Resolved {
    /// The event loop's configuration.
    pub daemon: DaemonConfig,
    /// The generated password of user `ftpsh`, to print, when there was no
    /// account.
    pub generated: Option<String>,
    /// `plugin_dir`.
    pub plugin_dir: Option<PathBuf>,
    /// `metrics_listen`.
    pub metrics_listen: Option<SocketAddr>,
    /// `run_as`.
    pub run_as: Option<String>,
    /// `allow_root`.
    pub allow_root: bool,
    /// Warnings to log once logging is set up (plaintext passwords).
    pub warnings: Vec<String>,
    /// `storage` and the accounts' own: built once at start
    /// ([`StoragePlan::build`]).
    pub storage: StoragePlan,
}

impl Options {
    /// Reads a TOML config file.
    ///
    /// # Errors
    /// Unreadable file; `FILE:LINE:COLUMN: message` for bad TOML, an unknown
    /// key or a bad value.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("config file {}", path.display()))?;
        Self::from_toml(&text).map_err(|e| anyhow::anyhow!(located(path, &text, &e)))
    }

    /// Parses the text of a config file.
    ///
    /// # Errors
    /// The TOML error, with its span.
    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// `self` (the command line) over `file`: options given here win;
    /// accounts add up.
    pub fn merge(self, file: Options) -> Options {
        macro_rules! pick {
            ($($field:ident),* $(,)?) => {
                Options {
                    user: [file.user, self.user].concat(),
                    users: [file.users, self.users].concat(),
                    $($field: self.$field.or(file.$field),)*
                }
            };
        }
        pick!(
            listen,
            root,
            storage,
            anonymous,
            anonymous_root,
            anonymous_perms,
            passive_ports,
            passive_address,
            no_active,
            idle_timeout,
            data_timeout,
            max_sessions,
            max_sessions_per_ip,
            max_login_failures,
            login_failure_delay,
            lockout_failures,
            lockout_window,
            banner,
            workers,
            fsync_uploads,
            plugin_dir,
            xferlog,
            tls_cert,
            tls_key,
            implicit_tls_listen,
            require_tls,
            require_tls_session_reuse,
            proxy_protocol,
            settle_min_proxied_us,
            metrics_listen,
            run_as,
            allow_root,
        )
    }

    /// Checks the options and builds the daemon's configuration. `config`
    /// names the file for messages about its accounts; `generated` is the
    /// password of the default account if one was made before (a reload
    /// keeps it).
    ///
    /// # Errors
    /// A root that is not a directory, a bad account, a bad
    /// `passive_address`, no root for an account that needs it.
    pub fn resolve(
        self,
        config: Option<(&Path, &str)>,
        generated: Option<String>,
    ) -> anyhow::Result<Resolved> {
        let at = |span: std::ops::Range<usize>| match config {
            Some((path, text)) => {
                let (line, col) = line_col(text, span.start);
                format!("{}:{line}:{col}: ", path.display())
            }
            None => String::new(),
        };
        let mut plan = StoragePlan {
            default: self.storage.as_deref().map_or(Place::Local, Place::parse),
            users: Default::default(),
        };
        // On an object store the root is a key prefix, not a directory.
        let root = if plan.default.is_local() {
            self.root.as_deref().map(directory).transpose()?
        } else {
            Some(self.root.clone().unwrap_or_else(|| "/".into()))
        };
        let mut warnings = Vec::new();
        let mut users = Users::new();
        for spec in &self.user {
            let root = root
                .clone()
                .context("--user needs --root (or root in the config file)")?;
            let user = User::from_spec(spec, root)
                .with_context(|| format!("--user {:?}", redact(spec)))?;
            if let Some(stored) = &user.password
                && let Err(e) = credential::validate(stored)
            {
                bail!("--user {:?}: {e}", redact(spec));
            }
            users.add(user);
        }
        for entry in &self.users {
            let name = entry.name.get_ref();
            let where_ = at(entry.name.span());
            if name.is_empty() || name.contains(char::is_whitespace) {
                bail!("{where_}user name {name:?} is empty or has white space");
            }
            if users.get(name).is_some() {
                bail!("{where_}user {name:?} is defined twice");
            }
            let place = entry
                .storage
                .as_ref()
                .map_or_else(|| plan.default.clone(), |s| Place::parse(s.get_ref()));
            let home = match (&entry.root, place.is_local()) {
                (Some(r), true) => directory(r.get_ref())
                    .map_err(|e| anyhow::anyhow!("{}user {name:?}: {e:#}", at(r.span())))?,
                (Some(r), false) => r.get_ref().clone(),
                (None, _) if place == plan.default => root.clone().with_context(|| {
                    format!("{where_}user {name:?} has no root, and there is no global root")
                })?,
                (None, false) => "/".into(),
                (None, true) => {
                    bail!("{where_}user {name:?} has storage \"local\" but no root of its own")
                }
            };
            if place != plan.default {
                plan.users.insert(name.clone(), place);
            }
            if entry.password.plain {
                warnings.push(format!(
                    "{where_}user {name:?} has a plaintext password: use `ftpshd hash-password`"
                ));
            }
            users.add_limited(
                User {
                    name: name.clone(),
                    password: Some(entry.password.stored.clone()),
                    root: home,
                    permissions: entry.perms.map_or_else(Permissions::all, |p| p.0),
                },
                entry.max_sessions,
            );
        }
        let mut generated_password = None;
        if users.is_empty() {
            let root = root.clone().context(
                "no root: give --root (or root in the config file), or accounts with their own root",
            )?;
            let password = generated.unwrap_or_else(random_password);
            users.add(User::from_spec(&format!("ftpsh:{password}"), root)?);
            generated_password = Some(password);
        }
        if self.anonymous.unwrap_or(false) {
            let anon_root = match &self.anonymous_root {
                Some(r) if !plan.default.is_local() => r.clone(),
                Some(r) => directory(r).context("anonymous_root")?,
                None => root
                    .clone()
                    .context("anonymous needs anonymous_root or root")?,
            };
            let perms = self
                .anonymous_perms
                .map_or_else(Permissions::read_only, |p| p.0);
            users.add_anonymous_with(anon_root, perms);
        }
        users.set_lockout(LockoutPolicy {
            failures: self
                .lockout_failures
                .unwrap_or(LockoutPolicy::daemon().failures),
            window: self
                .lockout_window
                .map_or(LockoutPolicy::daemon().window, Duration::from_secs),
        });
        let passive_address = self
            .passive_address
            .as_deref()
            .map(|a| PassiveAddress::parse(a).map(Arc::new))
            .transpose()
            .context("passive_address")?;
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), key) => Some(
                crate::tls::server_config_from_files(cert, key.as_deref().unwrap_or(cert))
                    .context("tls_cert/tls_key")?,
            ),
            (None, Some(_)) => anyhow::bail!("tls_key needs tls_cert"),
            (None, None) => None,
        };
        if tls.is_none()
            && (self.implicit_tls_listen.is_some()
                || self.require_tls == Some(true)
                || self.require_tls_session_reuse == Some(true))
        {
            anyhow::bail!(
                "implicit_tls_listen, require_tls and require_tls_session_reuse need a certificate: --tls-cert FILE"
            );
        }
        let server = ServerConfig {
            tls: ftpsh_core::TlsPolicy {
                available: tls.is_some(),
                required: self.require_tls.unwrap_or(false),
                session_reuse_required: self.require_tls_session_reuse.unwrap_or(false),
            },
            users,
            banner: self
                .banner
                .unwrap_or_else(|| ServerConfig::default().banner),
            passive_ports: self.passive_ports.map(|p| p.0),
            passive_address,
            active_mode: !self.no_active.unwrap_or(false),
            login_failure_delay: Duration::from_secs(
                self.login_failure_delay
                    .unwrap_or(defaults::LOGIN_FAILURE_DELAY),
            ),
            max_login_failures: self
                .max_login_failures
                .unwrap_or(defaults::MAX_LOGIN_FAILURES),
            ..ServerConfig::default()
        };
        let listen = match self.listen {
            Some(l) => l,
            None => defaults::LISTEN.parse()?,
        };
        let settle_min_proxied = match self.settle_min_proxied_us {
            Some(us) if Duration::from_micros(us) > crate::settle::SETTLE_MAX => anyhow::bail!(
                "settle_min_proxied_us: {us} is more than {}, the longest settle window",
                crate::settle::SETTLE_MAX.as_micros()
            ),
            Some(us) => Duration::from_micros(us),
            None => crate::settle::SETTLE_MIN_PROXIED,
        };
        let daemon = DaemonConfig {
            listen,
            server,
            idle_timeout: Duration::from_secs(self.idle_timeout.unwrap_or(defaults::IDLE_TIMEOUT)),
            data_timeout: Duration::from_secs(self.data_timeout.unwrap_or(defaults::DATA_TIMEOUT)),
            max_sessions: self.max_sessions.unwrap_or(defaults::MAX_SESSIONS),
            max_sessions_per_ip: self
                .max_sessions_per_ip
                .unwrap_or(defaults::MAX_SESSIONS_PER_IP),
            workers: self.workers.unwrap_or(defaults::WORKERS),
            fsync_uploads: self.fsync_uploads.map(|f| f.0).unwrap_or_default(),
            xferlog: self.xferlog,
            tls,
            implicit_tls_listen: self.implicit_tls_listen,
            proxy_protocol: self.proxy_protocol.unwrap_or(false),
            settle_min_proxied,
        };
        Ok(Resolved {
            daemon,
            generated: generated_password,
            plugin_dir: self.plugin_dir,
            metrics_listen: self.metrics_listen,
            run_as: self.run_as,
            allow_root: self.allow_root.unwrap_or(false),
            warnings,
            storage: plan,
        })
    }
}

/// Loads `--config FILE` (if any) under the command line's options and
/// resolves them.
///
/// # Errors
/// See [`Options::from_file`] and [`Options::resolve`].
pub fn load(
    config: Option<&Path>,
    cli: &Options,
    generated: Option<String>,
) -> anyhow::Result<Resolved> {
    match config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("config file {}", path.display()))?;
            let file =
                Options::from_toml(&text).map_err(|e| anyhow::anyhow!(located(path, &text, &e)))?;
            cli.clone()
                .merge(file)
                .resolve(Some((path, &text)), generated)
        }
        None => cli.clone().resolve(None, generated),
    }
}

/// `FILE:LINE:COLUMN: message` for a TOML error.
fn located(path: &Path, text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let (line, col) = line_col(text, span.start);
            format!(
                "{}:{line}:{col}: {}",
                path.display(),
                e.message().trim_end()
            )
        }
        None => format!("{}: {}", path.display(), e.message().trim_end()),
    }
}

/// 1-based line and column (in characters) of byte `offset`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The canonical path of an existing directory.
fn directory(path: &Path) -> anyhow::Result<PathBuf> {
    let dir = std::fs::canonicalize(path)
        .with_context(|| format!("root directory {}", path.display()))?;
    if !dir.is_dir() {
        bail!("root {} is not a directory", dir.display());
    }
    Ok(dir)
}

fn random_password() -> String {
    use rand::Rng;
    use rand::distr::Alphanumeric;
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(16)
        .map(char::from)
        .collect()
}

/// A user spec with its password hidden, for error messages.
fn redact(spec: &str) -> String {
    match spec.split_once(':') {
        Some((name, rest)) => match rest.rsplit_once(':') {
            Some((_, perms)) => format!("{name}:***:{perms}"),
            None => format!("{name}:***"),
        },
        None => spec.to_owned(),
    }
}

#[cfg(test)]
mod tests;
