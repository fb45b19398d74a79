//! The session, directory, local-file and help verbs, referenced from the
//! table in [`crate::verbs`]. Each writes its output to `out` and returns a one-line
//! [`CmdError`] on failure.

use std::fs::File;
use std::io::{self, Read, Write};

use ftpsh_core::dest::normalize_separators;
use sha2::{Digest, Sha256};

use crate::client::{DATA_VERBS, HASH_ALGORITHM, RemoteError, reply_line};
use crate::format;
use crate::say;
use crate::shell::{CmdError, Shell, print_reply, read_local_dir};
use crate::verbs::{self, ArgKind, Args, VERBS, Verb};
use crate::verify::to_hex;

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

/// `ls [-l] [-1] [DIR]`.
pub fn ls(sh: &mut Shell, args: &Args, out: &mut dyn Write) -> Result<(), CmdError> {
    let dir = args.get(0).map(normalize_separators);
    if args.has("-l") {
        let result = sh.conn("ls")?.list_raw(dir.as_deref());
        let lines = result.map_err(|e| sh.remote_err("ls", dir.as_deref().unwrap_or("."), e))?;
        for line in lines {
            say!(out, "{}", line.trim_end_matches(['\r', '\n']));
        }
        return Ok(());
    }
    let result = sh.conn("ls")?.list(dir.as_deref());
    let entries = result.map_err(|e| sh.remote_err("ls", dir.as_deref().unwrap_or("."), e))?;
    sh.cache_listing(dir.as_deref(), &entries);
    if args.has("-1") {
        let mut names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        names.sort_unstable();
        for name in names {
            say!(out, "{name}");
        }
        return Ok(());
    }
    for line in format::listing(&entries, !sh.options().deterministic) {
        say!(out, "{line}");
    }
    Ok(())
}

/// `rm [-r] FILE`.
pub fn rm(sh: &mut Shell, args: &Args, out: &mut dyn Write) -> Result<(), CmdError> {
    let file = normalize_separators(args.get(0).unwrap_or_default());
    if args.has("-r") {
        return super::mirror::rm_tree(sh, &file, out);
    }
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

/// `mkdir [-p] DIR`.
pub fn mkdir(sh: &mut Shell, args: &Args, out: &mut dyn Write) -> Result<(), CmdError> {
    if args.has("-p") {
        let dir = normalize_separators(args.get(0).unwrap_or_default());
        return super::mirror::mkdir_parents(sh, &dir, out);
    }
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
        "DEST: new.txt | dir\\new.txt | dir/new.txt | dir/ | -   (a backslash separates names; \\<space> escapes a space)"
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
