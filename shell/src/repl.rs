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

use crate::complete;
use crate::exit;
use crate::line;
use crate::shell::{Failure, Flow, Shell};

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
    // Ctrl-C outside the line editor (during a command) sets the flag the
    // transfer loops poll; a second Ctrl-C before the first was handled
    // ends the process, so a hung connect can still be left.
    let _ = signal_hook::flag::register_conditional_shutdown(
        signal_hook::consts::SIGINT,
        130,
        interrupt.clone(),
    );
    let _ = signal_hook::flag::register(signal_hook::consts::SIGINT, interrupt.clone());
    // When the terminal goes away, reading it fails and the loop below ends
    // normally, so the session is closed and the embedded server's temp
    // root removed, instead of the process dying on SIGHUP.
    let _ = signal_hook::flag::register(
        signal_hook::consts::SIGHUP,
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
    );

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
                    let result = shell.borrow_mut().execute(command, &mut stdout.lock());
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
/// not a terminal or reading fails.
pub fn prompt_password(prompt: &str) -> Option<String> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    let stdin = io::stdin();
    let original = tcgetattr(&stdin).ok()?;
    let mut silent = original.clone();
    silent.local_flags.remove(LocalFlags::ECHO);
    eprint!("{prompt}");
    let _ = io::stderr().flush();
    tcsetattr(&stdin, SetArg::TCSANOW, &silent).ok()?;
    let mut line = String::new();
    let read = stdin.read_line(&mut line);
    let _ = tcsetattr(&stdin, SetArg::TCSANOW, &original);
    eprintln!();
    read.ok()?;
    Some(line.trim_end_matches(['\r', '\n']).to_owned())
}
