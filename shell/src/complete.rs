//! Tab completion, derived from the verb table: the first word completes
//! to a verb (the shell's and the server's), later words by the kind of
//! argument the verb expects there — remote paths from a cached listing,
//! local paths from the local directory, verbs after `help`.
//!
//! The logic is a pure function over a [`Source`], so tests can drive it
//! with a fixed directory tree; [`crate::shell::Shell`] is the real source
//! (remote listings cached for [`crate::shell::LISTING_TTL`] and dropped
//! after every change the shell makes).

use crate::format::{Entry, Kind};
use crate::line;
use crate::shell::Shell;
use crate::verbs::{self, ArgKind};

/// One completion: what the list shows and what replaces the word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Shown in the candidate list (`docs/`).
    pub display: String,
    /// Replaces the word being completed, quotes included.
    pub replacement: String,
}

/// Where completion gets names from.
pub trait Source {
    /// Verbs, lower case: the shell's and the server's extra ones.
    fn verbs(&self) -> Vec<String>;
    /// Entries of a remote directory as typed (`""` is the current one).
    fn remote(&mut self, dir: &str) -> Vec<Entry>;
    /// Entries of a local directory as typed.
    fn local(&mut self, dir: &str) -> Vec<Entry>;
}

impl Source for Shell {
    fn verbs(&self) -> Vec<String> {
        let mut v: Vec<String> = verbs::all_names().iter().map(|s| (*s).to_owned()).collect();
        v.extend(self.server_verbs());
        v
    }

    fn remote(&mut self, dir: &str) -> Vec<Entry> {
        self.remote_entries(dir)
    }

    fn local(&mut self, dir: &str) -> Vec<Entry> {
        self.local_entries(dir)
    }
}

/// Completes the word ending at byte `pos` of `line`. Returns the byte
/// offset where the replaced word starts and the candidates, sorted.
pub fn complete(line: &str, pos: usize, src: &mut dyn Source) -> (usize, Vec<Candidate>) {
    let Some(head) = line.get(..pos) else {
        return (pos, Vec::new());
    };
    // Only the command after the last `;` matters.
    let cmd_start = last_separator(head).map_or(0, |i| i + 1);
    let words = line::words(&head[cmd_start..]);
    let at_new_word = words
        .last()
        .is_none_or(|w| w.open_quote.is_none() && w.end < head.len() - cmd_start);
    let (index, start, text) = if at_new_word {
        (words.len(), pos, String::new())
    } else {
        let w = &words[words.len() - 1];
        (words.len() - 1, cmd_start + w.start, w.text.clone())
    };
    let mut out = if index == 0 {
        complete_verb(&text, src)
    } else {
        let Some(verb) = verbs::lookup(&words[0].text) else {
            return (start, Vec::new());
        };
        let Some(position) = positional_index(verb, &words[1..index]) else {
            return (start, Vec::new());
        };
        match verb.arg_kind(position) {
            Some(ArgKind::Verb) => complete_verb(&text, src),
            Some(ArgKind::Remote) => complete_path(&text, false, |d| src.remote(d)),
            Some(ArgKind::RemoteDir) => complete_path(&text, true, |d| src.remote(d)),
            Some(ArgKind::Local) => complete_path(&text, false, |d| src.local(d)),
            Some(ArgKind::LocalDir) => complete_path(&text, true, |d| src.local(d)),
            Some(ArgKind::RemoteMany) => complete_path(&text, false, |d| src.remote(d)),
            Some(ArgKind::LocalMany) => complete_path(&text, false, |d| src.local(d)),
            Some(ArgKind::Url | ArgKind::Raw | ArgKind::Word) | None => Vec::new(),
        }
    };
    out.sort_by(|a, b| a.display.cmp(&b.display));
    out.dedup();
    (start, out)
}

/// Byte index of the last `;` outside quotes.
fn last_separator(s: &str) -> Option<usize> {
    let mut quote = None;
    let mut last = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ';') => last = Some(i),
            _ => {}
        }
    }
    last
}

/// Which positional argument the next word is, skipping flags and their
/// values; `None` when the next word is a flag's value.
fn positional_index(verb: &verbs::Verb, before: &[line::Word]) -> Option<usize> {
    let mut n = 0;
    let mut skip_value = false;
    for w in before {
        if skip_value {
            skip_value = false;
            continue;
        }
        if let Some(flag) = verb.flags.iter().find(|f| f.name == w.text) {
            skip_value = flag.value.is_some();
            continue;
        }
        n += 1;
    }
    (!skip_value).then_some(n)
}

fn complete_verb(prefix: &str, src: &dyn Source) -> Vec<Candidate> {
    let prefix = prefix.to_ascii_lowercase();
    src.verbs()
        .into_iter()
        .filter(|v| v.starts_with(&prefix))
        .map(|v| Candidate {
            replacement: format!("{v} "),
            display: v,
        })
        .collect()
}

/// Completes a path word: the directory part (up to the last `/` or `\`)
/// is listed, names starting with the rest are offered. Directories end
/// with `/` so completion can continue into them; files get a trailing
/// space. Names are written with backslash escapes ([`line::escape`]:
/// `My\ Documents/`), never with quotes: a quote left open after a
/// directory would make the line unusable, and a word the user began with
/// a quote is rewritten the same way.
fn complete_path(
    text: &str,
    dirs_only: bool,
    mut list: impl FnMut(&str) -> Vec<Entry>,
) -> Vec<Candidate> {
    let split = text.rfind(['/', '\\']).map_or(0, |i| i + 1);
    let (dir, prefix) = text.split_at(split);
    list(dir)
        .into_iter()
        .filter(|e| e.name.starts_with(prefix))
        .filter(|e| !dirs_only || e.kind == Kind::Dir)
        .filter(|e| prefix.starts_with('.') || !e.name.starts_with('.'))
        .map(|e| {
            let is_dir = e.kind == Kind::Dir;
            let full = format!("{dir}{}{}", e.name, if is_dir { "/" } else { "" });
            let escaped = line::escape(&full);
            let replacement = if is_dir {
                escaped
            } else {
                format!("{escaped} ")
            };
            Candidate {
                display: format!("{}{}", e.name, if is_dir { "/" } else { "" }),
                replacement,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed tree: remote `/` has `big.bin`, `baca_saya.txt`,
    /// `Folder_Tes/`, `my docs/`; remote `my docs/` has `a b.txt`; local
    /// has `notes.txt`, `copies/`.
    struct Tree {
        remote_calls: Vec<String>,
    }

    fn e(name: &str, kind: Kind) -> Entry {
        Entry {
            name: name.into(),
            kind,
            size: None,
            modified: None,
        }
    }

    impl Source for Tree {
        fn verbs(&self) -> Vec<String> {
            let mut v: Vec<String> = verbs::all_names().iter().map(|s| (*s).to_owned()).collect();
            v.push("syst".into());
            v
        }
        fn remote(&mut self, dir: &str) -> Vec<Entry> {
            self.remote_calls.push(dir.to_owned());
            match dir {
                "" => vec![
                    e("big.bin", Kind::File),
                    e("baca_saya.txt", Kind::File),
                    e("Folder_Tes", Kind::Dir),
                    e("my docs", Kind::Dir),
                    e(".hidden", Kind::File),
                ],
                "my docs/" => vec![e("a b.txt", Kind::File)],
                "Folder_Tes\\" | "Folder_Tes/" => vec![e("inner.txt", Kind::File)],
                _ => vec![],
            }
        }
        fn local(&mut self, _dir: &str) -> Vec<Entry> {
            vec![e("notes.txt", Kind::File), e("copies", Kind::Dir)]
        }
    }

    fn run(line: &str) -> (usize, Vec<String>) {
        let mut t = Tree {
            remote_calls: vec![],
        };
        let (start, c) = complete(line, line.len(), &mut t);
        (start, c.into_iter().map(|c| c.replacement).collect())
    }

    #[test]
    fn verbs_complete_first() {
        assert_eq!(run("up"), (0, vec!["upload ".to_owned()]));
        assert_eq!(run("sy"), (0, vec!["syst ".to_owned()]));
        assert_eq!(run("help dow"), (5, vec!["download ".to_owned()]));
        let (_, all) = run("");
        assert!(all.contains(&"connme ".to_owned()));
    }

    #[test]
    fn remote_names() {
        assert_eq!(run("download ba"), (9, vec!["baca_saya.txt ".to_owned()]));
        assert_eq!(
            run("rm b"),
            (3, vec!["baca_saya.txt ".to_owned(), "big.bin ".to_owned()])
        );
        assert_eq!(run("cd F"), (3, vec!["Folder_Tes/".to_owned()]));
        assert_eq!(run("ls Folder_Tes/i"), (3, vec![]), "ls wants directories");
        assert_eq!(
            run("size Folder_Tes\\i"),
            (5, vec!["Folder_Tes\\inner.txt ".to_owned()])
        );
        assert_eq!(run("rm .h"), (3, vec![".hidden ".to_owned()]));
        assert!(!run("rm ").1.contains(&".hidden ".to_owned()));
    }

    #[test]
    fn names_with_spaces_are_escaped_never_left_open() {
        assert_eq!(run("cd my"), (3, vec!["my\\ docs/".to_owned()]));
        assert_eq!(run("cd my\\ d"), (3, vec!["my\\ docs/".to_owned()]));
        // A word begun with a quote is rewritten with escapes, so Enter
        // after a completed directory never meets an unclosed quote.
        assert_eq!(run("cd \"my"), (3, vec!["my\\ docs/".to_owned()]));
        assert_eq!(
            run("download \"my docs/a"),
            (9, vec!["my\\ docs/a\\ b.txt ".to_owned()])
        );
        assert_eq!(
            run("download my\\ docs/a"),
            (9, vec!["my\\ docs/a\\ b.txt ".to_owned()])
        );
        // And the completed line splits back to the names.
        let (_, c) = run("download my\\ docs/a");
        let line = format!("download {}", c[0]);
        assert_eq!(
            crate::line::split_words(&line).unwrap(),
            ["download", "my docs/a b.txt"]
        );
    }

    #[test]
    fn argument_kinds_follow_the_table() {
        // upload FILE (local) DEST (remote); flags are skipped.
        assert_eq!(run("upload -f no"), (10, vec!["notes.txt ".to_owned()]));
        assert_eq!(
            run("upload notes.txt Fo"),
            (17, vec!["Folder_Tes/".to_owned()])
        );
        // download FILE (remote) DEST (local).
        assert_eq!(run("download big.bin co"), (17, vec!["copies/".to_owned()]));
        assert_eq!(run("connme -u "), (10, vec![]), "flag value: no completion");
        assert_eq!(run("quote SY"), (6, vec![]));
        assert_eq!(run("nosuchverb x"), (11, vec![]));
    }

    #[test]
    fn after_semicolon() {
        assert_eq!(run("ls; si"), (4, vec!["size ".to_owned()]));
    }
}
