//! Listing lines, as pure functions of an entry's metadata: `ls -l` style
//! for LIST and STAT, RFC 3659 §7 facts for MLSD and MLST.

use ftpsh_core::mlst::{Fact, FactSet};
use ftpsh_core::{Permission, Permissions, UtcTime};

/// What a listing shows of one directory entry (after following symlinks
/// inside the jail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    /// The name as listed: the entry's name, or the path the client typed.
    pub name: String,
    /// `st_mode`: file type and permission bits.
    pub mode: u32,
    /// Hard link count.
    pub nlink: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, seconds since the Unix epoch.
    pub mtime: i64,
    /// Device of the filesystem holding it (for the `unique` fact).
    pub dev: u64,
    /// Inode number (for the `unique` fact).
    pub ino: u64,
    /// Owner's user id.
    pub uid: u32,
    /// Owner's group id.
    pub gid: u32,
}

/// The file types of `st_mode` (`S_IFMT` and its values, from POSIX).
const S_IFMT: u32 = 0o170_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFIFO: u32 = 0o010_000;
const S_IFSOCK: u32 = 0o140_000;
const S_IFCHR: u32 = 0o020_000;
const S_IFBLK: u32 = 0o060_000;

/// Half of an average Gregorian year: `ls -l` shows the time of day for
/// files modified closer to now than this, and the year otherwise.
const SIX_MONTHS: i64 = 31_556_952 / 2;

impl EntryInfo {
    /// True for directories.
    pub fn is_dir(&self) -> bool {
        self.mode & S_IFMT == S_IFDIR
    }

    /// True for regular files.
    pub fn is_file(&self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }
}

/// The ten-character mode column of `ls -l`, e.g. `drwxr-xr-x`, including
/// setuid/setgid (`s`/`S`) and sticky (`t`/`T`) bits.
pub fn mode_string(mode: u32) -> String {
    let kind = match mode & S_IFMT {
        S_IFDIR => 'd',
        S_IFREG => '-',
        S_IFLNK => 'l',
        S_IFIFO => 'p',
        S_IFSOCK => 's',
        S_IFCHR => 'c',
        S_IFBLK => 'b',
        _ => '?',
    };
    let mut s = String::with_capacity(10);
    s.push(kind);
    // (shift of the rwx triple, special bit, letter when x is set too)
    for (shift, special, letter) in [(6, 0o4000, 's'), (3, 0o2000, 's'), (0, 0o1000, 't')] {
        let bits = (mode >> shift) & 0o7;
        s.push(if bits & 0o4 != 0 { 'r' } else { '-' });
        s.push(if bits & 0o2 != 0 { 'w' } else { '-' });
        let x = bits & 0o1 != 0;
        s.push(match (mode & special != 0, x) {
            (true, true) => letter,
            (true, false) => letter.to_ascii_uppercase(),
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    s
}

/// Replaces CR and LF, which would split a listing line in two (as
/// `ls -q` replaces non-printable characters).
pub fn display_name(name: &str) -> String {
    name.replace(['\r', '\n'], "?")
}

/// One `ls -l` style line, without its CRLF, in the shape vsftpd sends and
/// lftp, curl and Python ftplib parse:
/// `drwxr-xr-x    2 ftp      ftp          4096 Nov 21 09:30 docs`.
///
/// Owner and group are always `ftp`: host account names mean nothing to the
/// client. The date is UTC, `Mon DD HH:MM` within six months of `now`
/// (seconds since the epoch) and `Mon DD  YYYY` otherwise.
pub fn list_line(entry: &EntryInfo, now: i64) -> String {
    let t = UtcTime::from_unix(entry.mtime);
    let when = if now.saturating_sub(entry.mtime).unsigned_abs() < SIX_MONTHS.unsigned_abs() {
        format!("{:02}:{:02}", t.hour, t.minute)
    } else {
        format!("{:>5}", t.year)
    };
    format!(
        "{} {:>4} ftp      ftp      {:>8} {} {:>2} {} {}",
        mode_string(entry.mode),
        entry.nlink,
        entry.size,
        t.month_abbrev(),
        t.day,
        when,
        display_name(&entry.name)
    )
}

/// The RFC 3659 §7.5 facts of an entry selected by `facts` (the session's
/// `OPTS MLST` choice), each `name=value;`, in [`Fact::ALL`] order:
/// `type=dir;size=4096;modify=20241121093000;perm=cdeflmp;`. `unique` is
/// the device and inode in hex (`803g1a2b`, as pyftpdlib), `unix.mode` the
/// permission bits in octal with a leading zero (`0644`, as proftpd),
/// `unix.uid`/`unix.gid` decimal ids.
///
/// `type` is `file`, `dir`, or `OS.unix=<kind>` for other objects (§7.5.1);
/// `modify` is a UTC `time-val` (§7.5.3); `perm` (§7.5.5) lists what the
/// logged-in user may do with it, from `permissions`: for files `a` APPE,
/// `d` DELE, `f` RNFR, `r` RETR, `w` STOR; for directories `c` create
/// files (STOR), `d` RMD, `e` CWD, `f` RNFR, `l` LIST, `m` MKD, `p` delete
/// entries (DELE).
pub fn mlsx_facts(entry: &EntryInfo, permissions: Permissions, facts: FactSet) -> String {
    let kind = match entry.mode & S_IFMT {
        S_IFDIR => "dir",
        S_IFREG => "file",
        S_IFIFO => "OS.unix=fifo",
        S_IFSOCK => "OS.unix=socket",
        S_IFCHR => "OS.unix=chr",
        S_IFBLK => "OS.unix=blk",
        S_IFLNK => "OS.unix=slink",
        _ => "OS.unix=unknown",
    };
    use Permission as P;
    let letters: &[(char, P)] = if entry.is_dir() {
        &[
            ('c', P::Write),
            ('d', P::Delete),
            ('e', P::ChangeDir),
            ('f', P::Rename),
            ('l', P::List),
            ('m', P::MakeDir),
            ('p', P::Delete),
        ]
    } else if entry.is_file() {
        &[
            ('a', P::Append),
            ('d', P::Delete),
            ('f', P::Rename),
            ('r', P::Retrieve),
            ('w', P::Write),
        ]
    } else {
        // Not transferable: only the name can be changed or removed.
        &[('d', P::Delete), ('f', P::Rename)]
    };
    let perm: String = letters
        .iter()
        .filter(|(_, p)| permissions.allows(*p))
        .map(|(c, _)| *c)
        .collect();
    let mut out = String::new();
    for fact in facts.iter() {
        let value = match fact {
            Fact::Type => kind.to_owned(),
            Fact::Size => entry.size.to_string(),
            Fact::Modify => UtcTime::from_unix(entry.mtime).time_val(),
            Fact::Perm => perm.clone(),
            Fact::Unique => format!("{:x}g{:x}", entry.dev, entry.ino),
            Fact::UnixMode => format!("0{:o}", entry.mode & 0o7777),
            Fact::UnixUid => entry.uid.to_string(),
            Fact::UnixGid => entry.gid.to_string(),
        };
        out.push_str(fact.name());
        out.push('=');
        out.push_str(&value);
        out.push(';');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-11-21T09:30:00Z.
    const NOW: i64 = 1_732_181_400;

    fn entry(name: &str, mode: u32, size: u64, mtime: i64) -> EntryInfo {
        EntryInfo {
            name: name.to_owned(),
            mode,
            nlink: if mode & S_IFMT == S_IFDIR { 2 } else { 1 },
            size,
            mtime,
            dev: 0x803,
            ino: 0x1a2b,
            uid: 1000,
            gid: 100,
        }
    }

    #[test]
    fn mode_table() {
        let rows = [
            (0o040_755, "drwxr-xr-x"),
            (0o100_644, "-rw-r--r--"),
            (0o100_000, "----------"),
            (0o100_777, "-rwxrwxrwx"),
            (0o104_755, "-rwsr-xr-x"),
            (0o104_644, "-rwSr--r--"),
            (0o102_755, "-rwxr-sr-x"),
            (0o102_745, "-rwxr-Sr-x"),
            (0o041_777, "drwxrwxrwt"),
            (0o041_776, "drwxrwxrwT"),
            (0o010_600, "prw-------"),
            (0o140_755, "srwxr-xr-x"),
            (0o020_620, "crw--w----"),
            (0o060_660, "brw-rw----"),
            (0o120_777, "lrwxrwxrwx"),
            (0o777, "?rwxrwxrwx"),
            (u32::MAX, "?rwsrwsrwt"),
        ];
        for (mode, want) in rows {
            assert_eq!(mode_string(mode), want, "{mode:o}");
        }
    }

    #[test]
    fn list_line_table() {
        let day = 86_400;
        let rows = [
            (
                entry("docs", 0o040_755, 4096, NOW),
                "drwxr-xr-x    2 ftp      ftp          4096 Nov 21 09:30 docs",
            ),
            (
                entry("a.txt", 0o100_644, 13, NOW - 30 * day),
                "-rw-r--r--    1 ftp      ftp            13 Oct 22 09:30 a.txt",
            ),
            (
                entry("old.bin", 0o100_600, 5_368_709_120, NOW - 400 * day),
                "-rw-------    1 ftp      ftp      5368709120 Oct 18  2023 old.bin",
            ),
            // A future time beyond six months also shows the year.
            (
                entry("future", 0o100_644, 0, NOW + 365 * day),
                "-rw-r--r--    1 ftp      ftp             0 Nov 21  2025 future",
            ),
            (
                entry("epoch", 0o100_644, 1, 0),
                "-rw-r--r--    1 ftp      ftp             1 Jan  1  1970 epoch",
            ),
            (
                entry("with space", 0o100_644, 1, NOW - 5 * day),
                "-rw-r--r--    1 ftp      ftp             1 Nov 16 09:30 with space",
            ),
            (
                entry("evil\r\n226 done", 0o100_644, 1, NOW),
                "-rw-r--r--    1 ftp      ftp             1 Nov 21 09:30 evil??226 done",
            ),
            (
                entry("x", 0o100_644, 1, i64::MIN),
                "-rw-r--r--    1 ftp      ftp             1 Jan  1     0 x",
            ),
        ];
        for (e, want) in rows {
            assert_eq!(list_line(&e, NOW), want, "{}", e.name);
        }
        let many_links = EntryInfo {
            nlink: 123_456,
            ..entry("d", 0o040_700, 0, NOW)
        };
        assert!(list_line(&many_links, NOW).starts_with("drwx------ 123456 ftp "));
        // Extreme clocks do not panic.
        list_line(&entry("x", 0, 0, i64::MAX), i64::MIN);
    }

    #[test]
    fn mlsx_facts_table_rfc3659_7_5() {
        let all = Permissions::all();
        let elr = Permissions::parse("elr").unwrap();
        let rows = [
            (
                entry("docs", 0o040_755, 4096, NOW),
                all,
                "type=dir;size=4096;modify=20241121093000;perm=cdeflmp;",
            ),
            (
                entry("docs", 0o040_755, 4096, NOW),
                elr,
                "type=dir;size=4096;modify=20241121093000;perm=el;",
            ),
            (
                entry("a", 0o100_644, 13, 0),
                all,
                "type=file;size=13;modify=19700101000000;perm=adfrw;",
            ),
            (
                entry("a", 0o100_644, 13, 0),
                elr,
                "type=file;size=13;modify=19700101000000;perm=r;",
            ),
            (
                entry("p", 0o010_644, 0, 0),
                all,
                "type=OS.unix=fifo;size=0;modify=19700101000000;perm=df;",
            ),
            (
                entry("p", 0o010_644, 0, 0),
                Permissions::default(),
                "type=OS.unix=fifo;size=0;modify=19700101000000;perm=;",
            ),
        ];
        for (e, perms, want) in rows {
            assert_eq!(
                mlsx_facts(&e, perms, FactSet::default()),
                want,
                "{} {perms}",
                e.name
            );
        }
        // The optional facts, and a selection (RFC 3659 §7.9).
        let all_facts = FactSet::of(&Fact::ALL);
        assert_eq!(
            mlsx_facts(&entry("a", 0o100_640, 13, 0), elr, all_facts),
            "type=file;size=13;modify=19700101000000;perm=r;unique=803g1a2b;\
             unix.mode=0640;unix.uid=1000;unix.gid=100;"
        );
        assert_eq!(
            mlsx_facts(
                &entry("a", 0o104_755, 13, 0),
                elr,
                FactSet::of(&[Fact::UnixMode, Fact::Type])
            ),
            "type=file;unix.mode=04755;"
        );
        assert_eq!(
            mlsx_facts(&entry("a", 0o100_644, 13, 0), elr, FactSet::empty()),
            ""
        );
    }
}
