//! The control connection: reading and dispatching requests, writing replies, closing; and the results workers send back.

use super::*;
use crate::metrics::Direction;

impl EventLoop {
    // ---- the control connection ----

    /// Everything a control connection can do now: dispatch requests, read
    /// more, write replies, close when finished. Bounded per call.
    pub(super) fn drive_control(&mut self, key: usize) {
        let mut budget = CONTROL_BUDGET;
        // Each round either makes progress or ends the loop; the budget
        // bounds the rounds that read, the round count the ones that only
        // answer (a client pipelining many rejected lines and reading the
        // replies as fast as they come).
        let mut rounds = 0;
        loop {
            rounds += 1;
            if rounds > 64 {
                // Come back after the others had their turn.
                self.enqueue(key, Part::Control);
                break;
            }
            let capped = self.dispatch(key);
            if !self.flush(key) {
                return;
            }
            let Some(conn) = self.conns.get_mut(key) else {
                return;
            };
            if capped && conn.control.queued() < OUTPUT_CAP {
                // The replies went out: dispatch what waited for room.
                continue;
            }
            let may_read = conn.readable
                && !conn.eof
                && !conn.closing
                && !conn.start_tls
                && conn.control.wants_input()
                && budget > 0;
            if !may_read {
                break;
            }
            let buf = &mut self.recv_buf[..budget.min(16 * 1024)];
            match conn.stream.read(buf) {
                Ok(0) => {
                    conn.eof = true;
                    conn.readable = false;
                    tracing::debug!(peer = %conn.peer, "client closed the control connection");
                    if conn.receiving() {
                        self.abandon_upload(key);
                        return;
                    }
                }
                Ok(n) => {
                    conn.control.receive(&buf[..n]);
                    budget -= n;
                    if budget == 0 {
                        // Come back after the others had their turn.
                        let _ = self.dispatch(key);
                        self.enqueue(key, Part::Control);
                        break;
                    }
                }
                Err(e) if would_block(&e) => conn.readable = false,
                Err(e) if interrupted(&e) => {}
                Err(e) => {
                    tracing::debug!(peer = %conn.peer, "control connection: {e}");
                    self.close(key);
                    return;
                }
            }
        }
        if self.flush(key) {
            self.maybe_finish(key);
        }
    }

    /// Dispatches queued requests until one goes to a worker or none may
    /// run now. Returns true when it stopped because too many replies are
    /// queued.
    pub(super) fn dispatch(&mut self, key: usize) -> bool {
        loop {
            let Some(conn) = self.conns.get_mut(key) else {
                return false;
            };
            if conn.closing || conn.delayed.is_some() || conn.committing() || conn.start_tls {
                return false;
            }
            let Some(session) = &conn.session else {
                return false;
            };
            let cx = Context {
                transfer: conn.transfer.is_some(),
                // A refused data connection still lets the next transfer
                // command run, so that its reply names the reason.
                data_ready: conn.passive.is_some()
                    || conn.data.is_some()
                    || conn.data_conflict.is_some(),
            };
            let Some(dispatch) = conn.control.next(&self.registry, session, cx) else {
                return conn.control.queued() >= OUTPUT_CAP;
            };
            let peer = conn.peer;
            let id = conn.id(key);
            // Only an ABOR right after a failed transfer is about it.
            if !matches!(&dispatch, Dispatch::Run { request, .. } if request.verb == "ABOR") {
                conn.failed_transfer = false;
            }
            match dispatch {
                Dispatch::Answered(code) => {
                    tracing::debug!(%peer, code = code.0, "request answered by the loop");
                    self.metrics.command("", code.0);
                    self.touch(key);
                }
                Dispatch::Run { entry, request } if entry.spec.inline => {
                    // Declared non-blocking: run here, without the round
                    // trip through a worker.
                    let Some(session) = conn.session.as_mut() else {
                        return false;
                    };
                    tracing::debug!(%peer, verb = %request.verb, "command, inline");
                    conn.verb.clone_from(&request.verb);
                    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        entry.command.run(&request, session)
                    }));
                    self.touch(key);
                    match ran {
                        Ok(outcome) => {
                            if let Some(code) = outcome.code() {
                                self.metrics.command(&request.verb, code);
                            }
                            self.apply(key, outcome);
                        }
                        Err(_) => {
                            tracing::error!(verb = %request.verb, "command panicked");
                            self.queue(
                                key,
                                &Reply::new(
                                    ReplyCode::SERVICE_NOT_AVAILABLE,
                                    format!(
                                        "{}: internal error, closing the connection",
                                        request.verb
                                    ),
                                ),
                            );
                            let _ = self.flush(key);
                            self.close(key);
                            return false;
                        }
                    }
                }
                Dispatch::Run { entry, request } => {
                    let Some(mut session) = conn.session.take() else {
                        return false;
                    };
                    // Until it logs in, a session follows reloads; once
                    // logged in, it keeps the settings it logged in with.
                    if session.user().is_none()
                        && !Arc::ptr_eq(&session.config, &self.server_config)
                    {
                        session.config = self.server_config.clone();
                    }
                    tracing::debug!(%peer, verb = %request.verb, "command");
                    conn.verb.clone_from(&request.verb);
                    conn.arg.clone_from(&request.arg);
                    self.touch(key);
                    let job = Job::Run {
                        id,
                        entry,
                        request,
                        session,
                    };
                    if let Err(Job::Run { session, .. }) = self.workers.submit(job)
                        && let Some(conn) = self.conns.get_mut(key)
                    {
                        // Only after shutdown began; the session stays usable.
                        conn.session = Some(session);
                    }
                    return false;
                }
            }
        }
    }

    /// Writes queued replies. Returns false if the connection was closed.
    pub(super) fn flush(&mut self, key: usize) -> bool {
        let Some(mut conn) = self.conns.get_mut(key) else {
            return false;
        };
        while conn.control.queued() > 0 {
            match conn.stream.write(conn.control.output()) {
                Ok(0) => {
                    self.close(key);
                    return false;
                }
                Ok(n) => conn.control.consume(n),
                Err(e) if would_block(&e) => break,
                Err(e) if interrupted(&e) => {}
                Err(e) => {
                    tracing::debug!(peer = %conn.peer, "writing replies: {e}");
                    self.close(key);
                    return false;
                }
            }
        }
        if conn.control.queued() == 0 && conn.start_tls {
            // The `234` is out in clear text: from here on, TLS.
            if !self.start_control_tls(key) {
                return false;
            }
            let Some(c) = self.conns.get_mut(key) else {
                return false;
            };
            conn = c;
        }
        if let Err(e) = conn.stream.flush() {
            tracing::debug!(peer = %conn.peer, "writing replies: {e}");
            self.close(key);
            return false;
        }
        let want = conn.control.queued() > 0 || conn.stream.wants_write();
        if want != conn.writable_interest {
            let interest = if want {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if let Err(e) = self.poll.registry().reregister(
                &mut conn.stream,
                token(key, Part::Control),
                interest,
            ) {
                tracing::warn!(peer = %conn.peer, "reregistering: {e}");
                self.close(key);
                return false;
            }
            conn.writable_interest = want;
        }
        true
    }

    /// Starts the TLS handshake on the control connection, with its own
    /// copy of the TLS configuration (see [`crate::tls::session_config`]),
    /// bounded by the handshake timer. Returns false if the connection was
    /// closed instead.
    pub(super) fn start_control_tls(&mut self, key: usize) -> bool {
        let Some(conn) = self.conns.get_mut(key) else {
            return false;
        };
        conn.start_tls = false;
        let started = match &self.config.tls {
            Some(base) => crate::tls::session_config(base).and_then(|config| {
                conn.stream.start_tls(config.clone(), &conn.tls_binding)?;
                Ok(config)
            }),
            None => Err(rustls::Error::General("no TLS configuration".to_owned())),
        };
        match started {
            Ok(config) => conn.tls_config = Some(config),
            Err(e) => {
                tracing::warn!(peer = %conn.peer, "starting TLS: {e}");
                self.close(key);
                return false;
            }
        }
        self.arm_handshake_timer(key);
        true
    }

    /// Closes the connection once it is done: `QUIT` handled, or the client
    /// closed its side and every request it sent was answered.
    pub(super) fn maybe_finish(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.session.is_none() || conn.transfer.is_some() || conn.delayed.is_some() {
            return;
        }
        let finished = conn.closing || (conn.eof && !conn.control.has_request());
        if finished && conn.control.queued() == 0 {
            self.close(key);
        }
    }

    /// Resets the idle timer.
    pub(super) fn touch(&mut self, key: usize) {
        if let Some(conn) = self.conns.get_mut(key) {
            let id = conn.id(key);
            let at = Instant::now() + self.config.idle_timeout;
            self.timers
                .set(id, Kind::Idle, &mut conn.timers[Kind::Idle as usize], at);
        }
    }

    pub(super) fn queue(&mut self, key: usize, reply: &Reply) {
        if let Some(conn) = self.conns.get_mut(key) {
            conn.control.queue(reply);
        }
    }

    /// Removes the connection and closes all its sockets. A session lent to a
    /// worker comes back to a missing (or newer) connection and is dropped;
    /// so is an upload sink, which deletes its temporary file.
    pub(super) fn close(&mut self, key: usize) {
        let Some(mut conn) = self.conns.try_remove(key) else {
            return;
        };
        self.timers.release(&conn.timers);
        self.compact_timers();
        let registry = self.poll.registry();
        if conn.stream.is_tls() {
            // Best effort: a TLS client can tell our close from a cut.
            conn.stream.close_write();
        }
        let _ = registry.deregister(&mut conn.stream);
        if let Some(mut l) = conn.passive.take() {
            let _ = registry.deregister(&mut l);
        }
        if let Some(mut d) = conn.data.take() {
            let _ = registry.deregister(&mut d);
        }
        if let Some(t) = conn.transfer.take() {
            tracing::info!(
                peer = %conn.peer, verb = %t.verb, bytes = t.bytes,
                "transfer dropped with its control connection"
            );
            observe_transfer(&self.metrics, self.xferlog.as_ref(), &conn, &t, false);
        }
        tracing::debug!(peer = %conn.peer, key, "disconnected");
        self.release(conn.block);
    }

    // ---- worker results ----

    pub(super) fn drain_done(&mut self) {
        while let Ok(done) = self.done.try_recv() {
            match done {
                Done::Ran {
                    id,
                    session,
                    outcome,
                } => {
                    let Some(conn) = self
                        .conns
                        .get_mut(id.key)
                        .filter(|c| c.generation == id.generation)
                    else {
                        continue;
                    };
                    if let Some(code) = outcome.code() {
                        self.metrics.command(&conn.verb, code);
                        if conn.verb == "PASS" {
                            self.metrics.login(code);
                        }
                    }
                    conn.data_private = session.tls.protection == Protection::Private;
                    conn.session = Some(session);
                    self.apply(id.key, outcome);
                    self.drive_control(id.key);
                }
                Done::Panicked { id, verb } => {
                    if self.live(id).is_some() {
                        self.queue(
                            id.key,
                            &Reply::new(
                                ReplyCode::SERVICE_NOT_AVAILABLE,
                                format!("{verb}: internal error, closing the connection"),
                            ),
                        );
                        let _ = self.flush(id.key);
                        self.close(id.key);
                    }
                }
                Done::Committed { id, reply } => {
                    if self.live(id).is_some() {
                        self.end_transfer(id.key, reply);
                    }
                }
            }
        }
    }

    /// Carries out what a command asked for.
    pub(super) fn apply(&mut self, key: usize, outcome: Outcome) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let id = conn.id(key);
        // Data verbs and PASV/EPSV/PORT/EPRT wait for a transfer's end (see
        // `Control::next`); a plugin verb that did not declare itself so must
        // still not replace or overwrite the transfer in progress.
        if conn.transfer.is_some()
            && matches!(
                outcome,
                Outcome::Passive { .. } | Outcome::Active { .. } | Outcome::Transfer { .. }
            )
        {
            conn.control.queue(&Reply::new(
                ReplyCode::BAD_SEQUENCE,
                format!("{}: a transfer is in progress", conn.verb),
            ));
            return;
        }
        let close_after_delay = matches!(outcome, Outcome::DelayedClose { .. });
        match outcome {
            Outcome::Reply(reply) => conn.control.queue(&reply),
            Outcome::Delayed { reply, delay } | Outcome::DelayedClose { reply, delay } => {
                conn.delayed_close = close_after_delay;
                conn.delayed = Some(reply);
                let at = Instant::now() + delay;
                self.timers
                    .set(id, Kind::Delay, &mut conn.timers[Kind::Delay as usize], at);
            }
            Outcome::Passive { listener, reply } => self.open_passive(key, listener, reply),
            Outcome::Active { target, reply } => self.open_active(key, target, reply),
            Outcome::Transfer { opening, transfer } => {
                if let Some(refusal) = self.refuse_data(key) {
                    self.drop_data(key);
                    self.queue(key, &refusal);
                    return;
                }
                let Some(conn) = self.conns.get_mut(key) else {
                    return;
                };
                if conn.passive.is_none() && conn.data.is_none() {
                    // The passive listener timed out while the command ran.
                    conn.control.queue(&Reply::new(
                        ReplyCode::CANT_OPEN_DATA,
                        "no data connection: use PASV, EPSV, PORT or EPRT first",
                    ));
                    return;
                }
                let opened = match transfer {
                    Transfer::Send(source) => {
                        Source::open(source).map(|s| (Flow::Send(s), Direction::Out))
                    }
                    Transfer::Receive(sink) => {
                        Sink::open(sink).map(|s| (Flow::Receive(s), Direction::In))
                    }
                };
                let (flow, direction) = match opened.and_then(|(flow, direction)| {
                    register_bridge(self.poll.registry(), key, &flow)?;
                    Ok((flow, direction))
                }) {
                    Ok(opened) => opened,
                    Err(e) => {
                        tracing::warn!(peer = %conn.peer, "starting a storage transfer: {e}");
                        self.drop_data(key);
                        self.queue(key, &transfer_error_reply(&e));
                        return;
                    }
                };
                let Some(conn) = self.conns.get_mut(key) else {
                    return;
                };
                let announced = conn.session.as_mut().and_then(|s| s.allocation.take());
                let path = match (conn.verb.as_str(), &conn.session, &conn.arg) {
                    ("RETR" | "STOR" | "APPE" | "STOU", Some(session), Some(arg)) => {
                        session.cwd.resolve(arg).ok().map(|p| p.to_string())
                    }
                    _ => None,
                };
                conn.transfer = Some(Active {
                    verb: conn.verb.clone(),
                    path,
                    direction,
                    flow,
                    opening: Some(opening),
                    started: Instant::now(),
                    bytes: 0,
                    announced,
                });
                if conn.data.is_some() && !conn.connecting {
                    self.start_transfer(key);
                }
            }
            Outcome::StartTls(reply) => {
                conn.control.queue(&reply);
                // Bytes pipelined after AUTH TLS were sent in clear text:
                // they must not be executed as if protected (the STARTTLS
                // command-injection attack, CVE-2011-0411).
                conn.control.discard_input();
                conn.start_tls = true;
            }
            Outcome::Abort => self.abort(key),
            Outcome::Close(reply) => {
                conn.closing = true;
                if conn.transfer.is_some() {
                    conn.close_reply = Some(reply);
                } else {
                    conn.control.queue(&reply);
                }
            }
        }
    }
}

/// Polls the pipe of a transfer bridged to a storage thread (see
/// [`crate::bridge`]) along with its data connection. The pipe's loop end
/// belongs to the flow alone, so closing it when the flow is dropped also
/// removes it from the poller.
fn register_bridge(registry: &mio::Registry, key: usize, flow: &Flow) -> io::Result<()> {
    let (fd, interest) = match flow {
        Flow::Send(source) => (source.poll_fd(), Interest::READABLE),
        Flow::Receive(sink) => (sink.poll_fd(), Interest::WRITABLE),
        Flow::Settling { .. } | Flow::Committing => (None, Interest::READABLE),
    };
    match fd {
        Some(fd) => registry.register(
            &mut mio::unix::SourceFd(&fd),
            token(key, Part::Bridge),
            interest,
        ),
        None => Ok(()),
    }
}
