//! The job runner behind `mget`, `mput` and `mirror`: a plan is a list
//! of jobs (one file each), run on the shell's connection or, with `-P N`,
//! on N connections of their own (threads). Every job reports one line;
//! one failed job does not stop the others; [`finish`] prints the summary
//! line (files, bytes, time, failures) and fails the command when any job
//! failed. Downloads go through the side file (`.NAME.ftpsh-part`) and are
//! renamed into place when complete, with the server's modification time.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime};

use crate::client::{Connection, Upload};
use crate::format;
use crate::say;
use crate::shell::{CmdError, Failure, Shell};
use crate::signals;
use crate::verbs::transfer::side_file;
use crate::verbs::{Args, Flag};

/// At most this many parallel connections for `-P`.
const MAX_PARALLEL: usize = 16;

/// One file to move.
#[derive(Debug, Clone)]
pub(super) enum Job {
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
pub(super) struct Report {
    pub(super) files: u64,
    pub(super) bytes: u64,
    pub(super) skipped: u64,
    pub(super) failures: u64,
}

pub(super) fn abs_remote(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
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
pub(super) fn run_jobs(
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
pub(super) fn finish(
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

pub(super) fn parallel_arg(verb: &str, args: &Args) -> Result<usize, CmdError> {
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

pub(super) const P_FLAG: Flag = Flag {
    name: "-P",
    value: Some("N"),
    help: "transfer N files at a time, each on its own connection (1-16)",
};
