//! FTP replies: a three-digit reply code plus text, single- or multi-line
//! (RFC 959 §4.2).
//!
//! Text is sanitised on construction: CR and LF are replaced by spaces, so a
//! file name can never inject an extra reply line onto the control connection.

use std::fmt;

/// A three-digit FTP reply code (RFC 959 §4.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReplyCode(pub u16);

#[allow(missing_docs)]
impl ReplyCode {
    pub const RESTART_MARKER: Self = Self(110);
    pub const READY_SOON: Self = Self(120);
    pub const DATA_ALREADY_OPEN: Self = Self(125);
    pub const FILE_STATUS_OK: Self = Self(150);
    pub const OK: Self = Self(200);
    pub const SUPERFLUOUS: Self = Self(202);
    pub const SYSTEM_STATUS: Self = Self(211);
    pub const DIRECTORY_STATUS: Self = Self(212);
    pub const FILE_STATUS: Self = Self(213);
    pub const HELP: Self = Self(214);
    pub const SYSTEM_TYPE: Self = Self(215);
    pub const SERVICE_READY: Self = Self(220);
    pub const CLOSING: Self = Self(221);
    pub const DATA_OPEN_NO_TRANSFER: Self = Self(225);
    pub const CLOSING_DATA: Self = Self(226);
    pub const PASSIVE: Self = Self(227);
    pub const EXTENDED_PASSIVE: Self = Self(229);
    pub const LOGGED_IN: Self = Self(230);
    pub const FILE_ACTION_OK: Self = Self(250);
    pub const PATH_CREATED: Self = Self(257);
    pub const NEED_PASSWORD: Self = Self(331);
    pub const NEED_ACCOUNT: Self = Self(332);
    pub const FILE_ACTION_PENDING: Self = Self(350);
    pub const SERVICE_NOT_AVAILABLE: Self = Self(421);
    pub const CANT_OPEN_DATA: Self = Self(425);
    pub const TRANSFER_ABORTED: Self = Self(426);
    pub const FILE_UNAVAILABLE_BUSY: Self = Self(450);
    pub const LOCAL_ERROR: Self = Self(451);
    pub const INSUFFICIENT_STORAGE: Self = Self(452);
    pub const SYNTAX_ERROR: Self = Self(500);
    pub const PARAMETER_SYNTAX_ERROR: Self = Self(501);
    pub const NOT_IMPLEMENTED: Self = Self(502);
    pub const BAD_SEQUENCE: Self = Self(503);
    pub const PARAMETER_NOT_IMPLEMENTED: Self = Self(504);
    pub const NOT_LOGGED_IN: Self = Self(530);
    pub const FILE_UNAVAILABLE: Self = Self(550);
    pub const PAGE_TYPE_UNKNOWN: Self = Self(551);
    pub const EXCEEDED_STORAGE: Self = Self(552);
    pub const BAD_FILE_NAME: Self = Self(553);

    /// True for 1xx preliminary replies, which are followed by another reply.
    pub fn is_preliminary(self) -> bool {
        (100..200).contains(&self.0)
    }

    /// True for 4xx and 5xx replies.
    pub fn is_error(self) -> bool {
        self.0 >= 400
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03}", self.0)
    }
}

/// One reply on the control connection: a code and one or more text lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The reply code.
    pub code: ReplyCode,
    /// The text lines; never empty, never containing CR or LF.
    pub lines: Vec<String>,
}

fn sanitise(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

impl Reply {
    /// A single-line reply. CR and LF in `text` become spaces.
    pub fn new(code: ReplyCode, text: impl AsRef<str>) -> Self {
        Self {
            code,
            lines: vec![sanitise(text.as_ref())],
        }
    }

    /// A multi-line reply (RFC 959 §4.2): the first line is `code-text`, the
    /// last `code text`, the ones between are indented by one space so that
    /// none can be mistaken for the terminating line.
    pub fn multiline<I, S>(code: ReplyCode, lines: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut lines: Vec<String> = lines.into_iter().map(|l| sanitise(l.as_ref())).collect();
        if lines.is_empty() {
            lines.push(String::new());
        }
        Self { code, lines }
    }

    /// The wire form, CRLF-terminated.
    pub fn to_wire(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.lines.iter().map(|l| l.len() + 6).sum());
        self.write_wire(&mut out);
        out
    }

    /// Appends the wire form to `out`.
    pub fn write_wire(&self, out: &mut Vec<u8>) {
        let code = self.code.to_string();
        let last = self.lines.len() - 1;
        for (i, line) in self.lines.iter().enumerate() {
            if i == 0 && last > 0 {
                out.extend_from_slice(code.as_bytes());
                out.push(b'-');
            } else if i == last {
                out.extend_from_slice(code.as_bytes());
                out.push(b' ');
            } else {
                // Middle lines: a leading space keeps a line that happens to
                // start with digits from ending the reply early.
                out.push(b' ');
            }
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }

    /// The first line's text.
    pub fn text(&self) -> &str {
        &self.lines[0]
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_wire()))
    }
}

/// Quotes a pathname for a 257 reply (RFC 959 Appendix II): the name is
/// enclosed in double quotes and embedded quotes are doubled.
pub fn quote_path(path: &str) -> String {
    format!("\"{}\"", path.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_line() {
        let r = Reply::new(ReplyCode::OK, "Command okay.");
        assert_eq!(r.to_wire(), b"200 Command okay.\r\n");
    }

    #[test]
    fn multiline_rfc959_4_2() {
        let r = Reply::multiline(
            ReplyCode::SYSTEM_STATUS,
            ["Features:", "SIZE", "123 x", "End"],
        );
        assert_eq!(
            String::from_utf8(r.to_wire()).unwrap(),
            "211-Features:\r\n SIZE\r\n 123 x\r\n211 End\r\n"
        );
    }

    #[test]
    fn crlf_injection_is_neutralised() {
        let r = Reply::new(ReplyCode::FILE_UNAVAILABLE, "a\r\n230 evil: no such file");
        assert_eq!(r.to_wire(), b"550 a  230 evil: no such file\r\n");
        assert_eq!(r.to_wire().iter().filter(|&&b| b == b'\n').count(), 1);
    }

    #[test]
    fn quoting_doubles_quotes() {
        assert_eq!(quote_path("/a\"b"), "\"/a\"\"b\"");
    }
}
