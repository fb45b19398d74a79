//! `ftpsh`: the shell's binary; all behaviour is in the `ftpsh_shell`
//! library.

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{CommandFactory, Parser};
use ftpsh_shell::{Options, ServerChoice, Shell, batch, exit, repl, signals, url::FtpUrl};

/// An FTP shell with the seeds' verbs: interactive, scriptable, and a YAML
/// batch runner.
#[derive(Debug, Parser)]
#[command(
    name = "ftpsh",
    version,
    after_help = "\
Without a URL, `connme` starts an embedded ftpshd on 127.0.0.1 over a temporary directory.
Passwords come from the URL, FTPSH_PASSWORD, ~/.netrc (by host when the URL names no
user), or a prompt.
In -c and stdin mode the first failing command stops the run; prefix a command with `-`
to let it fail. Stdout then carries only the commands' output; connection chatter goes
to stderr.
Ctrl-C interrupts the running command in the interactive shell; SIGTERM and SIGHUP (and
SIGINT elsewhere) end ftpsh with its temporary files removed, exit status 128+signal.

Exit codes: 0 everything as expected, 1 a command or step failed,
2 invalid batch script, 3 cannot connect or log in."
)]
struct Cli {
    // `help` rather than a doc comment: rustdoc would read the brackets
    // as links.
    #[arg(
        help = "Server to connect to at start: ftp://USER[:PASSWORD]@HOST[:PORT]/[PATH] (ftpes:// explicit FTPS, ftps:// implicit)"
    )]
    url: Option<String>,
    /// Run these commands (separated by `;`) and exit.
    // A leading `-` is the "may fail" prefix, not an option.
    #[arg(
        short = 'c',
        long = "command",
        value_name = "COMMANDS",
        conflicts_with = "batch",
        allow_hyphen_values = true
    )]
    command: Option<String>,
    /// Run a YAML batch script and print its transcript.
    #[arg(long, value_name = "FILE.yaml")]
    batch: Option<PathBuf>,
    /// Never draw progress bars.
    #[arg(long)]
    no_progress: bool,
    /// Longest wait in seconds for any network step: connect, a reply, the
    /// data connection, progress of a transfer (lftp's net:timeout).
    #[arg(long, value_name = "SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
    /// Reconnect and run a command again up to N times when the connection
    /// is lost (reset, or 421), pausing 1 s, 2 s, 4 s, … in between.
    #[arg(long, value_name = "N", default_value_t = ftpsh_shell::shell::DEFAULT_RETRIES)]
    retries: u32,
    /// Require explicit FTPS (AUTH TLS) for an ftp:// URL; ftpes:// and
    /// ftps:// (implicit, port 990) need no flag. Without a URL, the
    /// embedded server requires FTPS.
    #[arg(long)]
    tls: bool,
    /// Also trust the CA certificate(s) in this PEM file.
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
    /// Do not verify the server's TLS certificate (warns on stderr).
    #[arg(long)]
    insecure: bool,
    /// Print a completion script for this shell and exit.
    #[arg(long, value_name = "SHELL", exclusive = true)]
    completions: Option<clap_complete::Shell>,
    /// Print the man page (roff) and exit.
    #[arg(long, exclusive = true)]
    man: bool,
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ftpsh: {e:#}");
            ExitCode::from(exit::STEP_FAILED)
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    if let Some(target) = cli.completions {
        let mut cmd = Cli::command();
        clap_complete::generate(target, &mut cmd, "ftpsh", &mut io::stdout());
        return Ok(ExitCode::SUCCESS);
    }
    if cli.man {
        let mut page = Vec::new();
        clap_mangen::Man::new(Cli::command()).render(&mut page)?;
        page.extend_from_slice(ftpsh_shell::verbs::man_section().as_bytes());
        io::stdout().write_all(&page)?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(script) = &cli.batch {
        if cli.url.is_some() {
            anyhow::bail!("--batch takes its server from the script; drop the URL");
        }
        signals::install(None).context("signal handlers")?;
        let mut stdout = io::stdout().lock();
        return Ok(match batch::run_file(script, &mut stdout) {
            Ok(code) => ExitCode::from(code),
            Err(e) => {
                eprintln!("ftpsh: {e}");
                ExitCode::from(exit::INVALID_SCRIPT)
            }
        });
    }

    let interactive = cli.command.is_none() && io::stdin().is_terminal();
    let opts = Options {
        deterministic: false,
        progress: interactive && !cli.no_progress && io::stderr().is_terminal(),
        chatter_to_stderr: !interactive,
        timeout: Duration::from_secs(cli.timeout),
        retries: cli.retries,
    };
    if !interactive {
        // The interactive shell installs its own (SIGINT interrupts a
        // command there).
        signals::install(None).context("signal handlers")?;
    }
    let cwd = std::env::current_dir().context("current directory")?;
    let mut shell = Shell::new(opts, cwd);
    shell.set_tls_flags(ftpsh_shell::tls::TlsFlags {
        require: cli.tls,
        ca_file: cli.ca_file.clone(),
        insecure: cli.insecure,
    });
    if io::stdin().is_terminal() {
        shell.set_password_prompt(Box::new(|p: &str| repl::prompt_password(p)));
    }
    if let Some(url) = &cli.url {
        let parsed = FtpUrl::parse(url).context("URL")?;
        shell.set_server(ServerChoice::Url(parsed));
        let mut stdout = io::stdout().lock();
        if let Err(e) = shell.execute("connme", &mut stdout) {
            eprintln!("{e}");
            if !interactive {
                shell.stop_embedded();
                return Ok(ExitCode::from(exit::CANNOT_CONNECT));
            }
        }
    }

    if interactive {
        repl::run_interactive(shell).context("terminal")?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut stdout = io::stdout().lock();
    let mut stderr = io::stderr().lock();
    let code = match &cli.command {
        Some(commands) => repl::run_commands(
            &mut shell,
            std::iter::once(commands.clone()),
            &mut stdout,
            &mut stderr,
        ),
        None => {
            let lines = io::stdin().lock().lines().map_while(Result::ok);
            repl::run_commands(&mut shell, lines, &mut stdout, &mut stderr)
        }
    };
    shell.disconnect_quietly();
    shell.stop_embedded();
    Ok(ExitCode::from(code))
}
