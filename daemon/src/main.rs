//! `ftpshd`: the ftpsh FTP daemon. Reads its configuration (a TOML file
//! under command-line options), binds, drops privileges, and serves until
//! SIGINT or SIGTERM; SIGHUP reloads the file. `ftpshd hash-password`
//! prints the Argon2id hash of a password for the file's accounts. All the
//! work is in the `ftpsh_daemon` library; this file only wires it to a
//! process.

use std::io::{BufRead, IsTerminal, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use ftpsh_core::auth::credential;
use ftpsh_daemon::config::{self, Options};
use ftpsh_daemon::storage::StoragePlan;
use ftpsh_daemon::{Reloader, Server, builtin_registry, metrics};

/// ftpshd: an FTP server (RFC 959, 2389, 2428, 3659; FTPS per RFC 4217) on one mio event loop.
///
/// Every option can also be set in the config file (--config), as a key
/// of the same name with `_` for `-` (`--passive-ports` is
/// `passive_ports`); the command line wins over the file.
#[derive(Debug, Parser)]
#[command(name = "ftpshd", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Sub>,

    /// Print the man page (roff) and exit.
    #[arg(long, exclusive = true)]
    man: bool,

    /// TOML config file (see dist/ftpshd.toml); SIGHUP reloads it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(flatten)]
    options: Options,
}

#[derive(Debug, Subcommand)]
enum Sub {
    /// Read a password from standard input (prompted without echo on a
    /// terminal) and print its Argon2id PHC string, for `password` in the
    /// config file's `[[users]]`.
    HashPassword,
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
    let cli = Cli::parse();
    if cli.man {
        let mut page = Vec::new();
        clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(&mut page)?;
        std::io::stdout().write_all(&page)?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(Sub::HashPassword) = cli.command {
        return hash_password();
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let mut resolved = config::load(cli.config.as_deref(), &cli.options, None)?;
    for warning in &resolved.warnings {
        tracing::warn!("{warning}");
    }
    // An object store is reached and checked here: a bad URI, an
    // unreachable endpoint or a missing bucket stops the start.
    let storage = resolved.storage.build()?;
    tracing::info!(storage = %storage.describe(), "storage");
    resolved.daemon.server.storage = storage;
    let mut registry = builtin_registry();
    if let Some(dir) = &resolved.plugin_dir {
        let loaded = ftpsh_plugin_host::register_all(&mut registry, dir)
            .with_context(|| format!("--plugin-dir {}", dir.display()))?;
        if loaded.is_empty() {
            tracing::warn!(dir = %dir.display(), "no plugins found");
        }
        for line in loaded {
            tracing::info!("{line}");
        }
    }
    let listen = resolved.daemon.listen;
    let server = Server::bind(resolved.daemon, registry)
        .with_context(|| format!("listening on {listen}"))?;
    if let Some(addr) = resolved.metrics_listen {
        let listener = TcpListener::bind(addr).with_context(|| format!("metrics_listen {addr}"))?;
        let local = listener.local_addr()?;
        metrics::serve(listener, server.metrics()).context("metrics thread")?;
        tracing::info!("metrics on http://{local}/metrics");
    }
    // Everything that needs root is bound or open by now.
    drop_privileges(resolved.run_as.as_deref(), resolved.allow_root)?;
    watch_sighup(
        cli.config,
        cli.options,
        resolved.generated.clone(),
        resolved.storage.clone(),
        server.reloader(),
    )?;

    let mut out = std::io::stdout().lock();
    if let Some(password) = &resolved.generated {
        writeln!(out, "user ftpsh, password {password}")?;
    }
    writeln!(out, "ftpshd listening on {}", server.local_addr())?;
    if let Some(addr) = server.implicit_tls_addr() {
        writeln!(out, "ftpshd listening for implicit TLS on {addr}")?;
    }
    out.flush()?;
    drop(out);
    tracing::info!("serving");
    server.run().context("event loop")?;
    Ok(ExitCode::SUCCESS)
}

/// `ftpshd hash-password`: one password from standard input to a PHC
/// string on standard output.
fn hash_password() -> anyhow::Result<ExitCode> {
    let stdin = std::io::stdin();
    let password = if stdin.is_terminal() {
        let first = rpassword::prompt_password("Password: ").context("reading the password")?;
        let again = rpassword::prompt_password("Again: ").context("reading the password")?;
        if first != again {
            bail!("the two passwords differ");
        }
        first
    } else {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        let line = line.strip_suffix('\n').unwrap_or(&line);
        line.strip_suffix('\r').unwrap_or(line).to_owned()
    };
    if password.is_empty() {
        bail!("empty password");
    }
    println!("{}", credential::hash_password(&password)?);
    Ok(ExitCode::SUCCESS)
}

/// SIGHUP re-reads the config file on a thread of its own (reading and
/// checking it may block) and hands the result to the loop; a bad file is
/// logged and the running configuration stays. Without a config file the
/// signal is logged and ignored (its default action would kill the
/// daemon).
fn watch_sighup(
    config: Option<PathBuf>,
    cli: Options,
    generated: Option<String>,
    storage: StoragePlan,
    reloader: Reloader,
) -> anyhow::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGHUP])
        .context("installing the SIGHUP handler")?;
    std::thread::Builder::new()
        .name("ftpshd-reload".to_owned())
        .spawn(move || {
            for _ in signals.forever() {
                let Some(path) = &config else {
                    tracing::warn!("SIGHUP: no config file to reload");
                    continue;
                };
                reload(path, &cli, generated.clone(), &storage, &reloader);
            }
        })
        .context("starting the reload thread")?;
    Ok(())
}

fn reload(
    path: &Path,
    cli: &Options,
    generated: Option<String>,
    storage: &StoragePlan,
    reloader: &Reloader,
) {
    match config::load(Some(path), cli, generated) {
        Ok(resolved) => {
            for warning in &resolved.warnings {
                tracing::warn!("{warning}");
            }
            if resolved.storage != *storage {
                // The loop keeps the back-end of the start.
                tracing::warn!("reload: storage needs a restart, unchanged");
            }
            if let Err(e) = reloader.reload(resolved.daemon) {
                tracing::error!("reload: {e}");
            }
        }
        Err(e) => tracing::error!("reload refused, configuration unchanged: {e:#}"),
    }
}

/// With `run_as`, switches to that user, its primary group and its
/// supplementary groups (only possible when started as root). Then refuses
/// to go on as root unless `allow_root`.
fn drop_privileges(run_as: Option<&str>, allow_root: bool) -> anyhow::Result<()> {
    use nix::unistd::{Uid, User, initgroups, setgid, setuid};
    if let Some(name) = run_as {
        let user = User::from_name(name)
            .with_context(|| format!("run_as: looking up user {name:?}"))?
            .with_context(|| format!("run_as: no user {name:?}"))?;
        if Uid::effective() == user.uid {
            // Already that user (started by a service manager as it).
        } else if !Uid::effective().is_root() {
            bail!("run_as {name:?}: only root can switch users");
        } else {
            let cname = std::ffi::CString::new(name).context("run_as: NUL in the name")?;
            initgroups(&cname, user.gid).with_context(|| format!("run_as {name:?}: initgroups"))?;
            setgid(user.gid).with_context(|| format!("run_as {name:?}: setgid"))?;
            setuid(user.uid).with_context(|| format!("run_as {name:?}: setuid"))?;
            if setuid(Uid::from_raw(0)).is_ok() {
                bail!("run_as {name:?}: root privileges could be regained");
            }
            tracing::info!(
                user = name,
                uid = user.uid.as_raw(),
                gid = user.gid.as_raw(),
                "dropped root privileges"
            );
        }
    }
    if Uid::effective().is_root() && !allow_root {
        bail!(
            "refusing to serve as root: set run_as = \"USER\" (--run-as USER), \
             or allow_root = true (--allow-root) to serve as root anyway"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn read(rel: &str) -> String {
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
    }

    /// Every option is a key of the example file and of README's table,
    /// and the example parses with every commented-out key enabled too.
    #[test]
    fn every_option_is_a_documented_key_of_the_example() {
        let example = read("../dist/ftpshd.toml");
        let readme = read("../README.md");
        let cli = Cli::command();
        let keys: Vec<String> = cli
            .get_arguments()
            .filter_map(|a| a.get_long())
            .filter(|l| !["config", "user", "help", "version", "man"].contains(l))
            .map(|l| l.replace('-', "_"))
            .collect();
        assert!(keys.len() > 20, "{keys:?}");
        for key in &keys {
            let in_example = example
                .lines()
                .any(|l| l.trim_start_matches('#').starts_with(&format!("{key} = ")));
            assert!(in_example, "dist/ftpshd.toml lacks {key}");
            assert!(
                readme.contains(&format!("| `{key}` |")),
                "README lacks {key}"
            );
        }
        Options::from_toml(&example).unwrap();
        // Enable every commented-out key as an administrator would: they
        // are all top-level keys, so they go before the first table.
        let commented = |l: &str| {
            l.strip_prefix('#')
                .filter(|k| {
                    k.split(" = ")
                        .next()
                        .is_some_and(|k| keys.iter().any(|x| x == k))
                })
                .map(str::to_owned)
        };
        let first_table = example.find("[[users]]").unwrap();
        let enabled: Vec<String> = example.lines().filter_map(commented).collect();
        let enabled = format!(
            "{}\n{}{}",
            enabled.join("\n"),
            &example[..first_table],
            &example[first_table..]
        );
        let parsed = Options::from_toml(&enabled).unwrap_or_else(|e| panic!("{e}\n{enabled}"));
        assert_eq!(parsed.users.len(), 2);
        assert_eq!(parsed.anonymous, Some(false));
        assert_eq!(parsed.lockout_window, Some(120));
        assert!(parsed.xferlog.is_some() && parsed.metrics_listen.is_some());
    }
}
