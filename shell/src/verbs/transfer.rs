//! Transfer verbs: `upload`, `download` (with `--verify` and `-c`
//! resume), `cat`.
//!
//! A download is never exposed half-done: it is written to a side file
//! beside the target, `.NAME.ftpsh-part`, renamed into place only when
//! complete (and verified, with `--verify`). When the transfer fails
//! after some bytes arrived (Ctrl-C, a lost connection, a stall) the side
//! file is kept, and `download -c` continues it with `REST` (RFC 3659 §5).
//! A target that is not a regular file (a FIFO, a character device such
//! as `/dev/stdout`) is written into directly and never replaced; `-` is
//! standard output. `upload -c` continues a partial remote file with
//! `REST`+`STOR`, or `APPE` where the server refuses `REST`.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use ftpsh_core::dest::{self, extension_change, file_name, normalize_separators};
use sha2::{Digest, Sha256};

use crate::client::{HASH_ALGORITHM, RemoteError, Upload};
use crate::format::{self, Kind};
use crate::progress::Progress;
use crate::say;
use crate::shell::{CmdError, Shell};
use crate::signals;
use crate::verbs::Args;
use crate::verify::{HashingReader, HashingWriter, to_hex};

/// Writes `transferred SRC -> DST (SIZE)` with a rate when not
/// deterministic.
fn transfer_summary(
    sh: &Shell,
    out: &mut dyn Write,
    what: &str,
    from: &str,
    to: &str,
    bytes: u64,
    started: Instant,
) {
    if sh.options().deterministic {
        say!(out, "{what} {from} -> {to} ({})", format::human(bytes));
    } else {
        let secs = started.elapsed().as_secs_f64().max(1e-6);
        say!(
            out,
            "{what} {from} -> {to} ({} in {secs:.2} s, {}/s)",
            format::human(bytes),
            format::human((bytes as f64 / secs) as u64)
        );
    }
}

fn ext_label(ext: &str) -> String {
    if ext.is_empty() {
        "no extension".to_owned()
    } else {
        format!(".{ext}")
    }
}

/// For `--verify`: makes sure the server can answer `HASH` with SHA-256
/// before anything is transferred, so a server without it fails the
/// command up front instead of after the transfer (or, worse, silently).
fn verify_ready(sh: &mut Shell, verb: &str) -> Result<(), CmdError> {
    let result = sh.conn(verb)?.select_sha256();
    result.map_err(|e| match e {
        RemoteError::Unsupported(why) => CmdError::remote(
            verb,
            "--verify",
            &RemoteError::Unsupported(format!(
                "--verify: {why}; run without --verify to transfer unchecked"
            )),
        ),
        e => sh.remote_err(verb, "--verify", e),
    })
}

/// The server's SHA-256 of `remote` after a transfer, checked against
/// `local_hex`, the digest of the bytes that went over the data
/// connection. `consequence` finishes the error message (what became of
/// the file).
fn verify_remote(
    sh: &mut Shell,
    verb: &str,
    remote: &str,
    local_hex: &str,
    direction: &str,
    consequence: &str,
) -> Result<(), CmdError> {
    let result = sh.conn(verb)?.hash(remote);
    let server = result.map_err(|e| {
        let mut e = sh.remote_err(verb, remote, e);
        e.message
            .push_str(&format!(" (cannot verify; {consequence})"));
        e
    })?;
    if server.hex != local_hex {
        return Err(CmdError::local(
            verb,
            remote,
            format!(
                "{HASH_ALGORITHM} mismatch: {direction} {local_hex}, server has {}; {consequence}",
                server.hex
            ),
        ));
    }
    Ok(())
}

/// Refuses a rename that changes the extension, unless forced.
fn check_extension(
    verb: &str,
    source: &str,
    target: &dest::Target,
    force: bool,
) -> Result<(), CmdError> {
    let source_name = file_name(source).unwrap_or(source);
    if !force && let Some((from, to)) = extension_change(source_name, &target.name) {
        return Err(CmdError::local(
            verb,
            &target.path(),
            format!(
                "refusing to change the extension ({} -> {}); use -f to force",
                ext_label(&from),
                ext_label(&to)
            ),
        ));
    }
    Ok(())
}

/// Refuses a DEST that starts with a backslash. A backslash separates
/// names (`dir\new.txt`); at the start it would make the path absolute,
/// so `download a.txt \` (a bash line continuation typed out of habit)
/// would write to the filesystem root. `/` says root unambiguously.
fn check_dest(verb: &str, dest: Option<&str>) -> Result<(), CmdError> {
    match dest {
        Some(d) if d.starts_with('\\') => Err(CmdError::usage(
            verb,
            format!(
                "DEST {d:?} starts with a backslash, which separates names and cannot start a \
                 path; write / for the root, ./ for here"
            ),
        )),
        _ => Ok(()),
    }
}

/// `upload [-f] [-c] [--verify] FILE [DEST]`; FILE `-` reads standard
/// input (DEST is then required).
pub fn upload(sh: &mut Shell, args: &Args, out: &mut dyn Write) -> Result<(), CmdError> {
    const V: &str = "upload";
    let force = args.has("-f");
    let resume = args.has("-c");
    let verify = args.has("--verify");
    let typed = args.get(0).unwrap_or_default();
    check_dest(V, args.get(1))?;
    let from_stdin = typed == "-";
    if from_stdin && args.get(1).is_none() {
        return Err(CmdError::usage(
            V,
            "upload - NAME: standard input needs a remote NAME",
        ));
    }
    if from_stdin && resume {
        return Err(CmdError::usage(V, "-c cannot resume from standard input"));
    }
    let source = normalize_separators(typed);
    let local = sh.local_path(&source);
    let length = if from_stdin {
        None
    } else {
        let meta = std::fs::metadata(&local).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => CmdError::local(V, &source, "no such local file"),
            _ => CmdError::local(V, &source, e),
        })?;
        if meta.is_dir() {
            return Err(CmdError::local(
                V,
                &source,
                "is a directory; upload sends one file (mput or mirror -R send trees)",
            ));
        }
        Some(meta.len())
    };
    let conn = sh.conn(V)?;
    let target = dest::resolve(&source, args.get(1), |p| {
        matches!(conn.kind_of(p), Ok(Some(Kind::Dir)))
    })
    .map_err(|e| CmdError::usage(V, e))?;
    let target_path = target.path();
    if !from_stdin {
        check_extension(V, &source, &target, force)?;
    }
    let existing = sh.conn(V)?.kind_of(&target_path);
    match existing {
        Ok(Some(Kind::Dir)) => {
            return Err(CmdError::local(
                V,
                &target_path,
                "is a directory on the server",
            ));
        }
        Ok(Some(_)) if !force && !resume => {
            return Err(CmdError::local(
                V,
                &target_path,
                "already exists on the server; use -f to overwrite",
            ));
        }
        Ok(_) => {}
        Err(e) => return Err(sh.remote_err(V, &target_path, e)),
    }
    let mut how = Upload::Store;
    let mut offset = 0;
    if resume && matches!(existing, Ok(Some(_))) {
        let result = sh.conn(V)?.size(&target_path);
        offset = result.map_err(|e| sh.remote_err(V, &target_path, e))?;
        let length = length.unwrap_or(0);
        if offset > length {
            return Err(CmdError::local(
                V,
                &target_path,
                format!(
                    "the server's file ({offset} bytes) is longer than {source} ({length} bytes); nothing to continue"
                ),
            ));
        }
        if offset == length {
            say!(
                out,
                "{target_path}: already complete ({})",
                format::human(length)
            );
            return Ok(());
        }
        how = if sh.conn(V)?.has_feature("REST") {
            Upload::Restart(offset)
        } else {
            Upload::Append
        };
    }
    if verify {
        verify_ready(sh, V)?;
    }
    let mut reader: Box<dyn Read> = if from_stdin {
        Box::new(io::stdin().lock())
    } else {
        let mut file = File::open(&local).map_err(|e| CmdError::local(V, &source, e))?;
        if offset > 0 {
            file.seek(SeekFrom::Start(offset))
                .map_err(|e| CmdError::local(V, &source, e))?;
        }
        Box::new(BufReader::with_capacity(crate::client::CHUNK, file))
    };
    let mut reader = HashingReader::new(&mut reader);
    let progress = Progress::start(
        sh.options().progress,
        length.map(|l| l - offset),
        &target_path,
    );
    let interrupt = sh.interrupt_flag();
    let started = Instant::now();
    let mut result = sh.conn(V)?.upload(
        &target_path,
        how,
        &mut reader,
        &mut |n| progress.set(n),
        &interrupt,
    );
    // A server that refuses REST before STOR (RFC 3659 leaves it to the
    // server) may still append; the refusal comes before any byte is read.
    if let (Upload::Restart(_), Err(RemoteError::Reply(r))) = (how, &result)
        && matches!(r.code.0, 500 | 501 | 502 | 504 | 554)
        && reader.count() == 0
    {
        result = sh.conn(V)?.upload(
            &target_path,
            Upload::Append,
            &mut reader,
            &mut |n| progress.set(n),
            &interrupt,
        );
    }
    progress.finish();
    sh.invalidate_cache();
    let bytes = result.map_err(|e| sh.remote_err(V, &target_path, e))?;
    let shown = if from_stdin {
        "(stdin)"
    } else {
        source.as_str()
    };
    let what = if offset > 0 { "continued" } else { "uploaded" };
    transfer_summary(sh, out, what, shown, &target_path, bytes, started);
    if verify {
        let sent = if offset > 0 {
            file_sha256(&local).map_err(|e| CmdError::local(V, &source, e))?
        } else {
            reader.hex()
        };
        verify_remote(
            sh,
            V,
            &target_path,
            &sent,
            "sent",
            "the remote file is left in place",
        )?;
        say!(out, "verified {target_path}: {HASH_ALGORITHM} {sent}");
    }
    Ok(())
}

/// The SHA-256 of a whole local file, lowercase hex.
fn file_sha256(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    io::copy(&mut file, &mut hasher)?;
    Ok(to_hex(&hasher.finalize()))
}

/// Where a download writes.
enum Sink {
    /// Standard output (`-`, `cat`).
    Stdout,
    /// An existing FIFO or device: written into, never replaced.
    Special(PathBuf),
    /// A regular file, through its side file.
    Regular { target: PathBuf, side: PathBuf },
}

/// `.NAME.ftpsh-part` beside `target`.
pub(crate) fn side_file(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.ftpsh-part"))
}

/// True when `path` exists and (after symlinks) is neither a regular file
/// nor a directory: a FIFO, a character or block device, a socket.
fn is_special(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// `cat FILE`: the remote file's bytes on standard output.
pub fn cat(sh: &mut Shell, args: &Args, out: &mut dyn Write) -> Result<(), CmdError> {
    let source = normalize_separators(args.get(0).unwrap_or_default());
    fetch(sh, "cat", &source, Sink::Stdout, 0, false, false, out).map(|_| ())
}

/// `download [-f] [-c] [--verify] FILE [DEST]`: see the module docs.
pub fn download(sh: &mut Shell, args: &Args, out: &mut dyn Write) -> Result<(), CmdError> {
    const V: &str = "download";
    let force = args.has("-f");
    let resume = args.has("-c");
    let verify = args.has("--verify");
    check_dest(V, args.get(1))?;
    let source = normalize_separators(args.get(0).unwrap_or_default());
    if args.get(1) == Some("-") {
        return fetch(sh, V, &source, Sink::Stdout, 0, verify, false, out).map(|_| ());
    }
    let target = dest::resolve(&source, args.get(1), |p| sh.local_path(p).is_dir())
        .map_err(|e| CmdError::usage(V, e))?;
    let target_path = target.path();
    let local = sh.local_path(&target_path);
    if is_special(&local) {
        let started = Instant::now();
        let bytes = fetch(sh, V, &source, Sink::Special(local), 0, verify, false, out)?;
        // The target may be this very standard output (`/dev/stdout`):
        // the summary must not land in the data.
        transfer_summary(
            sh,
            &mut io::stderr(),
            "downloaded",
            &source,
            &target_path,
            bytes,
            started,
        );
        return Ok(());
    }
    check_extension(V, &source, &target, force)?;
    let parent = local
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| sh.local_cwd().to_path_buf());
    if !parent.is_dir() {
        let dir = target.dir.clone().unwrap_or_else(|| ".".to_owned());
        return Err(CmdError::local(
            V,
            &target_path,
            format!("no such local directory {dir}"),
        ));
    }
    if local.is_dir() {
        return Err(CmdError::local(V, &target_path, "is a local directory"));
    }
    if !force && local.symlink_metadata().is_ok() {
        return Err(CmdError::local(
            V,
            &target_path,
            "already exists locally; use -f to overwrite",
        ));
    }
    let side = side_file(&local);
    let offset = if resume {
        std::fs::metadata(&side).map(|m| m.len()).unwrap_or(0)
    } else {
        0
    };
    let started = Instant::now();
    let bytes = fetch(
        sh,
        V,
        &source,
        Sink::Regular {
            target: local.clone(),
            side: side.clone(),
        },
        offset,
        verify,
        force,
        out,
    )
    .map_err(|mut e| {
        if std::fs::metadata(&side).is_ok_and(|m| m.len() > 0) {
            e.message.push_str(&format!(
                "; partial file kept as {}, download -c continues it",
                sh.display_local(&side)
            ));
        }
        e
    })?;
    let what = if offset > 0 {
        "continued"
    } else {
        "downloaded"
    };
    transfer_summary(sh, out, what, &source, &target_path, bytes, started);
    if verify {
        let hex = file_sha256(&local).map_err(|e| CmdError::local(V, &target_path, e))?;
        say!(out, "verified {target_path}: {HASH_ALGORITHM} {hex}");
    }
    Ok(())
}

/// Moves a complete side file to its target: a plain rename with `-f`,
/// else a hard link that fails on an existing target (so a file that
/// appeared meanwhile is never replaced).
fn commit(side: &Path, target: &Path, force: bool) -> io::Result<()> {
    if force {
        return std::fs::rename(side, target);
    }
    std::fs::hard_link(side, target)?;
    std::fs::remove_file(side)
}

/// Downloads `source` into `sink` from `offset`; returns the bytes
/// received. For a regular target the side file is renamed into place
/// when complete (and verified); kept when some bytes arrived and the
/// transfer failed; removed when nothing arrived.
#[allow(clippy::too_many_arguments)]
fn fetch(
    sh: &mut Shell,
    verb: &str,
    source: &str,
    sink: Sink,
    offset: u64,
    verify: bool,
    force: bool,
    out: &mut dyn Write,
) -> Result<u64, CmdError> {
    if verify {
        verify_ready(sh, verb)?;
    }
    // SIZE first: it gives the progress bar its length, and a missing
    // file fails here, before any data connection or side file exists.
    let size = match sh.conn(verb)?.size(source) {
        Ok(n) => Some(n),
        Err(RemoteError::Reply(r)) if matches!(r.code.0, 500 | 502 | 504) => None,
        Err(e) => return Err(sh.remote_err(verb, source, e)),
    };
    if let (Some(size), Sink::Regular { .. }) = (size, &sink)
        && offset > size
    {
        return Err(CmdError::local(
            verb,
            source,
            format!(
                "the partial file ({offset} bytes) is longer than the server's ({size} bytes); download without -c"
            ),
        ));
    }
    let mut file = match &sink {
        Sink::Stdout => None,
        Sink::Special(path) => Some(
            OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| CmdError::local(verb, &path.display().to_string(), e))?,
        ),
        Sink::Regular { side, .. } => {
            signals::remove_on_exit(side);
            let f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(offset == 0)
                .open(side)
                .and_then(|mut f| f.seek(SeekFrom::Start(offset)).map(|_| f));
            Some(f.map_err(|e| {
                signals::forget(side);
                CmdError::local(verb, &side.display().to_string(), e)
            })?)
        }
    };
    let progress = Progress::start(
        sh.options().progress && !matches!(sink, Sink::Stdout),
        size.map(|s| s.saturating_sub(offset)),
        source,
    );
    let interrupt = sh.interrupt_flag();
    let result = {
        let writer: &mut dyn Write = match file.as_mut() {
            Some(f) => f,
            None => out,
        };
        let mut hashing = HashingWriter::new(writer);
        let r = sh.conn(verb)?.download(
            source,
            offset,
            &mut hashing,
            &mut |n| progress.set(n),
            &interrupt,
        );
        r.map(|n| (n, hashing.hex()))
    };
    progress.finish();
    if let Sink::Regular { side, .. } = &sink {
        signals::forget(side);
    }
    let outcome = (|| {
        let (bytes, received) = result.map_err(|e| sh.remote_err(verb, source, e))?;
        if let Some(expected) = size
            && bytes + offset != expected
        {
            return Err(CmdError::local(
                verb,
                source,
                format!(
                    "short transfer: received {} of {expected} bytes; nothing saved",
                    bytes + offset
                ),
            ));
        }
        match &sink {
            Sink::Regular { target, side } => {
                drop(file.take());
                if verify {
                    let hex = file_sha256(side).map_err(|e| CmdError::local(verb, source, e))?;
                    verify_remote(sh, verb, source, &hex, "received", "nothing saved")?;
                }
                commit(side, target, force).map_err(|e| match e.kind() {
                    io::ErrorKind::AlreadyExists => CmdError::local(
                        verb,
                        &target.display().to_string(),
                        "already exists locally; use -f to overwrite",
                    ),
                    _ => CmdError::local(verb, &target.display().to_string(), e),
                })?;
            }
            _ if verify => {
                verify_remote(
                    sh,
                    verb,
                    source,
                    &received,
                    "received",
                    "the bytes were written",
                )?;
            }
            _ => {}
        }
        Ok(bytes)
    })();
    if let (Err(_), Sink::Regular { side, .. }) = (&outcome, &sink) {
        // A mismatch or short transfer is not worth continuing; a side
        // file with nothing in it neither.
        let keep = matches!(&outcome, Err(e) if !e.message.contains("mismatch") && !e.message.contains("short transfer"));
        if !keep || std::fs::metadata(side).is_ok_and(|m| m.len() == 0) {
            let _ = std::fs::remove_file(side);
        }
    }
    outcome
}
