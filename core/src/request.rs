//! Request lines on the control connection (RFC 959 §4.1, §5.3).
//!
//! [`LineReader`] frames the byte stream into lines without ever buffering more
//! than [`MAX_LINE`] bytes, and [`Request::parse`] turns one line into a verb
//! and an optional argument. Both are pure: bytes in, values out, no I/O, and
//! no byte sequence makes them panic.

use thiserror::Error;

/// Longest accepted request line in bytes, terminator included. Longer lines
/// get `500` and are discarded as they arrive instead of being buffered.
pub const MAX_LINE: usize = 4096;

/// Longest accepted command verb. RFC 959 verbs are 3–4 letters; extensions
/// and plugins may use a little more.
pub const MAX_VERB: usize = 16;

/// One parsed command: an upper-cased verb and the raw argument text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The command verb, ASCII upper case (`"RETR"`).
    pub verb: String,
    /// Everything after the first space, unchanged (file names may contain
    /// spaces), or `None` when absent or empty.
    pub arg: Option<String>,
}

/// Why a line is not a request.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// The line is longer than [`MAX_LINE`] bytes (reply `500`).
    #[error("line too long (max {MAX_LINE} bytes)")]
    TooLong,
    /// The line holds no verb (reply `500`).
    #[error("empty command")]
    Empty,
    /// The verb is not 1–16 ASCII letters (reply `500`).
    #[error("malformed command verb")]
    BadVerb,
    /// The argument is not UTF-8 or contains a NUL byte (reply `501`).
    #[error("argument is not valid UTF-8 text")]
    BadArgument,
}

impl Request {
    /// A request, for tests and clients.
    pub fn new(verb: &str, arg: Option<&str>) -> Self {
        Self {
            verb: verb.to_ascii_uppercase(),
            arg: arg.filter(|a| !a.is_empty()).map(str::to_owned),
        }
    }

    /// Parses one line (with or without its CRLF or bare LF terminator).
    ///
    /// Telnet IAC sequences (RFC 854: `IAC IP`, `IAC DM`, as sent before
    /// `ABOR`) are removed first. The verb is matched case-insensitively
    /// (RFC 959 §5.3); one space separates it from the argument.
    ///
    /// # Errors
    /// [`ParseError::Empty`], [`ParseError::BadVerb`] or
    /// [`ParseError::BadArgument`].
    pub fn parse(line: &[u8]) -> Result<Self, ParseError> {
        let line = strip_terminator(line);
        let cleaned;
        let line = if line.contains(&0xFF) {
            cleaned = strip_telnet(line);
            &cleaned[..]
        } else {
            line
        };
        // Leading garbage such as the Telnet "synch" leftovers is tolerated
        // as whitespace only.
        let line = trim_start(line);
        // Some old clients send Telnet IP (0xF4) and DM (0xF2) before ABOR
        // without their IAC prefix; like pyftpdlib, skip them.
        let line = trim_start(strip_bare_telnet(line));
        if line.is_empty() {
            return Err(ParseError::Empty);
        }
        let (verb, rest) = match line.iter().position(|&b| b == b' ') {
            Some(i) => (&line[..i], Some(&line[i + 1..])),
            None => (line, None),
        };
        if verb.is_empty() || verb.len() > MAX_VERB || !verb.iter().all(u8::is_ascii_alphabetic) {
            return Err(ParseError::BadVerb);
        }
        let verb = String::from_utf8(verb.to_ascii_uppercase()).map_err(|_| ParseError::BadVerb)?;
        let arg = match rest {
            None => None,
            Some([]) => None,
            Some(rest) => {
                if rest.contains(&0) {
                    return Err(ParseError::BadArgument);
                }
                Some(String::from_utf8(rest.to_vec()).map_err(|_| ParseError::BadArgument)?)
            }
        };
        Ok(Self { verb, arg })
    }

    /// The argument, or `""` when absent.
    pub fn arg_or_empty(&self) -> &str {
        self.arg.as_deref().unwrap_or("")
    }
}

fn strip_terminator(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn strip_bare_telnet(mut line: &[u8]) -> &[u8] {
    while let [0xF2 | 0xF4, rest @ ..] = line {
        line = rest;
    }
    line
}

fn trim_start(mut line: &[u8]) -> &[u8] {
    while let [b' ' | b'\t' | b'\r', rest @ ..] = line {
        line = rest;
    }
    line
}

/// Removes Telnet commands: `IAC x` for any x, and `IAC IAC` becomes one
/// 0xFF data byte (RFC 854).
fn strip_telnet(line: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        if line[i] == 0xFF {
            match line.get(i + 1) {
                Some(0xFF) => out.push(0xFF),
                // WILL/WONT/DO/DONT carry an option byte.
                Some(251..=254) => i += 1,
                _ => {}
            }
            i += 2;
        } else {
            out.push(line[i]);
            i += 1;
        }
    }
    out
}

/// Frames a control-connection byte stream into lines of at most
/// [`MAX_LINE`] bytes. Lines end in LF (CRLF or bare LF).
#[derive(Debug, Default)]
pub struct LineReader {
    buf: Vec<u8>,
    /// Start of the unconsumed part of `buf`.
    start: usize,
    /// True while skipping the rest of an over-long line.
    discarding: bool,
    /// Set when an over-long line was dropped and not yet reported.
    overflowed: bool,
}

impl LineReader {
    /// An empty reader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes. While an over-long line is being discarded,
    /// bytes up to its end are dropped immediately.
    pub fn push(&mut self, mut bytes: &[u8]) {
        if self.discarding {
            match bytes.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.discarding = false;
                    self.overflowed = true;
                    bytes = &bytes[i + 1..];
                }
                None => return,
            }
        }
        self.compact();
        self.buf.extend_from_slice(bytes);
    }

    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }

    /// The next complete line (terminator included), `Some(Err(TooLong))`
    /// once for each over-long line, or `None` when more bytes are needed.
    pub fn next_line(&mut self) -> Option<Result<Vec<u8>, ParseError>> {
        if self.overflowed {
            self.overflowed = false;
            return Some(Err(ParseError::TooLong));
        }
        let pending = &self.buf[self.start..];
        match pending.iter().position(|&b| b == b'\n') {
            Some(i) if i < MAX_LINE => {
                let line = pending[..=i].to_vec();
                self.start += i + 1;
                Some(Ok(line))
            }
            Some(i) => {
                self.start += i + 1;
                Some(Err(ParseError::TooLong))
            }
            None if pending.len() >= MAX_LINE => {
                self.buf.clear();
                self.start = 0;
                self.discarding = true;
                None
            }
            None => None,
        }
    }

    /// Bytes buffered but not yet returned as a line.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Table of (line, verb, arg) with the RFC rule each row checks.
    #[test]
    fn parse_table() {
        let rows: &[(&[u8], &str, Option<&str>, &str)] = &[
            (
                b"USER alice\r\n",
                "USER",
                Some("alice"),
                "RFC 959 §5.3.1 USER <SP> <username> <CRLF>",
            ),
            (
                b"user alice\r\n",
                "USER",
                Some("alice"),
                "§5.3: verbs are case-insensitive",
            ),
            (b"PWD\r\n", "PWD", None, "§5.3.1 verb alone"),
            (b"NOOP\n", "NOOP", None, "bare LF tolerated"),
            (
                b"RETR my file.txt\r\n",
                "RETR",
                Some("my file.txt"),
                "pathname may contain spaces",
            ),
            (
                b"STOR  lead.txt\r\n",
                "STOR",
                Some(" lead.txt"),
                "only the first space separates",
            ),
            (b"LIST \r\n", "LIST", None, "empty argument is no argument"),
            (
                b"\xff\xf4\xff\xf2ABOR\r\n",
                "ABOR",
                None,
                "RFC 959 §4.1.3 Telnet IP/Synch before ABOR",
            ),
            (
                b"\xf4ABOR\r\n",
                "ABOR",
                None,
                "RFC 854 IP sent bare (no IAC) before ABOR, tolerated as pyftpdlib does",
            ),
            (
                b"\xf4\xf2ABOR\r\n",
                "ABOR",
                None,
                "RFC 854 IP and DM sent bare before ABOR",
            ),
            (
                b"SIZE caf\xc3\xa9\r\n",
                "SIZE",
                Some("caf\u{e9}"),
                "RFC 2640 UTF-8 pathnames",
            ),
            (b"HASH a\r\n", "HASH", Some("a"), "extension verbs"),
        ];
        for (line, verb, arg, rule) in rows {
            let r = Request::parse(line).unwrap_or_else(|e| panic!("{rule}: {e}"));
            assert_eq!(r.verb, *verb, "{rule}");
            assert_eq!(r.arg.as_deref(), *arg, "{rule}");
        }
    }

    #[test]
    fn parse_errors() {
        assert_eq!(Request::parse(b"\r\n"), Err(ParseError::Empty));
        assert_eq!(Request::parse(b"   \r\n"), Err(ParseError::Empty));
        assert_eq!(Request::parse(b"US3R x\r\n"), Err(ParseError::BadVerb));
        assert_eq!(
            Request::parse(b"ABCDEFGHIJKLMNOPQ\r\n"),
            Err(ParseError::BadVerb)
        );
        assert_eq!(
            Request::parse(b"RETR a\0b\r\n"),
            Err(ParseError::BadArgument)
        );
        assert_eq!(
            Request::parse(b"RETR \xc3\x28\r\n"),
            Err(ParseError::BadArgument)
        );
    }

    #[test]
    fn reader_frames_lines_across_pushes() {
        let mut r = LineReader::new();
        r.push(b"US");
        assert_eq!(r.next_line(), None);
        r.push(b"ER a\r\nPASS b\nNO");
        assert_eq!(r.next_line(), Some(Ok(b"USER a\r\n".to_vec())));
        assert_eq!(r.next_line(), Some(Ok(b"PASS b\n".to_vec())));
        assert_eq!(r.next_line(), None);
        assert_eq!(r.pending(), 2);
    }

    #[test]
    fn reader_discards_overlong_line_without_buffering() {
        let mut r = LineReader::new();
        let chunk = vec![b'A'; 1000];
        for _ in 0..100 {
            r.push(&chunk);
            assert_eq!(r.next_line(), None);
            assert!(r.pending() < MAX_LINE + chunk.len());
        }
        r.push(b"AAAA\r\nNOOP\r\n");
        assert_eq!(r.next_line(), Some(Err(ParseError::TooLong)));
        assert_eq!(r.next_line(), Some(Ok(b"NOOP\r\n".to_vec())));
        assert_eq!(r.next_line(), None);
    }

    #[test]
    fn reader_overlong_line_in_one_push() {
        let mut r = LineReader::new();
        let mut big = vec![b'x'; MAX_LINE + 10];
        big.extend_from_slice(b"\r\nPWD\r\n");
        r.push(&big);
        assert_eq!(r.next_line(), Some(Err(ParseError::TooLong)));
        assert_eq!(r.next_line(), Some(Ok(b"PWD\r\n".to_vec())));
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Request::parse(&bytes);
        }

        #[test]
        fn reader_never_panics_or_grows(chunks in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 0..2000), 0..20)) {
            let mut r = LineReader::new();
            for c in &chunks {
                r.push(c);
                while let Some(line) = r.next_line() {
                    if let Ok(l) = line {
                        prop_assert!(l.len() <= MAX_LINE);
                        let _ = Request::parse(&l);
                    }
                }
                prop_assert!(r.pending() < MAX_LINE);
            }
        }
    }
}
