//! `ftpshd`: the FTP daemon (CLI in progress).

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::SUCCESS
}
