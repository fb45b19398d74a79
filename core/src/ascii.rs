//! `TYPE A` line-end conversion (RFC 959 §3.1.1.1), streaming and in
//! bounded memory.
//!
//! On the wire, ASCII data is NVT-ASCII: lines end in CRLF. This server's
//! files end lines in LF. So a RETR in `TYPE A` sends every LF as CRLF
//! ([`ToNetwork`], a reader the event loop drains) and a STOR stores every
//! CRLF as LF ([`FromNetwork`], an [`UploadSink`] wrapper). Both keep the
//! state a chunk boundary can split: a CR that ends one chunk is held until
//! the next shows whether an LF follows.
//!
//! Choices, as pyftpdlib and vsftpd make them: a file that already has CRLF
//! line ends is sent unchanged (its CR is not doubled); on upload a CR not
//! followed by LF is kept as data. Bytes above 127 pass through unchanged
//! (UTF-8 text stays intact).

use std::io::{self, Read, Write};

use crate::command::UploadSink;
use crate::reply::Reply;

/// Raw bytes read from the file per refill of [`ToNetwork`]; the converted
/// buffer is at most twice as large.
const READ_CHUNK: usize = 32 * 1024;

/// A reader of a local text file that yields its bytes with LF line ends as
/// CRLF (RETR in `TYPE A`).
#[derive(Debug)]
pub struct ToNetwork<R> {
    inner: R,
    raw: Box<[u8]>,
    cooked: Vec<u8>,
    pos: usize,
    /// The last byte handed on was a CR (so an LF after it is already
    /// part of a CRLF).
    after_cr: bool,
}

impl<R: Read> ToNetwork<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            raw: vec![0; READ_CHUNK].into_boxed_slice(),
            cooked: Vec::with_capacity(2 * READ_CHUNK),
            pos: 0,
            after_cr: false,
        }
    }
}

/// Appends `input` to `out` with each LF not preceded by CR turned into
/// CRLF; `after_cr` carries the state across calls. Copies whole lines at
/// a time (`memchr` finds the LFs), so the cost per byte stays near a
/// `memcpy`.
pub fn lf_to_crlf(input: &[u8], after_cr: &mut bool, out: &mut Vec<u8>) {
    let mut rest = input;
    while let Some(i) = memchr::memchr(b'\n', rest) {
        let line = &rest[..i];
        let cr_before = match line.last() {
            Some(&b) => b == b'\r',
            None => *after_cr,
        };
        out.extend_from_slice(line);
        if !cr_before {
            out.push(b'\r');
        }
        out.push(b'\n');
        *after_cr = false;
        rest = &rest[i + 1..];
    }
    if let Some(&last) = rest.last() {
        out.extend_from_slice(rest);
        *after_cr = last == b'\r';
    }
}

impl<R: Read> Read for ToNetwork<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.cooked.len() {
            let n = loop {
                match self.inner.read(&mut self.raw) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    other => break other?,
                }
            };
            if n == 0 {
                return Ok(0);
            }
            self.cooked.clear();
            self.pos = 0;
            lf_to_crlf(&self.raw[..n], &mut self.after_cr, &mut self.cooked);
        }
        let n = buf.len().min(self.cooked.len() - self.pos);
        buf[..n].copy_from_slice(&self.cooked[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Converts `input` (a chunk of NVT-ASCII) to local line ends, appending to
/// `out`: CRLF becomes LF, other bytes pass. A CR ending the chunk is not
/// written but remembered in `held_cr` for the next call (see
/// [`FromNetwork`]).
pub fn crlf_to_lf(input: &[u8], held_cr: &mut bool, out: &mut Vec<u8>) {
    let mut rest = input;
    if *held_cr && let Some(&first) = rest.first() {
        *held_cr = false;
        if first != b'\n' {
            // A bare CR is data.
            out.push(b'\r');
        }
    }
    while let Some(i) = memchr::memchr(b'\r', rest) {
        out.extend_from_slice(&rest[..i]);
        match rest.get(i + 1) {
            // CRLF: the CR goes, the LF is copied with what follows.
            Some(b'\n') => {}
            Some(_) => out.push(b'\r'),
            None => *held_cr = true,
        }
        rest = &rest[i + 1..];
    }
    out.extend_from_slice(rest);
}

/// An upload sink that stores NVT-ASCII data with local line ends (STOR,
/// APPE, STOU in `TYPE A`): CRLF is written as LF. Memory use is bounded
/// by the largest chunk written to it.
pub struct FromNetwork {
    inner: Box<dyn UploadSink>,
    buf: Vec<u8>,
    held_cr: bool,
}

impl FromNetwork {
    /// Wraps `inner`.
    pub fn new(inner: Box<dyn UploadSink>) -> Self {
        Self {
            inner,
            buf: Vec::new(),
            held_cr: false,
        }
    }
}

impl Write for FromNetwork {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.clear();
        crlf_to_lf(data, &mut self.held_cr, &mut self.buf);
        self.inner.write_all(&self.buf)?;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl UploadSink for FromNetwork {
    /// Writes a CR held at the very end (the data ended in a bare CR),
    /// then commits the wrapped sink.
    fn commit(mut self: Box<Self>) -> Reply {
        if self.held_cr
            && let Err(e) = self.inner.write_all(b"\r")
        {
            return crate::command::transfer_error_reply(&e);
        }
        self.inner.commit()
    }

    /// Bytes stored (after conversion).
    fn written(&self) -> u64 {
        self.inner.written()
    }

    fn sync(&mut self) -> io::Result<()> {
        self.inner.sync()
    }

    fn blocking(&self) -> bool {
        self.inner.blocking()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use proptest::prelude::*;

    use super::*;
    use crate::reply::ReplyCode;

    /// (local file bytes, wire bytes) — RFC 959 §3.1.1.1.
    const ROWS: &[(&[u8], &[u8])] = &[
        (b"a\nb\n", b"a\r\nb\r\n"),
        (b"", b""),
        (b"no newline", b"no newline"),
        (b"\n\n", b"\r\n\r\n"),
        (b"caf\xc3\xa9\n", b"caf\xc3\xa9\r\n"),
    ];

    fn to_network(data: &[u8], chunk: usize) -> Vec<u8> {
        let mut r = ToNetwork::new(data);
        let mut out = Vec::new();
        let mut buf = vec![0; chunk];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    /// A sink that records what reaches it.
    struct Record(Arc<Mutex<Vec<u8>>>, bool);

    impl Write for Record {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl UploadSink for Record {
        fn commit(mut self: Box<Self>) -> Reply {
            self.1 = true;
            Reply::new(ReplyCode::CLOSING_DATA, "ok")
        }
        fn written(&self) -> u64 {
            self.0.lock().unwrap().len() as u64
        }
    }

    fn from_network(wire: &[u8], chunk: usize) -> Vec<u8> {
        let stored = Arc::new(Mutex::new(Vec::new()));
        let mut sink = Box::new(FromNetwork::new(Box::new(Record(stored.clone(), false))));
        for c in wire.chunks(chunk.max(1)) {
            sink.write_all(c).unwrap();
        }
        assert_eq!(sink.commit().code, ReplyCode::CLOSING_DATA);
        stored.lock().unwrap().clone()
    }

    #[test]
    fn table_both_directions_every_chunk_size() {
        for (local, wire) in ROWS {
            for chunk in 1..8 {
                assert_eq!(to_network(local, chunk), *wire, "{local:?} chunk {chunk}");
                assert_eq!(from_network(wire, chunk), *local, "{wire:?} chunk {chunk}");
            }
        }
    }

    #[test]
    fn crlf_files_and_bare_cr() {
        // Already CRLF: not doubled.
        assert_eq!(to_network(b"a\r\nb\n", 1), b"a\r\nb\r\n");
        // Upload: a bare CR is data, also at a chunk end and at the very end.
        for chunk in 1..6 {
            assert_eq!(from_network(b"a\rb\r\nc\r", chunk), b"a\rb\nc\r", "{chunk}");
            assert_eq!(from_network(b"\r\r\n", chunk), b"\r\n", "{chunk}");
        }
    }

    #[test]
    fn cr_split_from_its_lf_at_a_chunk_boundary() {
        let stored = Arc::new(Mutex::new(Vec::new()));
        let mut sink = FromNetwork::new(Box::new(Record(stored.clone(), false)));
        sink.write_all(b"line one\r").unwrap();
        assert_eq!(*stored.lock().unwrap(), b"line one");
        sink.write_all(b"\nline two\r\n").unwrap();
        assert_eq!(*stored.lock().unwrap(), b"line one\nline two\n");
    }

    /// Byte-at-a-time reference versions of the two conversions.
    fn naive_lf_to_crlf(input: &[u8], after_cr: &mut bool, out: &mut Vec<u8>) {
        for &b in input {
            if b == b'\n' && !*after_cr {
                out.push(b'\r');
            }
            out.push(b);
            *after_cr = b == b'\r';
        }
    }

    fn naive_crlf_to_lf(input: &[u8], held_cr: &mut bool, out: &mut Vec<u8>) {
        for &b in input {
            if *held_cr {
                *held_cr = false;
                if b != b'\n' {
                    out.push(b'\r');
                }
            }
            if b == b'\r' {
                *held_cr = true;
            } else {
                out.push(b);
            }
        }
    }

    proptest! {
        #[test]
        fn fast_conversions_match_the_byte_at_a_time_model(
            data in proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'a')], 0..200),
            chunk in 1usize..17,
        ) {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let (mut sa, mut sb) = (false, false);
            for c in data.chunks(chunk) {
                lf_to_crlf(c, &mut sa, &mut a);
                naive_lf_to_crlf(c, &mut sb, &mut b);
                prop_assert_eq!(&a, &b);
                prop_assert_eq!(sa, sb);
            }
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let (mut sa, mut sb) = (false, false);
            for c in data.chunks(chunk) {
                crlf_to_lf(c, &mut sa, &mut a);
                naive_crlf_to_lf(c, &mut sb, &mut b);
                prop_assert_eq!(&a, &b);
                prop_assert_eq!(sa, sb);
            }
        }

        #[test]
        fn round_trip_of_lf_text(text in "[a-z\n]{0,300}", chunk in 1usize..64) {
            let wire = to_network(text.as_bytes(), chunk);
            prop_assert!(!wire.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'));
            prop_assert_eq!(from_network(&wire, chunk), text.as_bytes());
        }

        #[test]
        fn any_bytes_any_chunks_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300), chunk in 1usize..17) {
            let _ = to_network(&data, chunk);
            let out = from_network(&data, chunk);
            prop_assert!(out.len() <= data.len());
        }
    }
}
