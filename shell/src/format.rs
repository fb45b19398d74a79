//! Output formats shared by the verbs: sizes, directory listings, dates.
//!
//! Everything here is a pure function of its input, so the batch
//! transcript is reproducible: listings are sorted by name, and dates are
//! left out when the caller asks for a deterministic form.

use std::time::SystemTime;

use ftpsh_core::UtcTime;

/// `size`'s format (seed 000 computed MB as bytes / 2^20 with two
/// decimals): `1.23 MiB (1289748 bytes)`.
pub fn mib_and_bytes(bytes: u64) -> String {
    let unit = if bytes == 1 { "byte" } else { "bytes" };
    format!("{:.2} MiB ({bytes} {unit})", bytes as f64 / 1_048_576.0)
}

/// A size with a binary unit: `512 B`, `1.5 KiB`, `3.00 MiB`, `1.25 GiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = UNITS[0];
    for next in &UNITS[1..] {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    format!("{value:.2} {unit}")
}

/// What a listing entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A directory.
    Dir,
    /// A regular file.
    File,
    /// A symbolic link.
    Link,
    /// Anything else the server reports.
    Other,
}

impl Kind {
    /// The `ls -l` type letter.
    pub fn letter(self) -> char {
        match self {
            Kind::Dir => 'd',
            Kind::File => '-',
            Kind::Link => 'l',
            Kind::Other => '?',
        }
    }
}

/// One entry of a remote or local directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The name, without directory.
    pub name: String,
    /// File, directory, link.
    pub kind: Kind,
    /// Size in bytes, when known (not shown for directories).
    pub size: Option<u64>,
    /// Modification time, when known.
    pub modified: Option<SystemTime>,
}

/// `YYYY-MM-DD HH:MM` in UTC.
pub fn utc_minute(t: SystemTime) -> String {
    let u = UtcTime::from_system_time(t);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        u.year, u.month, u.day, u.hour, u.minute
    )
}

/// Formats a listing, one line per entry, sorted by name: type letter,
/// size in bytes (right-aligned; `-` for directories), the date unless
/// `with_dates` is false, and the name (directories end with `/`). An empty
/// listing is `(empty)`.
pub fn listing(entries: &[Entry], with_dates: bool) -> Vec<String> {
    if entries.is_empty() {
        return vec!["(empty)".to_owned()];
    }
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let size_text = |e: &Entry| match (e.kind, e.size) {
        (Kind::Dir, _) | (_, None) => "-".to_owned(),
        (_, Some(s)) => s.to_string(),
    };
    let width = sorted.iter().map(|e| size_text(e).len()).max().unwrap_or(1);
    sorted
        .into_iter()
        .map(|e| {
            let suffix = if e.kind == Kind::Dir { "/" } else { "" };
            let date = if with_dates {
                let d = e.modified.map(utc_minute).unwrap_or_else(|| " ".repeat(16));
                format!("  {d}")
            } else {
                String::new()
            };
            format!(
                "{} {:>width$}{date}  {}{suffix}",
                e.kind.letter(),
                size_text(e),
                e.name
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn sizes() {
        assert_eq!(mib_and_bytes(1_289_748), "1.23 MiB (1289748 bytes)");
        assert_eq!(mib_and_bytes(1), "0.00 MiB (1 byte)");
        assert_eq!(human(0), "0 B");
        assert_eq!(human(1536), "1.50 KiB");
        assert_eq!(human(3 * 1024 * 1024), "3.00 MiB");
        assert_eq!(human(5 << 30), "5.00 GiB");
    }

    #[test]
    fn dates() {
        assert_eq!(utc_minute(UNIX_EPOCH), "1970-01-01 00:00");
        let t = UNIX_EPOCH + Duration::from_secs(1_709_210_096); // 2024-02-29 12:34:56
        assert_eq!(utc_minute(t), "2024-02-29 12:34");
    }

    #[test]
    fn listing_is_sorted_and_aligned() {
        let e = |name: &str, kind, size| Entry {
            name: name.into(),
            kind,
            size,
            modified: None,
        };
        let lines = listing(
            &[
                e("zeta.bin", Kind::File, Some(3_145_728)),
                e("Folder_Tes", Kind::Dir, Some(4096)),
                e("a.txt", Kind::File, Some(47)),
            ],
            false,
        );
        assert_eq!(
            lines,
            [
                "d       -  Folder_Tes/",
                "-      47  a.txt",
                "- 3145728  zeta.bin"
            ]
        );
        assert_eq!(listing(&[], false), ["(empty)"]);
    }
}
