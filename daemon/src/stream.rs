//! A control or data connection's byte stream: plain TCP, or TLS (RFC 4217)
//! driven by `mio` readiness in the one event loop.
//!
//! [`Stream`] gives the loop the same non-blocking `read`/`write` whether or
//! not TLS is on, so the control state machine and the transfer pump never
//! branch on it. With TLS it is rustls' `tlsserver-mio` shape: readable →
//! `read_tls` → `process_new_packets` → plaintext; plaintext written goes
//! into the `ServerConnection` (bounded by [`TLS_BUFFER`]) and out with
//! `write_tls` while it `wants_write`. A handshake advances inside `read`
//! and `write` (and [`Stream::drive`] for a connection that has nothing to
//! read or write yet), one readiness event at a time; no thread waits on it.
//!
//! The main trade-off: file data sent over TLS cannot use `sendfile(2)` —
//! the kernel cannot encrypt here (`CONFIG_TLS` is off) — so
//! [`Stream::send_file`] reads at an offset into a 64 KiB buffer and
//! encrypts from there; a chunk that TLS did not accept is simply read again
//! next time rather than kept.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::{ServerConfig, ServerConnection};

/// Most bytes (plaintext waiting for the handshake, or TLS records waiting
/// for the socket) one TLS connection buffers before `write` reports
/// `WouldBlock`.
pub(crate) const TLS_BUFFER: usize = 256 * 1024;

/// Bytes read from a file per TLS record batch by [`Stream::send_file`].
const FILE_CHUNK: usize = 64 * 1024;

/// Handshake steps taken by one [`Stream::drive`] call, so one connection
/// cannot hold the loop.
const DRIVE_STEPS: usize = 16;

/// Socket reads one [`Stream::read`] may make without finding application
/// data before it gives up on the peer. A 16 KiB record takes a handful;
/// 256 is far beyond any honest handshake or record.
const PULLS_WITHOUT_DATA: usize = 256;

/// Plain TCP or TLS over TCP.
pub(crate) struct Stream {
    socket: TcpStream,
    tls: Option<Box<ServerConnection>>,
    /// Buffer for [`Stream::send_file`] over TLS (allocated on first use).
    chunk: Vec<u8>,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl Stream {
    /// A plain TCP stream.
    pub(crate) fn plain(socket: TcpStream) -> Self {
        Self {
            socket,
            tls: None,
            chunk: Vec::new(),
        }
    }

    /// Starts the server side of a TLS handshake: the next bytes read are
    /// the client's `ClientHello`. `binding` goes into every session ticket
    /// issued on this connection (see [`Stream::resumed_binding`]).
    ///
    /// # Errors
    /// rustls refused to create the connection (an invalid configuration).
    pub(crate) fn start_tls(
        &mut self,
        config: Arc<ServerConfig>,
        binding: &[u8],
    ) -> Result<(), rustls::Error> {
        let mut tls = ServerConnection::new(config)?;
        tls.set_buffer_limit(Some(TLS_BUFFER));
        tls.set_resumption_data(binding);
        self.tls = Some(Box::new(tls));
        Ok(())
    }

    /// True when the peer has sent something not read yet (or closed): on a
    /// data connection under `PROT P`, its ClientHello.
    pub(crate) fn has_input(&self) -> bool {
        let mut probe = [0u8; 1];
        match self.socket.peek(&mut probe) {
            Ok(_) => true,
            Err(e) => !would_block(&e),
        }
    }

    /// True once TLS was started on this stream.
    pub(crate) fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// True while a TLS handshake has not completed.
    pub(crate) fn is_handshaking(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.is_handshaking())
    }

    /// After a TLS 1.3 handshake: `Some(binding)` when the client resumed a
    /// session, with the `binding` given to [`Stream::start_tls`] on the
    /// connection that issued the ticket; `None` for a full handshake (and
    /// always for TLS 1.2, where rustls does not return it).
    pub(crate) fn resumed_binding(&self) -> Option<&[u8]> {
        self.tls.as_ref()?.received_resumption_data()
    }

    /// True when the completed TLS handshake resumed an earlier session.
    pub(crate) fn resumed(&self) -> bool {
        self.tls
            .as_ref()
            .is_some_and(|t| t.handshake_kind() == Some(rustls::HandshakeKind::Resumed))
    }

    /// The negotiated TLS version, for logs.
    pub(crate) fn tls_version(&self) -> Option<rustls::ProtocolVersion> {
        self.tls.as_ref()?.protocol_version()
    }

    /// The TCP socket (for socket options and `TCP_INFO`).
    pub(crate) fn socket(&self) -> &TcpStream {
        &self.socket
    }

    /// True while TLS records wait for the socket to become writable.
    pub(crate) fn wants_write(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.wants_write())
    }

    /// Writes queued TLS records. `Err(WouldBlock)` when some remain.
    fn push_tls(&mut self) -> io::Result<()> {
        let Some(tls) = &mut self.tls else {
            return Ok(());
        };
        while tls.wants_write() {
            match tls.write_tls(&mut self.socket) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Like [`Self::push_tls`], treating "socket full" as success: the
    /// caller keeps write interest while [`Self::wants_write`].
    fn push_tls_some(&mut self) -> io::Result<()> {
        match self.push_tls() {
            Err(e) if would_block(&e) => Ok(()),
            other => other,
        }
    }

    /// Reads TLS records from the socket once and processes them.
    /// `Ok(false)` when the peer closed the TCP connection.
    fn pull_tls(&mut self) -> io::Result<bool> {
        let Some(tls) = &mut self.tls else {
            return Ok(true);
        };
        let n = loop {
            match tls.read_tls(&mut self.socket) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other?,
            }
        };
        if let Err(e) = tls.process_new_packets() {
            // rustls queued an alert saying why: send it, then fail.
            let _ = tls.write_tls(&mut self.socket);
            return Err(tls_error(e));
        }
        self.push_tls_some()?;
        Ok(n > 0)
    }

    /// Advances a TLS handshake with whatever the socket holds, without
    /// reading application data. `Ok(())` also when it must wait for more.
    ///
    /// # Errors
    /// The handshake failed (the alert was sent), or the peer closed the
    /// connection before finishing it.
    pub(crate) fn drive(&mut self) -> io::Result<()> {
        for _ in 0..DRIVE_STEPS {
            self.push_tls_some()?;
            if !self.is_handshaking() {
                return Ok(());
            }
            match self.pull_tls() {
                Ok(true) => {}
                Ok(false) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Err(e) if would_block(&e) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Sends up to `max` bytes of `file` from `*offset` on, advancing it:
    /// `sendfile(2)` on a plain stream, read-and-encrypt over TLS.
    /// `Ok(0)` at the end of the file.
    ///
    /// # Errors
    /// `WouldBlock` when the socket (or the TLS buffer) is full; errors of
    /// the file or the socket otherwise.
    pub(crate) fn send_file(
        &mut self,
        file: &File,
        offset: &mut i64,
        max: usize,
    ) -> io::Result<usize> {
        if self.tls.is_none() {
            return nix::sys::sendfile::sendfile64(&self.socket, file, Some(offset), max)
                .map_err(io::Error::from);
        }
        if self.chunk.is_empty() {
            self.chunk = vec![0; FILE_CHUNK];
        }
        let want = max.min(FILE_CHUNK);
        let at = u64::try_from(*offset).unwrap_or(0);
        let n = file.read_at(&mut self.chunk[..want], at)?;
        if n == 0 {
            return Ok(0);
        }
        let chunk = std::mem::take(&mut self.chunk);
        let written = self.write(&chunk[..n]);
        self.chunk = chunk;
        let written = written?;
        *offset += i64::try_from(written).unwrap_or(0);
        Ok(written)
    }

    /// Ends the sending direction: TLS `close_notify` (best effort), then a
    /// TCP half-close. In stream mode this marks the end of the file (RFC 959
    /// §3.4.1); a TLS client also needs the `close_notify` to tell it from a
    /// truncation.
    pub(crate) fn close_write(&mut self) {
        if let Some(tls) = &mut self.tls {
            tls.send_close_notify();
            let _ = self.push_tls();
        }
        let _ = self.socket.shutdown(Shutdown::Write);
    }

    /// True when every byte given to `write` has reached the socket.
    ///
    /// # Errors
    /// `WouldBlock` while TLS records wait for the socket.
    pub(crate) fn flushed(&mut self) -> io::Result<()> {
        self.push_tls()
    }
}

impl Read for Stream {
    /// Plaintext from the peer. `Ok(0)` at the end: TCP EOF, or a TLS
    /// `close_notify`. A TLS peer that closes TCP without `close_notify` is
    /// treated as the end too (as vsftpd's default `strict_ssl_read_eof=NO`
    /// does: many clients never send it).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.tls.is_none() {
            return self.socket.read(buf);
        }
        // Each round either returns or reads from the socket. A peer that
        // keeps sending records without application data (a flood of
        // alerts or handshake messages) would keep the socket from running
        // dry: after PULLS_WITHOUT_DATA reads it is cut off.
        for _ in 0..PULLS_WITHOUT_DATA {
            if let Some(tls) = &mut self.tls {
                match tls.reader().read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                    Err(e) if would_block(&e) => {}
                    Err(e) => return Err(e),
                }
            }
            if !self.pull_tls()? {
                // TCP EOF: whatever plaintext was left has been processed.
                return match self.tls.as_mut().map(|t| t.reader().read(buf)) {
                    Some(Ok(n)) => Ok(n),
                    _ => Ok(0),
                };
            }
        }
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "too many TLS records without application data",
        ))
    }
}

impl Write for Stream {
    /// Plaintext to the peer. Over TLS the bytes are accepted into the
    /// connection's buffer (during a handshake too: they leave once it
    /// completes) and `WouldBlock` means that buffer is full.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.tls.is_none() {
            return self.socket.write(buf);
        }
        if self.is_handshaking() {
            self.drive()?;
        }
        self.push_tls_some()?;
        let n = match &mut self.tls {
            Some(tls) => tls.writer().write(buf)?,
            None => 0,
        };
        self.push_tls_some()?;
        if n == 0 && !buf.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.push_tls_some()
    }
}

impl mio::event::Source for Stream {
    fn register(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        self.socket.register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        self.socket.reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &mio::Registry) -> io::Result<()> {
        self.socket.deregister(registry)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::io::{Read, Write};
    use std::net::TcpStream as StdStream;
    use std::thread;
    use std::time::Duration;

    use rustls::pki_types::ServerName;
    use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

    use super::*;

    struct Pki {
        server: Arc<ServerConfig>,
        client: Arc<ClientConfig>,
    }

    fn pki() -> Pki {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let base = crate::tls::server_config_from_pem(
            cert.cert.pem().as_bytes(),
            cert.signing_key.serialize_pem().as_bytes(),
        )
        .unwrap();
        let mut roots = RootCertStore::empty();
        roots.add(cert.cert.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Pki {
            server: crate::tls::session_config(&base).unwrap(),
            client: Arc::new(client),
        }
    }

    /// A connected pair: the server end as a TLS [`Stream`], the client
    /// end as a blocking socket.
    fn pair(server: &Arc<ServerConfig>, binding: &[u8]) -> (Stream, StdStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = StdStream::connect(listener.local_addr().unwrap()).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let (socket, _) = listener.accept().unwrap();
        socket.set_nonblocking(true).unwrap();
        let mut stream = Stream::plain(TcpStream::from_std(socket));
        stream.start_tls(server.clone(), binding).unwrap();
        (stream, client)
    }

    fn tls_client(
        config: &Arc<ClientConfig>,
        socket: StdStream,
    ) -> StreamOwned<ClientConnection, StdStream> {
        let name = ServerName::try_from("localhost").unwrap();
        StreamOwned::new(ClientConnection::new(config.clone(), name).unwrap(), socket)
    }

    /// Retries a non-blocking call until it stops saying `WouldBlock`
    /// (bounded: 10 s of 1 ms naps).
    fn retry<T>(mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
        for _ in 0..10_000 {
            match f() {
                Err(e) if would_block(&e) => thread::sleep(Duration::from_millis(1)),
                other => return other,
            }
        }
        Err(io::ErrorKind::TimedOut.into())
    }

    #[test]
    fn handshake_read_write_and_close_notify() {
        let pki = pki();
        let (mut server, socket) = pair(&pki.server, b"binding");
        let client_config = pki.client.clone();
        let client = thread::spawn(move || {
            let mut tls = tls_client(&client_config, socket);
            tls.write_all(b"hello").unwrap();
            let mut reply = [0u8; 5];
            tls.read_exact(&mut reply).unwrap();
            tls.conn.send_close_notify();
            tls.flush().unwrap();
            reply
        });
        let mut buf = [0u8; 16];
        let n = retry(|| server.read(&mut buf)).unwrap();
        assert_eq!(&buf[..n], b"hello");
        assert!(!server.is_handshaking() && !server.resumed());
        assert_eq!(retry(|| server.write(b"world")).unwrap(), 5);
        retry(|| server.flushed()).unwrap();
        assert_eq!(&client.join().unwrap(), b"world");
        assert_eq!(
            retry(|| server.read(&mut buf)).unwrap(),
            0,
            "close_notify is the end"
        );
    }

    #[test]
    fn send_file_streams_a_file_through_tls() {
        let pki = pki();
        let (mut server, socket) = pair(&pki.server, b"b");
        let data: Vec<u8> = (0..(3 << 20) + 7u32).map(|i| (i % 251) as u8).collect();
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&data).unwrap();
        let client_config = pki.client.clone();
        let client = thread::spawn(move || {
            let mut tls = tls_client(&client_config, socket);
            let mut got = Vec::new();
            tls.read_to_end(&mut got).unwrap();
            got
        });
        let mut offset = 0i64;
        // Bounded: every round sends bytes or waits; 3 MiB in 64 KiB steps.
        for _ in 0..100_000 {
            match server.send_file(&file, &mut offset, 1 << 20) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if would_block(&e) => {
                    // The handshake needs the client's bytes.
                    server.drive().unwrap();
                    thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("send_file: {e}"),
            }
        }
        retry(|| server.flushed()).unwrap();
        server.close_write();
        assert!(client.join().unwrap() == data);
        assert_eq!(offset, i64::try_from(data.len()).unwrap());
    }

    #[test]
    fn garbage_instead_of_a_client_hello_is_an_error() {
        let pki = pki();
        let (mut server, mut socket) = pair(&pki.server, b"b");
        socket
            .write_all(&[0x16, 0x03, 0x01, 0x00, 0x04, 9, 9, 9, 9])
            .unwrap();
        let mut buf = [0u8; 16];
        let e = retry(|| server.read(&mut buf)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
    }

    #[test]
    fn a_second_connection_resumes_with_the_binding() {
        let pki = pki();
        for round in 0..3 {
            let (mut server, socket) = pair(&pki.server, b"control-1");
            let client_config = pki.client.clone();
            let client = thread::spawn(move || {
                let mut tls = tls_client(&client_config, socket);
                tls.write_all(b"x").unwrap();
                // Read the tickets the server sent after the handshake.
                let mut one = [0u8; 1];
                tls.read_exact(&mut one).unwrap();
            });
            let mut buf = [0u8; 1];
            retry(|| server.read(&mut buf)).unwrap();
            retry(|| server.write(b"y")).unwrap();
            retry(|| server.flushed()).unwrap();
            client.join().unwrap();
            assert_eq!(server.resumed(), round > 0, "round {round}");
            if round > 0 && server.tls_version() == Some(rustls::ProtocolVersion::TLSv1_3) {
                assert_eq!(server.resumed_binding(), Some(&b"control-1"[..]));
            }
        }
    }
}
