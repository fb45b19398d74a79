//! The verbs' implementations, referenced from the table in
//! [`crate::verbs`]. Each writes its output to `out` and returns a one-line
//! [`CmdError`] on failure.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::time::Instant;

use ftpsh_core::dest::{self, extension_change, file_name, normalize_separators};
use sha2::{Digest, Sha256};

use crate::client::{DATA_VERBS, HASH_ALGORITHM, RemoteError, reply_line};
use crate::format::{self, Kind};
use crate::progress::Progress;
use crate::say;
use crate::shell::{CmdError, Shell, print_reply, read_local_dir};
use crate::verbs::{self, Args, VERBS};
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

/// `connme [-u USER[:PASSWORD]] [URL]`.
pub fn connme(sh: &mut Shell, args: &Args, out: &mut dyn Write) -> Result<(), CmdError> {
    if sh.is_connected() {
        let conn = sh.conn("connme")?;
        let (user, host) = (conn.user().to_owned(), conn.host_port().to_owned());
        if sh.options().deterministic {
            say!(out, "already connected as {user}; run byebye first");
        } else {
            say!(
                out,
                "already connected to {host} as {user}; run byebye first"
            );
        }
        return Ok(());
    }
    sh.connect(args.get(0), args.value("-u"), out)
}

/// `byebye`: QUIT, stay in the shell.
pub fn byebye(sh: &mut Shell, _args: &Args, out: &mut dyn Write) -> Result<(), CmdError> {
    if let Some(conn) = sh.take_conn()
        && let Ok(reply) = conn.quit()
    {
        say!(out, "{}", reply_line(&reply));
    }
    say!(out, "disconnected");
    Ok(())
}

/// `ls [DIR]`.
pub fn ls(sh: &mut Shell, args: &Args, out: &mut dyn Write) -> Result<(), CmdError> {
    let dir = args.get(0).map(normalize_separators);
    let result = sh.conn("ls")?.list(dir.as_deref());
    let entries = result.map_err(|e| sh.remote_err("ls", dir.as_deref().unwrap_or("."), e))?;
    sh.cache_listing(dir.as_deref(), &entries);
    for line in format::listing(&entries, !sh.options().deterministic) {
        say!(out, "{line}");
    }
    Ok(())
}

/// `rm FILE`.
pub fn rm(sh: &mut Shell, args: &Args, out: &mut dyn Write) -> Result<(), CmdError> {
    let file = normalize_separators(args.get(0).unwrap_or_default());
    let result = sh.conn("rm")?.command(&format!("DELE {file}"));
    sh.invalidate_cache();
    result.map_err(|e| sh.remote_err("rm", &file, e))?;
    say!(out, "removed {file}");
    Ok(())
}

/// `size FILE`.
pub fn size(sh: &mut Shell, args: &Args, out: &mut dyn Write) -> Result<(), CmdError> {
    let file = normalize_separators(args.get(0).unwrap_or_default());
    let result = sh.conn("size")?.size(&file);
    let bytes = result.map_err(|e| sh.remote_err("size", &file, e))?;
    say!(out, "{file}: {}", format::mib_and_bytes(bytes));
    Ok(())
}

/// `hash FILE`: `FILE: SHA-256 DIGEST` from the server's `HASH`.
pub fn hash(sh: &mut Shell, args: &Args, out: &mut dyn Write) -> Result<(), CmdError> {
    let file = normalize_separators(args.get(0).unwrap_or_default());
    let result = sh.conn("hash")?.hash(&file);
    let remote = result.map_err(|e| sh.remote_err("hash", &file, e))?;
    say!(out, "{file}: {HASH_ALGORITHM} {}", remote.hex);
    Ok(())
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

/// `pwd`.
pub fn pwd(sh: &mut Shell, _args: &Args, out: &mut dyn Write) -> Result<(), CmdError> {
    let result = sh.conn("pwd")?.refresh_cwd().map(str::to_owned);
    let cwd = result.map_err(|e| sh.remote_err("pwd", ".", e))?;
    say!(out, "{cwd}");
    Ok(())
}

/// `cd [DIR]`.
pub fn cd(sh: &mut Shell, args: &Args, out: &mut dyn Write) -> Result<(), CmdError> {
    let dir = normalize_separators(args.get(0).unwrap_or("/"));
    let result = sh.conn("cd")?.cd(&dir).map(str::to_owned);
    let cwd = result.map_err(|e| sh.remote_err("cd", &dir, e))?;
    say!(out, "cd ok, cwd={cwd}");
    Ok(())
}

fn simple_remote(
    sh: &mut Shell,
    verb: &str,
    ftp: &str,
    arg: &str,
    done: &str,
    out: &mut dyn Write,
) -> Result<(), CmdError> {
    let arg = normalize_separators(arg);
    let result = sh.conn(verb)?.command(&format!("{ftp} {arg}"));
    sh.invalidate_cache();
    result.map_err(|e| sh.remote_err(verb, &arg, e))?;
    say!(out, "{done} {arg}");
    Ok(())
}

/// `mkdir DIR`.
pub fn mkdir(sh: &mut Shell, args: &Args, out: &mut dyn Write) -> Result<(), CmdError> {
    simple_remote(
        sh,
        "mkdir",
        "MKD",
        args.get(0).unwrap_or_default(),
        "created directory",
        out,
    )
}

/// `rmdir DIR`.
pub fn rmdir(sh: &mut Shell, args: &Args, out: &mut dyn Write) -> Result<(), CmdError> {
    simple_remote(
        sh,
        "rmdir",
        "RMD",
        args.get(0).unwrap_or_default(),
        "removed directory",
        out,
    )
}

/// `mv FROM TO`.
pub fn mv(sh: &mut Shell, args: &Args, out: &mut dyn Write) -> Result<(), CmdError> {
    let from = normalize_separators(args.get(0).unwrap_or_default());
    let to = normalize_separators(args.get(1).unwrap_or_default());
    let first = sh.conn("mv")?.command(&format!("RNFR {from}"));
    sh.invalidate_cache();
    first.map_err(|e| sh.remote_err("mv", &from, e))?;
    let second = sh.conn("mv")?.command(&format!("RNTO {to}"));
    second.map_err(|e| sh.remote_err("mv", &to, e))?;
    say!(out, "renamed {from} -> {to}");
    Ok(())
}

/// `lcd [DIR]`.
pub fn lcd(sh: &mut Shell, args: &Args, out: &mut dyn Write) -> Result<(), CmdError> {
    let target = match args.get(0) {
        Some(d) => sh.local_path(d),
        None => sh.start_dir().to_path_buf(),
    };
    let typed = args.get(0).unwrap_or(".");
    let canonical = target
        .canonicalize()
        .map_err(|e| CmdError::local("lcd", typed, e))?;
    if !canonical.is_dir() {
        return Err(CmdError::local("lcd", typed, "not a directory"));
    }
    let shown = sh.display_local(&canonical);
    sh.set_local_cwd(canonical);
    say!(out, "lcd ok, local cwd={shown}");
    Ok(())
}

/// `lpwd`.
pub fn lpwd(sh: &mut Shell, _args: &Args, out: &mut dyn Write) -> Result<(), CmdError> {
    let cwd = sh.local_cwd().to_path_buf();
    let canonical = cwd.canonicalize().unwrap_or(cwd);
    say!(out, "{}", sh.display_local(&canonical));
    Ok(())
}

/// `lls [DIR]`.
pub fn lls(sh: &mut Shell, args: &Args, out: &mut dyn Write) -> Result<(), CmdError> {
    let typed = args.get(0).unwrap_or(".");
    let path = sh.local_path(typed);
    let entries = read_local_dir(&path).map_err(|e| CmdError::local("lls", typed, e))?;
    for line in format::listing(&entries, !sh.options().deterministic) {
        say!(out, "{line}");
    }
    Ok(())
}

fn open_local(sh: &Shell, verb: &str, typed: &str) -> Result<File, CmdError> {
    let path = sh.local_path(typed);
    if path.is_dir() {
        return Err(CmdError::local(verb, typed, "is a directory"));
    }
    File::open(&path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => CmdError::local(verb, typed, "no such local file"),
        _ => CmdError::local(verb, typed, e),
    })
}

/// Reads as much as possible into `buf` (fewer bytes only at the end).
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// `lcmp FILE1 FILE2`: streams both files in chunks.
pub fn lcmp(sh: &mut Shell, args: &Args, out: &mut dyn Write) -> Result<(), CmdError> {
    let (a_name, b_name) = (
        args.get(0).unwrap_or_default(),
        args.get(1).unwrap_or_default(),
    );
    let mut a = open_local(sh, "lcmp", a_name)?;
    let mut b = open_local(sh, "lcmp", b_name)?;
    let mut buf_a = vec![0u8; crate::client::CHUNK];
    let mut buf_b = vec![0u8; crate::client::CHUNK];
    let mut offset = 0u64;
    loop {
        let na = read_full(&mut a, &mut buf_a).map_err(|e| CmdError::local("lcmp", a_name, e))?;
        let nb = read_full(&mut b, &mut buf_b).map_err(|e| CmdError::local("lcmp", b_name, e))?;
        if let Some(i) = buf_a[..na.min(nb)]
            .iter()
            .zip(&buf_b[..na.min(nb)])
            .position(|(x, y)| x != y)
        {
            return Err(CmdError::local(
                "lcmp",
                &format!("{a_name}, {b_name}"),
                format!("differ at byte {}", offset + i as u64),
            ));
        }
        if na != nb {
            let (short, at) = if na < nb { (a_name, na) } else { (b_name, nb) };
            return Err(CmdError::local(
                "lcmp",
                &format!("{a_name}, {b_name}"),
                format!("{short} ends at byte {}", offset + at as u64),
            ));
        }
        if na == 0 {
            break;
        }
        offset += na as u64;
    }
    let unit = if offset == 1 { "byte" } else { "bytes" };
    say!(out, "{a_name} and {b_name} are identical ({offset} {unit})");
    Ok(())
}

/// `sha256 FILE`.
pub fn sha256(sh: &mut Shell, args: &Args, out: &mut dyn Write) -> Result<(), CmdError> {
    let name = args.get(0).unwrap_or_default();
    let mut file = open_local(sh, "sha256", name)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; crate::client::CHUNK];
    loop {
        let n = read_full(&mut file, &mut buf).map_err(|e| CmdError::local("sha256", name, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    say!(out, "{}  {name}", to_hex(&hasher.finalize()));
    Ok(())
}

/// `quote COMMAND [ARGS]` (and server verbs run by name).
pub fn quote(sh: &mut Shell, args: &Args, out: &mut dyn Write) -> Result<(), CmdError> {
    let line = args.raw.trim();
    let verb = line
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    if DATA_VERBS.contains(&verb.as_str()) {
        return Err(CmdError::usage(
            "quote",
            format!("{verb} needs a data connection; use ls, download or upload"),
        ));
    }
    if matches!(verb.as_str(), "QUIT" | "USER" | "PASS" | "REIN") {
        return Err(CmdError::usage(
            "quote",
            format!("{verb} changes the session; use byebye or connme"),
        ));
    }
    let result = sh.conn("quote")?.raw(line);
    sh.invalidate_cache();
    let reply = result.map_err(|e| sh.remote_err("quote", &verb, e))?;
    if reply.code.is_error() {
        return Err(CmdError::remote("quote", &verb, &RemoteError::Reply(reply)));
    }
    print_reply(out, &reply);
    Ok(())
}

/// `help [VERB]`.
pub fn help(sh: &mut Shell, args: &Args, out: &mut dyn Write) -> Result<(), CmdError> {
    if let Some(name) = args.get(0) {
        if let Some(verb) = verbs::lookup(name) {
            let _ = write!(out, "{}", verb.long_help());
            if let Some(ext) = verb.extension {
                extension_help(sh, ext, out);
            }
            return Ok(());
        }
        if sh.is_server_verb(name) {
            say!(
                out,
                "{name}: a server command, sent as-is (quote {}):",
                name.to_ascii_uppercase()
            );
            let result = sh
                .conn("help")?
                .raw(&format!("HELP {}", name.to_ascii_uppercase()));
            if let Ok(reply) = result {
                print_reply(out, &reply);
            }
            return Ok(());
        }
        return Err(CmdError::usage("help", format!("no such verb {name:?}")));
    }
    say!(out, "verbs (help VERB for details):");
    let width = VERBS.iter().map(|v| v.usage.len()).max().unwrap_or(0);
    for v in VERBS {
        let missing = match (v.extension, sh.connection()) {
            (Some(ext), Some(conn)) if !conn.has_feature(ext) => " (not on this server)",
            _ => "",
        };
        say!(out, "  {:width$}  {}{missing}", v.usage, v.summary);
    }
    say!(
        out,
        "DEST: new.txt | dir\\new.txt | dir/new.txt | dir/   (a backslash is a path separator)"
    );
    let server = sh.server_verbs();
    if !server.is_empty() {
        say!(out, "server commands (sent as-is): {}", server.join(" "));
    }
    Ok(())
}

/// The part of `help VERB` about the server extension `ext` the verb
/// relies on: whether the server has it, and the server's own `HELP`.
fn extension_help(sh: &mut Shell, ext: &str, out: &mut dyn Write) {
    let has = sh.connection().map(|c| c.has_feature(ext));
    match has {
        None => say!(
            out,
            "needs the server's {ext} command; connect to see whether it has one"
        ),
        Some(false) => say!(out, "this server has no {ext} command"),
        Some(true) => {
            say!(out, "the server's help for {ext}:");
            if let Ok(conn) = sh.conn("help")
                && let Ok(reply) = conn.raw(&format!("HELP {ext}"))
            {
                print_reply(out, &reply);
            }
        }
    }
}

/// `exit`.
pub fn exit(sh: &mut Shell, _args: &Args, _out: &mut dyn Write) -> Result<(), CmdError> {
    sh.request_exit();
    Ok(())
}
