//! Transfer verbs: `upload`, `download` (with `--verify`).

use std::fs::File;
use std::io::{self, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::time::Instant;

use ftpsh_core::dest::{self, extension_change, file_name, normalize_separators};

use crate::client::{HASH_ALGORITHM, RemoteError};
use crate::format::{self, Kind};
use crate::progress::Progress;
use crate::say;
use crate::shell::{CmdError, Shell};
use crate::verbs::Args;
use crate::verify::{HashingReader, HashingWriter};


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

/// `upload [-f] FILE [DEST]`.
pub fn upload(sh: &mut Shell, args: &Args, out: &mut dyn Write) -> Result<(), CmdError> {
    const V: &str = "upload";
    let force = args.has("-f");
    let verify = args.has("--verify");
    let typed = args.get(0).unwrap_or_default();
    let source = normalize_separators(typed);
    let local = sh.local_path(&source);
    let meta = std::fs::metadata(&local).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => CmdError::local(V, &source, "no such local file"),
        _ => CmdError::local(V, &source, e),
    })?;
    if meta.is_dir() {
        return Err(CmdError::local(
            V,
            &source,
            "is a directory; upload sends one file",
        ));
    }
    let conn = sh.conn(V)?;
    let target = dest::resolve(&source, args.get(1), |p| {
        matches!(conn.kind_of(p), Ok(Some(Kind::Dir)))
    })
    .map_err(|e| CmdError::usage(V, e))?;
    let target_path = target.path();
    let source_name = file_name(&source).unwrap_or(&source);
    if !force && let Some((from, to)) = extension_change(source_name, &target.name) {
        return Err(CmdError::local(
            V,
            &target_path,
            format!(
                "refusing to change the extension ({} -> {}); use -f to force",
                ext_label(&from),
                ext_label(&to)
            ),
        ));
    }
    let existing = conn.kind_of(&target_path);
    match existing {
        Ok(Some(Kind::Dir)) => {
            return Err(CmdError::local(
                V,
                &target_path,
                "is a directory on the server",
            ));
        }
        Ok(Some(_)) if !force => {
            return Err(CmdError::local(
                V,
                &target_path,
                "already exists on the server; use -f to overwrite",
            ));
        }
        Ok(_) => {}
        Err(e) => return Err(sh.remote_err(V, &target_path, e)),
    }
    if verify {
        verify_ready(sh, V)?;
    }
    let file = File::open(&local).map_err(|e| CmdError::local(V, &source, e))?;
    let mut reader = HashingReader::new(BufReader::with_capacity(crate::client::CHUNK, file));
    let progress = Progress::start(sh.options().progress, Some(meta.len()), &target_path);
    let interrupt = sh.interrupt_flag();
    let started = Instant::now();
    let result = sh.conn(V)?.upload(
        &target_path,
        &mut reader,
        &mut |n| progress.set(n),
        &interrupt,
    );
    progress.finish();
    sh.invalidate_cache();
    let bytes = result.map_err(|e| sh.remote_err(V, &target_path, e))?;
    transfer_summary(sh, out, "uploaded", &source, &target_path, bytes, started);
    if verify {
        let sent = reader.hex();
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

/// `download [-f] FILE [DEST]`: into a temporary file beside the target,
/// renamed into place only when complete.
pub fn download(sh: &mut Shell, args: &Args, out: &mut dyn Write) -> Result<(), CmdError> {
    const V: &str = "download";
    let force = args.has("-f");
    let verify = args.has("--verify");
    let source = normalize_separators(args.get(0).unwrap_or_default());
    let target = dest::resolve(&source, args.get(1), |p| sh.local_path(p).is_dir())
        .map_err(|e| CmdError::usage(V, e))?;
    let target_path = target.path();
    let source_name = file_name(&source).unwrap_or(&source);
    if !force && let Some((from, to)) = extension_change(source_name, &target.name) {
        return Err(CmdError::local(
            V,
            &target_path,
            format!(
                "refusing to change the extension ({} -> {}); use -f to force",
                ext_label(&from),
                ext_label(&to)
            ),
        ));
    }
    let local = sh.local_path(&target_path);
    let parent = local
        .parent()
        .map(std::path::Path::to_path_buf)
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
    if verify {
        verify_ready(sh, V)?;
    }
    // SIZE first: it gives the progress bar its length, and a missing
    // file fails here, before any data connection or temp file exists.
    let size = match sh.conn(V)?.size(&source) {
        Ok(n) => Some(n),
        Err(RemoteError::Reply(r)) if matches!(r.code.0, 500 | 502 | 504) => None,
        Err(e) => return Err(sh.remote_err(V, &source, e)),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".ftpsh-")
        .suffix(".part")
        .tempfile_in(&parent)
        .map_err(|e| CmdError::local(V, &target_path, e))?;
    let progress = Progress::start(sh.options().progress, size, &source);
    let interrupt = sh.interrupt_flag();
    let started = Instant::now();
    let mut sink = HashingWriter::new(temp.as_file_mut());
    let result = sh
        .conn(V)?
        .download(&source, &mut sink, &mut |n| progress.set(n), &interrupt);
    let received = sink.hex();
    progress.finish();
    let bytes = result.map_err(|e| sh.remote_err(V, &source, e))?;
    if let Some(expected) = size
        && bytes != expected
    {
        return Err(CmdError::local(
            V,
            &source,
            format!("short transfer: received {bytes} of {expected} bytes; nothing saved"),
        ));
    }
    // Compared before the rename: on a mismatch `temp` is dropped, which
    // removes it, and nothing appears under the target name.
    if verify {
        verify_remote(sh, V, &source, &received, "received", "nothing saved")?;
    }
    temp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(|e| CmdError::local(V, &target_path, e))?;
    let persisted = if force {
        temp.persist(&local).map(|_| ())
    } else {
        temp.persist_noclobber(&local).map(|_| ())
    };
    persisted.map_err(|e| match e.error.kind() {
        io::ErrorKind::AlreadyExists => CmdError::local(
            V,
            &target_path,
            "already exists locally; use -f to overwrite",
        ),
        _ => CmdError::local(V, &target_path, e.error),
    })?;
    transfer_summary(sh, out, "downloaded", &source, &target_path, bytes, started);
    if verify {
        say!(out, "verified {target_path}: {HASH_ALGORITHM} {received}");
    }
    Ok(())
}

