//! Passive mode and data connections: listeners, accepting, pumping transfers, settling and committing uploads, aborts.

use super::*;

impl EventLoop {
    // ---- passive mode and data connections ----

    pub(super) fn open_passive(
        &mut self,
        key: usize,
        listener: std::net::TcpListener,
        reply: Reply,
    ) {
        let data_timeout = self.config.data_timeout;
        let registry = self.poll.registry();
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let id = conn.id(key);
        // A new PASV replaces the previous listener and any data connection
        // that was accepted but not used (or refused).
        conn.data_conflict = None;
        if let Some(mut old) = conn.passive.take() {
            let _ = registry.deregister(&mut old);
        }
        if let Some(mut old) = conn.data.take() {
            let _ = registry.deregister(&mut old);
        }
        conn.connecting = false;
        let registered = listener.set_nonblocking(true).and_then(|()| {
            let mut listener = TcpListener::from_std(listener);
            registry
                .register(&mut listener, token(key, Part::Passive), Interest::READABLE)
                .map(|()| listener)
        });
        match registered {
            Ok(listener) => {
                conn.passive = Some(listener);
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
                tracing::warn!(peer = %conn.peer, "passive listener: {e}");
                conn.control.queue(&Reply::new(
                    ReplyCode::CANT_OPEN_DATA,
                    "cannot open a passive listener",
                ));
            }
        }
    }

    /// Accepts the data connection of a passive listener.
    ///
    /// The listener stays open until the transfer ends. Plain FTP cannot
    /// tell which of two connections to the passive port is the client's,
    /// so a second one (from the client's address: others are refused as
    /// before, RFC 2577 §5) aborts the transfer with `426` naming it, an
    /// upload is not committed, and the peer is logged: the client retries,
    /// and a local process that raced it gets nothing quietly.
    pub(super) fn accept_data(&mut self, key: usize) {
        // Each round takes one pending connection; the rest wait for the
        // ready list, so a flood on the port cannot hold the loop.
        for _ in 0..64 {
            let Some(conn) = self.conns.get_mut(key) else {
                return;
            };
            let Some(listener) = &conn.passive else {
                return;
            };
            let (stream, addr) = match listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if would_block(&e) => return,
                Err(e) if interrupted(&e) => continue,
                Err(e) => {
                    tracing::warn!(peer = %conn.peer, "accepting a data connection: {e}");
                    return;
                }
            };
            // RFC 2577 §5 (port stealing): only the client that asked
            // for this listener may connect to it. Behind a load balancer
            // (PROXY protocol) the passive ports are normally relayed by
            // it too, so its address is the client's as well.
            let from = addr.ip().to_canonical();
            let same = |a: SocketAddr| a.ip().to_canonical() == from;
            if !same(conn.peer) && !conn.via.is_some_and(same) {
                tracing::warn!(
                    peer = %conn.peer, from = %addr,
                    "refused a data connection from another address"
                );
                continue;
            }
            let used =
                conn.data.is_some() || conn.transfer.as_ref().is_some_and(|t| t.opening.is_none());
            if used {
                drop(stream);
                self.second_data_connection(key, addr);
                continue;
            }
            self.admit_data(key, stream);
        }
        self.enqueue(key, Part::Passive);
    }

    /// Registers an accepted data connection (with TLS under `PROT P`) and
    /// starts the waiting transfer, if any.
    fn admit_data(&mut self, key: usize, socket: TcpStream) {
        let registry = self.poll.registry();
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        conn.timers[Kind::Passive as usize].want = None;
        crate::transfer::limit_unsent(&socket);
        let mut stream = Stream::plain(socket);
        // Under PROT P the handshake starts in `check_data_tls`, once the
        // direction of the transfer (or the ClientHello) is known.
        conn.data_tls = conn.data_private;
        conn.data_checked = !conn.data_tls;
        // Both interests, registered once: edge-triggered events
        // for the unused direction are rare and harmless.
        if let Err(e) = registry.register(
            &mut stream,
            token(key, Part::Data),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            tracing::warn!(peer = %conn.peer, "registering a data connection: {e}");
            return;
        }
        conn.data = Some(stream);
        if conn.transfer.is_some() {
            self.start_transfer(key);
        } else if !conn.data_checked {
            // The TLS handshake may start before the transfer command.
            self.enqueue(key, Part::Data);
        }
    }

    /// A second connection reached the passive port: see [`Self::accept_data`].
    fn second_data_connection(&mut self, key: usize, from: SocketAddr) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let reason = format!("a second connection to the passive port came from {from}");
        if matches!(
            conn.transfer,
            Some(Active {
                flow: Flow::Committing,
                ..
            })
        ) {
            tracing::warn!(peer = %conn.peer, %from, "{reason} while the upload was being committed");
            return;
        }
        tracing::warn!(peer = %conn.peer, %from, "{reason}: data connection refused, transfer aborted");
        if conn.transfer.is_some() {
            self.end_transfer(
                key,
                Reply::new(
                    ReplyCode::TRANSFER_ABORTED,
                    format!("transfer aborted: {reason}"),
                ),
            );
        } else {
            self.drop_data(key);
            if let Some(conn) = self.conns.get_mut(key) {
                conn.data_conflict = Some(Reply::new(
                    ReplyCode::CANT_OPEN_DATA,
                    format!("cannot use the data connection: {reason}; use PASV or EPSV again"),
                ));
            }
        }
    }

    /// Why the transfer a command just asked for may not run on the
    /// prepared data connection, if it may not.
    pub(super) fn refuse_data(&mut self, key: usize) -> Option<Reply> {
        let conn = self.conns.get_mut(key)?;
        if let Some(reply) = conn.data_conflict.take() {
            return Some(reply);
        }
        let session = conn.session.as_ref()?;
        let anonymous = session
            .user()
            .is_some_and(|u| session.config.users.is_anonymous(&u.name));
        if let Some(reply) =
            ftpsh_core::tls::data_refusal(session.config.tls, session.tls, anonymous)
        {
            return Some(reply);
        }
        if conn
            .data
            .as_ref()
            .is_some_and(|_| conn.data_tls != conn.data_private)
        {
            return Some(Reply::new(
                ReplyCode::CANT_OPEN_DATA,
                "the data connection was opened before PROT changed: use PASV or EPSV again",
            ));
        }
        None
    }

    /// Drives the data connection's TLS handshake and then checks that it
    /// belongs to this control connection (RFC 4217 §10): a resumed session
    /// must be this control connection's; a full handshake is refused
    /// under `--require-tls-session-reuse`. Returns true when the data may
    /// move.
    fn check_data_tls(&mut self, key: usize) -> bool {
        let reuse_required = self.server_config.tls.session_reuse_required;
        let Some(conn) = self.conns.get_mut(key) else {
            return false;
        };
        if conn.data_checked {
            return true;
        }
        let upload = conn
            .transfer
            .as_ref()
            .map(|t| matches!(t.flow, Flow::Receive(_)));
        let Some(data) = &mut conn.data else {
            return false;
        };
        if !data.is_tls() {
            // Wait for the transfer command, unless the client starts the
            // handshake first (then it is not an upload that is known).
            if upload.is_none() && !data.has_input() {
                return false;
            }
            // An upload's client only writes: TLS 1.3 tickets sent to it
            // would sit unread, its close would then be a reset, and the
            // reset drops whatever of the file its kernel had not sent yet
            // (lftp does this). Tickets go out on the control connection
            // and on downloads only.
            let config = if upload == Some(true) {
                conn.tls_config.as_ref().map(|c| {
                    conn.tls_upload_config
                        .get_or_insert_with(|| crate::tls::without_tickets(c))
                        .clone()
                })
            } else {
                conn.tls_config.clone()
            };
            let started = match config {
                Some(config) => data.start_tls(config, &conn.tls_binding),
                None => Err(rustls::Error::General("no TLS configuration".to_owned())),
            };
            if let Err(e) = started {
                tracing::warn!(peer = %conn.peer, "starting TLS on a data connection: {e}");
                let refusal = Reply::new(ReplyCode::CANT_OPEN_DATA, "cannot start TLS");
                self.refuse_data_connection(key, refusal);
                return false;
            }
        }
        let refusal = match data.drive() {
            Err(e) => {
                tracing::info!(peer = %conn.peer, "data connection TLS handshake failed: {e}");
                Reply::new(
                    ReplyCode::CANT_OPEN_DATA,
                    format!("cannot open data connection: TLS handshake failed: {e}"),
                )
            }
            Ok(()) if data.is_handshaking() => return false,
            Ok(()) => match data.resumed_binding() {
                Some(b) if b != conn.tls_binding => {
                    tracing::warn!(peer = %conn.peer, "data connection resumed another control connection's TLS session: refused");
                    Reply::new(
                        ReplyCode(522),
                        "data connection refused: its TLS session belongs to another control connection",
                    )
                }
                _ if data.resumed() => {
                    tracing::debug!(peer = %conn.peer, version = ?data.tls_version(), "data connection resumed the control session");
                    conn.data_checked = true;
                    return true;
                }
                _ if reuse_required => {
                    tracing::info!(peer = %conn.peer, "data connection did not resume the TLS session: refused");
                    Reply::new(
                        ReplyCode(522),
                        "data connection refused: TLS session reuse required",
                    )
                }
                _ => {
                    tracing::debug!(peer = %conn.peer, version = ?data.tls_version(), "data connection with a new TLS session");
                    conn.data_checked = true;
                    return true;
                }
            },
        };
        self.refuse_data_connection(key, refusal);
        false
    }

    /// Ends the transfer with `refusal`, or (before the transfer command)
    /// keeps it for the next one, and closes the data connection.
    fn refuse_data_connection(&mut self, key: usize, refusal: Reply) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.transfer.is_some() {
            self.end_transfer(key, refusal);
        } else {
            self.drop_data(key);
            if let Some(conn) = self.conns.get_mut(key) {
                conn.data_conflict = Some(refusal);
            }
        }
    }

    /// The data connection is there: send the `150` and start pumping.
    pub(super) fn start_transfer(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let id = conn.id(key);
        let Some(active) = &mut conn.transfer else {
            return;
        };
        let Some(opening) = active.opening.take() else {
            return;
        };
        active.started = Instant::now();
        conn.control.queue(&opening);
        let at = Instant::now() + self.config.data_timeout;
        self.timers
            .set(id, Kind::Stall, &mut conn.timers[Kind::Stall as usize], at);
        let _ = self.flush(key);
        // Bytes may be waiting already (the edge was seen before the
        // transfer existed): pump right away rather than wait for an event.
        self.enqueue(key, Part::Data);
    }

    pub(super) fn pump_data(&mut self, key: usize) {
        // No byte moves before the TLS handshake and its check are done.
        if !self.check_data_tls(key) {
            return;
        }
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let id = conn.id(key);
        let (Some(active), Some(data)) = (&mut conn.transfer, &mut conn.data) else {
            return;
        };
        if active.opening.is_some() {
            return;
        }
        let before = active.bytes;
        let result = match &mut active.flow {
            Flow::Send(source) => pump_send(data, source, &mut active.bytes),
            Flow::Receive(sink) => pump_receive(data, sink, &mut self.recv_buf, &mut active.bytes),
            Flow::Settling { .. } | Flow::Committing => return,
        };
        if active.bytes > before {
            let at = Instant::now() + self.config.data_timeout;
            self.timers
                .set(id, Kind::Stall, &mut conn.timers[Kind::Stall as usize], at);
        }
        match result {
            Pump::Blocked => {}
            Pump::Budget => self.enqueue(key, Part::Data),
            Pump::Finished => {
                let bytes = active.bytes;
                match std::mem::replace(&mut active.flow, Flow::Committing) {
                    Flow::Send(_) => {
                        // Stream mode: closing the data connection marks the
                        // end of the file (RFC 959 §3.4.1).
                        data.close_write();
                        self.drop_data(key);
                        self.end_transfer(
                            key,
                            Reply::new(
                                ReplyCode::CLOSING_DATA,
                                format!("transfer complete ({bytes} bytes)"),
                            ),
                        );
                    }
                    Flow::Receive(sink) => {
                        active.flow = Flow::Settling {
                            sink: sink.into_upload(),
                            since: Instant::now(),
                        };
                        // A TLS client waits for our close_notify too
                        // (Python's unwrap() does).
                        data.close_write();
                        // The data connection's round-trip estimate comes
                        // from its handshake (the server sent nothing else
                        // on it, unless TLS), so no delayed ACK inflates it.
                        let rtt = crate::settle::rtt(data.socket());
                        // The passive listener stays open until the final
                        // reply: a second connection still aborts.
                        self.drop_data_stream(key);
                        self.upload_ended(key, rtt);
                    }
                    Flow::Settling { .. } | Flow::Committing => {}
                }
            }
            Pump::PeerError(e) => {
                tracing::debug!(peer = %conn.peer, "data connection: {e}");
                self.drop_data(key);
                self.end_transfer(
                    key,
                    Reply::new(
                        ReplyCode::TRANSFER_ABORTED,
                        "transfer aborted: data connection lost",
                    ),
                );
            }
            Pump::SinkError(e) | Pump::SourceError(e) => {
                tracing::warn!(peer = %conn.peer, "transfer: {e}");
                self.drop_data(key);
                self.end_transfer(key, transfer_error_reply(&e));
            }
        }
    }

    /// The data connection of an upload ended normally: decide whether it is
    /// complete now (see [`crate::settle`]), or wait for the control
    /// connection for the settle window.
    pub(super) fn upload_ended(&mut self, key: usize, rtt: Option<crate::settle::Rtt>) {
        if !self.control_alive(key) {
            self.abandon_upload(key);
            return;
        }
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let id = conn.id(key);
        let Some(active) = &conn.transfer else {
            return;
        };
        match active.announced {
            Some(announced) if active.bytes < announced => {
                let bytes = active.bytes;
                tracing::info!(
                    peer = %conn.peer, bytes, announced,
                    "upload shorter than announced with ALLO: not committed"
                );
                self.end_transfer(
                    key,
                    Reply::new(
                        ReplyCode::TRANSFER_ABORTED,
                        format!(
                            "transfer aborted: the data connection ended after {bytes} of the \
                             {announced} bytes announced with ALLO; nothing stored"
                        ),
                    ),
                );
            }
            // Everything announced arrived: complete, whatever becomes of
            // the client now.
            Some(announced) if active.bytes == announced => self.commit_upload(key),
            _ => {
                // Behind a load balancer the control connection's end is
                // relayed on its own and may come later (see
                // [`crate::settle`]).
                let floor = if conn.via.is_some() {
                    self.config.settle_min_proxied
                } else {
                    crate::settle::SETTLE_MIN
                };
                let window = crate::settle::window(rtt, self.lateness, floor);
                tracing::trace!(peer = %conn.peer, ?rtt, ?window, "upload settling");
                let at = Instant::now() + window;
                self.timers.set(
                    id,
                    Kind::Settle,
                    &mut conn.timers[Kind::Settle as usize],
                    at,
                );
            }
        }
    }

    /// The settle window of a received upload is over: commit it unless its
    /// client is gone.
    pub(super) fn settle_upload(&mut self, key: usize) {
        let settling = self.conns.get(key).is_some_and(|c| {
            matches!(
                c.transfer,
                Some(Active {
                    flow: Flow::Settling { .. },
                    ..
                })
            )
        });
        if !settling {
            return;
        }
        if !self.control_alive(key) {
            self.abandon_upload(key);
            return;
        }
        self.commit_upload(key);
    }

    /// Hands a settled upload to a worker for its commit.
    fn commit_upload(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let id = conn.id(key);
        let Some(active) = &mut conn.transfer else {
            return;
        };
        let Flow::Settling { sink, .. } = std::mem::replace(&mut active.flow, Flow::Committing)
        else {
            return;
        };
        // fsync and rename may block: a worker does them.
        let durable = self.config.fsync_uploads == crate::FsyncPolicy::Always;
        let job = Job::Commit { id, sink, durable };
        if let Err(Job::Commit { sink, .. }) = self.workers.submit(job) {
            drop(sink);
            self.end_transfer(
                key,
                Reply::new(ReplyCode::TRANSFER_ABORTED, "server shutting down"),
            );
        }
    }

    /// True unless the control connection has been closed by the client
    /// (or failed). Reads what is waiting on it, without blocking.
    ///
    /// See [`crate::settle`]. (The price: a client that half-closes its
    /// control connection before its upload's `226` loses the upload.)
    pub(super) fn control_alive(&mut self, key: usize) -> bool {
        let Some(conn) = self.conns.get_mut(key) else {
            return false;
        };
        let mut buf = [0u8; 4096];
        while !conn.eof && conn.control.wants_input() {
            match conn.stream.read(&mut buf) {
                Ok(0) => conn.eof = true,
                Ok(n) => conn.control.receive(&buf[..n]),
                Err(e) if would_block(&e) => {
                    conn.readable = false;
                    break;
                }
                Err(e) if interrupted(&e) => {}
                Err(_) => return false,
            }
        }
        !conn.eof
    }

    /// The client closed the control connection during an upload: drop the
    /// sink (the temporary file vanishes, the previous file stays).
    pub(super) fn abandon_upload(&mut self, key: usize) {
        let Some(conn) = self.conns.get(key) else {
            return;
        };
        if !conn.receiving() {
            return;
        }
        if let Some(Active {
            flow: Flow::Settling { since, .. },
            ..
        }) = &conn.transfer
        {
            tracing::debug!(
                peer = %conn.peer,
                after_us = since.elapsed().as_micros(),
                "control connection closed after the data connection of an upload"
            );
        }
        tracing::info!(peer = %conn.peer, "control connection closed during an upload: not committed");
        self.end_transfer(
            key,
            Reply::new(
                ReplyCode::TRANSFER_ABORTED,
                "transfer aborted: control connection closed",
            ),
        );
    }

    /// Closes the data connection only, keeping the passive listener.
    pub(super) fn drop_data_stream(&mut self, key: usize) {
        let registry = self.poll.registry();
        if let Some(conn) = self.conns.get_mut(key) {
            if let Some(mut d) = conn.data.take() {
                let _ = registry.deregister(&mut d);
            }
            conn.timers[Kind::Stall as usize].want = None;
        }
    }

    pub(super) fn drop_data(&mut self, key: usize) {
        let registry = self.poll.registry();
        if let Some(conn) = self.conns.get_mut(key) {
            if let Some(mut d) = conn.data.take() {
                let _ = registry.deregister(&mut d);
            }
            conn.connecting = false;
            if let Some(mut l) = conn.passive.take() {
                let _ = registry.deregister(&mut l);
            }
            conn.timers[Kind::Stall as usize].want = None;
            conn.timers[Kind::Passive as usize].want = None;
        }
    }

    /// Ends the transfer in progress with `reply` (dropping an upload sink
    /// that was not committed), then sends a held-back `QUIT` reply.
    pub(super) fn end_transfer(&mut self, key: usize, reply: Reply) {
        self.end_transfer_then(key, reply, None);
    }

    /// [`Self::end_transfer`], queueing `then` right after the transfer's
    /// own reply (ABOR's `226`).
    pub(super) fn end_transfer_then(&mut self, key: usize, reply: Reply, then: Option<Reply>) {
        self.drop_data(key);
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if let Some(t) = conn.transfer.take() {
            let seconds = t.started.elapsed().as_secs_f64();
            tracing::info!(
                peer = %conn.peer,
                verb = %t.verb,
                bytes = t.bytes,
                seconds = format_args!("{seconds:.3}"),
                code = reply.code.0,
                "transfer"
            );
            let complete = reply.code == ReplyCode::CLOSING_DATA;
            observe_transfer(&self.metrics, self.xferlog.as_ref(), conn, &t, complete);
            conn.failed_transfer = !complete && then.is_none();
        }
        conn.control.queue(&reply);
        if let Some(r) = then {
            conn.control.queue(&r);
        }
        if let Some(r) = conn.close_reply.take() {
            conn.control.queue(&r);
        }
        self.touch(key);
        self.drive_control(key);
    }

    /// `ABOR` (RFC 959 §4.1.3): with a transfer in progress, `426` for the
    /// transfer and `226` for the abort. Right after a transfer that failed
    /// (`426`: the client closed the data connection as it sent `ABOR`,
    /// and its close arrived first), `226`: the RFC's first case, "the
    /// server closes the data connection (if it is open) and responds with
    /// a 226 reply", which a client reading `426` then `226` expects.
    /// Otherwise `225`, as pyftpdlib and vsftpd answer.
    pub(super) fn abort(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if std::mem::take(&mut conn.failed_transfer) && conn.transfer.is_none() {
            self.drop_data(key);
            self.queue(
                key,
                &Reply::new(
                    ReplyCode::CLOSING_DATA,
                    "abort successful (the transfer had already ended)",
                ),
            );
            return;
        }
        if conn.transfer.is_some() {
            self.end_transfer_then(
                key,
                Reply::new(ReplyCode::TRANSFER_ABORTED, "transfer aborted"),
                Some(Reply::new(ReplyCode::CLOSING_DATA, "abort successful")),
            );
        } else {
            self.drop_data(key);
            self.queue(
                key,
                &Reply::new(ReplyCode::DATA_OPEN_NO_TRANSFER, "no transfer to abort"),
            );
        }
    }
}
