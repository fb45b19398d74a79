//! `ftpsh`: an FTP shell with the seeds' verbs (`connme`, `ls`, `rm`,
//! `size`, `upload`, `download`, `byebye`) plus the usual ones, usable
//! three ways — interactively (rustyline: history, completion, progress
//! bars), as a Unix filter (`-c 'ls; size a.txt'` or commands on stdin),
//! and as a YAML batch runner whose transcript is snapshot-tested.
//!
//! The behaviour lives here, the binary only wires it: [`line`](mod@line) splits
//! shell lines, [`verbs`] is the one table of verbs that dispatch, help,
//! [`complete`] and the man page derive from (its implementations in a
//! module per family), [`shell::Shell`] executes a command and writes to
//! any `Write`, [`client`] is the protocol layer (one FTP connection over
//! `suppaftp`: timeouts, cancel, transfers), [`batch`] runs scripts,
//! [`repl`] talks to a terminal, [`signals`] turns SIGINT/SIGTERM/SIGHUP
//! into interrupts or a clean exit, [`embedded`] starts the in-process
//! `ftpshd` used when no server is named (with the `HASH` plugin linked
//! in), [`verify`] hashes transfers as they stream for `--verify`, and
//! [`tls`] holds FTPS: URL schemes, certificate trust, the rustls
//! connector.
//!
//! The main trade-off: the shell is synchronous — one control connection,
//! one command at a time, transfers pumped in 64 KiB chunks on the calling
//! thread (`-P N` moves files on N connections of their own, on threads).
//! That keeps the executor a plain function that tests can drive and the
//! transcript strictly ordered. Ctrl-C sets a flag the transfer loops poll
//! (ABOR, session kept); a wait that cannot poll (a reply that never
//! comes) is ended by shutting the connection's sockets down from the
//! signal thread ([`client::Canceller`]).

pub mod batch;
pub mod client;
pub mod complete;
pub mod embedded;
pub mod format;
pub mod line;
pub mod progress;
pub mod repl;
pub mod shell;
pub mod signals;
pub mod tls;
pub mod url;
pub mod verbs;
pub mod verify;

pub use shell::{CmdError, Failure, Flow, Options, ServerChoice, Shell};

/// The documented exit codes of `ftpsh`.
pub mod exit {
    /// Everything went as expected.
    pub const OK: u8 = 0;
    /// A command or batch step failed (not as expected).
    pub const STEP_FAILED: u8 = 1;
    /// The batch script is invalid or its setup could not be created.
    pub const INVALID_SCRIPT: u8 = 2;
    /// The server could not be reached, or the login failed.
    pub const CANNOT_CONNECT: u8 = 3;
}
