//! Loads ftpshd command plugins — shared libraries exporting the
//! `ftpsh_plugin_v1` entry symbol of [`ftpsh_plugin_api::abi`] — and wraps
//! each one as an [`ftpsh_core::Command`], so its verbs go through the same
//! registry, login and permission checks, `FEAT` and `HELP` as the built-in
//! commands.
//!
//! The main trade-off: plugins run in the daemon's process, which makes a
//! plugin call as cheap as a built-in command, but means a plugin is
//! trusted native code. The host defends against *bugs*, not malice: it
//! validates every table at load and refuses the library with a message
//! naming the file, catches panics on both sides of the boundary (a panic
//! becomes `451` and the session carries on), copies every byte that
//! crosses, bounds handles and reply sizes, and gives plugins files only
//! through the session's jail. It cannot stop a plugin that dereferences a
//! wild pointer, aborts, or loops forever; only load plugins you trust,
//! from a directory only you can write to. Libraries are never unloaded:
//! their function pointers live in the registry for the life of the
//! process, and unloading code that may have started threads is unsound.
//!
//! The daemon calls one function at start:
//!
//! ```no_run
//! # fn main() -> Result<(), ftpsh_plugin_host::LoadError> {
//! let mut registry = ftpsh_core::Registry::new(); // the built-ins, in ftpshd
//! for line in ftpsh_plugin_host::register_all(&mut registry, "/etc/ftpsh/plugins".as_ref())? {
//!     eprintln!("{line}");
//! }
//! # Ok(()) }
//! ```

mod callbacks;
mod loader;
mod table;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ftpsh_core::{
    Command, Outcome, Registry, RegistryError, Reply, ReplyCode, Request, Session, VerbSpec,
};
use ftpsh_plugin_api::abi::{self, RunFn};
use thiserror::Error;

pub use ftpsh_plugin_api::StaticPlugin;
pub use loader::{load_dir, load_file, load_static};

/// Why a plugin directory or library was refused. Every message names the
/// file (or directory) and says what to do.
#[derive(Debug, Error)]
pub enum LoadError {
    /// The directory cannot be listed.
    #[error("cannot read plugin directory {}: {source}", dir.display())]
    ReadDir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The directory or library is writable by other users, so anyone on
    /// the machine could run code inside the daemon.
    #[error("{}: refusing to load plugins from a path other users can write to (mode {mode:o}); run chmod o-w on it", path.display())]
    WorldWritable {
        /// The file or directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The dynamic loader refused the file.
    #[error("{}: cannot load shared library: {message}", file.display())]
    Open {
        /// The library.
        file: PathBuf,
        /// The loader's message.
        message: String,
    },
    /// The library exports no entry symbol of any ABI version.
    #[error("{}: not an ftpsh plugin: it exports no {symbol} symbol (see export_plugin! in ftpsh-plugin-api)", file.display())]
    MissingSymbol {
        /// The library.
        file: PathBuf,
        /// The symbol looked for.
        symbol: &'static str,
    },
    /// The library was built for another ABI major version.
    #[error("{}: plugin built for plugin ABI version {found}, but this ftpshd supports plugin ABI version {expected}; rebuild the plugin against this ftpshd's ftpsh-plugin-api", file.display())]
    AbiMismatch {
        /// The library.
        file: PathBuf,
        /// The version the plugin declares.
        found: u32,
        /// The version this host speaks ([`abi::ABI_VERSION`]).
        expected: u32,
    },
    /// A table is smaller than the version 1 layout.
    #[error("{}: {what} is {size} bytes, smaller than the {min} bytes of plugin ABI version 1", file.display())]
    TooSmall {
        /// The library.
        file: PathBuf,
        /// Which table.
        what: &'static str,
        /// Its declared size in bytes.
        size: usize,
        /// The minimum in bytes.
        min: usize,
    },
    /// The plugin table is malformed.
    #[error("{}: invalid plugin table: {reason}", file.display())]
    BadTable {
        /// The library.
        file: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A verb declaration is malformed.
    #[error("{}: bad verb {verb:?}: {reason}", file.display())]
    BadVerb {
        /// The library.
        file: PathBuf,
        /// The verb as declared.
        verb: String,
        /// What is wrong.
        reason: String,
    },
    /// A verb is already provided by a built-in command or another plugin.
    #[error("{}: verb {verb} is already provided by {existing:?}; a plugin cannot replace an existing command", file.display())]
    Collision {
        /// The library.
        file: PathBuf,
        /// The verb.
        verb: String,
        /// The command that has it.
        existing: String,
    },
}

/// A loaded plugin, wrapped as a [`Command`]. Its verbs carry the plugin's
/// declared login flag and permission, which the registry checks before
/// [`Command::run`]; `run` then calls into the plugin with callbacks bound
/// to the session.
#[derive(Debug, Clone)]
pub struct PluginCommand {
    file: PathBuf,
    name: String,
    verbs: Vec<VerbSpec>,
    run: RunFn,
}

impl PluginCommand {
    /// The library it came from.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// A one-line description for the daemon's log: name, file, verbs.
    pub fn describe(&self) -> String {
        let verbs: Vec<&str> = self.verbs.iter().map(|v| v.verb.as_str()).collect();
        format!(
            "plugin {} from {}: {}",
            self.name,
            self.file.display(),
            verbs.join(" ")
        )
    }
}

impl Command for PluginCommand {
    fn name(&self) -> &str {
        &self.name
    }

    fn verbs(&self) -> Vec<VerbSpec> {
        self.verbs.clone()
    }

    /// Calls the plugin. `451` when it panics, returns an error, sends no
    /// reply or an invalid one; the session stays usable in every case.
    fn run(&self, request: &Request, session: &mut Session) -> Outcome {
        let verb = &request.verb;
        let name = &self.name;
        // SAFETY: `self.run` was validated at load and its library is never
        // unloaded. The host side of the call is caught too: a panic in
        // the host's own glue must not take the worker down either.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            #[allow(unsafe_code)]
            unsafe {
                callbacks::invoke(self.run, request, session)
            }
        }));
        let failed = |detail: &str| {
            Reply::new(
                ReplyCode::LOCAL_ERROR,
                format!("{verb}: plugin {name} failed: {detail}"),
            )
        };
        let reply = match result {
            Ok(inv) if inv.code == abi::FTPSH_OK => match inv.reply {
                Some(r) => r,
                None => failed("it sent no reply"),
            },
            Ok(inv) if inv.code == abi::FTPSH_ERR_PANIC => failed("it panicked"),
            Ok(inv) => match inv.reply {
                Some(r) if r.code.is_error() => failed(r.text()),
                _ => failed(abi::error_name(inv.code)),
            },
            Err(payload) => {
                std::mem::forget(payload);
                failed("internal error in the plugin host")
            }
        };
        Outcome::Reply(reply)
    }
}

/// Loads every plugin in `dir` (see [`load_dir`]) and registers each in
/// `registry`, all or nothing: on any error `registry` is left unchanged.
/// Returns one log line per plugin (`plugin hash from DIR/libx.so: HASH`).
///
/// # Errors
/// Any [`LoadError`]; a verb that is already registered (a built-in, its
/// alias, or an earlier plugin's) is [`LoadError::Collision`] naming the
/// file and the verb.
pub fn register_all(registry: &mut Registry, dir: &Path) -> Result<Vec<String>, LoadError> {
    register(registry, loader::load_plugins(dir)?)
}

/// Registers plugins linked into this program (see [`StaticPlugin`]), all
/// or nothing, like [`register_all`]: e.g. the shell's embedded server
/// offering `HASH` with no plugin file on disk:
///
/// ```
/// let mut registry = ftpsh_core::Registry::new(); // the built-ins, in practice
/// ftpsh_plugin_host::register_static(&mut registry, &[&ftpsh_plugin_hash::FTPSH_PLUGIN])?;
/// assert!(registry.lookup("HASH").is_some());
/// # Ok::<(), ftpsh_plugin_host::LoadError>(())
/// ```
///
/// # Errors
/// As [`register_all`]; messages name the plugin `<linked-in PACKAGE>`.
pub fn register_static(
    registry: &mut Registry,
    plugins: &[&StaticPlugin],
) -> Result<Vec<String>, LoadError> {
    let loaded = plugins
        .iter()
        .map(|p| load_static(p))
        .collect::<Result<Vec<_>, _>>()?;
    register(registry, loaded)
}

fn register(
    registry: &mut Registry,
    plugins: Vec<PluginCommand>,
) -> Result<Vec<String>, LoadError> {
    let mut staged = registry.clone();
    let mut log = Vec::with_capacity(plugins.len());
    for p in plugins {
        let line = p.describe();
        let file = p.file.clone();
        staged.register(Arc::new(p)).map_err(|e| match e {
            RegistryError::Collision { verb, existing, .. } => LoadError::Collision {
                file: file.clone(),
                verb,
                existing,
            },
            RegistryError::BadVerb { verb, .. } => LoadError::BadVerb {
                file: file.clone(),
                verb,
                reason: "a verb is 1 to 16 ASCII letters".to_owned(),
            },
        })?;
        log.push(line);
    }
    *registry = staged;
    Ok(log)
}

/// Convenience for [`load_dir`]'s callers that want trait objects.
pub(crate) fn as_command(p: PluginCommand) -> Arc<dyn Command> {
    Arc::new(p)
}
