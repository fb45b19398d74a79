//! `mget` and `mput`: glob patterns expanded by ftpsh itself, remote ones
//! against the server's listing, local ones with the `glob` crate; the
//! files move as jobs ([`super::jobs`]).

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use ftpsh_core::dest::normalize_separators;

use super::jobs::{Job, P_FLAG, Report, abs_remote, finish, parallel_arg, run_jobs};
use crate::format::{Entry, Kind};
use crate::say;
use crate::shell::{CmdError, Shell};
use crate::verbs::{ArgKind, Args, Flag, Verb};

/// Splits a remote pattern into its directory (`""` for the current one)
/// and its last component, which alone may hold glob characters.
fn split_pattern(pattern: &str) -> (String, String) {
    match pattern.rsplit_once('/') {
        Some(("", name)) => ("/".to_owned(), name.to_owned()),
        Some((dir, name)) => (dir.to_owned(), name.to_owned()),
        None => (String::new(), pattern.to_owned()),
    }
}

/// `mget [-f] [-P N] PATTERN...`: remote globs (`*`, `?`, `[…]` in the
/// last component) matched against the listing, files into the local
/// directory.
pub fn mget(sh: &mut Shell, args: &Args, out: &mut dyn Write) -> Result<(), CmdError> {
    const V: &str = "mget";
    let parallel = parallel_arg(V, args)?;
    let force = args.has("-f");
    let started = Instant::now();
    let mut report = Report::default();
    let mut jobs = Vec::new();
    for typed in &args.positional {
        let (dir, name) = split_pattern(&normalize_separators(typed));
        let pattern = glob::Pattern::new(&name).map_err(|e| CmdError::usage(V, e))?;
        let listed = sh.conn(V)?.list((!dir.is_empty()).then_some(dir.as_str()));
        let entries = listed.map_err(|e| sh.remote_err(V, typed, e))?;
        let mut matched: Vec<&Entry> = entries
            .iter()
            .filter(|e| e.kind != Kind::Dir && pattern.matches(&e.name))
            .collect();
        matched.sort_by(|a, b| a.name.cmp(&b.name));
        if matched.is_empty() {
            report.failures += 1;
            say!(out, "{V}: {typed}: no remote file matches");
        }
        for e in matched {
            let remote = if dir.is_empty() {
                e.name.clone()
            } else {
                abs_remote(&dir, &e.name)
            };
            let local = sh.local_path(&e.name);
            if !force && local.symlink_metadata().is_ok() {
                report.failures += 1;
                say!(
                    out,
                    "{V}: {remote}: failed: already exists locally; use -f to overwrite"
                );
                continue;
            }
            jobs.push(Job::Get {
                remote,
                local,
                mtime: e.modified,
                replace: force,
            });
        }
    }
    run_jobs(sh, V, jobs, parallel, out, &mut report)?;
    finish(sh, V, &report, started, out)
}

/// `mput [-f] [-P N] PATTERN...`: local globs, files into the remote
/// directory.
pub fn mput(sh: &mut Shell, args: &Args, out: &mut dyn Write) -> Result<(), CmdError> {
    const V: &str = "mput";
    let parallel = parallel_arg(V, args)?;
    let force = args.has("-f");
    let started = Instant::now();
    let mut report = Report::default();
    let mut jobs = Vec::new();
    for typed in &args.positional {
        let full = sh.local_path(typed);
        let pattern = full.to_string_lossy().into_owned();
        let paths = glob::glob(&pattern).map_err(|e| CmdError::usage(V, e))?;
        let mut matched: Vec<PathBuf> = paths
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect();
        matched.sort();
        if matched.is_empty() {
            report.failures += 1;
            say!(out, "{V}: {typed}: no local file matches");
        }
        for local in matched {
            let name = local
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            jobs.push(Job::Put {
                local,
                remote: name,
                replace: force,
            });
        }
    }
    run_jobs(sh, V, jobs, parallel, out, &mut report)?;
    finish(sh, V, &report, started, out)
}

/// `mget`.
pub(super) const MGET: Verb = Verb {
    name: "mget",
    aliases: &[],
    args: &[ArgKind::RemoteMany],
    required: 1,
    flags: &[
        Flag {
            name: "-f",
            value: None,
            help: "overwrite existing local files",
        },
        P_FLAG,
    ],
    usage: "mget [-f] [-P N] PATTERN...",
    summary: "fetch the remote files matching glob patterns",
    details: "Patterns (*, ?, [abc] in the last path component) are matched by ftpsh \
              against the server's listing, not by the server; quote them or not, the \
              shell never expands them. Each file goes to the local directory under its \
              own name, as download would write it. One line per file, one summary line; \
              a failed file does not stop the others, the command fails if any did.",
    extension: None,
    online: true,
    run: mget,
};

/// `mput`.
pub(super) const MPUT: Verb = Verb {
    name: "mput",
    aliases: &[],
    args: &[ArgKind::LocalMany],
    required: 1,
    flags: &[
        Flag {
            name: "-f",
            value: None,
            help: "overwrite existing remote files",
        },
        P_FLAG,
    ],
    usage: "mput [-f] [-P N] PATTERN...",
    summary: "send the local files matching glob patterns",
    details: "Patterns are expanded by ftpsh in the local directory (glob syntax, e.g. \
              *.txt, docs/*.md). Each file goes to the remote directory under its own \
              name. One line per file, one summary line; the command fails if any file did.",
    extension: None,
    online: true,
    run: mput,
};
