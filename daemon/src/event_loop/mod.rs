//! The event loop: one `mio::Poll` over the control-connection listener,
//! every control connection, every passive listener and every data
//! connection.
//!
//! Connections live in a [`Slab`]; a connection's control socket, passive
//! listener and data connection get tokens `8 * key + part` (a control
//! connection still waiting for its PROXY protocol header, in a slab of its
//! own, gets `8 * key + 4`: see [`proxied`]). Each connection
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

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use ftpsh_core::command::transfer_error_reply;
use ftpsh_core::{
    Outcome, Protection, Registry, Reply, ReplyCode, ServerConfig, Session, Transfer, UploadSink,
};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;

use crate::DaemonConfig;
use crate::control::{Context, Control, Dispatch, OUTPUT_CAP};
use crate::metrics::Metrics;
use crate::stream::Stream;
use crate::timer::{KINDS, Kind, Slot, Timers};
use crate::transfer::{Pump, RECV_BUFFER, Sink, Source, pump_receive, pump_send};
use crate::workers::{ConnId, Done, Job, Workers};
use crate::xferlog::XferLog;

mod active;
mod admission;
mod control_conn;
mod data;
mod observe;
mod proxied;
mod timeouts;

use observe::observe_transfer;

const LISTENER: Token = Token(usize::MAX);
const WAKER: Token = Token(usize::MAX - 1);
const SIGNALS: Token = Token(usize::MAX - 2);
const PRECISE: Token = Token(usize::MAX - 3);
const IMPLICIT: Token = Token(usize::MAX - 4);

/// Request bytes read from one control connection per turn.
const CONTROL_BUDGET: usize = 64 * 1024;

/// How soon to retry `accept` after it failed for lack of resources
/// (`EMFILE`): the pending connection produces no new readiness edge.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Most one warning per this long about failing `accept`s.
const ACCEPT_WARN_EVERY: Duration = Duration::from_secs(10);

/// Which socket of a connection a token names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Control = 0,
    Passive = 1,
    Data = 2,
    /// The pipe of a transfer bridged to a storage thread
    /// ([`crate::bridge`]): its readiness drives the data connection's pump.
    Bridge = 3,
}

/// Tokens per slab key: the [`Part`]s, then [`proxied::header_token`].
const TOKENS_PER_KEY: usize = 8;

fn token(key: usize, part: Part) -> Token {
    Token(key * TOKENS_PER_KEY + part as usize)
}

fn untoken(token: Token) -> Option<(usize, Part)> {
    let part = match token.0 % TOKENS_PER_KEY {
        0 => Part::Control,
        1 => Part::Passive,
        2 => Part::Data,
        3 => Part::Bridge,
        _ => return None,
    };
    Some((token.0 / TOKENS_PER_KEY, part))
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
    Receive(Sink),
    /// The data connection ended normally (at `since`); waiting
    /// [`settle::window`](crate::settle::window) for a sign that the client
    /// died before committing.
    Settling {
        sink: Box<dyn UploadSink>,
        since: Instant,
    },
    /// The upload was received completely; a worker is committing it.
    Committing,
}

/// A transfer from the command's `Outcome::Transfer` to its final reply.
struct Active {
    verb: String,
    /// The file's virtual path, for the transfer log (file transfers only).
    path: Option<String>,
    /// Which way the data moves (`flow` ends as `Committing` either way).
    direction: crate::metrics::Direction,
    flow: Flow,
    /// The `150` reply, until the data connection is there and it is sent.
    opening: Option<Reply>,
    started: Instant,
    bytes: u64,
    /// The size announced with `ALLO` before this upload, if any.
    announced: Option<u64>,
}

/// One client: its control connection and everything hanging off it.
struct Conn {
    generation: u64,
    stream: Stream,
    /// The client's address: the socket's peer, or the one a PROXY
    /// protocol header named.
    peer: SocketAddr,
    /// The load balancer's address (the socket's peer) when a PROXY
    /// protocol header named the client: data connections may come from
    /// either.
    via: Option<SocketAddr>,
    /// `AUTH TLS` was accepted: start TLS once its `234` is written.
    start_tls: bool,
    /// This control connection's TLS configuration (its own ticket key and
    /// session cache, see [`crate::tls::session_config`]), also used for its
    /// data connections; `None` until TLS starts.
    tls_config: Option<Arc<rustls::ServerConfig>>,
    /// The same without TLS 1.3 session tickets, for upload data
    /// connections (made on first use; see `check_data_tls`).
    tls_upload_config: Option<Arc<rustls::ServerConfig>>,
    /// Random, per control connection; carried in every TLS session ticket
    /// issued to this client, so a data connection that resumes a session
    /// can be checked to resume *this* one (RFC 4217 §10).
    tls_binding: [u8; 16],
    /// Data connections get TLS (`PROT P`): the session's level, as of the
    /// last command that returned it.
    data_private: bool,
    /// The accepted data connection is to be protected (it was accepted
    /// under `PROT P`); its TLS starts in `check_data_tls`.
    data_tls: bool,
    /// The data connection passed the TLS binding check (or is plain).
    data_checked: bool,
    /// A second connection reached the passive listener before a transfer
    /// started, or its TLS check failed: the next transfer is refused with
    /// this reply.
    data_conflict: Option<Reply>,
    /// `None` while a worker runs a command with it.
    /// Boxed so it moves to and from workers as one pointer.
    session: Option<Box<Session>>,
    /// The verb of the command that produced the current state (for logs).
    verb: String,
    /// Its argument (for the transfer log).
    arg: Option<String>,
    /// The unit per-address limits count this connection in.
    block: IpAddr,
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
    /// The last transfer failed (`426`, `451`) and no command came since:
    /// an `ABOR` now is the client aborting it (see `abort`).
    failed_transfer: bool,
    /// A reply waiting for its `Delay` timer (failed login).
    delayed: Option<Reply>,
    /// Close the connection once the delayed reply is sent (the last
    /// failed login allowed).
    delayed_close: bool,
    passive: Option<TcpListener>,
    data: Option<Stream>,
    /// `data` is an active-mode connection still being connected.
    connecting: bool,
    transfer: Option<Active>,
    timers: [Slot; KINDS],
    /// Already on the ready list, per part.
    queued: [bool; 4],
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
                flow: Flow::Receive(_) | Flow::Settling { .. },
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
                flow: Flow::Committing | Flow::Settling { .. },
                ..
            })
        )
    }
}

/// The pieces made by `Server::bind`, before the loop runs.
pub(crate) struct Parts {
    pub poll: Poll,
    pub listener: TcpListener,
    /// The implicit-TLS listener, if configured.
    pub implicit: Option<TcpListener>,
    pub waker: Arc<Waker>,
    pub stop: Arc<AtomicBool>,
    pub config: DaemonConfig,
    pub registry: Arc<Registry>,
    pub metrics: Arc<Metrics>,
    pub xferlog: Option<XferLog>,
    pub reload_tx: Sender<DaemonConfig>,
    pub reload_rx: Receiver<DaemonConfig>,
}

impl Parts {
    pub(crate) fn bind(mut config: DaemonConfig, registry: Registry) -> io::Result<Self> {
        config.server.tls.available = config.tls.is_some();
        let poll = Poll::new()?;
        let mut listener = TcpListener::bind(config.listen)?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let implicit = match config.implicit_tls_listen {
            Some(_) if config.tls.is_none() => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "an implicit-TLS listener needs a certificate and key",
                ));
            }
            Some(addr) => {
                let mut l = TcpListener::bind(addr)?;
                poll.registry()
                    .register(&mut l, IMPLICIT, Interest::READABLE)?;
                Some(l)
            }
            None => None,
        };
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let xferlog = config.xferlog.as_deref().map(XferLog::open).transpose()?;
        let (reload_tx, reload_rx) = crossbeam_channel::unbounded();
        Ok(Self {
            poll,
            listener,
            implicit,
            waker,
            stop: Arc::new(AtomicBool::new(false)),
            config,
            registry: Arc::new(registry),
            metrics: Arc::new(Metrics::default()),
            xferlog,
            reload_tx,
            reload_rx,
        })
    }

    pub(crate) fn implicit_addr(&self) -> Option<SocketAddr> {
        self.implicit.as_ref().and_then(|l| l.local_addr().ok())
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

/// Deadlines closer than this get a precise wake-up: the settle windows
/// (at most [`crate::settle::SETTLE_MAX`]), not the idle timeouts.
const PRECISE_UPTO: Duration = Duration::from_millis(50);

/// Wakes the loop at short deadlines precisely. `epoll_wait` (and so
/// `mio`) counts its timeout in whole milliseconds, rounded up, so an
/// upload's settle window of a few hundred microseconds on loopback would
/// cost a full millisecond, and every window up to a millisecond too long;
/// a `timerfd` in the same poll fires at the deadline itself.
struct PreciseWake {
    timer: nix::sys::timerfd::TimerFd,
    armed: bool,
}

impl PreciseWake {
    fn new(poll: &Poll) -> io::Result<Self> {
        use nix::sys::timerfd::{ClockId, TimerFd, TimerFlags};
        use std::os::fd::{AsFd, AsRawFd};
        let timer = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        poll.registry().register(
            &mut mio::unix::SourceFd(&timer.as_fd().as_raw_fd()),
            PRECISE,
            Interest::READABLE,
        )?;
        Ok(Self {
            timer,
            armed: false,
        })
    }

    /// Arms the timer when the poll `timeout` ends within [`PRECISE_UPTO`]
    /// (but not now); disarms it otherwise.
    fn arm(&mut self, timeout: Option<Duration>) {
        use nix::sys::time::TimeSpec;
        use nix::sys::timerfd::{Expiration, TimerSetTimeFlags};
        match timeout {
            Some(t) if !t.is_zero() && t < PRECISE_UPTO => {
                let at = Expiration::OneShot(TimeSpec::from_duration(t));
                // Best effort: without it the poll's own timeout still
                // ends the wait, a little late.
                self.armed = self.timer.set(at, TimerSetTimeFlags::empty()).is_ok();
            }
            _ if self.armed => {
                self.armed = false;
                let _ = self.timer.unset();
            }
            _ => {}
        }
    }

    fn drain(&mut self) {
        // Non-blocking: reads the expiration count or fails with EAGAIN.
        let _ = self.timer.wait();
    }
}

pub(crate) struct EventLoop {
    poll: Poll,
    listener: Option<TcpListener>,
    implicit: Option<TcpListener>,
    accept_retry: Option<Instant>,
    /// When a failed `accept` was last logged, and the failures since.
    accept_warned: Option<Instant>,
    accept_failures: u64,
    signals: Option<Signals>,
    precise: PreciseWake,
    stop: Arc<AtomicBool>,
    conns: Slab<Conn>,
    /// Control connections waiting for their PROXY protocol header.
    awaiting: proxied::Awaiting,
    next_generation: u64,
    timers: Timers,
    /// How late settle deadlines fired recently (see [`crate::settle`]).
    lateness: crate::settle::Lateness,
    ready: VecDeque<(ConnId, Part)>,
    workers: Workers,
    done: Receiver<Done>,
    config: DaemonConfig,
    server_config: Arc<ServerConfig>,
    registry: Arc<Registry>,
    metrics: Arc<Metrics>,
    xferlog: Option<XferLog>,
    reloads: Receiver<DaemonConfig>,
    /// Open control connections per address block.
    per_ip: HashMap<IpAddr, usize>,
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
        let precise = PreciseWake::new(&parts.poll)?;
        if let Some(address) = &parts.config.server.passive_address {
            crate::resolver::watch(address);
        }
        Ok(Self {
            poll: parts.poll,
            listener: Some(parts.listener),
            implicit: parts.implicit,
            accept_retry: None,
            accept_warned: None,
            accept_failures: 0,
            signals,
            precise,
            stop: parts.stop,
            conns: Slab::new(),
            awaiting: proxied::Awaiting::default(),
            next_generation: 0,
            timers: Timers::default(),
            lateness: crate::settle::Lateness::default(),
            ready: VecDeque::new(),
            workers,
            done,
            server_config: Arc::new(parts.config.server.clone()),
            config: parts.config,
            registry: parts.registry,
            metrics: parts.metrics,
            xferlog: parts.xferlog,
            reloads: parts.reload_rx,
            per_ip: HashMap::new(),
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
                [self.timers.timeout(now), accept, self.awaiting.timeout(now)]
                    .into_iter()
                    .flatten()
                    .min()
            } else {
                Some(Duration::ZERO)
            };
            self.precise.arm(timeout);
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if interrupted(&e) {
                    continue;
                }
                break Err(e);
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(false),
                    IMPLICIT => self.accept(true),
                    WAKER => {}
                    PRECISE => self.precise.drain(),
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
            self.apply_reloads();
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

    /// Accepts control connections on the plain listener or, with
    /// `implicit`, on the implicit-TLS one. A retry armed by a failed
    /// `accept` stays armed (it may be the other listener's); the timer
    /// clears it before retrying both.
    fn accept(&mut self, implicit: bool) {
        loop {
            let listener = if implicit {
                &self.implicit
            } else {
                &self.listener
            };
            let Some(listener) = listener else {
                return;
            };
            match listener.accept() {
                Ok((stream, peer)) if self.config.proxy_protocol => {
                    self.await_header(stream, peer, implicit);
                }
                Ok((stream, peer)) => self.admit(stream, peer, None, implicit),
                Err(e) if would_block(&e) => return,
                Err(e) if interrupted(&e) => {}
                Err(e) => {
                    self.accept_failed(&e);
                    self.accept_retry = Some(Instant::now() + ACCEPT_RETRY);
                    return;
                }
            }
        }
    }

    /// Logs a failed `accept`, naming what ran out, at most once per
    /// [`ACCEPT_WARN_EVERY`] with the number of failures in between: while
    /// descriptors are exhausted, every retry fails.
    fn accept_failed(&mut self, e: &io::Error) {
        self.accept_failures += 1;
        let now = Instant::now();
        if self
            .accept_warned
            .is_some_and(|at| now.duration_since(at) < ACCEPT_WARN_EVERY)
        {
            return;
        }
        let what = ftpsh_core::exhausted_resource(e).map_or_else(|| e.to_string(), str::to_owned);
        tracing::warn!(
            failures = self.accept_failures,
            "accepting control connections: {what}; retrying every {} ms",
            ACCEPT_RETRY.as_millis()
        );
        self.accept_warned = Some(now);
        self.accept_failures = 0;
    }

    /// Admits control connection `stream` from client `peer` (through the
    /// balancer `via`, see [`proxied`]): limits, then the greeting.
    fn admit(
        &mut self,
        mut stream: TcpStream,
        peer: SocketAddr,
        via: Option<SocketAddr>,
        implicit: bool,
    ) {
        if self.conns.len() >= self.config.max_sessions {
            self.refuse_too_many(&mut stream, peer, implicit);
            return;
        }
        let Some(block) = self.admissible(&mut stream, peer) else {
            return;
        };
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
        let mut session = Session::new(
            self.server_config.clone(),
            self.registry.clone(),
            peer,
            local,
        );
        let tls_binding: [u8; 16] = rand::random();
        session.tls.control = implicit;
        let mut control = Control::new();
        control.queue(&Reply::new(
            ReplyCode::SERVICE_READY,
            &self.server_config.banner,
        ));
        entry.insert(Conn {
            generation: self.next_generation,
            stream: Stream::plain(stream),
            peer,
            via,
            // Implicit TLS: the handshake starts before the banner (which
            // waits in the TLS buffer until it completes).
            start_tls: false,
            tls_config: None,
            tls_upload_config: None,
            tls_binding,
            data_private: false,
            data_tls: false,
            data_checked: false,
            data_conflict: None,
            session: Some(Box::new(session)),
            verb: String::new(),
            arg: None,
            block,
            control,
            writable_interest: false,
            readable: true,
            eof: false,
            closing: false,
            close_reply: None,
            failed_transfer: false,
            delayed: None,
            delayed_close: false,
            passive: None,
            data: None,
            connecting: false,
            transfer: None,
            timers: [Slot::default(); KINDS],
            queued: [false; 4],
        });
        *self.per_ip.entry(block).or_insert(0) += 1;
        self.metrics.set_sessions(self.conns.len());
        tracing::debug!(%peer, ?via, key, "connected");
        self.touch(key);
        if implicit && !self.start_control_tls(key) {
            return;
        }
        self.drive_control(key);
    }

    /// A TLS handshake on the control connection must finish within the
    /// data timeout (the stall timer is free: no transfer runs before it),
    /// so a client that stalls it costs a slot no longer than that.
    fn arm_handshake_timer(&mut self, key: usize) {
        if let Some(conn) = self.conns.get_mut(key) {
            let id = conn.id(key);
            let at = Instant::now() + self.config.data_timeout;
            self.timers
                .set(id, Kind::Stall, &mut conn.timers[Kind::Stall as usize], at);
        }
    }

    // ---- readiness events ----

    fn on_event(&mut self, token: Token, event: &mio::event::Event) {
        if let Some(key) = proxied::untoken_header(token) {
            self.read_header(key, event.is_read_closed() || event.is_error());
            return;
        }
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
            Part::Data if conn.connecting => self.finish_connect(key),
            Part::Data => self.pump_data(key),
            // Until the data connection is connected there is nothing to
            // pump; its own readiness starts the pump.
            Part::Bridge if conn.connecting => {}
            Part::Bridge => self.pump_data(key),
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
                Part::Data | Part::Bridge => self.pump_data(id.key),
                Part::Passive => self.accept_data(id.key),
            }
        }
    }

    fn live(&mut self, id: ConnId) -> Option<&mut Conn> {
        self.conns
            .get_mut(id.key)
            .filter(|c| c.generation == id.generation)
    }

    // ---- shutdown ----

    fn shutdown(&mut self) {
        for mut l in [self.listener.take(), self.implicit.take()]
            .into_iter()
            .flatten()
        {
            let _ = self.poll.registry().deregister(&mut l);
        }
        self.drop_awaiting();
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
