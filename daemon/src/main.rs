//! `ftpshd`: the ftpsh FTP daemon. Parses the command line, builds the user
//! database and serves until SIGINT or SIGTERM. All the work is in the
//! `ftpsh_daemon` library; this file only wires it to a process.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use ftpsh_core::{ServerConfig, User, Users};
use ftpsh_daemon::{DaemonConfig, FsyncPolicy, Server, builtin_registry};
use rand::Rng;
use rand::distr::Alphanumeric;

/// ftpshd: an FTP server (RFC 959, 2389, 2428, 3659) on one mio event loop.
#[derive(Debug, Parser)]
#[command(name = "ftpshd", version)]
struct Args {
    /// Print the man page (roff) and exit.
    #[arg(long, exclusive = true)]
    man: bool,

    /// Address of the control-connection listener; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:2121")]
    listen: SocketAddr,

    /// Directory served: every user's root (and the anonymous one).
    #[arg(long)]
    root: PathBuf,

    /// An account: NAME:PASSWORD, or NAME:PASSWORD:PERMS with PERMS letters
    /// from "elradfmw" (default all).
    /// Repeatable. Without any, user "ftpsh" gets a random password, printed
    /// once.
    #[arg(long = "user", value_name = "NAME:PASSWORD[:PERMS]")]
    users: Vec<String>,

    /// Also accept read-only logins "anonymous" and "ftp" with any password.
    #[arg(long)]
    anonymous: bool,

    /// Ports for passive data connections, LOW-HIGH (default: any free port).
    #[arg(long, value_name = "LOW-HIGH", value_parser = parse_port_range)]
    passive_ports: Option<RangeInclusive<u16>>,

    /// Seconds a control connection may stay idle outside a transfer.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    idle_timeout: u64,

    /// Seconds to wait for a passive data connection, or for progress on one.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    data_timeout: u64,

    /// Most concurrent sessions; more are refused with 421.
    #[arg(long, value_name = "N", default_value_t = 512)]
    max_sessions: usize,

    /// Worker threads that run commands.
    #[arg(long, value_name = "N", default_value_t = 4)]
    workers: usize,

    /// When an upload is flushed to the disk: "always" (before its 226:
    /// a 226 means on disk) or "never" (left to the kernel's writeback, as
    /// vsftpd and pyftpdlib do; a power loss may lose the last uploads).
    /// Either way a file appears under its name only complete.
    #[arg(long, value_name = "WHEN", default_value = "never", value_parser = parse_fsync_policy)]
    fsync_uploads: FsyncPolicy,

    /// Directory of command plugins (shared libraries, `*.so`) to load at
    /// start; their verbs join the built-ins. A plugin that cannot be loaded
    /// stops the daemon with a message naming the file.
    #[arg(long, value_name = "DIR")]
    plugin_dir: Option<PathBuf>,
}

fn parse_port_range(s: &str) -> Result<RangeInclusive<u16>, String> {
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
    Ok(low..=high)
}

fn parse_fsync_policy(s: &str) -> Result<FsyncPolicy, String> {
    match s {
        "always" => Ok(FsyncPolicy::Always),
        "never" => Ok(FsyncPolicy::Never),
        _ => Err(format!("{s:?}: expected \"always\" or \"never\"")),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ftpshd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    // Before parsing: --root is required for serving, not for the page.
    if std::env::args_os().nth(1).is_some_and(|a| a == "--man") {
        let mut page = Vec::new();
        clap_mangen::Man::new(<Args as clap::CommandFactory>::command()).render(&mut page)?;
        std::io::stdout().write_all(&page)?;
        return Ok(ExitCode::SUCCESS);
    }
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let root = std::fs::canonicalize(&args.root)
        .with_context(|| format!("root directory {}", args.root.display()))?;
    if !root.is_dir() {
        bail!("root {} is not a directory", root.display());
    }
    let mut users = Users::new();
    let mut generated = None;
    for spec in &args.users {
        let user = User::from_spec(spec, root.clone())
            .with_context(|| format!("--user {:?}", redact(spec)))?;
        users.add(user);
    }
    if args.users.is_empty() {
        let password: String = rand::rng()
            .sample_iter(Alphanumeric)
            .take(16)
            .map(char::from)
            .collect();
        users.add(User::from_spec(&format!("ftpsh:{password}"), root.clone())?);
        generated = Some(password);
    }
    if args.anonymous {
        users.add_anonymous(root.clone());
    }
    let config = DaemonConfig {
        listen: args.listen,
        server: ServerConfig {
            users,
            passive_ports: args.passive_ports,
            ..ServerConfig::default()
        },
        idle_timeout: Duration::from_secs(args.idle_timeout),
        data_timeout: Duration::from_secs(args.data_timeout),
        max_sessions: args.max_sessions,
        workers: args.workers,
        fsync_uploads: args.fsync_uploads,
    };
    let mut registry = builtin_registry();
    if let Some(dir) = &args.plugin_dir {
        let loaded = ftpsh_plugin_host::register_all(&mut registry, dir)
            .with_context(|| format!("--plugin-dir {}", dir.display()))?;
        if loaded.is_empty() {
            tracing::warn!(dir = %dir.display(), "no plugins found");
        }
        for line in loaded {
            tracing::info!("{line}");
        }
    }
    let server =
        Server::bind(config, registry).with_context(|| format!("listening on {}", args.listen))?;
    let mut out = std::io::stdout().lock();
    if let Some(password) = generated {
        writeln!(out, "user ftpsh, password {password}")?;
    }
    writeln!(out, "ftpshd listening on {}", server.local_addr())?;
    out.flush()?;
    drop(out);
    tracing::info!(root = %root.display(), "serving");
    server.run().context("event loop")?;
    Ok(ExitCode::SUCCESS)
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
