//! The shell's verb table: one canonical list ([`VERBS`]) from which
//! dispatch, argument checking, `help` and tab completion are all derived,
//! so a verb's usage text can never drift from what it accepts.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::shell::{CmdError, Shell};

pub(crate) mod basic;
mod jobs;
mod mirror;
mod multi;
mod transfer;

/// What a positional argument names, which decides how it completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// A remote file or directory.
    Remote,
    /// A remote directory.
    RemoteDir,
    /// A local file or directory.
    Local,
    /// A local directory.
    LocalDir,
    /// A shell verb.
    Verb,
    /// An `ftp://` URL.
    Url,
    /// The rest of the line, sent verbatim.
    Raw,
    /// A plain word (a mode, a number): no completion.
    Word,
    /// Remote files, this and every later argument (patterns).
    RemoteMany,
    /// Local files, this and every later argument (patterns).
    LocalMany,
}

/// A flag a verb accepts (`-f`, `-u USER[:PASSWORD]`).
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    /// The flag as typed, e.g. `"-f"`.
    pub name: &'static str,
    /// The value's placeholder when the flag takes one.
    pub value: Option<&'static str>,
    /// One-line help.
    pub help: &'static str,
}

/// A verb handler: runs with parsed arguments, writes its output to `out`.
pub type Handler = fn(&mut Shell, &Args, &mut dyn std::io::Write) -> Result<(), CmdError>;

/// One shell verb.
#[derive(Debug, Clone, Copy)]
pub struct Verb {
    /// The verb as typed (lower case).
    pub name: &'static str,
    /// Other names for it.
    pub aliases: &'static [&'static str],
    /// Positional arguments in order; the last [`ArgKind::Raw`] takes the
    /// rest of the line.
    pub args: &'static [ArgKind],
    /// How many positional arguments are required.
    pub required: usize,
    /// Flags.
    pub flags: &'static [Flag],
    /// Usage line, e.g. `upload [-f] FILE [DEST]`.
    pub usage: &'static str,
    /// One-line summary.
    pub summary: &'static str,
    /// Longer help: semantics, examples.
    pub details: &'static str,
    /// The server extension (its `FEAT` name) the verb relies on, e.g.
    /// `HASH`; `help` then says whether the server has it and shows the
    /// server's own `HELP` for it.
    pub extension: Option<&'static str>,
    /// True when the verb needs a connection (offline it gets a hint to
    /// run `connme`).
    pub online: bool,
    /// The implementation.
    pub run: Handler,
}

/// Parsed arguments of one command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args {
    /// Flags given, with their values.
    pub flags: BTreeMap<&'static str, Option<String>>,
    /// Positional arguments, quotes removed.
    pub positional: Vec<String>,
    /// For a [`ArgKind::Raw`] verb: the rest of the line as typed.
    pub raw: String,
}

impl Args {
    /// True when `flag` was given.
    pub fn has(&self, flag: &str) -> bool {
        self.flags.contains_key(flag)
    }

    /// The value of `flag`, if given with one.
    pub fn value(&self, flag: &str) -> Option<&str> {
        self.flags.get(flag).and_then(|v| v.as_deref())
    }

    /// Positional argument `i`.
    pub fn get(&self, i: usize) -> Option<&str> {
        self.positional.get(i).map(String::as_str)
    }
}

/// Every verb, in the order `help` lists them.
pub static VERBS: &[Verb] = &[
    Verb {
        name: "connme",
        aliases: &["open"],
        args: &[ArgKind::Url],
        required: 0,
        flags: &[Flag {
            name: "-u",
            value: Some("USER[:PASSWORD]"),
            help: "log in as USER (overrides the URL's user and password)",
        }],
        usage: "connme [-u USER[:PASSWORD]] [ftp://USER@HOST:PORT/PATH]",
        summary: "connect and log in",
        details: "Without a URL, connects to the server given on the command line or in the \
                  batch script, or else starts the embedded ftpshd on 127.0.0.1 over a \
                  temporary directory. The password comes from the URL, -u, FTPSH_PASSWORD, \
                  ~/.netrc, or a prompt. While connected it only says so.",
        extension: None,
        online: false,
        run: basic::connme,
    },
    Verb {
        name: "byebye",
        aliases: &["disconnect", "close"],
        args: &[],
        required: 0,
        flags: &[],
        usage: "byebye",
        summary: "end the session (QUIT); the shell keeps running",
        details: "Sends QUIT and closes the control connection. connme connects again; the \
                  embedded server keeps its files until the shell exits.",
        extension: None,
        online: true,
        run: basic::byebye,
    },
    Verb {
        name: "ls",
        aliases: &["dir", "list"],
        args: &[ArgKind::RemoteDir],
        required: 0,
        flags: &[
            Flag {
                name: "-l",
                value: None,
                help: "the server's own LIST lines (permissions, owner where it gives them)",
            },
            Flag {
                name: "-1",
                value: None,
                help: "names only, one per line",
            },
        ],
        usage: "ls [-l] [-1] [DIR]",
        summary: "list a remote directory",
        details: "One line per entry, sorted by name: type (d directory, - file, l link), size \
                  in bytes, modification time (UTC; left out in batch mode) and name. Uses \
                  MLSD when the server has it, else LIST.",
        extension: None,
        online: true,
        run: basic::ls,
    },
    Verb {
        name: "rm",
        aliases: &["delete"],
        args: &[ArgKind::Remote],
        required: 1,
        flags: &[Flag {
            name: "-r",
            value: None,
            help: "remove a directory and everything in it",
        }],
        usage: "rm [-r] FILE",
        summary: "delete a remote file (DELE), or a tree with -r",
        details: "Prints `removed FILE`, or the server's refusal, e.g. \
                  `rm: nope.txt: 550 ...`. With -r, FILE is a directory: its files are \
                  deleted (DELE) and its directories removed (RMD), children first, one \
                  line each; a refusal is reported and the rest goes on.",
        extension: None,
        online: true,
        run: basic::rm,
    },
    Verb {
        name: "size",
        aliases: &[],
        args: &[ArgKind::Remote],
        required: 1,
        flags: &[],
        usage: "size FILE",
        summary: "size of a remote file (SIZE)",
        details: "Prints `FILE: 1.23 MiB (1289748 bytes)`; 1 MiB = 2^20 bytes.",
        extension: None,
        online: true,
        run: basic::size,
    },
    Verb {
        name: "hash",
        aliases: &[],
        args: &[ArgKind::Remote],
        required: 1,
        flags: &[],
        usage: "hash FILE",
        summary: "SHA-256 of a remote file, computed by the server (HASH)",
        details: "Prints `FILE: SHA-256 DIGEST`, the digest in lowercase hex as `sha256` \
                  prints it for a local file. Needs a server with the HASH command \
                  (draft-bryan-ftp-hash; the embedded ftpshd has it); when the server lists \
                  SHA-256 but has another algorithm selected, OPTS HASH SHA-256 is sent \
                  first. Without HASH it fails with `hash: server has no HASH command`.",
        extension: Some("HASH"),
        online: true,
        run: basic::hash,
    },
    Verb {
        name: "upload",
        aliases: &["put"],
        args: &[ArgKind::Local, ArgKind::Remote],
        required: 1,
        flags: &[
            Flag {
                name: "-f",
                value: None,
                help: "overwrite an existing remote file; allow an extension change",
            },
            Flag {
                name: "-c",
                value: None,
                help: "continue a partial remote file (REST+STOR, or APPE)",
            },
            Flag {
                name: "--verify",
                value: None,
                help: "compare the SHA-256 of the bytes sent with the server's HASH",
            },
        ],
        usage: "upload [-f] [-c] [--verify] FILE [DEST]",
        summary: "send a local file (STOR)",
        details: "DEST is a new name (b.txt), a directory and a new name (dir\\b.txt or \
                  dir/b.txt; a backslash is a separator), or a directory (dir/). An existing \
                  remote file is not overwritten and a rename may not change the extension \
                  unless -f is given. With --verify the SHA-256 of the bytes is computed as \
                  they are sent and, after the server's 226, compared with HASH of the new \
                  remote file; on a mismatch the command fails naming both digests (the \
                  remote file is left in place). --verify on a server without HASH fails \
                  before sending anything. -c continues a remote file that an interrupted \
                  upload left short: from its SIZE on, with REST and STOR (RFC 3659 §5), or \
                  APPE where the server refuses REST. FILE - reads standard input (DEST \
                  required): `tar c dir | ftpsh -c 'upload - dir.tar' URL`.",
        extension: None,
        online: true,
        run: transfer::upload,
    },
    Verb {
        name: "cat",
        aliases: &[],
        args: &[ArgKind::Remote],
        required: 1,
        flags: &[],
        usage: "cat FILE",
        summary: "write a remote file to standard output (RETR)",
        details: "The file's bytes, unchanged, on standard output: `ftpsh -c 'cat a.txt' URL | \
                  sha256sum`. Nothing else is written to standard output.",
        extension: None,
        online: true,
        run: transfer::cat,
    },
    Verb {
        name: "download",
        aliases: &["get"],
        args: &[ArgKind::Remote, ArgKind::Local],
        required: 1,
        flags: &[
            Flag {
                name: "-f",
                value: None,
                help: "overwrite an existing local file; allow an extension change",
            },
            Flag {
                name: "-c",
                value: None,
                help: "continue the partial file an interrupted download kept (REST)",
            },
            Flag {
                name: "--verify",
                value: None,
                help: "compare the SHA-256 of the bytes received with the server's HASH",
            },
        ],
        usage: "download [-f] [-c] [--verify] FILE [DEST]",
        summary: "fetch a remote file (RETR)",
        details: "DEST as for upload, on the local side; - is standard output. The file is \
                  written to the side file .NAME.ftpsh-part beside the target and renamed \
                  into place only when complete, so a half-done download never appears \
                  under the target's name. When a transfer fails after some bytes arrived \
                  (Ctrl-C, a lost connection, a stall) the side file is kept and download -c \
                  continues it with REST (RFC 3659 §5). A target that is not a regular file \
                  (a FIFO, /dev/stdout) is written into directly, never replaced. With \
                  --verify the SHA-256 of the file is compared with the server's HASH \
                  before the rename; on a mismatch the side file is removed and the command \
                  fails naming both digests. --verify on a server without HASH fails before \
                  downloading anything.",
        extension: None,
        online: true,
        run: transfer::download,
    },
    multi::MGET,
    multi::MPUT,
    mirror::MIRROR,
    Verb {
        name: "pwd",
        aliases: &[],
        args: &[],
        required: 0,
        flags: &[],
        usage: "pwd",
        summary: "print the remote directory (PWD)",
        details: "",
        extension: None,
        online: true,
        run: basic::pwd,
    },
    Verb {
        name: "cd",
        aliases: &["cwd"],
        args: &[ArgKind::RemoteDir],
        required: 0,
        flags: &[],
        usage: "cd [DIR]",
        summary: "change the remote directory (CWD); / without DIR",
        details: "",
        extension: None,
        online: true,
        run: basic::cd,
    },
    Verb {
        name: "mkdir",
        aliases: &[],
        args: &[ArgKind::RemoteDir],
        required: 1,
        flags: &[Flag {
            name: "-p",
            value: None,
            help: "create missing parents too; an existing directory is fine",
        }],
        usage: "mkdir [-p] DIR",
        summary: "create a remote directory (MKD)",
        details: "With -p each missing component of DIR is created in turn (MKD), as \
                  mkdir -p does locally.",
        extension: None,
        online: true,
        run: basic::mkdir,
    },
    Verb {
        name: "rmdir",
        aliases: &[],
        args: &[ArgKind::RemoteDir],
        required: 1,
        flags: &[],
        usage: "rmdir DIR",
        summary: "remove an empty remote directory (RMD)",
        details: "",
        extension: None,
        online: true,
        run: basic::rmdir,
    },
    Verb {
        name: "mv",
        aliases: &["rename"],
        args: &[ArgKind::Remote, ArgKind::Remote],
        required: 2,
        flags: &[],
        usage: "mv FROM TO",
        summary: "rename a remote file or directory (RNFR/RNTO)",
        details: "",
        extension: None,
        online: true,
        run: basic::mv,
    },
    basic::CHMOD,
    Verb {
        name: "lcd",
        aliases: &[],
        args: &[ArgKind::LocalDir],
        required: 0,
        flags: &[],
        usage: "lcd [DIR]",
        summary: "change the local directory",
        details: "Without DIR, goes back to the directory the shell started in.",
        extension: None,
        online: false,
        run: basic::lcd,
    },
    Verb {
        name: "lpwd",
        aliases: &[],
        args: &[],
        required: 0,
        flags: &[],
        usage: "lpwd",
        summary: "print the local directory",
        details: "",
        extension: None,
        online: false,
        run: basic::lpwd,
    },
    Verb {
        name: "lls",
        aliases: &[],
        args: &[ArgKind::LocalDir],
        required: 0,
        flags: &[],
        usage: "lls [DIR]",
        summary: "list a local directory",
        details: "Same format as ls.",
        extension: None,
        online: false,
        run: basic::lls,
    },
    Verb {
        name: "lcmp",
        aliases: &[],
        args: &[ArgKind::Local, ArgKind::Local],
        required: 2,
        flags: &[],
        usage: "lcmp FILE1 FILE2",
        summary: "check that two local files are byte-identical",
        details: "Fails, naming the first differing byte, when they are not. Handy after a \
                  round trip: upload a file, download it under a new name, lcmp the two.",
        extension: None,
        online: false,
        run: basic::lcmp,
    },
    Verb {
        name: "sha256",
        aliases: &[],
        args: &[ArgKind::Local],
        required: 1,
        flags: &[],
        usage: "sha256 FILE",
        summary: "print the SHA-256 digest of a local file",
        details: "Prints `DIGEST  FILE`, like sha256sum.",
        extension: None,
        online: false,
        run: basic::sha256,
    },
    Verb {
        name: "quote",
        aliases: &["raw"],
        args: &[ArgKind::Raw],
        required: 1,
        flags: &[],
        usage: "quote COMMAND [ARGS]",
        summary: "send a raw command on the control connection",
        details: "Prints the server's reply. Commands that need a data connection (LIST, \
                  RETR, STOR, ...) are refused: use ls, download and upload. Verbs the \
                  server advertises beyond these can also be run by name, e.g. `syst`.",
        extension: None,
        online: true,
        run: basic::quote,
    },
    Verb {
        name: "help",
        aliases: &["?"],
        args: &[ArgKind::Verb],
        required: 0,
        flags: &[],
        usage: "help [VERB]",
        summary: "list verbs, or explain one",
        details: "",
        extension: None,
        online: false,
        run: basic::help,
    },
    Verb {
        name: "exit",
        aliases: &["quit", "bye"],
        args: &[],
        required: 0,
        flags: &[],
        usage: "exit",
        summary: "leave the shell (Ctrl-D too)",
        details: "",
        extension: None,
        online: false,
        run: basic::exit,
    },
];

/// The verb named `name` (or an alias of it), case-insensitively.
pub fn lookup(name: &str) -> Option<&'static Verb> {
    let name = name.to_ascii_lowercase();
    VERBS
        .iter()
        .find(|v| v.name == name || v.aliases.contains(&name.as_str()))
}

/// Every name and alias, sorted.
pub fn all_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = VERBS
        .iter()
        .flat_map(|v| std::iter::once(v.name).chain(v.aliases.iter().copied()))
        .collect();
    names.sort_unstable();
    names
}

impl Verb {
    /// Parses `words` (without the verb itself) against this verb's flags
    /// and arguments. `rest` is the text after the verb, for
    /// [`ArgKind::Raw`]. `--` ends the flags.
    ///
    /// # Errors
    /// A usage message naming the problem.
    pub fn parse_args(&self, words: &[String], rest: &str) -> Result<Args, String> {
        let mut args = Args::default();
        if self.args.first() == Some(&ArgKind::Raw) {
            args.raw = rest.trim().to_owned();
            args.positional = words.to_vec();
            if args.raw.is_empty() && self.required > 0 {
                return Err(format!("usage: {}", self.usage));
            }
            return Ok(args);
        }
        let mut iter = words.iter();
        let mut flags_done = false;
        while let Some(word) = iter.next() {
            if !flags_done && word == "--" {
                flags_done = true;
                continue;
            }
            if !flags_done && word.len() > 1 && word.starts_with('-') {
                let flag = self
                    .flags
                    .iter()
                    .find(|f| f.name == word)
                    .ok_or_else(|| format!("unknown option {word}; usage: {}", self.usage))?;
                let value = match flag.value {
                    None => None,
                    Some(meta) => Some(iter.next().cloned().ok_or_else(|| {
                        format!("{} needs {meta}; usage: {}", flag.name, self.usage)
                    })?),
                };
                args.flags.insert(flag.name, value);
                continue;
            }
            args.positional.push(word.clone());
        }
        let many = matches!(
            self.args.last(),
            Some(ArgKind::RemoteMany | ArgKind::LocalMany)
        );
        if args.positional.len() < self.required
            || (!many && args.positional.len() > self.args.len())
        {
            return Err(format!("usage: {}", self.usage));
        }
        Ok(args)
    }

    /// The kind of positional argument number `index`, if any.
    pub fn arg_kind(&self, index: usize) -> Option<ArgKind> {
        match self.args.get(index) {
            Some(kind) => Some(*kind),
            None => self
                .args
                .last()
                .copied()
                .filter(|k| matches!(k, ArgKind::RemoteMany | ArgKind::LocalMany)),
        }
    }

    /// `help VERB`'s text.
    pub fn long_help(&self) -> String {
        let mut s = format!("usage: {}\n{}\n", self.usage, self.summary);
        for f in self.flags {
            let value = f.value.map(|v| format!(" {v}")).unwrap_or_default();
            let _ = writeln!(s, "  {}{value}  {}", f.name, f.help);
        }
        for line in wrap(self.details, 76) {
            let _ = writeln!(s, "{line}");
        }
        if !self.aliases.is_empty() {
            let _ = writeln!(s, "aliases: {}", self.aliases.join(", "));
        }
        s
    }
}

/// The man page's `SHELL VERBS` section (roff), from [`VERBS`].
pub fn man_section() -> String {
    fn roff(s: &str) -> String {
        let s = s.replace('\\', "\\e").replace('-', "\\-");
        match s.strip_prefix(['.', '\'']) {
            Some(_) => format!("\\&{s}"),
            None => s,
        }
    }
    let mut s = String::from(".SH \"SHELL VERBS\"\n");
    for v in VERBS {
        let _ = writeln!(s, ".TP\n\\fB{}\\fR", roff(v.usage));
        let _ = writeln!(s, "{}", roff(v.summary));
        for f in v.flags {
            let value = f.value.map(|v| format!(" {v}")).unwrap_or_default();
            let _ = writeln!(s, ".br\n{}{}  {}", roff(f.name), roff(&value), roff(f.help));
        }
        let _ = writeln!(s, ".br\n{}", roff(v.details));
    }
    s
}

/// Splits `text` into lines of at most `width` characters at spaces (a
/// longer word gets a line of its own).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        if !current.is_empty() && current.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Invariants across the whole table (ripgrep's flag-list test).
    #[test]
    fn table_invariants() {
        let names = all_names();
        let mut dedup = names.clone();
        dedup.dedup();
        assert_eq!(names, dedup, "a name or alias is used twice");
        for v in VERBS {
            assert!(!v.summary.is_empty(), "{}", v.name);
            assert!(v.usage.starts_with(v.name), "{}", v.name);
            assert!(v.required <= v.args.len(), "{}", v.name);
            assert_eq!(v.name, v.name.to_ascii_lowercase());
            for f in v.flags {
                assert!(v.usage.contains(f.name), "{} {}", v.name, f.name);
            }
        }
        for seed in ["connme", "byebye", "ls", "rm", "size", "upload", "download"] {
            assert!(lookup(seed).is_some(), "{seed}");
        }
    }

    #[test]
    fn help_text_is_wrapped() {
        assert_eq!(wrap("a bb ccc", 4), ["a bb", "ccc"]);
        assert_eq!(wrap("", 4), Vec::<String>::new());
        for v in VERBS {
            assert!(
                v.long_help()
                    .lines()
                    .all(|l| l.len() <= 80 || !l.contains(' '))
            );
        }
    }

    #[test]
    fn parse_args() {
        let upload = lookup("UPLOAD").unwrap();
        let w = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let a = upload
            .parse_args(&w(&["-f", "a.txt", "dir\\b.txt"]), "")
            .unwrap();
        assert!(a.has("-f"));
        assert_eq!(a.positional, ["a.txt", "dir\\b.txt"]);
        assert!(upload.parse_args(&w(&[]), "").is_err());
        assert!(upload.parse_args(&w(&["a", "b", "c"]), "").is_err());
        assert!(upload.parse_args(&w(&["-x", "a"]), "").is_err());
        let a = upload.parse_args(&w(&["--", "-f"]), "").unwrap();
        assert_eq!(a.positional, ["-f"]);
        let connme = lookup("connme").unwrap();
        let a = connme.parse_args(&w(&["-u", "user:12345"]), "").unwrap();
        assert_eq!(a.value("-u"), Some("user:12345"));
        assert!(connme.parse_args(&w(&["-u"]), "").is_err());
        let quote = lookup("quote").unwrap();
        let a = quote.parse_args(&w(&["SITE", "x"]), "  SITE  x ").unwrap();
        assert_eq!(a.raw, "SITE  x");
    }
}
