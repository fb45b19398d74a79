//! The event loop: one `mio::Poll` over the control-connection listener,
//! every control connection, every passive listener and every data
//! connection.
//!
//! Connections live in a [`Slab`]; a connection's control socket, passive
//! listener and data connection get tokens `4 * key + part`. Each connection
//! also has a generation number, carried by worker jobs, timers and the ready
//! list, so that anything arriving for a connection that has since closed
//! (and whose slab key may be reused) is dropped.
//!
//! Readiness is edge-triggered. No connection gets more than a bounded chunk
//! of work per turn ([`CHUNK_BUDGET`](crate::transfer::CHUNK_BUDGET) of file
//! data, [`CONTROL_BUDGET`] of request bytes); a connection that still has
//! work after its chunk goes on a ready list that is served after the other
//! events, with a zero poll timeout while it is not empty. That keeps one fast
//! transfer from starving everyone else.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use ftpsh_core::command::transfer_error_reply;
use ftpsh_core::{
    Outcome, Registry, Reply, ReplyCode, ServerConfig, Session, Transfer, UploadSink,
};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;

use crate::DaemonConfig;
use crate::control::{Context, Control, Dispatch, OUTPUT_CAP};
use crate::timer::{KINDS, Kind, Slot, Timers};
use crate::transfer::{Pump, RECV_BUFFER, Source, pump_receive, pump_send};
use crate::workers::{ConnId, Done, Job, Workers};

const LISTENER: Token = Token(usize::MAX);
const WAKER: Token = Token(usize::MAX - 1);
const SIGNALS: Token = Token(usize::MAX - 2);

/// Request bytes read from one control connection per turn.
const CONTROL_BUDGET: usize = 64 * 1024;

/// How long a received upload waits, after its data connection ended and
/// before it is committed, for the control connection to end too.
///
/// In stream mode the end of the data connection is the end of the file
/// (RFC 959 §3.4.1), so a killed client's upload looks complete. But a
/// dying process's sockets are closed together - Linux closes them in
/// reverse order of opening, data connection first - so the control
/// connection's end follows within microseconds; a living client keeps it
/// open to read the `226`. An upload whose control connection ends within
/// this grace is not committed and the previous file stays.
const UPLOAD_SETTLE: Duration = Duration::from_millis(20);

/// How soon to retry `accept` after it failed for lack of resources
/// (`EMFILE`): the pending connection produces no new readiness edge.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Which socket of a connection a token names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Control = 0,
    Passive = 1,
    Data = 2,
}

fn token(key: usize, part: Part) -> Token {
    Token(key * 4 + part as usize)
}

fn untoken(token: Token) -> Option<(usize, Part)> {
    let part = match token.0 % 4 {
        0 => Part::Control,
        1 => Part::Passive,
        2 => Part::Data,
        _ => return None,
    };
    Some((token.0 / 4, part))
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

fn interrupted(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Interrupted
}

/// The direction and progress of a transfer.
enum Flow {
    Send(Source),
    Receive(Box<dyn UploadSink>),
    /// The data connection ended normally; waiting [`UPLOAD_SETTLE`] for a
    /// sign that the client died before committing.
    Settling(Box<dyn UploadSink>),
    /// The upload was received completely; a worker is committing it.
    Committing,
}

/// A transfer from the command's `Outcome::Transfer` to its final reply.
struct Active {
    verb: String,
    flow: Flow,
    /// The `150` reply, until the data connection is there and it is sent.
    opening: Option<Reply>,
    started: Instant,
    bytes: u64,
}

/// One client: its control connection and everything hanging off it.
struct Conn {
    generation: u64,
    stream: TcpStream,
    peer: SocketAddr,
    /// `None` while a worker runs a command with it.
    /// Boxed so it moves to and from workers as one pointer.
    session: Option<Box<Session>>,
    /// The verb of the command that produced the current state (for logs).
    verb: String,
    control: Control,
    /// Write interest is registered (only while output is queued).
    writable_interest: bool,
    /// The control socket may have unread bytes (no `WouldBlock` since the
    /// last readable edge).
    readable: bool,
    /// The client closed its side of the control connection.
    eof: bool,
    /// `QUIT` (or too many failed logins): close once the transfer in
    /// progress has ended and the replies are written.
    closing: bool,
    /// The reply of the `Close` outcome, held back until the transfer in
    /// progress ends so that its `226` comes first (RFC 959 §4.1.1 QUIT).
    close_reply: Option<Reply>,
    /// A reply waiting for its `Delay` timer (failed login).
    delayed: Option<Reply>,
    passive: Option<TcpListener>,
    data: Option<TcpStream>,
    transfer: Option<Active>,
    timers: [Slot; KINDS],
    /// Already on the ready list, per part.
    queued: [bool; 3],
}

impl Conn {
    fn id(&self, key: usize) -> ConnId {
        ConnId {
            key,
            generation: self.generation,
        }
    }

    /// An upload that has not been handed to a worker for its commit.
    fn receiving(&self) -> bool {
        matches!(
            self.transfer,
            Some(Active {
                flow: Flow::Receive(_) | Flow::Settling(_),
                ..
            })
        )
    }

    /// The upload is complete on the wire: settling or being committed.
    /// No request is dispatched until its final reply is queued.
    fn committing(&self) -> bool {
        matches!(
            self.transfer,
            Some(Active {
                flow: Flow::Committing | Flow::Settling(_),
                ..
            })
        )
    }
}

/// The pieces made by `Server::bind`, before the loop runs.
pub(crate) struct Parts {
    pub poll: Poll,
    pub listener: TcpListener,
    pub waker: Arc<Waker>,
    pub stop: Arc<AtomicBool>,
    pub config: DaemonConfig,
    pub registry: Arc<Registry>,
}

impl Parts {
    pub(crate) fn bind(config: DaemonConfig, registry: Registry) -> io::Result<Self> {
        let poll = Poll::new()?;
        let mut listener = TcpListener::bind(config.listen)?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        Ok(Self {
            poll,
            listener,
            waker,
            stop: Arc::new(AtomicBool::new(false)),
            config,
            registry: Arc::new(registry),
        })
    }
}

/// SIGINT/SIGTERM delivered as bytes on a socket pair the loop polls
/// (signal-hook's self-pipe), so the handler itself does nothing but write.
struct Signals {
    reader: mio::net::UnixStream,
    ids: Vec<signal_hook::SigId>,
}

impl Signals {
    fn install(poll: &Poll) -> io::Result<Self> {
        let (reader, writer) = std::os::unix::net::UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        let mut reader = mio::net::UnixStream::from_std(reader);
        poll.registry()
            .register(&mut reader, SIGNALS, Interest::READABLE)?;
        let mut ids = Vec::new();
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            ids.push(signal_hook::low_level::pipe::register(
                signal,
                writer.try_clone()?,
            )?);
        }
        Ok(Self { reader, ids })
    }

    fn drain(&mut self) {
        let mut buf = [0u8; 64];
        while matches!(self.reader.read(&mut buf), Ok(n) if n > 0) {}
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

pub(crate) struct EventLoop {
    poll: Poll,
    listener: Option<TcpListener>,
    accept_retry: Option<Instant>,
    signals: Option<Signals>,
    stop: Arc<AtomicBool>,
    conns: Slab<Conn>,
    next_generation: u64,
    timers: Timers,
    ready: VecDeque<(ConnId, Part)>,
    workers: Workers,
    done: Receiver<Done>,
    config: DaemonConfig,
    server_config: Arc<ServerConfig>,
    registry: Arc<Registry>,
    /// One receive buffer for every upload: the loop is single-threaded, so
    /// it never needs more than one at a time.
    recv_buf: Box<[u8]>,
}

impl EventLoop {
    /// Starts the worker pool; with `signals`, SIGINT and SIGTERM stop the
    /// loop (only for a daemon in the foreground: handlers are process-wide).
    pub(crate) fn new(parts: Parts, signals: bool) -> io::Result<Self> {
        let (done_tx, done) = crossbeam_channel::unbounded();
        let workers = Workers::start(parts.config.workers, done_tx, parts.waker.clone())?;
        let signals = if signals {
            Some(Signals::install(&parts.poll)?)
        } else {
            None
        };
        Ok(Self {
            poll: parts.poll,
            listener: Some(parts.listener),
            accept_retry: None,
            signals,
            stop: parts.stop,
            conns: Slab::new(),
            next_generation: 0,
            timers: Timers::default(),
            ready: VecDeque::new(),
            workers,
            done,
            server_config: Arc::new(parts.config.server.clone()),
            config: parts.config,
            registry: parts.registry,
            recv_buf: vec![0u8; RECV_BUFFER].into_boxed_slice(),
        })
    }

    /// Serves until the stop flag is set (and the waker woken) or a signal
    /// arrives, then shuts down gracefully.
    pub(crate) fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let result = loop {
            let now = Instant::now();
            let timeout = if self.ready.is_empty() {
                let accept = self
                    .accept_retry
                    .map(|at| at.saturating_duration_since(now));
                match (self.timers.timeout(now), accept) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            } else {
                Some(Duration::ZERO)
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if interrupted(&e) {
                    continue;
                }
                break Err(e);
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(),
                    WAKER => {}
                    SIGNALS => {
                        if let Some(s) = &mut self.signals {
                            s.drain();
                        }
                        tracing::info!("signal received, shutting down");
                        self.stop.store(true, Ordering::SeqCst);
                    }
                    t => self.on_event(t, event),
                }
            }
            self.drain_done();
            if self.stop.load(Ordering::SeqCst) {
                break Ok(());
            }
            self.run_timers();
            self.run_ready();
        };
        self.shutdown();
        result
    }

    // ---- accepting control connections ----

    fn accept(&mut self) {
        self.accept_retry = None;
        loop {
            let Some(listener) = &self.listener else {
                return;
            };
            match listener.accept() {
                Ok((stream, peer)) => self.admit(stream, peer),
                Err(e) if would_block(&e) => return,
                Err(e) if interrupted(&e) => {}
                Err(e) => {
                    tracing::warn!("accepting a control connection: {e}");
                    self.accept_retry = Some(Instant::now() + ACCEPT_RETRY);
                    return;
                }
            }
        }
    }

    fn admit(&mut self, mut stream: TcpStream, peer: SocketAddr) {
        if self.conns.len() >= self.config.max_sessions {
            tracing::warn!(%peer, "refused: too many connections");
            // Best effort: the socket is fresh, so the short reply fits.
            let _ = stream.write(&Reply::new(ReplyCode(421), "too many connections").to_wire());
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
        // Replies are small and answer requests: Nagle would only delay them.
        let _ = stream.set_nodelay(true);
        // Clients send ABOR (or the Telnet Synch before it) as urgent data
        // (RFC 959 §4.1.3; Python's ftplib sends the whole "ABOR\r\n" with
        // MSG_OOB). Without OOBINLINE the urgent byte - the final LF - would
        // be taken out of the stream and the request never completed.
        if let Err(e) = socket2::SockRef::from(&stream).set_out_of_band_inline(true) {
            tracing::debug!(%peer, "SO_OOBINLINE: {e}");
        }
        let local = match stream.local_addr() {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(%peer, "control connection without local address: {e}");
                return;
            }
        };
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            token(key, Part::Control),
            Interest::READABLE,
        ) {
            tracing::warn!(%peer, "registering a control connection: {e}");
            return;
        }
        self.next_generation += 1;
        let session = Session::new(
            self.server_config.clone(),
            self.registry.clone(),
            peer,
            local,
        );
        let mut control = Control::new();
        control.queue(&Reply::new(
            ReplyCode::SERVICE_READY,
            &self.server_config.banner,
        ));
        entry.insert(Conn {
            generation: self.next_generation,
            stream,
            peer,
            session: Some(Box::new(session)),
            verb: String::new(),
            control,
            writable_interest: false,
            readable: true,
            eof: false,
            closing: false,
            close_reply: None,
            delayed: None,
            passive: None,
            data: None,
            transfer: None,
            timers: [Slot::default(); KINDS],
            queued: [false; 3],
        });
        tracing::debug!(%peer, key, "connected");
        self.touch(key);
        self.drive_control(key);
    }

    // ---- readiness events ----

    fn on_event(&mut self, token: Token, event: &mio::event::Event) {
        let Some((key, part)) = untoken(token) else {
            return;
        };
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        match part {
            Part::Control => {
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    conn.readable = true;
                }
                self.drive_control(key);
            }
            Part::Passive => self.accept_data(key),
            Part::Data => self.pump_data(key),
        }
    }

    fn enqueue(&mut self, key: usize, part: Part) {
        if let Some(conn) = self.conns.get_mut(key)
            && !conn.queued[part as usize]
        {
            conn.queued[part as usize] = true;
            self.ready.push_back((conn.id(key), part));
        }
    }

    fn run_ready(&mut self) {
        // Only the entries present now: work re-queued during this pass
        // waits for the next one, after a fresh (zero-timeout) poll.
        for _ in 0..self.ready.len() {
            let Some((id, part)) = self.ready.pop_front() else {
                return;
            };
            let Some(conn) = self.live(id) else {
                continue;
            };
            conn.queued[part as usize] = false;
            match part {
                Part::Control => self.drive_control(id.key),
                Part::Data => self.pump_data(id.key),
                Part::Passive => self.accept_data(id.key),
            }
        }
    }

    fn live(&mut self, id: ConnId) -> Option<&mut Conn> {
        self.conns
            .get_mut(id.key)
            .filter(|c| c.generation == id.generation)
    }

    // ---- the control connection ----

    /// Everything a control connection can do now: dispatch requests, read
    /// more, write replies, close when finished. Bounded per call.
    fn drive_control(&mut self, key: usize) {
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
    fn dispatch(&mut self, key: usize) -> bool {
        loop {
            let Some(conn) = self.conns.get_mut(key) else {
                return false;
            };
            if conn.closing || conn.delayed.is_some() || conn.committing() {
                return false;
            }
            let Some(session) = &conn.session else {
                return false;
            };
            let cx = Context {
                transfer: conn.transfer.is_some(),
                data_ready: conn.passive.is_some() || conn.data.is_some(),
            };
            let Some(dispatch) = conn.control.next(&self.registry, session, cx) else {
                return conn.control.queued() >= OUTPUT_CAP;
            };
            let peer = conn.peer;
            let id = conn.id(key);
            match dispatch {
                Dispatch::Answered(code) => {
                    tracing::debug!(%peer, code = code.0, "request answered by the loop");
                    self.touch(key);
                }
                Dispatch::Run { entry, request } => {
                    let Some(session) = conn.session.take() else {
                        return false;
                    };
                    tracing::debug!(%peer, verb = %request.verb, "command");
                    conn.verb.clone_from(&request.verb);
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
    fn flush(&mut self, key: usize) -> bool {
        let Some(conn) = self.conns.get_mut(key) else {
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
        let want = conn.control.queued() > 0;
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

    /// Closes the connection once it is done: `QUIT` handled, or the client
    /// closed its side and every request it sent was answered.
    fn maybe_finish(&mut self, key: usize) {
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
    fn touch(&mut self, key: usize) {
        if let Some(conn) = self.conns.get_mut(key) {
            let id = conn.id(key);
            let at = Instant::now() + self.config.idle_timeout;
            self.timers
                .set(id, Kind::Idle, &mut conn.timers[Kind::Idle as usize], at);
        }
    }

    fn queue(&mut self, key: usize, reply: &Reply) {
        if let Some(conn) = self.conns.get_mut(key) {
            conn.control.queue(reply);
        }
    }

    /// Removes the connection and closes all its sockets. A session lent to a
    /// worker comes back to a missing (or newer) connection and is dropped;
    /// so is an upload sink, which deletes its temporary file.
    fn close(&mut self, key: usize) {
        let Some(mut conn) = self.conns.try_remove(key) else {
            return;
        };
        let registry = self.poll.registry();
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
        }
        tracing::debug!(peer = %conn.peer, key, "disconnected");
    }

    // ---- worker results ----

    fn drain_done(&mut self) {
        while let Ok(done) = self.done.try_recv() {
            match done {
                Done::Ran {
                    id,
                    session,
                    outcome,
                } => {
                    let Some(conn) = self.live(id) else {
                        continue;
                    };
                    if outcome.code() == Some(ReplyCode::LOGGED_IN.0)
                        && let Some(user) = session.user()
                    {
                        tracing::debug!(peer = %conn.peer, user = %user.name, "logged in");
                    }
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
    fn apply(&mut self, key: usize, outcome: Outcome) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let id = conn.id(key);
        match outcome {
            Outcome::Reply(reply) => conn.control.queue(&reply),
            Outcome::Delayed { reply, delay } => {
                conn.delayed = Some(reply);
                let at = Instant::now() + delay;
                self.timers
                    .set(id, Kind::Delay, &mut conn.timers[Kind::Delay as usize], at);
            }
            Outcome::Passive { listener, reply } => self.open_passive(key, listener, reply),
            Outcome::Transfer { opening, transfer } => {
                if conn.passive.is_none() && conn.data.is_none() {
                    // The passive listener timed out while the command ran.
                    conn.control.queue(&Reply::new(
                        ReplyCode::CANT_OPEN_DATA,
                        "no data connection: use PASV or EPSV first",
                    ));
                    return;
                }
                let flow = match transfer {
                    Transfer::Send(source) => Flow::Send(source.into()),
                    Transfer::Receive(sink) => Flow::Receive(sink),
                };
                conn.transfer = Some(Active {
                    verb: conn.verb.clone(),
                    flow,
                    opening: Some(opening),
                    started: Instant::now(),
                    bytes: 0,
                });
                if conn.data.is_some() {
                    self.start_transfer(key);
                }
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

    // ---- passive mode and data connections ----

    fn open_passive(&mut self, key: usize, listener: std::net::TcpListener, reply: Reply) {
        let data_timeout = self.config.data_timeout;
        let registry = self.poll.registry();
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let id = conn.id(key);
        // A new PASV replaces the previous listener and any data connection
        // that was accepted but not used.
        if let Some(mut old) = conn.passive.take() {
            let _ = registry.deregister(&mut old);
        }
        if let Some(mut old) = conn.data.take() {
            let _ = registry.deregister(&mut old);
        }
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

    /// Accepts the one data connection of a passive listener.
    fn accept_data(&mut self, key: usize) {
        let registry = self.poll.registry();
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        loop {
            let Some(listener) = &conn.passive else {
                return;
            };
            match listener.accept() {
                Ok((mut stream, addr)) => {
                    // RFC 2577 §5 (port stealing): only the client that asked
                    // for this listener may connect to it.
                    if addr.ip().to_canonical() != conn.peer.ip().to_canonical() {
                        tracing::warn!(
                            peer = %conn.peer, from = %addr,
                            "refused a data connection from another address"
                        );
                        continue;
                    }
                    if let Some(mut l) = conn.passive.take() {
                        let _ = registry.deregister(&mut l);
                    }
                    conn.timers[Kind::Passive as usize].want = None;
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
                    }
                    return;
                }
                Err(e) if would_block(&e) => return,
                Err(e) if interrupted(&e) => {}
                Err(e) => {
                    tracing::warn!(peer = %conn.peer, "accepting a data connection: {e}");
                    return;
                }
            }
        }
    }

    /// The data connection is there: send the `150` and start pumping.
    fn start_transfer(&mut self, key: usize) {
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

    fn pump_data(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let id = conn.id(key);
        let (Some(active), Some(data)) = (&mut conn.transfer, &conn.data) else {
            return;
        };
        if active.opening.is_some() {
            return;
        }
        let before = active.bytes;
        let result = match &mut active.flow {
            Flow::Send(source) => pump_send(data, source, &mut active.bytes),
            Flow::Receive(sink) => {
                pump_receive(data, sink.as_mut(), &mut self.recv_buf, &mut active.bytes)
            }
            Flow::Settling(_) | Flow::Committing => return,
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
                        let _ = data.shutdown(Shutdown::Write);
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
                        active.flow = Flow::Settling(sink);
                        self.drop_data(key);
                        if !self.control_alive(key) {
                            self.abandon_upload(key);
                            return;
                        }
                        if let Some(conn) = self.conns.get_mut(key) {
                            let at = Instant::now() + UPLOAD_SETTLE;
                            self.timers.set(
                                id,
                                Kind::Settle,
                                &mut conn.timers[Kind::Settle as usize],
                                at,
                            );
                        }
                    }
                    Flow::Settling(_) | Flow::Committing => {}
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

    /// The settle time of a received upload is over: commit it unless its
    /// client is gone.
    fn settle_upload(&mut self, key: usize) {
        let settling = self.conns.get(key).is_some_and(|c| {
            matches!(
                c.transfer,
                Some(Active {
                    flow: Flow::Settling(_),
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
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let id = conn.id(key);
        let Some(active) = &mut conn.transfer else {
            return;
        };
        let Flow::Settling(sink) = std::mem::replace(&mut active.flow, Flow::Committing) else {
            return;
        };
        // fsync and rename may block: a worker does them.
        if let Err(Job::Commit { sink, .. }) = self.workers.submit(Job::Commit { id, sink }) {
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
    /// See [`UPLOAD_SETTLE`]. (The price: a client that half-closes its
    /// control connection before its upload's `226` loses the upload.)
    fn control_alive(&mut self, key: usize) -> bool {
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
    fn abandon_upload(&mut self, key: usize) {
        let Some(conn) = self.conns.get(key) else {
            return;
        };
        if !conn.receiving() {
            return;
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

    fn drop_data(&mut self, key: usize) {
        let registry = self.poll.registry();
        if let Some(conn) = self.conns.get_mut(key) {
            if let Some(mut d) = conn.data.take() {
                let _ = registry.deregister(&mut d);
            }
            if let Some(mut l) = conn.passive.take() {
                let _ = registry.deregister(&mut l);
            }
            conn.timers[Kind::Stall as usize].want = None;
            conn.timers[Kind::Passive as usize].want = None;
        }
    }

    /// Ends the transfer in progress with `reply` (dropping an upload sink
    /// that was not committed), then sends a held-back `QUIT` reply.
    fn end_transfer(&mut self, key: usize, reply: Reply) {
        self.end_transfer_then(key, reply, None);
    }

    /// [`Self::end_transfer`], queueing `then` right after the transfer's
    /// own reply (ABOR's `226`).
    fn end_transfer_then(&mut self, key: usize, reply: Reply, then: Option<Reply>) {
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
    /// transfer and `226` for the abort; otherwise `225`.
    fn abort(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
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

    // ---- timers ----

    fn run_timers(&mut self) {
        let now = Instant::now();
        if self.accept_retry.is_some_and(|at| at <= now) {
            self.accept();
        }
        while let Some((id, kind, at)) = self.timers.pop_due(now) {
            let Some(conn) = self
                .conns
                .get_mut(id.key)
                .filter(|c| c.generation == id.generation)
            else {
                continue;
            };
            let slot = &mut conn.timers[kind as usize];
            if !self.timers.fire(id, kind, slot, at, now) {
                continue;
            }
            match kind {
                Kind::Idle => self.idle_timeout(id.key),
                Kind::Passive => self.passive_timeout(id.key),
                Kind::Stall => self.stall_timeout(id.key),
                Kind::Settle => self.settle_upload(id.key),
                Kind::Delay => {
                    if let Some(conn) = self.conns.get_mut(id.key)
                        && let Some(reply) = conn.delayed.take()
                    {
                        conn.control.queue(&reply);
                    }
                    self.drive_control(id.key);
                }
            }
        }
    }

    fn idle_timeout(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        // Not idle while a command or a transfer is running.
        if conn.session.is_none() || conn.transfer.is_some() || conn.delayed.is_some() {
            self.touch(key);
            return;
        }
        tracing::debug!(peer = %conn.peer, "idle timeout");
        if !conn.closing {
            conn.control.queue(&Reply::new(
                ReplyCode::SERVICE_NOT_AVAILABLE,
                "idle timeout",
            ));
        }
        let _ = self.flush(key);
        self.close(key);
    }

    fn passive_timeout(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.passive.is_none() {
            return;
        }
        tracing::debug!(peer = %conn.peer, "passive listener timed out");
        if conn.transfer.is_some() {
            let secs = self.config.data_timeout.as_secs();
            self.end_transfer(
                key,
                Reply::new(
                    ReplyCode::CANT_OPEN_DATA,
                    format!("cannot open data connection: none within {secs} s"),
                ),
            );
        } else {
            self.drop_data(key);
        }
    }

    fn stall_timeout(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let started = conn.transfer.as_ref().is_some_and(|t| t.opening.is_none());
        if !started || conn.committing() {
            return;
        }
        tracing::debug!(peer = %conn.peer, "data connection stalled");
        self.end_transfer(
            key,
            Reply::new(
                ReplyCode::TRANSFER_ABORTED,
                "transfer aborted: data connection stalled",
            ),
        );
    }

    // ---- shutdown ----

    fn shutdown(&mut self) {
        if let Some(mut l) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut l);
        }
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        tracing::info!(sessions = keys.len(), "shutting down");
        let bye = Reply::new(ReplyCode::SERVICE_NOT_AVAILABLE, "server shutting down");
        for key in keys {
            self.queue(key, &bye);
            // One non-blocking attempt: a client that does not read gets
            // closed without the reply.
            if self.flush(key) {
                self.close(key);
            }
        }
        self.workers.stop();
    }
}
