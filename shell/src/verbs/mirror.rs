//! Multi-file verbs: `mget`, `mput` (client-side globs), `mirror [-R]`,
//! `rm -r`, `mkdir -p`, `chmod`.
//!
//! Each plans first (a list of jobs from the listings and the local
//! tree), then runs the jobs on the shell's connection or, with `-P N`,
//! on N connections of its own (threads; each job is one file). Every
//! job reports one line; one failed job does not stop the others; one
//! summary line ends the command (files, bytes, time, failures) and the
//! command fails when any job failed.
//!
//! The seed rule holds: an existing target is not replaced without `-f`.
//! `mirror` skips a file whose target has the same size and is not older
//! than the source (so a second run transfers nothing); a target that
//! differs is replaced only with `-f` or `--only-newer` (then only when
//! the source is newer). Downloads go through the side file
//! (`.NAME.ftpsh-part`) and are renamed into place when complete; their
//! modification time is set to the server's, so `--only-newer` compares
//! like with like.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime};

use ftpsh_core::dest::normalize_separators;

use crate::client::{Connection, RemoteError, Upload};
use crate::format::{self, Entry, Kind};
use crate::say;
use crate::shell::{CmdError, Failure, Shell, read_local_dir};
use crate::signals;
use crate::verbs::transfer::side_file;
use crate::verbs::{ArgKind, Args, Flag, Verb};

/// How deep a tree walk goes before it refuses (a bound, and a guard
/// against link loops).
const MAX_DEPTH: usize = 64;

/// How much newer a source must be to count as newer: `LIST` times have
/// minute precision.
const TIME_SLACK: std::time::Duration = std::time::Duration::from_secs(60);

/// At most this many parallel connections for `-P`.
const MAX_PARALLEL: usize = 16;

/// One file to move.
#[derive(Debug, Clone)]
enum Job {
    Get {
        remote: String,
        local: PathBuf,
        mtime: Option<SystemTime>,
        replace: bool,
    },
    Put {
        local: PathBuf,
        remote: String,
        replace: bool,
    },
}

/// What a run of jobs did.
#[derive(Debug, Default)]
struct Report {
    files: u64,
    bytes: u64,
    skipped: u64,
    failures: u64,
}

fn abs_remote(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// The last component of a `/`-separated path.
fn base_name(path: &str) -> &str {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(path)
}

/// Splits a remote pattern into its directory (`""` for the current one)
/// and its last component, which alone may hold glob characters.
fn split_pattern(pattern: &str) -> (String, String) {
    match pattern.rsplit_once('/') {
        Some(("", name)) => ("/".to_owned(), name.to_owned()),
        Some((dir, name)) => (dir.to_owned(), name.to_owned()),
        None => (String::new(), pattern.to_owned()),
    }
}

/// Runs one job on `conn`; returns the bytes moved.
fn run_job(conn: &mut Connection, job: &Job, interrupt: &AtomicBool) -> Result<u64, String> {
    match job {
        Job::Get {
            remote,
            local,
            mtime,
            replace,
        } => {
            let side = side_file(local);
            signals::remove_on_exit(&side);
            let result = (|| {
                let mut file = OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&side)
                    .map_err(|e| format!("{}: {e}", side.display()))?;
                let bytes = conn
                    .download(remote, 0, &mut file, &mut |_| {}, interrupt)
                    .map_err(|e| e.to_string())?;
                if let Some(t) = mtime {
                    let _ = file.set_modified(*t);
                }
                drop(file);
                let committed = if *replace {
                    std::fs::rename(&side, local)
                } else {
                    std::fs::hard_link(&side, local).and_then(|()| std::fs::remove_file(&side))
                };
                committed.map_err(|e| match e.kind() {
                    io::ErrorKind::AlreadyExists => {
                        "already exists locally; use -f to overwrite".to_owned()
                    }
                    _ => e.to_string(),
                })?;
                Ok(bytes)
            })();
            signals::forget(&side);
            if result.is_err() {
                let _ = std::fs::remove_file(&side);
            }
            result
        }
        Job::Put {
            local,
            remote,
            replace,
        } => {
            if !replace && !matches!(conn.kind_of(remote), Ok(None)) {
                return Err("already exists on the server; use -f to overwrite".to_owned());
            }
            let file = File::open(local).map_err(|e| e.to_string())?;
            let mut reader = BufReader::with_capacity(crate::client::CHUNK, file);
            conn.upload(remote, Upload::Store, &mut reader, &mut |_| {}, interrupt)
                .map_err(|e| e.to_string())
        }
    }
}

fn job_line(job: &Job) -> (String, String) {
    match job {
        Job::Get { remote, local, .. } => (remote.clone(), local.display().to_string()),
        Job::Put { local, remote, .. } => (local.display().to_string(), remote.clone()),
    }
}

/// Runs `jobs`, on the shell's connection or on `parallel` connections of
/// their own, printing one line per job.
fn run_jobs(
    sh: &mut Shell,
    verb: &str,
    jobs: Vec<Job>,
    parallel: usize,
    out: &mut dyn Write,
    report: &mut Report,
) -> Result<(), CmdError> {
    let interrupt = sh.interrupt_flag();
    let shown = |sh: &Shell, job: &Job| {
        let (from, to) = job_line(job);
        if sh.options().deterministic {
            (
                from.replace(&sh.start_dir().display().to_string(), "."),
                to.replace(&sh.start_dir().display().to_string(), "."),
            )
        } else {
            (from, to)
        }
    };
    let parallel = parallel.clamp(1, MAX_PARALLEL).min(jobs.len().max(1));
    if parallel == 1 {
        for job in &jobs {
            if interrupt.load(Ordering::Relaxed) {
                return Err(CmdError {
                    message: format!("{verb}: interrupted"),
                    code: None,
                    failure: Failure::Interrupted,
                });
            }
            let result = run_job(sh.conn(verb)?, job, &interrupt);
            let (from, to) = shown(sh, job);
            record(out, verb, &from, &to, result, report);
            if !sh.is_connected() {
                break;
            }
        }
        sh.invalidate_cache();
        return Ok(());
    }
    let queue = Mutex::new(jobs.into_iter().collect::<VecDeque<_>>());
    let results = Mutex::new(Vec::new());
    let first = sh.conn(verb)?;
    let mut conns = Vec::new();
    for _ in 0..parallel {
        match first.fork() {
            Ok(c) => conns.push(c),
            Err(e) if conns.is_empty() => {
                return Err(CmdError::remote(verb, "-P", &e));
            }
            Err(_) => break,
        }
    }
    std::thread::scope(|scope| {
        for mut conn in conns {
            let (queue, results, interrupt) = (&queue, &results, &interrupt);
            scope.spawn(move || {
                loop {
                    if interrupt.load(Ordering::Relaxed) {
                        break;
                    }
                    let Some(job) = queue.lock().ok().and_then(|mut q| q.pop_front()) else {
                        break;
                    };
                    let r = run_job(&mut conn, &job, interrupt);
                    if let Ok(mut rs) = results.lock() {
                        rs.push((job, r));
                    }
                }
                let _ = conn.quit();
            });
        }
    });
    for (job, r) in results.into_inner().unwrap_or_default() {
        let (from, to) = shown(sh, &job);
        record(out, verb, &from, &to, r, report);
    }
    sh.invalidate_cache();
    Ok(())
}

fn record(
    out: &mut dyn Write,
    verb: &str,
    from: &str,
    to: &str,
    result: Result<u64, String>,
    report: &mut Report,
) {
    match result {
        Ok(bytes) => {
            report.files += 1;
            report.bytes += bytes;
            say!(out, "{from} -> {to} ({})", format::human(bytes));
        }
        Err(e) => {
            report.failures += 1;
            say!(out, "{verb}: {from}: failed: {e}");
        }
    }
}

/// Prints the summary line and turns failures into the command's error.
fn finish(
    sh: &Shell,
    verb: &str,
    report: &Report,
    started: Instant,
    out: &mut dyn Write,
) -> Result<(), CmdError> {
    let time = if sh.options().deterministic {
        String::new()
    } else {
        format!(" in {:.2} s", started.elapsed().as_secs_f64())
    };
    let skipped = if report.skipped > 0 {
        format!(", {} up to date", report.skipped)
    } else {
        String::new()
    };
    say!(
        out,
        "{verb}: {} file{} ({}){time}{skipped}, {} failed",
        report.files,
        if report.files == 1 { "" } else { "s" },
        format::human(report.bytes),
        report.failures
    );
    if report.failures > 0 {
        return Err(CmdError {
            message: format!("{verb}: {} of the files failed", report.failures),
            code: None,
            failure: Failure::Remote,
        });
    }
    Ok(())
}

fn parallel_arg(verb: &str, args: &Args) -> Result<usize, CmdError> {
    match args.value("-P") {
        None => Ok(1),
        Some(n) => match n.parse::<usize>() {
            Ok(n) if (1..=MAX_PARALLEL).contains(&n) => Ok(n),
            _ => Err(CmdError::usage(
                verb,
                format!("-P takes a number from 1 to {MAX_PARALLEL}"),
            )),
        },
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

/// Every entry under remote directory `dir`, as (path relative to `dir`,
/// entry), parents before children.
fn walk_remote(
    conn: &mut Connection,
    dir: &str,
    rel: &str,
    depth: usize,
    into: &mut Vec<(String, Entry)>,
) -> Result<(), RemoteError> {
    if depth > MAX_DEPTH {
        return Err(RemoteError::Unsupported(format!(
            "{dir}: deeper than {MAX_DEPTH} levels"
        )));
    }
    let mut entries = conn.list(Some(dir))?;
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    for e in entries {
        let child_rel = if rel.is_empty() {
            e.name.clone()
        } else {
            format!("{rel}/{}", e.name)
        };
        let is_dir = e.kind == Kind::Dir;
        into.push((child_rel.clone(), e.clone()));
        if is_dir {
            walk_remote(conn, &abs_remote(dir, &e.name), &child_rel, depth + 1, into)?;
        }
    }
    Ok(())
}

/// Every entry under local directory `dir`, like [`walk_remote`].
/// Symbolic links to directories are not followed; side files of
/// downloads in progress are left out.
fn walk_local(
    dir: &Path,
    rel: &str,
    depth: usize,
    into: &mut Vec<(String, Entry)>,
) -> io::Result<()> {
    if depth > MAX_DEPTH {
        return Err(io::Error::other(format!(
            "{}: deeper than {MAX_DEPTH} levels",
            dir.display()
        )));
    }
    let mut entries = read_local_dir(dir)?;
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    for e in entries {
        if e.name.ends_with(".ftpsh-part") {
            continue;
        }
        let path = dir.join(&e.name);
        let child_rel = if rel.is_empty() {
            e.name.clone()
        } else {
            format!("{rel}/{}", e.name)
        };
        let real_dir = e.kind == Kind::Dir && !path.is_symlink();
        into.push((child_rel.clone(), e.clone()));
        if real_dir {
            walk_local(&path, &child_rel, depth + 1, into)?;
        }
    }
    Ok(())
}

/// What to do with a file whose target exists: `Ok(true)` replace it,
/// `Err("")` skip it (up to date, or not newer with `--only-newer`),
/// `Err(reason)` refuse.
fn decide(source: &Entry, target: &Entry, force: bool, only_newer: bool) -> Result<bool, String> {
    // LIST gives times to the minute at best (MLSD to the second): a
    // source is newer only by more than that.
    let source_newer = match (source.modified, target.modified) {
        (Some(s), Some(t)) => s > t + TIME_SLACK,
        _ => false,
    };
    let same = source.size == target.size && !source_newer;
    if same || (only_newer && !source_newer) {
        return Err(String::new());
    }
    if force || only_newer {
        return Ok(true);
    }
    Err("exists and differs; use -f to replace or --only-newer".to_owned())
}

/// `mirror [-R] [-f] [--delete] [--only-newer] [-P N] [REMOTE [LOCAL]]`.
pub fn mirror(sh: &mut Shell, args: &Args, out: &mut dyn Write) -> Result<(), CmdError> {
    const V: &str = "mirror";
    let parallel = parallel_arg(V, args)?;
    let reverse = args.has("-R");
    let force = args.has("-f");
    let delete = args.has("--delete");
    let only_newer = args.has("--only-newer");
    let started = Instant::now();
    let mut report = Report::default();
    // With -R the arguments are LOCAL [REMOTE], as in lftp.
    let (first, second) = (args.get(0), args.get(1));
    let (remote_typed, local_typed) = if reverse {
        let local = first.unwrap_or(".");
        let remote = second.map(str::to_owned).unwrap_or_else(|| {
            let name = Path::new(&normalize_separators(local))
                .file_name()
                .map(|n| n.to_string_lossy().into_owned());
            name.unwrap_or_else(|| ".".to_owned())
        });
        (remote, local.to_owned())
    } else {
        let remote = first.unwrap_or(".").to_owned();
        let local = second.map(str::to_owned).unwrap_or_else(|| {
            let name = base_name(&normalize_separators(&remote)).to_owned();
            if name.is_empty() || name == "." || name == ".." {
                ".".to_owned()
            } else {
                name
            }
        });
        (remote, local)
    };
    let remote_dir = sh
        .remote_abs_path(&normalize_separators(&remote_typed))
        .ok_or_else(|| CmdError::usage(V, format!("{remote_typed}: not a remote path")))?;
    let local_dir = sh.local_path(&local_typed);

    let mut jobs = Vec::new();
    if reverse {
        if !local_dir.is_dir() {
            return Err(CmdError::local(V, &local_typed, "no such local directory"));
        }
        let mut local = Vec::new();
        walk_local(&local_dir, "", 0, &mut local)
            .map_err(|e| CmdError::local(V, &local_typed, e))?;
        let exists = sh.conn(V)?.kind_of(&remote_dir);
        let mut remote = Vec::new();
        match exists.map_err(|e| sh.remote_err(V, &remote_dir, e))? {
            Some(Kind::Dir) => {
                let walked = walk_remote(sh.conn(V)?, &remote_dir, "", 0, &mut remote);
                walked.map_err(|e| sh.remote_err(V, &remote_dir, e))?;
            }
            Some(_) => return Err(CmdError::local(V, &remote_dir, "is a file on the server")),
            None => make_remote_dir(sh, V, &remote_dir, out, &mut report)?,
        }
        for (rel, e) in &local {
            let target = remote.iter().find(|(r, _)| r == rel).map(|(_, t)| t);
            let remote_path = abs_remote(&remote_dir, rel);
            if e.kind == Kind::Dir {
                match target {
                    Some(t) if t.kind == Kind::Dir => {}
                    Some(_) => {
                        report.failures += 1;
                        say!(
                            out,
                            "{V}: {rel}: failed: a file on the server where a directory is"
                        );
                    }
                    None => make_remote_dir(sh, V, &remote_path, out, &mut report)?,
                }
                continue;
            }
            if e.kind != Kind::File {
                continue;
            }
            let replace = match target {
                None => false,
                Some(t) if t.kind == Kind::Dir => {
                    report.failures += 1;
                    say!(out, "{V}: {rel}: failed: a directory on the server");
                    continue;
                }
                Some(t) => match decide(e, t, force, only_newer) {
                    Ok(r) => r,
                    Err(why) if why.is_empty() => {
                        report.skipped += 1;
                        continue;
                    }
                    Err(why) => {
                        report.failures += 1;
                        say!(out, "{V}: {rel}: failed: {why}");
                        continue;
                    }
                },
            };
            jobs.push(Job::Put {
                local: local_dir.join(rel),
                remote: remote_path,
                replace,
            });
        }
        run_jobs(sh, V, jobs, parallel, out, &mut report)?;
        if delete {
            let stale: Vec<(String, Entry)> = remote
                .into_iter()
                .filter(|(r, _)| !local.iter().any(|(l, _)| l == r))
                .collect();
            delete_remote(sh, V, &remote_dir, stale, out, &mut report);
        }
    } else {
        let exists = sh.conn(V)?.kind_of(&remote_dir);
        match exists.map_err(|e| sh.remote_err(V, &remote_dir, e))? {
            Some(Kind::Dir) => {}
            Some(_) => return Err(CmdError::local(V, &remote_dir, "is a file; use download")),
            None => return Err(CmdError::local(V, &remote_dir, "no such remote directory")),
        }
        let mut remote = Vec::new();
        let walked = walk_remote(sh.conn(V)?, &remote_dir, "", 0, &mut remote);
        walked.map_err(|e| sh.remote_err(V, &remote_dir, e))?;
        if !local_dir.exists() {
            std::fs::create_dir_all(&local_dir).map_err(|e| CmdError::local(V, &local_typed, e))?;
        }
        let mut local = Vec::new();
        walk_local(&local_dir, "", 0, &mut local)
            .map_err(|e| CmdError::local(V, &local_typed, e))?;
        for (rel, e) in &remote {
            let target = local.iter().find(|(l, _)| l == rel).map(|(_, t)| t);
            let local_path = local_dir.join(rel);
            if e.kind == Kind::Dir {
                match target {
                    Some(t) if t.kind == Kind::Dir => {}
                    Some(_) => {
                        report.failures += 1;
                        say!(out, "{V}: {rel}: failed: a local file where a directory is");
                    }
                    None => {
                        if let Err(err) = std::fs::create_dir_all(&local_path) {
                            report.failures += 1;
                            say!(out, "{V}: {rel}: failed: {err}");
                        }
                    }
                }
                continue;
            }
            if e.kind != Kind::File {
                continue;
            }
            let replace = match target {
                None => false,
                Some(t) if t.kind == Kind::Dir => {
                    report.failures += 1;
                    say!(out, "{V}: {rel}: failed: a local directory");
                    continue;
                }
                Some(t) => match decide(e, t, force, only_newer) {
                    Ok(r) => r,
                    Err(why) if why.is_empty() => {
                        report.skipped += 1;
                        continue;
                    }
                    Err(why) => {
                        report.failures += 1;
                        say!(out, "{V}: {rel}: failed: {why}");
                        continue;
                    }
                },
            };
            jobs.push(Job::Get {
                remote: abs_remote(&remote_dir, rel),
                local: local_path,
                mtime: e.modified,
                replace,
            });
        }
        run_jobs(sh, V, jobs, parallel, out, &mut report)?;
        if delete {
            // Children before parents.
            for (rel, e) in local.iter().rev() {
                if remote.iter().any(|(r, _)| r == rel) {
                    continue;
                }
                let path = local_dir.join(rel);
                let r = if e.kind == Kind::Dir && !path.is_symlink() {
                    std::fs::remove_dir(&path)
                } else {
                    std::fs::remove_file(&path)
                };
                match r {
                    Ok(()) => say!(out, "removed {rel}"),
                    Err(err) => {
                        report.failures += 1;
                        say!(out, "{V}: {rel}: failed to remove: {err}");
                    }
                }
            }
        }
    }
    finish(sh, V, &report, started, out)
}

fn make_remote_dir(
    sh: &mut Shell,
    verb: &str,
    path: &str,
    out: &mut dyn Write,
    report: &mut Report,
) -> Result<(), CmdError> {
    let r = sh.conn(verb)?.command(&format!("MKD {path}"));
    match r {
        Ok(_) => say!(out, "created directory {path}"),
        Err(e) if e.is_connection_lost() => return Err(sh.remote_err(verb, path, e)),
        Err(e) => {
            report.failures += 1;
            say!(out, "{verb}: {path}: failed: {e}");
        }
    }
    Ok(())
}

/// Deletes remote entries (relative to `base`), children before parents.
fn delete_remote(
    sh: &mut Shell,
    verb: &str,
    base: &str,
    entries: Vec<(String, Entry)>,
    out: &mut dyn Write,
    report: &mut Report,
) {
    for (rel, e) in entries.into_iter().rev() {
        let path = abs_remote(base, &rel);
        let ftp = if e.kind == Kind::Dir { "RMD" } else { "DELE" };
        let Ok(conn) = sh.conn(verb) else {
            return;
        };
        match conn.command(&format!("{ftp} {path}")) {
            Ok(_) => say!(out, "removed {path}"),
            Err(err) => {
                report.failures += 1;
                say!(out, "{verb}: {path}: failed to remove: {err}");
                if err.is_connection_lost() {
                    let _ = sh.remote_err(verb, &path, err);
                    return;
                }
            }
        }
    }
    sh.invalidate_cache();
}

/// `rm -r DIR`: the tree's files and directories, children first, then
/// DIR itself.
pub fn rm_tree(sh: &mut Shell, dir: &str, out: &mut dyn Write) -> Result<(), CmdError> {
    const V: &str = "rm";
    let started = Instant::now();
    let abs = sh
        .remote_abs_path(dir)
        .ok_or_else(|| CmdError::usage(V, format!("{dir}: not a remote path")))?;
    let mut entries = Vec::new();
    let walked = walk_remote(sh.conn(V)?, &abs, "", 0, &mut entries);
    walked.map_err(|e| sh.remote_err(V, dir, e))?;
    let mut report = Report::default();
    let count = entries.len() as u64;
    delete_remote(sh, V, &abs, entries, out, &mut report);
    if report.failures == 0 {
        let r = sh.conn(V)?.command(&format!("RMD {abs}"));
        sh.invalidate_cache();
        match r {
            Ok(_) => say!(out, "removed {abs}"),
            Err(e) => return Err(sh.remote_err(V, dir, e)),
        }
    }
    report.files = count + 1 - report.failures.min(count + 1);
    let _ = started;
    if report.failures > 0 {
        return Err(CmdError {
            message: format!(
                "rm: {dir}: {} entries could not be removed",
                report.failures
            ),
            code: None,
            failure: Failure::Remote,
        });
    }
    Ok(())
}

/// `mkdir -p DIR`: each missing component in turn; existing directories
/// are fine.
pub fn mkdir_parents(sh: &mut Shell, dir: &str, out: &mut dyn Write) -> Result<(), CmdError> {
    const V: &str = "mkdir";
    let abs = sh
        .remote_abs_path(dir)
        .ok_or_else(|| CmdError::usage(V, format!("{dir}: not a remote path")))?;
    let mut path = String::new();
    for part in abs.split('/').filter(|p| !p.is_empty()) {
        path.push('/');
        path.push_str(part);
        let kind = sh.conn(V)?.kind_of(&path);
        match kind.map_err(|e| sh.remote_err(V, &path, e))? {
            Some(Kind::Dir) => continue,
            Some(_) => return Err(CmdError::local(V, &path, "exists and is not a directory")),
            None => {}
        }
        let r = sh.conn(V)?.command(&format!("MKD {path}"));
        sh.invalidate_cache();
        r.map_err(|e| sh.remote_err(V, &path, e))?;
        say!(out, "created directory {path}");
    }
    Ok(())
}

/// `chmod MODE FILE`: `SITE CHMOD MODE FILE`, where the server has it.
pub fn chmod(sh: &mut Shell, args: &Args, out: &mut dyn Write) -> Result<(), CmdError> {
    const V: &str = "chmod";
    let mode = args.get(0).unwrap_or_default();
    let file = normalize_separators(args.get(1).unwrap_or_default());
    if mode.is_empty() || mode.len() > 4 || !mode.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(CmdError::usage(
            V,
            format!("{mode:?}: MODE is octal, e.g. 644"),
        ));
    }
    let r = sh.conn(V)?.command(&format!("SITE CHMOD {mode} {file}"));
    sh.invalidate_cache();
    match r {
        Ok(_) => {
            say!(out, "mode of {file} set to {mode}");
            Ok(())
        }
        Err(RemoteError::Reply(reply)) if matches!(reply.code.0, 500 | 502 | 504) => {
            Err(CmdError::remote(
                V,
                &file,
                &RemoteError::Unsupported(format!(
                    "server has no SITE CHMOD ({})",
                    crate::client::reply_line(&reply)
                )),
            ))
        }
        Err(e) => Err(sh.remote_err(V, &file, e)),
    }
}

const P_FLAG: Flag = Flag {
    name: "-P",
    value: Some("N"),
    help: "transfer N files at a time, each on its own connection (1-16)",
};

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

/// `mirror`.
pub(super) const MIRROR: Verb = Verb {
    name: "mirror",
    aliases: &[],
    args: &[ArgKind::RemoteDir, ArgKind::LocalDir],
    required: 0,
    flags: &[
        Flag {
            name: "-R",
            value: None,
            help: "reverse: send a local tree to the server (args LOCAL [REMOTE])",
        },
        Flag {
            name: "-f",
            value: None,
            help: "replace target files that differ",
        },
        Flag {
            name: "--delete",
            value: None,
            help: "delete target files and directories the source does not have",
        },
        Flag {
            name: "--only-newer",
            value: None,
            help: "replace only targets older than their source",
        },
        P_FLAG,
    ],
    usage: "mirror [-R] [-f] [--delete] [--only-newer] [-P N] [REMOTE [LOCAL]]",
    summary: "copy a directory tree from the server (or to it with -R)",
    details: "Without -R: REMOTE (default: the remote directory) into LOCAL (default: a \
              local directory named like REMOTE). With -R: LOCAL into REMOTE. Directories \
              are created as needed. A file whose target has the same size and is not \
              older is skipped, so a second run moves nothing; a target that differs is \
              replaced only with -f, or with --only-newer when the source is newer. \
              Downloads keep the server's modification time. One line per file, one \
              summary line (files, bytes, time, failures); a failed file does not stop \
              the mirror, the command fails if any did.",
    extension: None,
    online: true,
    run: mirror,
};

/// `chmod`.
pub(super) const CHMOD: Verb = Verb {
    name: "chmod",
    aliases: &[],
    args: &[ArgKind::Word, ArgKind::Remote],
    required: 2,
    flags: &[],
    usage: "chmod MODE FILE",
    summary: "change a remote file's permissions (SITE CHMOD)",
    details: "MODE is octal (644, 0755). Sent as SITE CHMOD MODE FILE, the common \
              extension of vsftpd, proftpd, pure-ftpd and pyftpdlib; a server without it \
              answers 500/502, and chmod says the server has no SITE CHMOD.",
    extension: None,
    online: true,
    run: chmod,
};
