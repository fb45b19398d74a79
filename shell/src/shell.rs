//! The executor: shell state (connection, local directory, embedded
//! server, listing cache) and [`Shell::execute`], which runs one command and
//! writes its output to any [`Write`] — the terminal, or a batch
//! transcript.
//!
//! Output and errors are kept apart: output goes to the writer, a failure
//! comes back as a [`CmdError`] (one line naming the file and the server's
//! reply) for the caller to print where it belongs — stderr at a terminal,
//! inline in a transcript.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ftpsh_core::VirtualPath;
use ftpsh_core::dest::normalize_separators;

use crate::client::{COVERED_VERBS, Canceller, Connection, DATA_VERBS, RemoteError, Settings};
use crate::embedded::{EmbeddedServer, EmbeddedSpec};
use crate::format::{Entry, Kind};
use crate::line;
use crate::url::FtpUrl;
use crate::verbs::{self, Args};

mod connect;

use connect::Login;

/// How long a remote directory listing stays in the completion cache.
pub const LISTING_TTL: Duration = Duration::from_secs(10);

/// Writes one line of output, ignoring a closed output (a pipe whose
/// reader went away must not turn into a failed command).
#[macro_export]
macro_rules! say {
    ($out:expr, $($arg:tt)*) => {{
        let _ = writeln!($out, $($arg)*);
    }};
}

/// Reconnect attempts after a lost connection, by default.
pub const DEFAULT_RETRIES: u32 = 3;

/// How the shell presents itself.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Batch mode: no dates, ports, temp paths or timings in the output,
    /// local paths shown relative to the starting directory.
    pub deterministic: bool,
    /// Draw progress bars for transfers (interactive, stderr is a TTY).
    pub progress: bool,
    /// Connection chatter (`connected to …`, the greeting, the login
    /// reply) goes to stderr, so stdout carries only the commands' own
    /// output (`-c` and piped modes).
    pub chatter_to_stderr: bool,
    /// The longest wait for any network step (`--timeout`).
    pub timeout: Duration,
    /// How many times a command that lost its connection (a reset, or
    /// `421`) reconnects and runs again (`--retries`).
    pub retries: u32,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            deterministic: false,
            progress: false,
            chatter_to_stderr: false,
            timeout: crate::client::DEFAULT_TIMEOUT,
            retries: DEFAULT_RETRIES,
        }
    }
}

/// What the shell connects to when `connme` has no URL.
#[derive(Debug, Clone)]
pub enum ServerChoice {
    /// The embedded ftpshd, started on first use.
    Embedded(EmbeddedSpec),
    /// A server given on the command line or in a batch script.
    Url(FtpUrl),
}

/// Whether the shell should go on after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Read the next command.
    Continue,
    /// `exit` was run.
    Exit,
}

/// Broad classes of failure, for exit codes and batch expectations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The server refused (has a reply code), lacks an extension the
    /// command needs (no reply code), or the connection failed during a
    /// command.
    Remote,
    /// A local file problem or a refusal by the shell itself (existing
    /// target, extension change).
    Local,
    /// Bad arguments or an unknown verb.
    Usage,
    /// A remote verb while not connected.
    Offline,
    /// `connme` could not connect or log in.
    Connect,
    /// Ctrl-C aborted the command.
    Interrupted,
}

/// A failed command: one line naming the verb, the file and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdError {
    /// The line to print, e.g. `rm: nope.txt: 550 /nope.txt: no such file`.
    pub message: String,
    /// The server's reply code, when the server refused.
    pub code: Option<u16>,
    /// The class of failure.
    pub failure: Failure,
}

impl fmt::Display for CmdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CmdError {}

impl CmdError {
    fn new(failure: Failure, message: String) -> Self {
        Self {
            message,
            code: None,
            failure,
        }
    }

    /// `VERB: SUBJECT: MESSAGE` for a local problem.
    pub fn local(verb: &str, subject: &str, message: impl fmt::Display) -> Self {
        Self::new(Failure::Local, format!("{verb}: {subject}: {message}"))
    }

    /// `VERB: MESSAGE` for bad usage.
    pub fn usage(verb: &str, message: impl fmt::Display) -> Self {
        Self::new(Failure::Usage, format!("{verb}: {message}"))
    }

    /// The hint for a remote verb run while offline.
    pub fn offline(verb: &str) -> Self {
        Self::new(
            Failure::Offline,
            format!("{verb}: not connected; run connme first"),
        )
    }

    /// `VERB: SUBJECT: REPLY` for a failed remote operation; `VERB:
    /// MESSAGE` when the server lacks an extension
    /// ([`RemoteError::Unsupported`]).
    pub fn remote(verb: &str, subject: &str, err: &RemoteError) -> Self {
        let failure = match err {
            RemoteError::Interrupted { .. } => Failure::Interrupted,
            _ => Failure::Remote,
        };
        // A missing extension is about the server, not the file.
        let message = match err {
            RemoteError::Unsupported(_) => format!("{verb}: {err}"),
            _ => format!("{verb}: {subject}: {err}"),
        };
        Self {
            message,
            code: err.code(),
            failure,
        }
    }

    /// `connme: SUBJECT: REPLY` for a failed connection or login.
    pub fn connect(subject: &str, err: &RemoteError) -> Self {
        Self {
            message: format!("connme: {subject}: {err}"),
            code: err.code(),
            failure: Failure::Connect,
        }
    }
}

/// Asks for a password on the terminal: given the prompt text, returns
/// the password or `None` when none can be read.
pub type PasswordPrompt = Box<dyn FnMut(&str) -> Option<String>>;

/// The shell's state. See the module docs.
pub struct Shell {
    opts: Options,
    conn: Option<Connection>,
    server: ServerChoice,
    embedded: Option<EmbeddedServer>,
    local_cwd: PathBuf,
    start_dir: PathBuf,
    cache: HashMap<String, (Instant, Vec<Entry>)>,
    settings: Settings,
    login: Option<Login>,
    /// Set when the connection was lost (reset, `421`) during the current
    /// command: the remote directory to return to on reconnect.
    lost_in: Option<String>,
    password_prompt: Option<PasswordPrompt>,
    /// `--tls`, `--ca-file`, `--insecure` (see [`crate::tls`]).
    tls_flags: crate::tls::TlsFlags,
    exit: bool,
}

impl fmt::Debug for Shell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shell")
            .field("opts", &self.opts)
            .field("conn", &self.conn)
            .field("server", &self.server)
            .field("local_cwd", &self.local_cwd)
            .finish_non_exhaustive()
    }
}

impl Shell {
    /// A shell in `local_dir`, offline, whose `connme` defaults to the
    /// embedded server.
    pub fn new(opts: Options, local_dir: PathBuf) -> Self {
        Self {
            opts,
            conn: None,
            server: ServerChoice::Embedded(EmbeddedSpec::default()),
            embedded: None,
            local_cwd: local_dir.clone(),
            start_dir: local_dir,
            cache: HashMap::new(),
            settings: Settings {
                timeout: opts.timeout,
                ..Settings::default()
            },
            login: None,
            lost_in: None,
            password_prompt: None,
            tls_flags: crate::tls::TlsFlags::default(),
            exit: false,
        }
    }

    /// Sets what `connme` without a URL connects to.
    pub fn set_server(&mut self, server: ServerChoice) {
        self.server = server;
    }

    /// Uses an already running embedded server (the batch runner seeds its
    /// files first) for `connme` without a URL.
    pub fn attach_embedded(&mut self, server: EmbeddedServer) {
        self.server = ServerChoice::Embedded(EmbeddedSpec {
            user: server.user().to_owned(),
            password: Some(server.password().to_owned()),
            banner: None,
            tls: server.client_tls().is_some(),
        });
        crate::signals::remove_on_exit(server.root());
        self.embedded = Some(server);
    }

    /// Sets the FTPS flags used by every later `connme`. With `--tls`, the
    /// embedded server (not started yet) requires FTPS too.
    pub fn set_tls_flags(&mut self, flags: crate::tls::TlsFlags) {
        if flags.require
            && self.embedded.is_none()
            && let ServerChoice::Embedded(spec) = &mut self.server
        {
            spec.tls = true;
        }
        self.tls_flags = flags;
    }

    /// Installs the terminal password prompt.
    pub fn set_password_prompt(&mut self, prompt: PasswordPrompt) {
        self.password_prompt = Some(prompt);
    }

    /// The flag Ctrl-C sets to abort the running transfer.
    pub fn interrupt_flag(&self) -> Arc<AtomicBool> {
        self.settings.interrupt.clone()
    }

    /// What shuts the connection's sockets down when Ctrl-C finds a wait
    /// that does not poll the interrupt flag (a reply that never comes).
    pub fn canceller(&self) -> Arc<Canceller> {
        self.settings.canceller.clone()
    }

    /// The options.
    pub fn options(&self) -> Options {
        self.opts
    }

    /// True while connected.
    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// The control connection, when connected.
    pub fn connection(&self) -> Option<&Connection> {
        self.conn.as_ref()
    }

    /// The embedded server, if started.
    pub fn embedded(&self) -> Option<&EmbeddedServer> {
        self.embedded.as_ref()
    }

    /// The prompt: `ftpsh alice@127.0.0.1:2121:/docs> ` or
    /// `ftpsh (offline)> `.
    pub fn prompt(&self) -> String {
        match &self.conn {
            Some(c) => format!("ftpsh {}@{}:{}> ", c.user(), c.host_port(), c.cwd()),
            None => "ftpsh (offline)> ".to_owned(),
        }
    }

    /// Runs one command (no `;`). Output goes to `out`; a failure is
    /// returned for the caller to print.
    ///
    /// # Errors
    /// The command's [`CmdError`].
    pub fn execute(&mut self, command: &str, out: &mut dyn Write) -> Result<Flow, CmdError> {
        self.settings.interrupt.store(false, Ordering::Relaxed);
        self.settings.canceller.reset();
        let words = line::split_words(command).map_err(|e| CmdError::usage("ftpsh", e))?;
        let Some(first) = words.first() else {
            return Ok(Flow::Continue);
        };
        let rest = line::words(command)
            .first()
            .map(|w| &command[w.end..])
            .unwrap_or("");
        match verbs::lookup(first) {
            Some(verb) => {
                let args = verb
                    .parse_args(&words[1..], rest)
                    .map_err(|m| CmdError::usage(verb.name, m))?;
                if verb.online && self.conn.is_none() {
                    return Err(CmdError::offline(verb.name));
                }
                self.lost_in = None;
                let mut result = (verb.run)(self, &args, out);
                let mut attempt = 0;
                while result.is_err() && verb.online && attempt < self.opts.retries {
                    let Some(cwd) = self.lost_in.take() else {
                        break;
                    };
                    attempt += 1;
                    if !self.reconnect(&cwd, attempt) {
                        continue;
                    }
                    // A transfer cut off by the loss continues where it
                    // stopped (REST), instead of refusing its own partial
                    // file as "already exists".
                    let mut args = args.clone();
                    if verb.flags.iter().any(|f| f.name == "-c") {
                        args.flags.insert("-c", None);
                    }
                    result = (verb.run)(self, &args, out);
                }
                result?;
            }
            None if self.is_server_verb(first) => {
                let args = Args {
                    raw: format!("{}{rest}", first.to_ascii_uppercase()),
                    ..Args::default()
                };
                crate::verbs::basic::quote(self, &args, out)?;
            }
            None => {
                return Err(CmdError::usage(
                    "ftpsh",
                    format!("unknown command {first:?}; type help for a list"),
                ));
            }
        }
        Ok(if self.exit {
            Flow::Exit
        } else {
            Flow::Continue
        })
    }

    /// Sends `QUIT` if connected, ignoring any failure (leaving the shell).
    pub fn disconnect_quietly(&mut self) {
        if let Some(c) = self.conn.take() {
            let _ = c.quit();
        }
    }

    /// Stops the embedded server, if running.
    pub fn stop_embedded(&mut self) {
        if let Some(e) = self.embedded.take() {
            crate::signals::forget(e.root());
            let _ = e.shutdown();
        }
    }

    pub(crate) fn request_exit(&mut self) {
        self.exit = true;
    }

    /// True when `word` names a verb the server advertises that the shell
    /// has no verb of its own for and that needs no data connection.
    pub fn is_server_verb(&self, word: &str) -> bool {
        let upper = word.to_ascii_uppercase();
        self.conn.as_ref().is_some_and(|c| {
            c.server_verbs().contains(&upper)
                && verbs::lookup(word).is_none()
                && !DATA_VERBS.contains(&upper.as_str())
                && !COVERED_VERBS.contains(&upper.as_str())
        })
    }

    /// Server verbs runnable by name, lower case (see
    /// [`Shell::is_server_verb`]).
    pub fn server_verbs(&self) -> Vec<String> {
        match &self.conn {
            None => Vec::new(),
            Some(c) => c
                .server_verbs()
                .iter()
                .filter(|v| self.is_server_verb(v))
                .map(|v| v.to_ascii_lowercase())
                .collect(),
        }
    }

    // ----- connection helpers used by the verbs -----

    pub(crate) fn conn(&mut self, verb: &str) -> Result<&mut Connection, CmdError> {
        self.conn.as_mut().ok_or_else(|| CmdError::offline(verb))
    }

    pub(crate) fn take_conn(&mut self) -> Option<Connection> {
        self.cache.clear();
        self.conn.take()
    }

    /// Turns a remote failure into a [`CmdError`]; when the control
    /// connection is gone the shell goes offline and says so.
    pub(crate) fn remote_err(&mut self, verb: &str, subject: &str, err: RemoteError) -> CmdError {
        if self.settings.canceller.is_cancelled() {
            // The sockets were shut down under a blocked wait (Ctrl-C):
            // whatever error followed, the session is gone.
            self.conn = None;
            self.cache.clear();
            return CmdError {
                message: format!("{verb}: {subject}: interrupted; disconnected (run connme)"),
                code: None,
                failure: Failure::Interrupted,
            };
        }
        let mut e = CmdError::remote(verb, subject, &err);
        let reconnectable = matches!(err, RemoteError::ConnectionLost(_))
            || matches!(&err, RemoteError::Reply(r) if r.code.0 == 421);
        if reconnectable && let Some(c) = &self.conn {
            self.lost_in = Some(c.cwd().to_owned());
        }
        if err.is_connection_lost() {
            self.conn = None;
            self.cache.clear();
            e.message
                .push_str(" (disconnected; run connme to reconnect)");
        }
        e
    }

    pub(crate) fn invalidate_cache(&mut self) {
        self.cache.clear();
    }

    // ----- paths -----

    /// A local path as typed (backslashes are separators; `~/` is home),
    /// resolved against the local directory.
    pub(crate) fn local_path(&self, typed: &str) -> PathBuf {
        let typed = normalize_separators(typed);
        if let Some(rest) = typed.strip_prefix("~/").or((typed == "~").then_some(""))
            && let Some(home) = std::env::var_os("HOME")
        {
            return Path::new(&home).join(rest);
        }
        self.local_cwd.join(typed)
    }

    pub(crate) fn local_cwd(&self) -> &Path {
        &self.local_cwd
    }

    pub(crate) fn set_local_cwd(&mut self, dir: PathBuf) {
        self.local_cwd = dir;
    }

    pub(crate) fn start_dir(&self) -> &Path {
        &self.start_dir
    }

    /// How a local directory is shown: absolute, or in deterministic mode
    /// relative to the starting directory (`.`, `./copies`).
    pub(crate) fn display_local(&self, path: &Path) -> String {
        if self.opts.deterministic {
            let start = self
                .start_dir
                .canonicalize()
                .unwrap_or_else(|_| self.start_dir.clone());
            return match path.strip_prefix(&start) {
                Ok(rel) if rel.as_os_str().is_empty() => ".".to_owned(),
                Ok(rel) => format!("./{}", rel.display()),
                Err(_) => "(outside the work directory)".to_owned(),
            };
        }
        path.display().to_string()
    }

    /// The absolute remote path of `typed` (separators already
    /// normalised) against the remote directory.
    pub(crate) fn remote_abs_path(&self, typed: &str) -> Option<String> {
        self.remote_abs(typed)
    }

    /// The absolute remote path of `typed` against the remote directory.
    fn remote_abs(&self, typed: &str) -> Option<String> {
        let cwd = self.conn.as_ref()?.cwd();
        let base = VirtualPath::root().resolve(cwd).ok()?;
        let typed = normalize_separators(typed);
        let p = if typed.is_empty() {
            base
        } else {
            base.resolve(&typed).ok()?
        };
        Some(p.as_str().to_owned())
    }

    // ----- completion sources -----

    /// Entries of remote directory `dir` (as typed, relative to the remote
    /// directory), from the cache when fresh. Empty when offline or on
    /// error.
    pub fn remote_entries(&mut self, dir: &str) -> Vec<Entry> {
        let Some(abs) = self.remote_abs(dir) else {
            return Vec::new();
        };
        if let Some((at, entries)) = self.cache.get(&abs)
            && at.elapsed() < LISTING_TTL
        {
            return entries.clone();
        }
        let Some(conn) = self.conn.as_mut() else {
            return Vec::new();
        };
        match conn.list(Some(&abs)) {
            Ok(entries) => {
                self.cache.insert(abs, (Instant::now(), entries.clone()));
                entries
            }
            Err(e) => {
                if e.is_connection_lost() {
                    self.conn = None;
                }
                Vec::new()
            }
        }
    }

    /// Remembers a listing that `ls` just fetched.
    pub(crate) fn cache_listing(&mut self, dir: Option<&str>, entries: &[Entry]) {
        if let Some(abs) = self.remote_abs(dir.unwrap_or("")) {
            self.cache.insert(abs, (Instant::now(), entries.to_vec()));
        }
    }

    /// Entries of local directory `dir` (as typed).
    pub fn local_entries(&self, dir: &str) -> Vec<Entry> {
        let path = if dir.is_empty() {
            self.local_cwd.clone()
        } else {
            self.local_path(dir)
        };
        read_local_dir(&path).unwrap_or_default()
    }
}

/// Lists a local directory as listing entries.
///
/// # Errors
/// The I/O error from reading the directory.
pub fn read_local_dir(path: &Path) -> std::io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let meta = std::fs::symlink_metadata(entry.path())?;
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            Kind::Dir
        } else if ft.is_symlink() {
            // A link to a directory completes like a directory.
            if entry.path().is_dir() {
                Kind::Dir
            } else {
                Kind::Link
            }
        } else if ft.is_file() {
            Kind::File
        } else {
            Kind::Other
        };
        out.push(Entry {
            name: entry.file_name().to_string_lossy().into_owned(),
            kind,
            size: Some(meta.len()),
            modified: meta.modified().ok(),
        });
    }
    Ok(out)
}

/// Prints a reply the way FTP clients show it: `CODE text`, a multi-line
/// reply with its first line as `CODE-text` and its last as `CODE text`.
pub fn print_reply(out: &mut dyn Write, reply: &ftpsh_core::Reply) {
    let code = reply.code;
    let last = reply.lines.len().saturating_sub(1);
    for (i, l) in reply.lines.iter().enumerate() {
        if last == 0 {
            say!(out, "{code} {l}");
        } else if i == 0 {
            say!(out, "{code}-{l}");
        } else if i == last {
            say!(out, "{code} {l}");
        } else {
            say!(out, "{l}");
        }
    }
}
