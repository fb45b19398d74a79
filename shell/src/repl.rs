//! Running commands from a person or a pipe.
//!
//! [`run_interactive`] is the rustyline REPL: persistent history under the
//! XDG state directory, completion from [`crate::complete`], a prompt that
//! shows the connection, and Ctrl-C that aborts the running transfer (or
//! clears the line at the prompt) instead of killing the shell.
//! [`run_commands`] is the Unix-scripting mode (`-c 'ls; size a.txt'`, or
//! commands piped on stdin): like `sftp -b`, it stops at the first failure
//! unless the command is prefixed with `-`.

use std::borrow::Cow;
use std::cell::RefCell;
use std::io::{self, Write};
use std::path::PathBuf;
use std::rc::Rc;

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::FileHistory;
use rustyline::validate::Validator;
use rustyline::{CompletionType, Config, Context, Editor, Helper};

use std::sync::Arc;

use nix::sys::termios::tcgetattr;

use crate::complete;
use crate::exit;
use crate::line;
use crate::shell::{Failure, Flow, Shell};
use crate::signals::{self, Busy, Interactive};

/// Runs `lines` (each may hold several `;`-separated commands). Output goes
/// to `out`, errors to `err`. A command prefixed with `-` may fail without
/// stopping the run. Returns the exit code: [`exit::OK`],
/// [`exit::STEP_FAILED`] or [`exit::CANNOT_CONNECT`].
pub fn run_commands(
    shell: &mut Shell,
    lines: impl IntoIterator<Item = String>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    for text in lines {
        for command in line::split_commands(&text) {
            let (tolerate, command) = match command.strip_prefix('-') {
                Some(rest) => (true, rest.trim_start()),
                None => (false, command),
            };
            match shell.execute(command, out) {
                Ok(Flow::Continue) => {}
                Ok(Flow::Exit) => return exit::OK,
                Err(e) => {
                    let _ = out.flush();
                    let _ = writeln!(err, "{e}");
                    if !tolerate {
                        return if e.failure == Failure::Connect {
                            exit::CANNOT_CONNECT
                        } else {
                            exit::STEP_FAILED
                        };
                    }
                }
            }
        }
    }
    exit::OK
}

/// The history file: `$XDG_STATE_HOME/ftpsh/history`, else
/// `~/.local/state/ftpsh/history`; `None` without either variable.
pub fn history_path() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".local/state"),
    };
    Some(base.join("ftpsh").join("history"))
}

/// rustyline's view of the shell: completion only.
struct ShellHelper {
    shell: Rc<RefCell<Shell>>,
    color: bool,
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let Ok(mut shell) = self.shell.try_borrow_mut() else {
            return Ok((pos, Vec::new()));
        };
        let (start, candidates) = complete::complete(line, pos, &mut *shell);
        Ok((
            start,
            candidates
                .into_iter()
                .map(|c| Pair {
                    display: c.display,
                    replacement: c.replacement,
                })
                .collect(),
        ))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}

impl Highlighter for ShellHelper {
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        _default: bool,
    ) -> Cow<'b, str> {
        if !self.color {
            return Cow::Borrowed(prompt);
        }
        // Green when connected, yellow when offline.
        let color = if prompt.contains("(offline)") {
            "33"
        } else {
            "32"
        };
        Cow::Owned(format!("\x1b[1;{color}m{}\x1b[0m ", prompt.trim_end()))
    }
}

impl Validator for ShellHelper {}

impl Helper for ShellHelper {}

/// The interactive REPL. Returns when the user types `exit` or Ctrl-D.
///
/// # Errors
/// Terminal errors from rustyline.
pub fn run_interactive(shell: Shell) -> rustyline::Result<()> {
    let interrupt = shell.interrupt_flag();
    let busy = Arc::new(Busy::default());
    if let Ok(t) = tcgetattr(io::stdin()) {
        signals::restore_terminal_on_exit(Some(t));
    }
    // Ctrl-C during a command interrupts it (see `signals`); SIGTERM and
    // SIGHUP end the shell with the embedded root removed.
    signals::install(Some(Interactive {
        interrupt: interrupt.clone(),
        canceller: shell.canceller(),
        busy: busy.clone(),
    }))
    .map_err(ReadlineError::Io)?;

    let shell = Rc::new(RefCell::new(shell));
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .auto_add_history(false)
        .history_ignore_dups(true)?
        .history_ignore_space(true)
        .max_history_size(1000)?
        .build();
    let mut editor: Editor<ShellHelper, FileHistory> = Editor::with_config(config)?;
    editor.set_helper(Some(ShellHelper {
        shell: shell.clone(),
        color: std::env::var_os("NO_COLOR").is_none(),
    }));
    let history = history_path();
    if let Some(path) = &history {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = editor.load_history(path);
    }

    let stdout = io::stdout();
    if !shell.borrow().is_connected() {
        println!(
            "ftpsh {}: type help for the verbs; connme starts and connects to an embedded \
             server, connme ftp://USER@HOST:PORT/ another one.",
            env!("CARGO_PKG_VERSION")
        );
    }
    loop {
        let prompt = shell.borrow().prompt();
        match editor.readline(&prompt) {
            Ok(text) => {
                if !text.trim().is_empty() {
                    let _ = editor.add_history_entry(text.as_str());
                    if let Some(path) = &history {
                        let _ = editor.append_history(path);
                    }
                }
                let mut leave = false;
                for command in line::split_commands(&text) {
                    interrupt.store(false, std::sync::atomic::Ordering::Relaxed);
                    busy.begin();
                    let result = shell.borrow_mut().execute(command, &mut stdout.lock());
                    busy.end();
                    match result {
                        Ok(Flow::Continue) => {}
                        Ok(Flow::Exit) => {
                            leave = true;
                            break;
                        }
                        Err(e) => {
                            let _ = stdout.lock().flush();
                            eprintln!("{e}");
                        }
                    }
                }
                interrupt.store(false, std::sync::atomic::Ordering::Relaxed);
                if leave {
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => {}
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e),
        }
    }
    let mut shell = shell.borrow_mut();
    shell.disconnect_quietly();
    shell.stop_embedded();
    Ok(())
}

/// Reads a password from the terminal without echo. `None` when stdin is
/// not a terminal, reading fails, or the user presses Ctrl-C or Ctrl-D.
///
/// The terminal is put in non-canonical mode without echo and without
/// signals, so Ctrl-C arrives as a byte and cancels the prompt (the
/// command then fails, the shell stays); Backspace and Ctrl-U edit. The
/// terminal's settings are restored on every path, including a SIGTERM
/// while the prompt waits.
pub fn prompt_password(prompt: &str) -> Option<String> {
    use nix::sys::termios::{LocalFlags, SetArg, SpecialCharacterIndices, tcsetattr};
    use std::io::Read as _;
    let stdin = io::stdin();
    let original = tcgetattr(&stdin).ok()?;
    let mut silent = original.clone();
    silent
        .local_flags
        .remove(LocalFlags::ECHO | LocalFlags::ICANON | LocalFlags::ISIG);
    silent.control_chars[SpecialCharacterIndices::VMIN as usize] = 1;
    silent.control_chars[SpecialCharacterIndices::VTIME as usize] = 0;
    eprint!("{prompt}");
    let _ = io::stderr().flush();
    signals::restore_terminal_on_exit(Some(original.clone()));
    tcsetattr(&stdin, SetArg::TCSANOW, &silent).ok()?;
    let mut password = Vec::new();
    let mut byte = [0u8; 1];
    let mut lock = stdin.lock();
    let result = loop {
        match lock.read(&mut byte) {
            Ok(0) => break None,
            Ok(_) => match byte[0] {
                b'\r' | b'\n' => break Some(()),
                // Ctrl-C, or Ctrl-D on an empty line: cancel.
                0x03 => break None,
                0x04 if password.is_empty() => break None,
                0x7f | 0x08 => {
                    // Backspace: drop one UTF-8 character.
                    while let Some(b) = password.pop() {
                        if b & 0xC0 != 0x80 {
                            break;
                        }
                    }
                }
                0x15 => password.clear(),
                b => password.push(b),
            },
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break None,
        }
    };
    drop(lock);
    let _ = tcsetattr(&stdin, SetArg::TCSANOW, &original);
    // The interactive shell keeps its own saved settings for SIGTERM.
    eprintln!();
    result?;
    String::from_utf8(password).ok()
}
