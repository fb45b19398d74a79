//! Parsers for what servers send: `HASH` replies and features, `MLSD`/
//! `MLST` facts and `LIST` lines.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use suppaftp::list::ListParser;

use crate::format::{Entry, Kind};

/// The digest algorithm `hash` and `--verify` ask `HASH` for: the one the
/// shell computes locally.
pub const HASH_ALGORITHM: &str = "SHA-256";

/// A `HASH` reply (draft-bryan-ftp-hash §3.2): `213 <algorithm>
/// <start>-<end> <hex digest> <pathname>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteHash {
    /// The algorithm the server used, as sent (e.g. `SHA-256`).
    pub algorithm: String,
    /// First byte of the range that was hashed.
    pub start: u64,
    /// End of the range that was hashed, as the server states it (ftpshd
    /// sends the number of bytes hashed; the draft only requires end ≥
    /// start).
    pub end: u64,
    /// The digest in lowercase hex.
    pub hex: String,
    /// The pathname as the server echoed it; may contain spaces.
    pub path: String,
}

/// Parses the text of a `213` `HASH` reply (the part after the code):
/// `<algorithm> <start>-<end> <hex digest> <pathname>`. The pathname is
/// the rest of the line, spaces included; the digest must be an even
/// number of hex digits and is returned in lowercase. `None` when the text
/// does not have that shape.
pub fn parse_hash_reply(text: &str) -> Option<RemoteHash> {
    fn word(s: &str) -> Option<(&str, &str)> {
        let s = s.trim_start_matches(' ');
        let end = s.find(' ').unwrap_or(s.len());
        (end > 0).then(|| (&s[..end], &s[end..]))
    }
    let (algorithm, rest) = word(text)?;
    let (range, rest) = word(rest)?;
    let (hex, rest) = word(rest)?;
    let (start, end) = range.split_once('-')?;
    let (start, end) = (start.parse::<u64>().ok()?, end.parse::<u64>().ok()?);
    if end < start || hex.len() % 2 != 0 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let path = rest.strip_prefix(' ').unwrap_or(rest);
    Some(RemoteHash {
        algorithm: algorithm.to_owned(),
        start,
        end,
        hex: hex.to_ascii_lowercase(),
        path: path.to_owned(),
    })
}

/// Parses the value of a `HASH` `FEAT` line (draft-bryan-ftp-hash §3.1):
/// algorithms separated by `;`, the selected one marked with `*`
/// (`SHA-1;SHA-256*;MD5`). Returns the algorithms (upper case, marks
/// removed) and the selected one.
pub fn parse_hash_feature(value: &str) -> (Vec<String>, Option<String>) {
    let mut algorithms = Vec::new();
    let mut selected = None;
    for item in value.split(';').map(str::trim).filter(|i| !i.is_empty()) {
        let name = item.trim_end_matches('*').to_ascii_uppercase();
        if item.ends_with('*') {
            selected = Some(name.clone());
        }
        algorithms.push(name);
    }
    (algorithms, selected)
}

/// A verb-like word: 3 to 8 ASCII capital letters.
pub(crate) fn is_verb_word(word: &str) -> bool {
    (3..=8).contains(&word.len()) && word.bytes().all(|b| b.is_ascii_uppercase())
}

/// Parses one `MLSD`/`MLST` entry (RFC 3659 §7.2: `facts; name`). The
/// current and parent directory entries (`type=cdir`/`pdir`) are dropped.
pub fn parse_mlsx(line: &str) -> Option<Entry> {
    let (facts, name) = match line.strip_prefix(' ') {
        Some(name) => ("", name),
        None => {
            let end = line.find("; ")?;
            (&line[..end], &line[end + 2..])
        }
    };
    let mut kind = Kind::File;
    let mut size = None;
    let mut modified = None;
    for fact in facts.split(';') {
        let Some((key, value)) = fact.split_once('=') else {
            continue;
        };
        match key.to_ascii_lowercase().as_str() {
            "type" => {
                kind = match value.to_ascii_lowercase().as_str() {
                    "file" => Kind::File,
                    "dir" => Kind::Dir,
                    "cdir" | "pdir" => return None,
                    v if v.starts_with("os.unix=slink") || v.starts_with("os.unix=symlink") => {
                        Kind::Link
                    }
                    _ => Kind::Other,
                }
            }
            "size" => size = value.parse().ok(),
            "modify" => modified = parse_mlsx_time(value),
            _ => {}
        }
    }
    let name = name.trim_end_matches(['\r', '\n']);
    if name.is_empty() || name == "." || name == ".." {
        return None;
    }
    // MLST answers with a path; a listing entry is its last component.
    let name = name.rsplit('/').find(|c| !c.is_empty()).unwrap_or(name);
    Some(Entry {
        name: name.to_owned(),
        kind,
        size,
        modified,
    })
}

/// `YYYYMMDDHHMMSS[.sss]` (RFC 3659 §2.3), UTC.
fn parse_mlsx_time(value: &str) -> Option<SystemTime> {
    let digits = value.get(..14)?;
    let n = |r: std::ops::Range<usize>| digits.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (n(0..4)?, n(4..6)?, n(6..8)?);
    let (h, mi, s) = (n(8..10)?, n(10..12)?, n(12..14)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    // Days from civil (Howard Hinnant), the inverse of format's.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + s;
    u64::try_from(secs)
        .ok()
        .map(|s| UNIX_EPOCH + Duration::from_secs(s))
}

/// Parses one `LIST` line in Unix `ls -l` or DOS format; `total N` lines
/// and `.`/`..` are dropped, anything else unparseable is kept as a name.
pub fn parse_list_line(line: &str) -> Option<Entry> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.is_empty() || line.starts_with("total ") {
        return None;
    }
    let file = ListParser::parse_posix(line).or_else(|_| ListParser::parse_dos(line));
    let entry = match file {
        Ok(f) => Entry {
            name: f.name().to_owned(),
            kind: if f.is_directory() {
                Kind::Dir
            } else if f.is_symlink() {
                Kind::Link
            } else {
                Kind::File
            },
            size: Some(f.size() as u64),
            modified: Some(f.modified()),
        },
        Err(_) => Entry {
            name: line.to_owned(),
            kind: Kind::Other,
            size: None,
            modified: None,
        },
    };
    (entry.name != "." && entry.name != "..").then_some(entry)
}

/// The features of a `211` `FEAT` reply (RFC 2389 §3.2), given the
/// reply's lines with the code prefixes removed: each line between the
/// first and the last is ` NAME [VALUE]`. The one-line form (`211 No
/// features`) has none.
pub(crate) fn parse_feat(lines: &[String]) -> Vec<(String, Option<String>)> {
    if lines.len() < 3 {
        return Vec::new();
    }
    lines[1..lines.len() - 1]
        .iter()
        .filter_map(|l| {
            let l = l.trim();
            if l.is_empty() {
                return None;
            }
            Some(match l.split_once(' ') {
                Some((name, value)) => (name.to_owned(), Some(value.trim().to_owned())),
                None => (l.to_owned(), None),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mlsx_lines() {
        let e = parse_mlsx("type=file;size=47;modify=20240229123456; baca saya.txt").unwrap();
        assert_eq!(e.name, "baca saya.txt");
        assert_eq!(e.kind, Kind::File);
        assert_eq!(e.size, Some(47));
        assert_eq!(
            crate::format::utc_minute(e.modified.unwrap()),
            "2024-02-29 12:34"
        );
        let d = parse_mlsx("type=dir;modify=20240101000000; Folder_Tes").unwrap();
        assert_eq!(d.kind, Kind::Dir);
        assert!(parse_mlsx("type=cdir; .").is_none());
        assert!(parse_mlsx("type=pdir; ..").is_none());
        assert_eq!(
            parse_mlsx("type=file;size=1; /docs/a.txt").unwrap().name,
            "a.txt"
        );
        assert!(parse_mlsx("garbage").is_none());
    }

    #[test]
    fn list_lines() {
        let e = parse_list_line(
            "-rw-r--r--    1 1000     1000           47 Feb 28 12:34 baca_saya.txt",
        )
        .unwrap();
        assert_eq!(
            (e.name.as_str(), e.kind, e.size),
            ("baca_saya.txt", Kind::File, Some(47))
        );
        let d = parse_list_line("drwxr-xr-x 2 u g 4096 Jan 1 2024 Folder_Tes").unwrap();
        assert_eq!(d.kind, Kind::Dir);
        assert!(parse_list_line("total 12").is_none());
        let odd = parse_list_line("something odd").unwrap();
        assert_eq!(odd.kind, Kind::Other);
    }

    #[test]
    fn hash_replies() {
        let digest = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08";
        let h = parse_hash_reply(&format!("SHA-256 0-4 {digest} my docs/a b.txt")).unwrap();
        assert_eq!(h.algorithm, "SHA-256");
        assert_eq!((h.start, h.end), (0, 4));
        assert_eq!(h.hex, digest.to_ascii_lowercase());
        assert_eq!(h.path, "my docs/a b.txt");
        let empty = parse_hash_reply("SHA-256 0-0 e3b0 empty.txt").unwrap();
        assert_eq!((empty.end, empty.path.as_str()), (0, "empty.txt"));
        for bad in [
            "",
            "SHA-256",
            "SHA-256 0-4",
            "SHA-256 0-4 abc file",
            "SHA-256 4-0 abcd file",
            "SHA-256 x-4 abcd file",
            "SHA-256 0_4 abcd file",
            "SHA-256 0-4 zz file",
        ] {
            assert!(parse_hash_reply(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn hash_features() {
        assert_eq!(
            parse_hash_feature("SHA-256*"),
            (vec!["SHA-256".to_owned()], Some("SHA-256".to_owned()))
        );
        assert_eq!(
            parse_hash_feature("SHA-1*;sha-256;MD5"),
            (
                vec!["SHA-1".to_owned(), "SHA-256".to_owned(), "MD5".to_owned()],
                Some("SHA-1".to_owned())
            )
        );
        assert_eq!(parse_hash_feature(""), (vec![], None));
    }

    #[test]
    fn feat_replies() {
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        assert!(parse_feat(&s(&["No features"])).is_empty());
        assert!(parse_feat(&s(&["Features:", "End"])).is_empty());
        assert_eq!(
            parse_feat(&s(&["Features:", " MLST type*;size*;", " EPSV", "End"])),
            vec![
                ("MLST".to_owned(), Some("type*;size*;".to_owned())),
                ("EPSV".to_owned(), None)
            ]
        );
    }
}
