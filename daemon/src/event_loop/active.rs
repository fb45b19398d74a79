//! Active mode (RFC 959 §4.1.2 PORT, RFC 2428 §2 EPRT): the loop connects
//! out to the client's data port, non-blocking.
//!
//! The command has checked the target (RFC 2577 §3 bounce protection); the
//! loop binds a socket to the control connection's local address (so the
//! client sees the data connection come from the host it talks to, on any
//! free port — not port 20, which would need privileges), starts a
//! non-blocking `connect` and registers it as the connection's data
//! connection with `connecting` set. The first writable (or error) event
//! finishes it; the passive-listener deadline ([`Kind::Passive`], the data
//! timeout) bounds the wait, exactly as for a passive data connection.

use std::net::IpAddr;

use socket2::{Domain, Protocol, Socket, Type};

use super::*;

/// Binds to `local` (port 0) and starts a non-blocking connect to `target`.
fn connect_from(local: IpAddr, target: SocketAddr) -> io::Result<TcpStream> {
    // An IPv4-mapped control connection (dual-stack listener) connects out
    // over IPv4.
    let (local, target) = match (local.to_canonical(), target.ip().to_canonical()) {
        (IpAddr::V4(l), IpAddr::V4(t)) => (
            SocketAddr::from((l, 0)),
            SocketAddr::from((t, target.port())),
        ),
        _ => (SocketAddr::new(local, 0), target),
    };
    let socket = Socket::new(
        Domain::for_address(target),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_nonblocking(true)?;
    crate::transfer::limit_unsent(&socket);
    socket.bind(&local.into())?;
    match socket.connect(&target.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(nix::errno::Errno::EINPROGRESS as i32) => {}
        Err(e) if would_block(&e) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(socket.into()))
}

impl EventLoop {
    /// Carries out [`Outcome::Active`]: replaces any passive listener or data
    /// connection by a connection being made to `target`, and queues `reply`.
    pub(super) fn open_active(&mut self, key: usize, target: SocketAddr, reply: Reply) {
        let data_timeout = self.config.data_timeout;
        self.drop_data(key);
        let registry = self.poll.registry();
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let id = conn.id(key);
        let local = match conn.stream.socket().local_addr() {
            Ok(a) => a.ip(),
            Err(e) => {
                conn.control.queue(&Reply::new(
                    ReplyCode::CANT_OPEN_DATA,
                    format!("cannot open data connection: {e}"),
                ));
                return;
            }
        };
        let connected = connect_from(local, target).and_then(|mut stream| {
            registry
                .register(
                    &mut stream,
                    token(key, Part::Data),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .map(|()| stream)
        });
        match connected {
            Ok(stream) => {
                tracing::debug!(peer = %conn.peer, %target, "connecting a data connection");
                // Under PROT P the FTP client is the TLS client here too
                // (RFC 4217 §7): the handshake starts in `check_data_tls`
                // once the connect is done, as for an accepted connection.
                conn.data = Some(Stream::plain(stream));
                conn.data_tls = conn.data_private;
                conn.data_checked = !conn.data_tls;
                conn.connecting = true;
                conn.control.queue(&reply);
                let at = Instant::now() + data_timeout;
                self.timers.set(
                    id,
                    Kind::Passive,
                    &mut conn.timers[Kind::Passive as usize],
                    at,
                );
            }
            Err(e) => {
                tracing::debug!(peer = %conn.peer, %target, "active data connection: {e}");
                conn.control.queue(&Reply::new(
                    ReplyCode::CANT_OPEN_DATA,
                    format!("cannot open data connection to {target}: {}", describe(&e)),
                ));
            }
        }
    }

    /// A readiness event on a data connection still being connected: finish
    /// the connect, then start a waiting transfer; or report the failure.
    pub(super) fn finish_connect(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let Some(stream) = &conn.data else {
            conn.connecting = false;
            return;
        };
        let failure = match stream.socket().take_error() {
            Ok(Some(e)) | Err(e) => Some(e),
            Ok(None) => match stream.socket().peer_addr() {
                Ok(_) => None,
                // Not connected yet: a spurious event; wait for the next.
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(e) => Some(e),
            },
        };
        match failure {
            None => {
                conn.connecting = false;
                conn.timers[Kind::Passive as usize].want = None;
                tracing::debug!(peer = %conn.peer, "data connection connected");
                if conn.transfer.is_some() {
                    self.start_transfer(key);
                } else if !conn.data_checked {
                    // The TLS handshake may start before the transfer command.
                    self.enqueue(key, Part::Data);
                }
            }
            Some(e) => {
                tracing::debug!(peer = %conn.peer, "active data connection failed: {e}");
                if conn.transfer.is_some() {
                    self.end_transfer(
                        key,
                        Reply::new(
                            ReplyCode::CANT_OPEN_DATA,
                            format!("cannot open data connection: {}", describe(&e)),
                        ),
                    );
                } else {
                    self.drop_data(key);
                }
            }
        }
    }
}

fn describe(e: &io::Error) -> String {
    e.kind().to_string().to_lowercase()
}
