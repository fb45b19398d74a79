//! A minimal explicit-FTPS control connection for tests that need exact
//! bytes and replies over TLS (RFC 4217): `AUTH TLS` on a [`RawControl`](crate::RawControl)'s
//! socket, then a blocking rustls client that trusts the test server's own
//! certificate ([`TestServer::cert_path`](crate::TestServer::cert_path)).

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use crate::{IO_TIMEOUT, RawReply};

/// A client configuration trusting the certificate(s) in `ca_pem`.
///
/// # Panics
/// If the file holds no usable certificate.
pub fn client_config(ca_pem: &Path) -> Arc<ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_pem).expect("read CA PEM") {
        roots.add(cert.expect("CA certificate")).expect("add CA");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// A control connection protected by TLS.
pub struct TlsControl {
    stream: BufReader<StreamOwned<ClientConnection, TcpStream>>,
}

impl TlsControl {
    /// Connects to `addr`, reads the `220`, sends `AUTH TLS`, expects `234`
    /// and completes the handshake for `localhost`.
    ///
    /// # Panics
    /// If any step fails.
    pub fn connect(addr: SocketAddr, config: Arc<ClientConfig>) -> Self {
        let mut raw = crate::RawControl::connect(addr);
        raw.expect(220);
        raw.cmd("AUTH TLS", 234);
        Self::over(raw.stream().try_clone().expect("clone"), config)
    }

    /// Starts TLS on an already-connected socket (implicit FTPS, or after
    /// the caller's own `AUTH TLS`).
    ///
    /// # Panics
    /// If the handshake fails.
    pub fn over(socket: TcpStream, config: Arc<ClientConfig>) -> Self {
        socket.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        let name = ServerName::try_from("localhost").expect("name");
        let conn = ClientConnection::new(config, name).expect("client connection");
        let mut stream = StreamOwned::new(conn, socket);
        while stream.conn.is_handshaking() {
            stream
                .conn
                .complete_io(&mut stream.sock)
                .expect("TLS handshake");
        }
        Self {
            stream: BufReader::new(stream),
        }
    }

    /// A protected data connection over `socket` (handshake done): read it
    /// to the server's `close_notify`.
    ///
    /// # Panics
    /// If the handshake fails.
    pub fn data(
        socket: TcpStream,
        config: Arc<ClientConfig>,
    ) -> StreamOwned<ClientConnection, TcpStream> {
        Self::over(socket, config).stream.into_inner()
    }

    /// Sends `line` followed by CRLF.
    ///
    /// # Panics
    /// On a write error.
    pub fn send(&mut self, line: &str) {
        let s = self.stream.get_mut();
        s.write_all(format!("{line}\r\n").as_bytes())
            .expect("write control");
        s.flush().expect("flush control");
    }

    /// Reads one (possibly multi-line) reply.
    ///
    /// # Errors
    /// An I/O or TLS error, `UnexpectedEof` when the server closed.
    pub fn try_reply(&mut self) -> io::Result<RawReply> {
        let mut text = String::new();
        // Bounded: 10,000 lines is a failure in itself.
        for _ in 0..10_000 {
            let mut line = String::new();
            if self.stream.read_line(&mut line)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(line);
            let first = text.get(..3).unwrap_or("");
            if line.len() >= 4 && line.starts_with(first) && line.as_bytes()[3] == b' ' {
                let code = first
                    .parse()
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, text.clone()))?;
                return Ok(RawReply { code, text });
            }
        }
        Err(io::Error::new(io::ErrorKind::InvalidData, "endless reply"))
    }

    /// Sends `line` and asserts the reply code.
    ///
    /// # Panics
    /// On another code or an error.
    pub fn cmd(&mut self, line: &str, code: u16) -> RawReply {
        self.send(line);
        let r = self.try_reply().expect("read reply");
        assert_eq!(r.code, code, "{line:?}: expected {code}, got {:?}", r.text);
        r
    }
}
