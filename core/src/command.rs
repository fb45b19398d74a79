//! The [`Command`] trait: one unit of behaviour, declared once.
//!
//! A command family (a crate such as `ftpsh-cmd-ls`) is a unit struct that
//! declares its wire verbs as [`VerbSpec`]s — verb, seed aliases, syntax,
//! help, required permission, whether it needs a data connection, its `FEAT`
//! line and runnable examples — and implements [`Command::run`]. `FEAT`,
//! `HELP`, login and permission checks and the daemon's dispatch are all
//! derived from these declarations, so adding a command is one crate plus
//! one line in the built-in list, and a plugin wrapped as a `Command` needs
//! no change to the daemon.
//!
//! `run` is called on a worker thread and may block on the disk; it must not
//! touch sockets. Anything that needs the event loop (a data transfer, a
//! passive listener, closing the connection) is returned as an [`Outcome`].

use std::fs::File;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use crate::auth::Permission;
use crate::reply::Reply;
use crate::request::Request;
use crate::session::Session;

/// One wire verb and everything the registry needs to know about it.
#[derive(Debug, Clone)]
pub struct VerbSpec {
    /// Canonical verb, upper case (`"LIST"`).
    pub verb: String,
    /// Other verbs dispatched to the same handler (`"LS"`); the handler sees
    /// the canonical verb.
    pub aliases: Vec<String>,
    /// Syntax in RFC notation, e.g. `"RETR <SP> pathname"`.
    pub syntax: String,
    /// One-line help text.
    pub help: String,
    /// True when the verb requires a logged-in user (`530` otherwise).
    pub login: bool,
    /// The permission required, if any (`550` otherwise).
    pub permission: Option<Permission>,
    /// True when the verb transfers over a data connection, so the daemon
    /// answers `425` unless PASV/EPSV came first.
    pub data: bool,
    /// True for verbs meant for a transfer in progress (ABOR, STAT, NOOP,
    /// QUIT). During a transfer the daemon runs every verb at once except
    /// those with [`VerbSpec::data`] or [`VerbSpec::data_setup`], which wait
    /// for its end; this flag documents the intent (and lets a data verb
    /// run anyway).
    pub during_transfer: bool,
    /// True when the verb prepares the next data connection (PASV, EPSV,
    /// PORT, EPRT): during a transfer it waits for the transfer to end,
    /// since carrying it out would replace the data connection in use.
    pub data_setup: bool,
    /// Whether the verb takes an argument. The registry answers `501`
    /// (RFC 959 §5.3.1, §4.2) before login, permission or data-connection
    /// checks when the request breaks this rule.
    pub arg: ArgRule,
    /// True for a `SITE` sub-command (`SITE CHMOD`): [`VerbSpec::verb`] is
    /// then the sub-command's name, registered in the registry's `SITE`
    /// namespace rather than as a verb of its own. See
    /// [`VerbSpec::site`].
    pub site: bool,
    /// The line this verb adds to the `FEAT` reply (RFC 2389), if any.
    pub feat: Option<String>,
    /// True when the command never blocks - no filesystem call, no waiting,
    /// no heavy computation - so the daemon runs it on its event loop
    /// rather than handing it to a worker thread and back (two thread
    /// wake-ups, about 20 µs of a ~50 µs round trip on a VM).
    pub inline: bool,
    /// A storage capability the verb needs as a whole (APPE: appending;
    /// MFMT: setting modification times). Without it in the session's
    /// storage the registry answers `502` and `FEAT` omits the verb's line.
    pub requires: Option<crate::storage::Capability>,
    /// Documented examples, executed by each command crate's tests.
    pub examples: Vec<Example>,
}

/// Whether a verb takes an argument (RFC 959 §5.3.1 gives each command's
/// syntax). Checked by [`Registry::authorize`](crate::Registry::authorize).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArgRule {
    /// No argument allowed (`PWD`); one gets `501`.
    None,
    /// Either way; the command checks (the default).
    #[default]
    Optional,
    /// An argument is required (`RETR`); none gets `501`.
    Required,
}

/// A documented example: a request line and the reply code it yields
/// against the standard test fixture (see `testkit`).
#[derive(Debug, Clone)]
pub struct Example {
    /// The request line, without CRLF (`"SIZE hello.txt"`).
    pub request: String,
    /// The reply code expected (the preliminary `150` for transfers).
    pub code: u16,
    /// What the example shows.
    pub about: String,
}

impl VerbSpec {
    /// A verb that requires login and nothing else.
    pub fn new(verb: &str, syntax: &str, help: &str) -> Self {
        Self {
            verb: verb.to_ascii_uppercase(),
            aliases: Vec::new(),
            syntax: syntax.to_owned(),
            help: help.to_owned(),
            login: true,
            permission: None,
            data: false,
            during_transfer: false,
            data_setup: false,
            arg: ArgRule::Optional,
            site: false,
            feat: None,
            inline: false,
            requires: None,
            examples: Vec::new(),
        }
    }

    /// Adds an alias verb.
    pub fn alias(mut self, verb: &str) -> Self {
        self.aliases.push(verb.to_ascii_uppercase());
        self
    }

    /// Allows the verb before login.
    pub fn no_login(mut self) -> Self {
        self.login = false;
        self
    }

    /// Requires `p`.
    pub fn permission(mut self, p: Permission) -> Self {
        self.permission = Some(p);
        self
    }

    /// Marks the verb as using a data connection.
    pub fn data(mut self) -> Self {
        self.data = true;
        self
    }

    /// Marks the verb as preparing the next data connection (see
    /// [`VerbSpec::data_setup`]).
    pub fn data_setup(mut self) -> Self {
        self.data_setup = true;
        self
    }

    /// Allows the verb during a transfer.
    pub fn during_transfer(mut self) -> Self {
        self.during_transfer = true;
        self
    }

    /// Declares that the command never blocks (see [`VerbSpec::inline`]).
    pub fn inline(mut self) -> Self {
        self.inline = true;
        self
    }

    /// Declares that the verb takes no argument (`PWD`, `CDUP`, `PASV`):
    /// one gets `501`.
    pub fn no_arg(mut self) -> Self {
        self.arg = ArgRule::None;
        self
    }

    /// Declares that the verb needs an argument (`RETR`, `STOR`): none gets
    /// `501` before any data-connection check.
    pub fn needs_arg(mut self) -> Self {
        self.arg = ArgRule::Required;
        self
    }

    /// Makes this a `SITE` sub-command (RFC 959 §4.1.3: SITE carries
    /// "services specific to his system"): the registry routes `SITE <verb>
    /// [args]` here, with the request's verb set to `verb` and its argument
    /// to `args`, after the usual argument, login and permission checks of
    /// this spec. Sub-commands have their own namespace (a plugin's `SITE
    /// HASH` does not collide with a `HASH` verb), are listed by `SITE
    /// HELP`, and are how a command crate or plugin extends `SITE` without
    /// touching the crate that owns the `SITE` verb.
    pub fn site(mut self) -> Self {
        self.site = true;
        self
    }

    /// Declares a storage capability the verb needs (see
    /// [`VerbSpec::requires`]).
    pub fn requires(mut self, c: crate::storage::Capability) -> Self {
        self.requires = Some(c);
        self
    }

    /// Sets the `FEAT` line.
    pub fn feat(mut self, line: &str) -> Self {
        self.feat = Some(line.to_owned());
        self
    }

    /// Adds an example.
    pub fn example(mut self, request: &str, code: u16, about: &str) -> Self {
        self.examples.push(Example {
            request: request.to_owned(),
            code,
            about: about.to_owned(),
        });
        self
    }

    /// The canonical verb and its aliases.
    pub fn all_verbs(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.verb.as_str()).chain(self.aliases.iter().map(String::as_str))
    }
}

/// A command family. See the module docs.
pub trait Command: Send + Sync {
    /// Short family name, e.g. `"ls"`; used in logs and listings.
    fn name(&self) -> &str;

    /// The verbs this command answers. Called once, at registration.
    fn verbs(&self) -> Vec<VerbSpec>;

    /// Executes `request` (its verb is the canonical one). Login and
    /// permission were already checked against the [`VerbSpec`]. May block
    /// on the disk; must not panic on any argument.
    fn run(&self, request: &Request, session: &mut Session) -> Outcome;
}

/// What a command asks of the event loop.
pub enum Outcome {
    /// Send this reply.
    Reply(Reply),
    /// Send this reply after a delay (failed logins), without holding a
    /// worker.
    Delayed {
        /// The reply.
        reply: Reply,
        /// How long to wait before sending it.
        delay: Duration,
    },
    /// Send this reply after a delay, then close the control connection
    /// (the last wrong password a connection may send: RFC 2577 §4).
    DelayedClose {
        /// The reply.
        reply: Reply,
        /// How long to wait before sending it.
        delay: Duration,
    },
    /// Open the prepared data connection, send `opening` (a `150`), run the
    /// transfer, then send `226` (or `426`/`451`/`452`).
    Transfer {
        /// The preliminary reply.
        opening: Reply,
        /// What to transfer.
        transfer: Transfer,
    },
    /// Replace the session's passive listener by `listener` and send
    /// `reply` (227/229).
    Passive {
        /// A bound, listening socket; the loop makes it non-blocking.
        listener: TcpListener,
        /// The reply announcing it.
        reply: Reply,
    },
    /// Active mode (RFC 959 §4.1.2 PORT, RFC 2428 §2 EPRT): drop any
    /// passive listener or data connection, connect to `target` from the
    /// control connection's local address (non-blocking, within the data
    /// timeout) and send `reply` (200) at once. The command has already
    /// checked `target` against bounce attacks (RFC 2577 §3); a connection
    /// that fails is reported by the next transfer as `425`.
    Active {
        /// The client's data port.
        target: SocketAddr,
        /// The reply to send now.
        reply: Reply,
    },
    /// Abort the transfer in progress, if any (RFC 959 §4.1.3 ABOR).
    Abort,
    /// Send this reply, then close the control connection once any transfer
    /// in progress has finished (QUIT).
    Close(Reply),
    /// Send this reply (`234`) in clear text, then start the TLS handshake
    /// on the control connection (RFC 4217 §4 AUTH TLS). Request bytes the
    /// client sent after the command are discarded, never read as commands.
    StartTls(Reply),
}

impl From<Reply> for Outcome {
    fn from(r: Reply) -> Self {
        Self::Reply(r)
    }
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Reply(r) => f.debug_tuple("Reply").field(r).finish(),
            Self::Delayed { reply, delay } => f
                .debug_struct("Delayed")
                .field("reply", reply)
                .field("delay", delay)
                .finish(),
            Self::DelayedClose { reply, delay } => f
                .debug_struct("DelayedClose")
                .field("reply", reply)
                .field("delay", delay)
                .finish(),
            Self::Transfer { opening, transfer } => f
                .debug_struct("Transfer")
                .field("opening", opening)
                .field("transfer", transfer)
                .finish(),
            Self::Passive { listener, reply } => f
                .debug_struct("Passive")
                .field("listener", &listener.local_addr().ok())
                .field("reply", reply)
                .finish(),
            Self::Active { target, reply } => f
                .debug_struct("Active")
                .field("target", target)
                .field("reply", reply)
                .finish(),
            Self::Abort => f.write_str("Abort"),
            Self::Close(r) => f.debug_tuple("Close").field(r).finish(),
            Self::StartTls(r) => f.debug_tuple("StartTls").field(r).finish(),
        }
    }
}

impl Outcome {
    /// `502` for a verb the registry routed to a command that does not
    /// handle it. The registry only routes a command's declared verbs, so
    /// this answers a mismatch between `verbs()` and `run()` instead of
    /// panicking.
    pub fn unhandled(verb: &str) -> Self {
        Self::Reply(Reply::new(
            crate::reply::ReplyCode::NOT_IMPLEMENTED,
            format!("{verb}: not implemented by this command"),
        ))
    }

    /// The reply code the client sees first.
    pub fn code(&self) -> Option<u16> {
        match self {
            Self::Reply(r)
            | Self::Delayed { reply: r, .. }
            | Self::DelayedClose { reply: r, .. }
            | Self::Close(r)
            | Self::StartTls(r) => Some(r.code.0),
            Self::Transfer { opening, .. } => Some(opening.code.0),
            Self::Passive { reply, .. } | Self::Active { reply, .. } => Some(reply.code.0),
            Self::Abort => None,
        }
    }
}

/// A data transfer, in one direction.
pub enum Transfer {
    /// Server to client.
    Send(DataSource),
    /// Client to server.
    Receive(Box<dyn UploadSink>),
}

impl std::fmt::Debug for Transfer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Send(s) => f.debug_tuple("Send").field(s).finish(),
            Self::Receive(_) => f.write_str("Receive(..)"),
        }
    }
}

/// What a `Send` transfer reads from.
pub enum DataSource {
    /// A file, sent from `offset` (bytes, from REST) to its end; the daemon
    /// uses `sendfile(2)` for it.
    File {
        /// The opened file.
        file: File,
        /// Start offset in bytes.
        offset: u64,
    },
    /// Bytes produced in advance (a directory listing).
    Bytes(Vec<u8>),
    /// A reader the event loop drains in bounded chunks (a file converted
    /// for `TYPE A`, see [`crate::ascii::ToNetwork`]). Its reads happen on
    /// the loop thread, so it must be cheap and must not wait on anything
    /// but a local disk.
    Reader(Box<dyn std::io::Read + Send>),
    /// A reader that may wait on the network (an object-store GET,
    /// [`crate::storage::ReadBody::Stream`]): the daemon reads it on a
    /// thread of its own and the loop moves what it read into the data
    /// connection in bounded chunks. An error from it ends the transfer
    /// with `451`; its end (`Ok(0)`) is the end of the file.
    Blocking(Box<dyn std::io::Read + Send>),
}

impl std::fmt::Debug for DataSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File { file, offset } => f
                .debug_struct("File")
                .field("file", file)
                .field("offset", offset)
                .finish(),
            Self::Bytes(b) => f.debug_tuple("Bytes").field(&b.len()).finish(),
            Self::Reader(_) => f.write_str("Reader(..)"),
            Self::Blocking(_) => f.write_str("Blocking(..)"),
        }
    }
}

/// Where a `Receive` transfer writes. The loop writes received bytes in
/// bounded chunks, then calls [`UploadSink::commit`] on a worker when the
/// client closes the data connection. Dropping the sink without committing
/// (ABOR, dropped connection, write error) must leave any existing file as
/// it was, or — for appends — with only whole received chunks added.
pub trait UploadSink: Write + Send {
    /// Makes the data written so far durable (`fsync(2)`), before
    /// [`commit`](Self::commit). The daemon calls it, on a worker, only when
    /// its durability policy asks for it (`ftpshd --fsync-uploads always`);
    /// without it the data reaches the disk with the kernel's writeback.
    /// The default does nothing (a sink with nothing to persist).
    ///
    /// # Errors
    /// The I/O error of the flush (`EIO`, `ENOSPC`, `EDQUOT`); the upload is
    /// then dropped, not committed.
    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// Makes the upload visible under its final name and reports the
    /// result: `226` on success, `451`/`452`/`552`/`553` on failure.
    fn commit(self: Box<Self>) -> Reply;

    /// Bytes written so far.
    fn written(&self) -> u64;

    /// True when [`Write::write`] may wait on the network (an object-store
    /// multipart upload): the daemon then writes to the sink from a thread
    /// of its own, fed by the loop through a bounded pipe, and never on the
    /// event loop. `false` (the default) for sinks that only wait on a
    /// local disk, which the loop writes directly.
    fn blocking(&self) -> bool {
        false
    }
}

/// Convenience: a reply for an I/O error during a transfer.
pub fn transfer_error_reply(err: &io::Error) -> Reply {
    use crate::reply::ReplyCode;
    match err.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => Reply::new(
            ReplyCode::INSUFFICIENT_STORAGE,
            "transfer aborted: insufficient storage space",
        ),
        io::ErrorKind::FileTooLarge => Reply::new(
            ReplyCode::EXCEEDED_STORAGE,
            "transfer aborted: exceeded storage allocation",
        ),
        _ => Reply::new(
            ReplyCode::LOCAL_ERROR,
            format!("transfer aborted: local error: {err}"),
        ),
    }
}

/// The final reply of an upload's [`UploadSink::commit`]: `226` naming
/// `path` and the `written` bytes when `result` is `Ok`; for an error,
/// [`transfer_error_reply`] when it is of kind `Other` (the sink's own
/// failure) and [`crate::io_reply`] for `path` otherwise (`550`, `552`, …).
pub fn commit_reply(result: io::Result<()>, path: &crate::VirtualPath, written: u64) -> Reply {
    match result {
        Ok(()) => Reply::new(
            crate::reply::ReplyCode::CLOSING_DATA,
            format!("transfer complete: {path} ({written} bytes)"),
        ),
        Err(e) if e.kind() == io::ErrorKind::Other => transfer_error_reply(&e),
        Err(e) => crate::io_reply(&e, path),
    }
}
