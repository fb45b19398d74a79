//! Signals, handled on a thread of their own (`signal-hook`'s iterator),
//! never by code running inside a signal handler.
//!
//! - SIGTERM and SIGHUP end `ftpsh` cleanly in every mode: the terminal's
//!   saved settings are restored, every path registered with
//!   [`remove_on_exit`] (the embedded server's temporary root, a download's
//!   side file) is removed, and the process exits with 128 + the signal.
//! - SIGINT does the same outside the interactive shell (`-c`, piped,
//!   `--batch`). In the interactive shell it interrupts the running
//!   command: it sets the interrupt flag, which the transfer loops and the
//!   connect loop poll (a transfer is aborted with `ABOR` and the session
//!   stays usable); if the command is still running [`CANCEL_GRACE`] later,
//!   it is blocked in a wait that cannot poll (a reply that never comes),
//!   and the [`Canceller`] shuts the connection's sockets down, so the
//!   command returns and the shell goes offline. At the prompt, rustyline
//!   reads Ctrl-C as a key; no signal is raised.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::termios::{SetArg, Termios, tcsetattr};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::client::Canceller;

/// How long Ctrl-C waits for a command to notice the interrupt flag before
/// shutting its sockets down.
pub const CANCEL_GRACE: Duration = Duration::from_millis(1500);

#[derive(Default)]
struct Cleanup {
    paths: Vec<PathBuf>,
    terminal: Option<Termios>,
}

static CLEANUP: Mutex<Cleanup> = Mutex::new(Cleanup {
    paths: Vec::new(),
    terminal: None,
});

/// Removes `path` (a file, or a directory with its contents) if the
/// process is ended by a signal.
pub fn remove_on_exit(path: &Path) {
    if let Ok(mut c) = CLEANUP.lock() {
        c.paths.push(path.to_path_buf());
    }
}

/// Undoes [`remove_on_exit`] for `path` (it was renamed, kept or removed).
pub fn forget(path: &Path) {
    if let Ok(mut c) = CLEANUP.lock() {
        c.paths.retain(|p| p != path);
    }
}

/// Remembers the terminal settings to restore if a signal ends the
/// process while they are changed (password prompt, line editor);
/// `None` forgets them.
pub fn restore_terminal_on_exit(settings: Option<Termios>) {
    if let Ok(mut c) = CLEANUP.lock() {
        c.terminal = settings;
    }
}

/// Restores the terminal and removes the registered paths.
pub fn clean_up() {
    let Ok(mut c) = CLEANUP.lock() else {
        return;
    };
    if let Some(t) = c.terminal.take() {
        let _ = tcsetattr(std::io::stdin(), SetArg::TCSANOW, &t);
    }
    for p in c.paths.drain(..) {
        if p.is_dir() {
            let _ = std::fs::remove_dir_all(&p);
        } else {
            let _ = std::fs::remove_file(&p);
        }
    }
}

/// Whether a command is running, for the SIGINT thread.
#[derive(Debug, Default)]
pub struct Busy {
    running: AtomicBool,
    generation: AtomicU64,
}

impl Busy {
    /// A command starts.
    pub fn begin(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.running.store(true, Ordering::SeqCst);
    }

    /// The command ended.
    pub fn end(&self) {
        self.running.store(false, Ordering::SeqCst);
    }
}

/// What the interactive shell's SIGINT acts on.
#[derive(Debug, Clone)]
pub struct Interactive {
    /// The flag the transfer loops poll.
    pub interrupt: Arc<AtomicBool>,
    /// Shuts the sockets down when the flag is not enough.
    pub canceller: Arc<Canceller>,
    /// Whether a command is running.
    pub busy: Arc<Busy>,
}

/// Starts the signal thread. `interactive` is `Some` in the interactive
/// shell, where SIGINT interrupts the command instead of ending the
/// process.
///
/// # Errors
/// The signal handlers cannot be installed.
pub fn install(interactive: Option<Interactive>) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("ftpsh-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                match (sig, &interactive) {
                    (SIGINT, Some(i)) => interrupt(i),
                    _ => {
                        clean_up();
                        std::process::exit(128 + sig);
                    }
                }
            }
        })?;
    Ok(())
}

fn interrupt(i: &Interactive) {
    i.interrupt.store(true, Ordering::SeqCst);
    if !i.busy.running.load(Ordering::SeqCst) {
        return;
    }
    let generation = i.busy.generation.load(Ordering::SeqCst);
    let i = i.clone();
    let _ = std::thread::Builder::new()
        .name("ftpsh-cancel".into())
        .spawn(move || {
            std::thread::sleep(CANCEL_GRACE);
            if i.busy.running.load(Ordering::SeqCst)
                && i.busy.generation.load(Ordering::SeqCst) == generation
            {
                i.canceller.cancel();
            }
        });
}
