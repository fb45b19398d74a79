//! `mirror [-R]`, `rm -r` and `mkdir -p`: the tree verbs.
//!
//! `mirror` walks both sides (bounded depth, links to directories not
//! followed), plans a job per file ([`super::jobs`]) and creates
//! directories as it goes. The seed rule holds: an existing target is not
//! replaced without `-f`. A file whose target has the same size and is
//! not older than the source is skipped, so a second run transfers
//! nothing; a target that differs is replaced only with `-f`, or with
//! `--only-newer` when the source is newer (by more than a minute, the
//! precision of `LIST` times). `--delete` removes what the source lacks,
//! children first. Downloads keep the server's modification time, so
//! `--only-newer` compares like with like.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::Path;
use std::time::Instant;

use ftpsh_core::dest::normalize_separators;

use super::jobs::{Job, P_FLAG, Report, abs_remote, finish, parallel_arg, run_jobs};
use crate::client::{Connection, RemoteError};
use crate::format::{Entry, Kind};
use crate::say;
use crate::shell::{CmdError, Failure, Shell, read_local_dir};
use crate::verbs::{ArgKind, Args, Flag, Verb};

/// How deep a tree walk goes before it refuses (a bound, and a guard
/// against link loops).
const MAX_DEPTH: usize = 64;

/// How much newer a source must be to count as newer: `LIST` times have
/// minute precision.
const TIME_SLACK: std::time::Duration = std::time::Duration::from_secs(60);

/// The last component of a `/`-separated path.
fn base_name(path: &str) -> &str {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(path)
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

/// Whether file `source` is transferred onto `target` (the entry at the
/// same relative path on the other side, if any): `Some(replace)` to
/// transfer, `None` when it is skipped (counted in `report`) or refused
/// (counted, and said on `out`; `dir_there` names a directory in the way).
fn plan_file(
    rel: &str,
    source: &Entry,
    target: Option<&Entry>,
    dir_there: &str,
    (force, only_newer): (bool, bool),
    out: &mut dyn Write,
    report: &mut Report,
) -> Option<bool> {
    const V: &str = "mirror";
    let why = match target {
        None => return Some(false),
        Some(t) if t.kind == Kind::Dir => format!("a {dir_there}"),
        Some(t) => match decide(source, t, force, only_newer) {
            Ok(replace) => return Some(replace),
            Err(why) if why.is_empty() => {
                report.skipped += 1;
                return None;
            }
            Err(why) => why,
        },
    };
    report.failures += 1;
    say!(out, "{V}: {rel}: failed: {why}");
    None
}

/// The entries of a walk by relative path, for lookups from the other side.
fn by_path(entries: &[(String, Entry)]) -> HashMap<&str, &Entry> {
    entries.iter().map(|(rel, e)| (rel.as_str(), e)).collect()
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
        let remote_by_path = by_path(&remote);
        for (rel, e) in &local {
            let target = remote_by_path.get(rel.as_str()).copied();
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
            let Some(replace) = plan_file(
                rel,
                e,
                target,
                "directory on the server",
                (force, only_newer),
                out,
                &mut report,
            ) else {
                continue;
            };
            jobs.push(Job::Put {
                local: local_dir.join(rel),
                remote: remote_path,
                replace,
            });
        }
        run_jobs(sh, V, jobs, parallel, out, &mut report)?;
        if delete {
            let local_by_path = by_path(&local);
            let stale: Vec<(String, Entry)> = remote
                .iter()
                .filter(|(r, _)| !local_by_path.contains_key(r.as_str()))
                .cloned()
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
        let local_by_path = by_path(&local);
        for (rel, e) in &remote {
            let target = local_by_path.get(rel.as_str()).copied();
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
            let Some(replace) = plan_file(
                rel,
                e,
                target,
                "local directory",
                (force, only_newer),
                out,
                &mut report,
            ) else {
                continue;
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
            let remote_by_path = by_path(&remote);
            for (rel, e) in local.iter().rev() {
                if remote_by_path.contains_key(rel.as_str()) {
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
    let abs = sh
        .remote_abs_path(dir)
        .ok_or_else(|| CmdError::usage(V, format!("{dir}: not a remote path")))?;
    let kind = sh.conn(V)?.kind_of(&abs);
    match kind.map_err(|e| sh.remote_err(V, dir, e))? {
        Some(Kind::Dir) => {}
        // `rm -r FILE` removes the file, as rm -r does locally.
        Some(_) => {
            let r = sh.conn(V)?.command(&format!("DELE {abs}"));
            sh.invalidate_cache();
            r.map_err(|e| sh.remote_err(V, dir, e))?;
            say!(out, "removed {abs}");
            return Ok(());
        }
        None => return Err(CmdError::local(V, dir, "no such remote file or directory")),
    }
    let mut entries = Vec::new();
    let walked = walk_remote(sh.conn(V)?, &abs, "", 0, &mut entries);
    walked.map_err(|e| sh.remote_err(V, dir, e))?;
    let mut report = Report::default();
    delete_remote(sh, V, &abs, entries, out, &mut report);
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
    let r = sh.conn(V)?.command(&format!("RMD {abs}"));
    sh.invalidate_cache();
    r.map_err(|e| sh.remote_err(V, dir, e))?;
    say!(out, "removed {abs}");
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
