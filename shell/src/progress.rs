//! Transfer progress bars (indicatif), drawn on stderr only when the shell
//! is interactive and stderr is a terminal — never in batch mode, where
//! the transcript must not change from run to run.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar that may be disabled; every method is then a no-op.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    _echo: Option<EchoOff>,
}

/// Turns terminal echo off while a bar is shown, so keys typed during a
/// transfer — above all the `^C` the terminal echoes for Ctrl-C — do not
/// land in the middle of the bar and keep it from being cleared. Echo is
/// restored on drop.
#[derive(Debug)]
struct EchoOff {
    saved: nix::sys::termios::Termios,
}

impl EchoOff {
    fn new() -> Option<Self> {
        use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin).ok()?;
        let mut quiet = saved.clone();
        quiet
            .local_flags
            .remove(LocalFlags::ECHO | LocalFlags::ECHOCTL);
        tcsetattr(&stdin, SetArg::TCSANOW, &quiet).ok()?;
        Some(Self { saved })
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        use nix::sys::termios::{SetArg, tcsetattr};
        let _ = tcsetattr(std::io::stdin(), SetArg::TCSANOW, &self.saved);
    }
}

impl Progress {
    /// Starts a bar labelled `label` for `total` bytes (a spinner with a
    /// byte count when the size is unknown), or nothing when `enabled` is
    /// false.
    pub fn start(enabled: bool, total: Option<u64>, label: &str) -> Self {
        if !enabled {
            return Self {
                bar: None,
                _echo: None,
            };
        }
        let target = ProgressDrawTarget::stderr_with_hz(10);
        let bar = match total {
            Some(t) => ProgressBar::with_draw_target(Some(t), target).with_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            ),
            None => ProgressBar::with_draw_target(None, target).with_style(
                ProgressStyle::with_template("{msg} {spinner} {bytes} {binary_bytes_per_sec}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        bar.set_message(label.to_owned());
        Self {
            bar: Some(bar),
            _echo: EchoOff::new(),
        }
    }

    /// Sets the bytes done so far.
    pub fn set(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(bytes);
        }
    }

    /// Removes the bar from the terminal.
    pub fn finish(mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
