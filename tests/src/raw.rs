//! A raw control-connection client, for the bytes no polite client sends.

use crate::{IO_TIMEOUT, set_timeouts};
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};

/// A reply read by [`RawControl`]: the code and every line's text.
#[derive(Debug, Clone)]
pub struct RawReply {
    /// The three-digit reply code.
    pub code: u16,
    /// The full reply, lines joined with `\n`.
    pub text: String,
}

/// A control connection driven byte by byte, for what polite clients never
/// send: garbage, NUL bytes, over-long lines, dropped connections.
pub struct RawControl {
    pub(crate) reader: BufReader<TcpStream>,
    pub(crate) writer: TcpStream,
}

impl RawControl {
    /// Connects (without reading the banner).
    ///
    /// # Panics
    /// If the connection fails.
    pub fn connect(addr: SocketAddr) -> Self {
        let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
        set_timeouts(&s).expect("timeouts");
        let writer = s.try_clone().expect("clone stream");
        Self {
            reader: BufReader::new(s),
            writer,
        }
    }

    /// Connects, expects the `220` banner, logs in as `user`.
    ///
    /// # Panics
    /// If any step gets another reply.
    pub fn login(addr: SocketAddr, user: &str, password: &str) -> Self {
        let mut c = Self::connect(addr);
        c.expect(220);
        c.cmd(&format!("USER {user}"), 331);
        c.cmd(&format!("PASS {password}"), 230);
        c
    }

    /// The underlying control stream (for SO_LINGER tricks).
    pub fn stream(&self) -> &TcpStream {
        &self.writer
    }

    /// Sends raw bytes.
    ///
    /// # Panics
    /// On a write error.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write control");
    }

    /// Sends `line` followed by CRLF.
    pub fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r\n").as_bytes());
    }

    /// Reads one complete reply (RFC 959 §4.2: a multi-line reply starts
    /// with `xyz-` and ends at a line starting with `xyz `).
    ///
    /// # Errors
    /// An I/O error, or `UnexpectedEof` when the server closed the
    /// connection, or `InvalidData` for a malformed reply line.
    pub fn try_reply(&mut self) -> io::Result<RawReply> {
        let first = self.read_line()?;
        let code = parse_code(&first)?;
        let mut text = first.clone();
        if first.as_bytes().get(3) == Some(&b'-') {
            let end = format!("{code} ");
            // Bounded: a reply longer than 10,000 lines is itself a failure.
            for _ in 0..10_000 {
                let line = self.read_line()?;
                text.push('\n');
                text.push_str(&line);
                if line.starts_with(&end) {
                    return Ok(RawReply { code, text });
                }
            }
            return Err(io::Error::new(io::ErrorKind::InvalidData, "endless reply"));
        }
        Ok(RawReply { code, text })
    }

    fn read_line(&mut self) -> io::Result<String> {
        let mut buf = Vec::new();
        let n = self.reader.read_until(b'\n', &mut buf)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed",
            ));
        }
        let s = String::from_utf8_lossy(&buf);
        Ok(s.trim_end_matches(['\r', '\n']).to_owned())
    }

    /// Reads one reply.
    ///
    /// # Panics
    /// If none can be read.
    pub fn reply(&mut self) -> RawReply {
        self.try_reply().expect("read reply")
    }

    /// Reads one reply and asserts its code.
    ///
    /// # Panics
    /// On another code.
    pub fn expect(&mut self, code: u16) -> RawReply {
        let r = self.reply();
        assert_eq!(r.code, code, "expected {code}, got {:?}", r.text);
        r
    }

    /// Sends `line` and asserts the reply code.
    ///
    /// # Panics
    /// On another code.
    pub fn cmd(&mut self, line: &str, code: u16) -> RawReply {
        self.send(line);
        let r = self.reply();
        assert_eq!(r.code, code, "{line:?}: expected {code}, got {:?}", r.text);
        r
    }

    /// Sends `EPSV`, parses `229 (|||port|)` and connects the data
    /// connection.
    ///
    /// # Panics
    /// If the reply or the connection fails.
    pub fn epsv(&mut self) -> TcpStream {
        let r = self.cmd("EPSV", 229);
        let inner = r
            .text
            .split("|||")
            .nth(1)
            .and_then(|s| s.split('|').next())
            .unwrap_or_else(|| panic!("malformed 229: {:?}", r.text));
        let port: u16 = inner.parse().expect("EPSV port");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("data connection");
        set_timeouts(&s).expect("timeouts");
        s
    }
}

fn parse_code(line: &str) -> io::Result<u16> {
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad reply line {line:?}"),
        )
    };
    let digits = line.get(..3).ok_or_else(bad)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let sep = line.as_bytes().get(3).copied();
    if !matches!(sep, None | Some(b' ') | Some(b'-')) {
        return Err(bad());
    }
    digits.parse().map_err(|_| bad())
}
