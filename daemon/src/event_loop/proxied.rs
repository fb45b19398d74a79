//! Control connections behind a load balancer (`proxy_protocol`): each
//! starts with a PROXY protocol header naming the client. Such a
//! connection waits here, outside the sessions, until its header is read;
//! then it is admitted as the client's (per-address limits and lock-out
//! included), and only then greeted: the balancer speaks first, and the
//! FTP server may not (RFC 959's `220` waits for the header).
//!
//! The header is read without taking more than it: the socket is peeked
//! (at most [`MAX_HEADER`] bytes), and once a header is complete exactly
//! its bytes are read, so whatever the balancer relayed after it - a
//! pipelined request, an implicit-TLS ClientHello - is still in the socket
//! for the control connection's reader. Readiness is edge-triggered, and
//! each arrival of bytes is a new edge, so a header in pieces is peeked
//! again as each piece comes.

use super::*;
use crate::proxy_protocol::{self, MAX_HEADER};

/// Longest wait for a complete header (the data timeout, if shorter).
/// A balancer sends it at once, with the connection.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The token of a waiting connection: after the [`Part`]s of the same key
/// (in the other slab).
pub(super) fn header_token(key: usize) -> Token {
    Token(key * TOKENS_PER_KEY + HEADER_PART)
}

/// The key of a waiting connection's token, if it is one.
pub(super) fn untoken_header(token: Token) -> Option<usize> {
    (token.0 % TOKENS_PER_KEY == HEADER_PART).then_some(token.0 / TOKENS_PER_KEY)
}

/// Where [`header_token`]s sit among a key's tokens.
const HEADER_PART: usize = 4;

/// Connections waiting for their header.
#[derive(Default)]
pub(super) struct Awaiting {
    conns: Slab<Waiting>,
    /// Deadlines in accept order: all are the same time after the accept,
    /// so this is their time order too (a reload that shortens the data
    /// timeout only delays the newer ones until the older ones expire).
    deadlines: VecDeque<(usize, u64, Instant)>,
}

struct Waiting {
    stream: TcpStream,
    /// The socket's peer: the balancer.
    peer: SocketAddr,
    implicit: bool,
    generation: u64,
}

impl Awaiting {
    pub(super) fn len(&self) -> usize {
        self.conns.len()
    }

    /// Time until the earliest deadline.
    pub(super) fn timeout(&self, now: Instant) -> Option<Duration> {
        self.deadlines
            .front()
            .map(|&(_, _, at)| at.saturating_duration_since(now))
    }
}

impl EventLoop {
    /// Takes an accepted control connection whose header is still to come.
    pub(super) fn await_header(&mut self, mut stream: TcpStream, peer: SocketAddr, implicit: bool) {
        if self.conns.len() + self.awaiting.len() >= self.config.max_sessions {
            self.refuse_too_many(&mut stream, peer, implicit);
            return;
        }
        let entry = self.awaiting.conns.vacant_entry();
        let key = entry.key();
        if let Err(e) =
            self.poll
                .registry()
                .register(&mut stream, header_token(key), Interest::READABLE)
        {
            tracing::warn!(%peer, "registering a control connection: {e}");
            return;
        }
        self.next_generation += 1;
        let generation = self.next_generation;
        entry.insert(Waiting {
            stream,
            peer,
            implicit,
            generation,
        });
        let wait = HEADER_TIMEOUT.min(self.config.data_timeout);
        self.awaiting
            .deadlines
            .push_back((key, generation, Instant::now() + wait));
    }

    /// Readiness on a waiting connection: admits it once its header is
    /// complete; closes it, without a word, when what came cannot be one
    /// or it ended (`closed`) before the header did.
    pub(super) fn read_header(&mut self, key: usize, closed: bool) {
        let Some(w) = self.awaiting.conns.get_mut(key) else {
            return;
        };
        let mut buf = [0u8; MAX_HEADER];
        let mut peeked = w.stream.peek(&mut buf);
        if peeked.as_ref().is_err_and(interrupted) {
            peeked = w.stream.peek(&mut buf);
        }
        let n = match peeked {
            Ok(0) => return self.drop_waiting(key, "closed before its PROXY protocol header"),
            Ok(n) => n,
            Err(e) if would_block(&e) && !closed => return,
            Err(e) => return self.drop_waiting(key, &format!("before its PROXY header: {e}")),
        };
        let header = match proxy_protocol::parse(&buf[..n]) {
            Ok(Some(header)) => header,
            Ok(None) if closed => {
                return self.drop_waiting(key, "closed inside its PROXY protocol header");
            }
            Ok(None) => return,
            Err(e) => {
                self.metrics.refused("proxy-header");
                return self.drop_waiting(key, &e.to_string());
            }
        };
        // The header's bytes are in the socket (just peeked): take exactly
        // those, leaving what follows.
        let mut left = header.len;
        for _ in 0..8 {
            match w.stream.read(&mut buf[..left]) {
                Ok(0) => break,
                Ok(k) => left -= k,
                Err(e) if interrupted(&e) => {}
                Err(_) => break,
            }
            if left == 0 {
                break;
            }
        }
        if left > 0 {
            return self.drop_waiting(key, "reading its PROXY protocol header failed");
        }
        let mut w = self.awaiting.conns.remove(key);
        let _ = self.poll.registry().deregister(&mut w.stream);
        let (client, via) = match header.addresses {
            Some((source, _)) => (source, Some(w.peer)),
            // LOCAL / UNKNOWN: the balancer's own connection.
            None => (w.peer, None),
        };
        tracing::debug!(
            %client, balancer = %w.peer, version = header.version,
            "PROXY protocol header"
        );
        self.admit(w.stream, client, via, w.implicit);
    }

    /// Closes waiting connection `key`, logging `why`.
    fn drop_waiting(&mut self, key: usize, why: &str) {
        if let Some(mut w) = self.awaiting.conns.try_remove(key) {
            tracing::info!(peer = %w.peer, "control connection closed: {why}");
            let _ = self.poll.registry().deregister(&mut w.stream);
            let _ = w.stream.shutdown(Shutdown::Both);
        }
    }

    /// Closes the connections whose header did not come in time.
    pub(super) fn expire_headers(&mut self, now: Instant) {
        while let Some(&(key, generation, at)) = self.awaiting.deadlines.front() {
            if at > now {
                return;
            }
            self.awaiting.deadlines.pop_front();
            if self
                .awaiting
                .conns
                .get(key)
                .is_some_and(|w| w.generation == generation)
            {
                self.drop_waiting(key, "no PROXY protocol header in time");
            }
        }
    }

    /// Closes every waiting connection (shutdown).
    pub(super) fn drop_awaiting(&mut self) {
        for mut w in self.awaiting.conns.drain() {
            let _ = self.poll.registry().deregister(&mut w.stream);
        }
        self.awaiting.deadlines.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A waiting connection's token is never a connection part's (the two
    /// live in different slabs whose keys overlap), nor the other way.
    #[test]
    fn header_tokens_are_their_own() {
        for key in [0, 1, 2, 3, 4, 7, 8, 1000, 123_457] {
            assert_eq!(untoken_header(header_token(key)), Some(key));
            assert_eq!(untoken(header_token(key)), None);
            for part in [Part::Control, Part::Passive, Part::Data, Part::Bridge] {
                assert_eq!(untoken_header(token(key, part)), None, "{part:?}");
                assert_eq!(untoken(token(key, part)), Some((key, part)));
            }
        }
    }
}
