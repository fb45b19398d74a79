//! The control connection as a pure state machine: request bytes in,
//! dispatch decisions and reply bytes out (RFC 959 §4, §5.3).
//!
//! [`Control`] knows nothing about sockets, threads or time, so its rules —
//! framing, parse errors, login and permission checks, the `425` guard for
//! data verbs, what may run during a transfer, output back-pressure — are unit
//! tested here without a network. The event loop feeds it the bytes it reads,
//! asks it what to do next, and writes out what it queued.

use ftpsh_core::{Entry, ParseError, Registry, Reply, ReplyCode, Request, Session};
use ftpsh_core::{LineReader, request::MAX_LINE};

/// Queued reply bytes beyond which no further request is dispatched until
/// the client reads its replies: a client that pipelines commands but never
/// reads cannot make the daemon buffer without bound.
pub(crate) const OUTPUT_CAP: usize = 64 * 1024;

/// Received but undispatched request bytes beyond which the event loop stops
/// reading the socket (TCP flow control then pushes back on the client).
pub(crate) const INPUT_CAP: usize = 4 * MAX_LINE;

/// What the loop should do with the next request line.
#[derive(Debug)]
pub(crate) enum Dispatch {
    /// The request was answered without running a command (parse error,
    /// unknown verb, not logged in, no permission, no data connection); the
    /// reply is already queued.
    Answered(ReplyCode),
    /// Run this command with the session on a worker.
    Run {
        /// The command and its declaration.
        entry: Entry,
        /// The request, verb rewritten to the canonical one.
        request: Request,
    },
}

/// The state of the connection that [`Control::next`] needs from the loop.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Context {
    /// A transfer is in progress (from its `150` — or the wait for the data
    /// connection — until its final reply): verbs that use or prepare a data
    /// connection wait for its end.
    pub transfer: bool,
    /// A passive listener or an accepted data connection is prepared.
    pub data_ready: bool,
}

/// Framing, dispatch rules and the reply queue of one control connection.
#[derive(Debug, Default)]
pub(crate) struct Control {
    reader: LineReader,
    /// A request taken from the reader but not dispatched yet (it arrived
    /// during a transfer and may not run before it ends).
    held: Option<Result<Request, ParseError>>,
    out: Vec<u8>,
    out_pos: usize,
}

impl Control {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes read from the control connection.
    pub(crate) fn receive(&mut self, bytes: &[u8]) {
        self.reader.push(bytes);
    }

    /// Forgets every received byte not dispatched yet: after `AUTH TLS`,
    /// what followed it in clear text must never run as a protected request.
    pub(crate) fn discard_input(&mut self) {
        self.reader = LineReader::default();
        self.held = None;
    }

    /// True when the loop may read more from the socket: neither received
    /// requests nor queued replies are piling up.
    pub(crate) fn wants_input(&self) -> bool {
        self.reader.pending() < INPUT_CAP && self.queued() < OUTPUT_CAP
    }

    /// True when a complete request line is waiting.
    pub(crate) fn has_request(&mut self) -> bool {
        self.fill_held();
        self.held.is_some()
    }

    fn fill_held(&mut self) {
        if self.held.is_none() {
            self.held = self
                .reader
                .next_line()
                .map(|line| line.and_then(|l| Request::parse(&l)));
        }
    }

    /// Decides about the next complete request line, if one may be handled
    /// now. Replies that need no command are queued right away.
    ///
    /// Returns `None` when no line is complete, when the queued output is
    /// over [`OUTPUT_CAP`], or when a transfer is in progress and the next
    /// request uses or prepares a data connection ([`VerbSpec::data`],
    /// [`VerbSpec::data_setup`] — what a pipelining client sends for its
    /// next transfer): that one waits for the transfer to end, and requests
    /// are handled strictly in order, so a later `ABOR` does not overtake
    /// it. Everything else — USER, REIN, PWD, SIZE, a syntax error — is
    /// answered at once, as pyftpdlib does, so a client that waits for a
    /// reply before reading the data connection never stalls until the
    /// data timeout (issue #8 item 9). QUIT's reply still follows the
    /// transfer's (RFC 959 §4.1.1); the loop holds it.
    ///
    /// [`VerbSpec::data`]: ftpsh_core::VerbSpec::data
    /// [`VerbSpec::data_setup`]: ftpsh_core::VerbSpec::data_setup
    pub(crate) fn next(
        &mut self,
        registry: &Registry,
        session: &Session,
        cx: Context,
    ) -> Option<Dispatch> {
        if self.queued() >= OUTPUT_CAP {
            return None;
        }
        self.fill_held();
        let line = self.held.take()?;
        if cx.transfer {
            let waits = line.as_ref().is_ok_and(|r| {
                registry
                    .lookup(&r.verb)
                    .is_some_and(|e| (e.spec.data || e.spec.data_setup) && !e.spec.during_transfer)
            });
            if waits {
                self.held = Some(line);
                return None;
            }
        }
        let request = match line {
            Ok(r) => r,
            Err(e) => {
                let code = match e {
                    ParseError::BadArgument => ReplyCode::PARAMETER_SYNTAX_ERROR,
                    ParseError::TooLong | ParseError::Empty | ParseError::BadVerb => {
                        ReplyCode::SYNTAX_ERROR
                    }
                };
                return Some(self.answer(Reply::new(code, e.to_string())));
            }
        };
        let (entry, request) = match registry.authorize(&request, session) {
            Ok(found) => found,
            Err(reply) => return Some(self.answer(reply)),
        };
        if entry.spec.data && !cx.data_ready {
            return Some(self.answer(Reply::new(
                ReplyCode::CANT_OPEN_DATA,
                "use PASV, EPSV, PORT or EPRT first",
            )));
        }
        Some(Dispatch::Run { entry, request })
    }

    fn answer(&mut self, reply: Reply) -> Dispatch {
        let code = reply.code;
        self.queue(&reply);
        Dispatch::Answered(code)
    }

    /// Appends a reply to the output queue.
    pub(crate) fn queue(&mut self, reply: &Reply) {
        if reply.lines.is_empty() {
            // `Reply`'s fields are public, so a command (or a plugin) can
            // build one without text; it still gets a well-formed line.
            Reply::new(reply.code, "").write_wire(&mut self.out);
        } else {
            reply.write_wire(&mut self.out);
        }
    }

    /// Bytes queued and not yet written.
    pub(crate) fn queued(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// The queued bytes, to write to the socket.
    pub(crate) fn output(&self) -> &[u8] {
        &self.out[self.out_pos..]
    }

    /// Marks `n` queued bytes as written.
    pub(crate) fn consume(&mut self, n: usize) {
        self.out_pos = (self.out_pos + n).min(self.out.len());
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
            // Give back memory after a large multi-line reply.
            if self.out.capacity() > 2 * OUTPUT_CAP {
                self.out.shrink_to(OUTPUT_CAP);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ftpsh_core::testkit::TestSession;
    use ftpsh_core::{Command, Outcome, VerbSpec};

    use super::*;

    /// Verbs with the flags the daemon's rules depend on.
    struct Probe;

    impl Command for Probe {
        fn name(&self) -> &str {
            "probe"
        }
        fn verbs(&self) -> Vec<VerbSpec> {
            vec![
                VerbSpec::new("OPEN", "OPEN", "needs no login").no_login(),
                VerbSpec::new("SECR", "SECR", "needs login"),
                VerbSpec::new("PUTX", "PUTX", "needs write")
                    .permission(ftpsh_core::Permission::Write),
                VerbSpec::new("DATA", "DATA", "needs a data connection").data(),
                VerbSpec::new("PREP", "PREP", "prepares a data connection").data_setup(),
                VerbSpec::new("DARG", "DARG <SP> x", "needs an argument and data")
                    .needs_arg()
                    .data(),
                VerbSpec::new("ABOR", "ABOR", "allowed during a transfer")
                    .during_transfer()
                    .no_login(),
            ]
        }
        fn run(&self, _: &Request, _: &mut Session) -> Outcome {
            Outcome::Reply(Reply::new(ReplyCode::OK, "ok"))
        }
    }

    fn registry() -> Registry {
        TestSession::registry_with(Arc::new(Probe))
    }

    fn output(c: &mut Control) -> String {
        let s = String::from_utf8_lossy(c.output()).into_owned();
        let n = c.queued();
        c.consume(n);
        s
    }

    fn verb(d: Option<Dispatch>) -> String {
        match d {
            Some(Dispatch::Run { request, .. }) => request.verb,
            other => panic!("expected a run, got {other:?}"),
        }
    }

    fn code(d: Option<Dispatch>) -> u16 {
        match d {
            Some(Dispatch::Answered(c)) => c.0,
            other => panic!("expected an answer, got {other:?}"),
        }
    }

    #[test]
    fn reply_codes_for_rejected_lines() {
        let reg = registry();
        let mut t = TestSession::logged_out(reg.clone());
        let mut c = Control::new();
        let rows: &[(&[u8], u16, &str)] = &[
            (b"\r\n", 500, "RFC 959 §5.4: empty line is a syntax error"),
            (b"12AB x\r\n", 500, "verb must be letters"),
            (b"OPEN \xc3\x28\r\n", 501, "argument not UTF-8"),
            (b"NOPE\r\n", 500, "unknown verb"),
            (b"SECR\r\n", 530, "login required (RFC 959 §5.4)"),
        ];
        for (line, want, why) in rows {
            c.receive(line);
            let got = code(c.next(&reg, &t.session, Context::default()));
            assert_eq!(got, *want, "{why}");
            assert!(output(&mut c).starts_with(&want.to_string()), "{why}");
        }
        t.login_as("reader", "pw");
        c.receive(b"PUTX\r\nDATA\r\n");
        assert_eq!(code(c.next(&reg, &t.session, Context::default())), 550);
        assert_eq!(code(c.next(&reg, &t.session, Context::default())), 425);
        assert!(output(&mut c).ends_with("425 use PASV, EPSV, PORT or EPRT first\r\n"));
        // RFC 959 §5.3.1: a missing argument is a syntax error (501),
        // reported before the data-connection check (425).
        c.receive(b"DARG\r\nDARG x\r\n");
        assert_eq!(code(c.next(&reg, &t.session, Context::default())), 501);
        assert_eq!(code(c.next(&reg, &t.session, Context::default())), 425);
        output(&mut c);
        c.receive(b"DATA\r\n");
        let ready = Context {
            data_ready: true,
            ..Context::default()
        };
        assert_eq!(verb(c.next(&reg, &t.session, ready)), "DATA");
    }

    #[test]
    fn overlong_line_gets_500_and_the_next_line_works() {
        let reg = registry();
        let t = TestSession::logged_out(reg.clone());
        let mut c = Control::new();
        let big = vec![b'A'; 3 * MAX_LINE];
        c.receive(&big);
        assert!(c.next(&reg, &t.session, Context::default()).is_none());
        c.receive(&big);
        c.receive(b"\r\nOPEN\r\n");
        assert_eq!(code(c.next(&reg, &t.session, Context::default())), 500);
        assert_eq!(verb(c.next(&reg, &t.session, Context::default())), "OPEN");
    }

    #[test]
    fn pipelined_lines_in_order_and_held_during_transfer() {
        let reg = registry();
        let t = TestSession::new(reg.clone());
        let mut c = Control::new();
        let busy = Context {
            transfer: true,
            data_ready: false,
        };
        // Verbs that neither use nor prepare a data connection run during a
        // transfer, and errors are answered at once.
        c.receive(b"OPEN\r\nNOPE\r\nSECR\r\n");
        assert_eq!(verb(c.next(&reg, &t.session, busy)), "OPEN");
        assert_eq!(code(c.next(&reg, &t.session, busy)), 500);
        assert_eq!(verb(c.next(&reg, &t.session, busy)), "SECR");
        output(&mut c);
        // The next transfer's requests wait, and ABOR may not overtake them.
        c.receive(b"PREP\r\nDATA\r\nABOR\r\n");
        assert!(c.next(&reg, &t.session, busy).is_none());
        assert!(c.next(&reg, &t.session, busy).is_none());
        assert!(c.has_request());
        assert_eq!(verb(c.next(&reg, &t.session, Context::default())), "PREP");
        assert!(c.next(&reg, &t.session, busy).is_none());
        let ready = Context {
            transfer: false,
            data_ready: true,
        };
        assert_eq!(verb(c.next(&reg, &t.session, ready)), "DATA");
        assert_eq!(verb(c.next(&reg, &t.session, busy)), "ABOR");
        assert!(!c.has_request());
    }

    #[test]
    fn reply_without_lines_is_still_one_line() {
        let mut c = Control::new();
        c.queue(&Reply {
            code: ReplyCode::OK,
            lines: Vec::new(),
        });
        assert_eq!(output(&mut c), "200 \r\n");
    }

    #[test]
    fn output_cap_stops_dispatch_until_drained() {
        let reg = registry();
        let t = TestSession::logged_out(reg.clone());
        let mut c = Control::new();
        let lines = b"NOPE\r\n".repeat(OUTPUT_CAP / 10);
        c.receive(&lines);
        let mut answered = 0;
        while c.next(&reg, &t.session, Context::default()).is_some() {
            answered += 1;
        }
        assert!(c.queued() >= OUTPUT_CAP);
        assert!(!c.wants_input());
        assert!(answered < OUTPUT_CAP / 10);
        output(&mut c);
        assert!(c.next(&reg, &t.session, Context::default()).is_some());
    }
}
