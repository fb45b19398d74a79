//! Transfer progress bars (indicatif), drawn on stderr only when the shell
//! is interactive and stderr is a terminal — never in batch mode, where
//! the transcript must not change from run to run.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar that may be disabled; every method is then a no-op.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Starts a bar labelled `label` for `total` bytes (a spinner with a
    /// byte count when the size is unknown), or nothing when `enabled` is
    /// false.
    pub fn start(enabled: bool, total: Option<u64>, label: &str) -> Self {
        if !enabled {
            return Self { bar: None };
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
        Self { bar: Some(bar) }
    }

    /// Sets the bytes done so far.
    pub fn set(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(bytes);
        }
    }

    /// Removes the bar from the terminal.
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}
