//! SHA-256 taken from the bytes as they stream, for `hash`-style output
//! and `upload --verify` / `download --verify`.
//!
//! The digest is computed by wrapping the transfer's source or sink, so a
//! verified transfer reads the local file exactly once — the same pass
//! that sends or writes it — and hashes exactly the bytes that went over
//! the data connection. The trade-off: the digest covers what the shell
//! sent or received, not what is on the local disk afterwards (a disk that
//! corrupts a write would go unnoticed); the server's `HASH`, which reads
//! its own copy back, covers the other end.

use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};

/// Lowercase hex of `bytes`, as `sha256sum` and `HASH` print digests.
pub fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A reader that hashes every byte it hands out.
#[derive(Debug)]
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// The SHA-256 of everything read so far, in lowercase hex.
    pub fn hex(&self) -> String {
        to_hex(&self.hasher.clone().finalize())
    }

    /// How many bytes were read so far.
    pub fn count(&self) -> u64 {
        self.count
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// A writer that hashes every byte its inner writer accepted.
#[derive(Debug)]
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
        }
    }

    /// The SHA-256 of everything written so far, in lowercase hex.
    pub fn hex(&self) -> String {
        to_hex(&self.hasher.clone().finalize())
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        // Only what the inner writer took: a short write is retried with
        // the rest, which must not be hashed twice.
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    /// Takes at most 2 bytes per write, so short writes are exercised.
    struct Dribble(Vec<u8>);

    impl Write for Dribble {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(2);
            self.0.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn digests_match_the_known_answer() {
        // FIPS 180-2 test vector "abc".
        let mut r = HashingReader::new(&b"abc"[..]);
        let mut sink = Vec::new();
        io::copy(&mut r, &mut sink).unwrap();
        assert_eq!(r.hex(), ABC);

        let mut w = HashingWriter::new(Dribble(Vec::new()));
        w.write_all(b"abc").unwrap();
        assert_eq!(w.hex(), ABC);
        assert_eq!(w.inner.0, b"abc");
        assert_eq!(
            HashingWriter::new(Vec::new()).hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(to_hex(&[0, 0xab, 0xff]), "00abff");
    }
}
