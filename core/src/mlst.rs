//! The MLST/MLSD facts this server supports and a session's selection of
//! them (RFC 3659 §7.5, §7.8, §7.9).
//!
//! `OPTS MLST` (handled by the session commands) stores a [`FactSet`] in the
//! [`Session`](crate::Session); MLST and MLSD (the listing commands) print
//! exactly those facts; `FEAT` shows every supported fact and stars the
//! selected ones ([`FactSet::feat_line`]). One table, [`Fact::ALL`], serves
//! all three.

use std::fmt;

/// One supported fact (RFC 3659 §7.5 and the `UNIX.*` facts of proftpd and
/// pyftpdlib).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fact {
    /// `type`: `file`, `dir`, or `OS.unix=…` (§7.5.1).
    Type,
    /// `size` in octets (§7.5.7).
    Size,
    /// `modify`: UTC `time-val` (§7.5.3).
    Modify,
    /// `perm`: what the user may do with the object (§7.5.5).
    Perm,
    /// `unique`: an identifier equal for two names of the same object
    /// (§7.5.2): device and inode.
    Unique,
    /// `unix.mode`: permission bits in octal, as `0644`.
    UnixMode,
    /// `unix.uid`: owner's numeric user id.
    UnixUid,
    /// `unix.gid`: owner's numeric group id.
    UnixGid,
}

impl Fact {
    /// Every supported fact, in the order they are printed.
    pub const ALL: [Fact; 8] = [
        Self::Type,
        Self::Size,
        Self::Modify,
        Self::Perm,
        Self::Unique,
        Self::UnixMode,
        Self::UnixUid,
        Self::UnixGid,
    ];

    /// The fact name as printed (lower case; matched case-insensitively).
    pub fn name(self) -> &'static str {
        match self {
            Self::Type => "type",
            Self::Size => "size",
            Self::Modify => "modify",
            Self::Perm => "perm",
            Self::Unique => "unique",
            Self::UnixMode => "unix.mode",
            Self::UnixUid => "unix.uid",
            Self::UnixGid => "unix.gid",
        }
    }

    fn bit(self) -> u16 {
        1 << (Self::ALL.iter().position(|f| *f == self).unwrap_or(0) as u16)
    }
}

/// A selection of facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FactSet(u16);

impl Default for FactSet {
    /// `type;size;modify;perm;`, what MLST/MLSD print until `OPTS MLST`.
    fn default() -> Self {
        Self::of(&[Fact::Type, Fact::Size, Fact::Modify, Fact::Perm])
    }
}

/// Why an `OPTS MLST` argument is refused (RFC 3659 §7.9: `501`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadFactList(String);

impl FactSet {
    /// No facts.
    pub fn empty() -> Self {
        Self(0)
    }

    /// The set holding `facts`.
    pub fn of(facts: &[Fact]) -> Self {
        Self(facts.iter().fold(0, |acc, f| acc | f.bit()))
    }

    /// The facts a storage with capabilities `caps` can give: all of them,
    /// less `unix.mode`, `unix.uid` and `unix.gid` where its metadata has
    /// no owners or permission bits of its own (an object store's would be
    /// made up).
    pub fn available(caps: crate::storage::Capabilities) -> Self {
        let all = Self::of(&Fact::ALL);
        if caps.unix_metadata {
            all
        } else {
            Self(all.0 & !Self::of(&[Fact::UnixMode, Fact::UnixUid, Fact::UnixGid]).0)
        }
    }

    /// The facts of `self` that are also in `other`.
    pub fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    /// True when `fact` is selected.
    pub fn contains(self, fact: Fact) -> bool {
        self.0 & fact.bit() != 0
    }

    /// The selected facts, in print order.
    pub fn iter(self) -> impl Iterator<Item = Fact> {
        Fact::ALL.into_iter().filter(move |f| self.contains(*f))
    }

    /// Parses the argument of `OPTS MLST` (RFC 3659 §7.9: `MLST [SP
    /// 1*(factname ";")]`). Fact names are case-insensitive; names this
    /// server does not support are ignored, as the RFC asks; an empty
    /// argument selects no facts.
    ///
    /// # Errors
    /// [`BadFactList`] for a list that breaks the grammar: a blank inside
    /// it, an empty fact name (`;;`), a fact without its `;`, or a name
    /// with characters a fact name cannot hold.
    pub fn parse_opts(arg: &str) -> Result<Self, BadFactList> {
        if arg.is_empty() {
            return Ok(Self::empty());
        }
        if arg.contains(char::is_whitespace) {
            return Err(BadFactList(format!(
                "{arg:?}: facts are listed without blanks, e.g. type;size;"
            )));
        }
        let Some(list) = arg.strip_suffix(';') else {
            return Err(BadFactList(format!(
                "{arg:?}: each fact ends with ';', e.g. type;size;"
            )));
        };
        let mut set = Self::empty();
        for name in list.split(';') {
            let valid = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b'=' | b'*'));
            if !valid {
                return Err(BadFactList(format!("{arg:?}: {name:?} is not a fact name")));
            }
            if let Some(f) = Fact::ALL
                .into_iter()
                .find(|f| f.name().eq_ignore_ascii_case(name))
            {
                set = Self(set.0 | f.bit());
            }
        }
        Ok(set)
    }

    /// The `FEAT` line (RFC 3659 §7.8): every supported fact, the selected
    /// ones starred, e.g. `MLST type*;size*;modify*;perm*;unique;…`.
    pub fn feat_line(self) -> String {
        self.feat_line_within(Self::of(&Fact::ALL))
    }

    /// [`FactSet::feat_line`] listing only the facts in `available`.
    pub fn feat_line_within(self, available: Self) -> String {
        let mut line = "MLST ".to_owned();
        for f in available.iter() {
            line.push_str(f.name());
            if self.contains(f) {
                line.push('*');
            }
            line.push(';');
        }
        line
    }
}

/// `type;size;` — the form `200 MLST OPTS` echoes.
impl fmt::Display for FactSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for fact in self.iter() {
            write!(f, "{};", fact.name())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (argument, selected facts or None for 501) — RFC 3659 §7.9.
    #[test]
    fn opts_mlst_table() {
        let rows: &[(&str, Option<&str>)] = &[
            ("type;size;", Some("type;size;")),
            ("Type;SIZE;", Some("type;size;")),
            ("size;type;", Some("type;size;")),
            (
                "unique;unix.mode;unix.uid;unix.gid;",
                Some("unique;unix.mode;unix.uid;unix.gid;"),
            ),
            ("bad_fact;", Some("")),
            ("type;media-type;", Some("type;")),
            ("", Some("")),
            ("bad_fact", None),
            ("type", None),
            ("type ;", None),
            ("type; size;", None),
            ("type;;size;", None),
            (";", None),
            ("ty=pe;", None),
        ];
        for (arg, want) in rows {
            let got = FactSet::parse_opts(arg).ok().map(|s| s.to_string());
            assert_eq!(got.as_deref(), *want, "{arg:?}");
        }
    }

    #[test]
    fn feat_line_stars_the_selection() {
        assert_eq!(
            FactSet::default().feat_line(),
            "MLST type*;size*;modify*;perm*;unique;unix.mode;unix.uid;unix.gid;"
        );
        assert_eq!(
            FactSet::of(&[Fact::Unique]).feat_line(),
            "MLST type;size;modify;perm;unique*;unix.mode;unix.uid;unix.gid;"
        );
    }
}
