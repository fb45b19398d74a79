//! Shell-line syntax: words, quotes, `;` and `#`.
//!
//! - Words are separated by spaces or tabs.
//! - `'…'` and `"…"` quote a word part, so names with spaces work
//!   (`upload "my file.txt"`). There are no escapes inside quotes; use the
//!   other kind of quote to include one (`"it's.txt"`).
//! - Outside quotes, a backslash before a blank, a quote, `;`, `#` or
//!   another backslash escapes that character, as in bash: `cd sub\ dir`
//!   is `sub dir`, `rm a\;b` is `a;b`. Every other backslash is kept as
//!   typed, and in a path it is a separator (`upload a.txt docs\b.txt`,
//!   seed 000; `docs\` is the directory). Completion writes names with
//!   these escapes, never with an open quote.
//! - `;` outside quotes separates commands (`ls; size a.txt`).
//! - `#` at the start of a word starts a comment.
//!
//! The same tokenizer, in its lenient form ([`words`]), feeds completion,
//! which has to cope with a line that is still being typed (an unclosed
//! quote is simply the last word).

use thiserror::Error;

/// A line that cannot be split into words.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LineError {
    /// A quote is not closed; carries the quote character.
    #[error("unclosed {0} quote")]
    UnclosedQuote(char),
}

/// One word of a line with its byte span, for completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// Byte offset of the word's first character (an opening quote counts).
    pub start: usize,
    /// Byte offset just past the word.
    pub end: usize,
    /// The word with quotes removed.
    pub text: String,
    /// The quote still open at the end of the word, if any.
    pub open_quote: Option<char>,
}

/// Splits `line` into words (lenient: an unclosed quote runs to the end).
/// Stops at a comment. Byte offsets refer to `line`.
pub fn words(line: &str) -> Vec<Word> {
    let mut out = Vec::new();
    let mut chars = line.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| *c == ' ' || *c == '\t').is_some() {}
        let Some(&(start, first)) = chars.peek() else {
            break;
        };
        if first == '#' {
            break;
        }
        let mut text = String::new();
        let mut quote: Option<char> = None;
        let mut end = line.len();
        while let Some(&(i, c)) = chars.peek() {
            match (quote, c) {
                (None, ' ' | '\t') => {
                    end = i;
                    break;
                }
                (None, '\\') => {
                    chars.next();
                    match chars.peek() {
                        Some(&(_, next)) if is_escapable(next) => text.push(next),
                        _ => {
                            text.push('\\');
                            continue;
                        }
                    }
                }
                (None, '\'' | '"') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (_, c) => text.push(c),
            }
            chars.next();
        }
        out.push(Word {
            start,
            end,
            text,
            open_quote: quote,
        });
    }
    out
}

/// Characters a backslash escapes outside quotes.
fn is_escapable(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\'' | '"' | ';' | '#' | '\\')
}

/// Writes `word` so that [`words`] reads it back unchanged, escaping
/// blanks, quotes, `;`, a leading `#` and a backslash before one of
/// those with a backslash; other backslashes (path separators) stay.
pub fn escape(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    let mut chars = word.chars().peekable();
    while let Some(c) = chars.next() {
        let escape = match c {
            ' ' | '\t' | '\'' | '"' | ';' => true,
            '#' => out.is_empty(),
            // A separator stays as typed unless the next character would
            // turn it into an escape, or it ends the word.
            '\\' => chars.peek().is_none_or(|n| is_escapable(*n)),
            _ => false,
        };
        if escape {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Splits one command into words.
///
/// # Errors
/// [`LineError::UnclosedQuote`].
pub fn split_words(command: &str) -> Result<Vec<String>, LineError> {
    let ws = words(command);
    if let Some(q) = ws.last().and_then(|w| w.open_quote) {
        return Err(LineError::UnclosedQuote(q));
    }
    Ok(ws.into_iter().map(|w| w.text).collect())
}

/// Splits a line at every `;` outside quotes; empty commands and comments
/// are dropped, surrounding blanks trimmed.
pub fn split_commands(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut quote: Option<char> = None;
    let mut start = 0;
    let mut at_word_start = true;
    let mut comment_at = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            at_word_start = false;
            continue;
        }
        match (quote, c) {
            (None, '\\') => {
                escaped = line[i + 1..].starts_with(is_escapable);
            }
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ';') => {
                out.push(&line[start..i]);
                start = i + 1;
            }
            (None, '#') if at_word_start => {
                comment_at = Some(i);
                break;
            }
            _ => {}
        }
        at_word_start = quote.is_none() && matches!(c, ' ' | '\t' | ';');
    }
    out.push(&line[start..comment_at.unwrap_or(line.len())]);
    out.into_iter()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

/// Quotes `word` for a shell line when it needs it (spaces, quotes, `;`,
/// a leading `#`): with `"` unless it contains one, else with `'`.
pub fn quote(word: &str) -> String {
    let needs =
        word.is_empty() || word.starts_with('#') || word.contains([' ', '\t', ';', '"', '\'']);
    if !needs {
        return word.to_owned();
    }
    if word.contains('"') {
        format!("'{word}'")
    } else {
        format!("\"{word}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_table() {
        let cases: &[(&str, &[&str])] = &[
            ("ls", &["ls"]),
            ("  ls   docs  ", &["ls", "docs"]),
            (
                "upload a.txt docs\\b.txt",
                &["upload", "a.txt", "docs\\b.txt"],
            ),
            ("upload \"my file.txt\" x", &["upload", "my file.txt", "x"]),
            ("rm 'it\"s.txt'", &["rm", "it\"s.txt"]),
            ("rm \"it's.txt\"", &["rm", "it's.txt"]),
            ("rm a\"b c\"d", &["rm", "ab cd"]),
            ("rm \"\"", &["rm", ""]),
            ("ls # comment", &["ls"]),
            ("rm a#b", &["rm", "a#b"]),
            ("size\ta.txt", &["size", "a.txt"]),
            ("cd sub\\ dir", &["cd", "sub dir"]),
            ("rm a\\;b", &["rm", "a;b"]),
            ("rm \\#x", &["rm", "#x"]),
            ("rm it\\'s", &["rm", "it's"]),
            ("upload a docs\\", &["upload", "a", "docs\\"]),
            ("upload a \\", &["upload", "a", "\\"]),
            ("rm a\\\\ b", &["rm", "a\\", "b"]),
        ];
        for (line, expected) in cases {
            assert_eq!(split_words(line).unwrap(), *expected, "{line}");
        }
    }

    #[test]
    fn unclosed_quote() {
        assert_eq!(split_words("rm \"abc"), Err(LineError::UnclosedQuote('"')));
        let ws = words("upload \"my fi");
        assert_eq!(ws[1].text, "my fi");
        assert_eq!(ws[1].open_quote, Some('"'));
        assert_eq!(ws[1].start, 7);
        assert_eq!(ws[1].end, 13);
    }

    #[test]
    fn commands() {
        assert_eq!(split_commands("ls; size a.txt"), ["ls", "size a.txt"]);
        assert_eq!(split_commands("rm \"a;b\"; ls"), ["rm \"a;b\"", "ls"]);
        assert_eq!(split_commands(" ; ;ls;"), ["ls"]);
        assert_eq!(split_commands("# all comment; ls"), Vec::<&str>::new());
        assert_eq!(split_commands("ls #x; rm y"), ["ls"]);
        assert_eq!(split_commands("rm a#b; ls"), ["rm a#b", "ls"]);
        assert_eq!(split_commands("rm a\\;b; ls"), ["rm a\\;b", "ls"]);
        assert_eq!(split_commands("rm \\#b; ls"), ["rm \\#b", "ls"]);
    }

    #[test]
    fn quoting_roundtrips() {
        for w in [
            "plain.txt",
            "my file.txt",
            "it's",
            "say \"hi\"",
            "a;b",
            "#x",
            "",
        ] {
            let line = format!("rm {}", quote(w));
            assert_eq!(split_words(&line).unwrap(), ["rm", w], "{line}");
            let line = format!("rm {}", escape(w));
            if !w.is_empty() {
                assert_eq!(split_words(&line).unwrap(), ["rm", w], "{line}");
            }
        }
        for w in ["docs\\b.txt", "dir\\", "a\\ b", "x\\;"] {
            let line = format!("rm {}", escape(w));
            assert_eq!(split_words(&line).unwrap(), ["rm", w], "{line}");
        }
    }
}
