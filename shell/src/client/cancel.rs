//! Interrupting a blocked wait from another thread.
//!
//! The client is synchronous: a reply, a data connection or a transfer is
//! waited for in a blocking `read`. The transfer loops poll a flag every
//! [`super::POLL`] and answer Ctrl-C with `ABOR`, but a wait for a control
//! reply cannot poll anything. A [`Canceller`] therefore keeps a duplicate
//! of every socket the connection is using (the control connection and the
//! current data connection); [`Canceller::cancel`] shuts them all down,
//! which makes the blocked `read` or `write` return at once. The connection
//! is then out of step and is dropped: the shell goes offline cleanly
//! instead of hanging.

use std::net::{Shutdown, TcpStream};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Duplicates of the sockets in use, by connection, and whether a cancel
/// was requested. Shared (in an `Arc`) between the shell and the thread
/// that handles signals.
#[derive(Debug, Default)]
pub struct Canceller {
    sockets: Mutex<Vec<(u64, bool, TcpStream)>>,
    cancelled: AtomicBool,
    next_id: AtomicU64,
}

impl Canceller {
    /// A canceller with nothing registered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Shuts down every registered socket and remembers that it did, so
    /// the errors that follow read as "interrupted" rather than as a lost
    /// connection.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        if let Ok(sockets) = self.sockets.lock() {
            for (_, _, s) in sockets.iter() {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }

    /// True when [`Canceller::cancel`] ran since the last
    /// [`Canceller::reset`].
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Forgets a past cancel (at the start of each command).
    pub fn reset(&self) {
        self.cancelled.store(false, Ordering::SeqCst);
    }

    /// A fresh id for a new connection's sockets.
    pub(crate) fn new_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Registers a duplicate of `socket` for connection `id`; `data` marks
    /// a data connection, forgotten by [`Canceller::forget_data`].
    pub(crate) fn register(&self, id: u64, data: bool, socket: &TcpStream) {
        if let (Ok(dup), Ok(mut sockets)) = (socket.try_clone(), self.sockets.lock()) {
            if self.cancelled.load(Ordering::SeqCst) {
                let _ = dup.shutdown(Shutdown::Both);
            }
            sockets.push((id, data, dup));
        }
    }

    /// Drops the duplicates of connection `id`'s data connections.
    pub(crate) fn forget_data(&self, id: u64) {
        if let Ok(mut sockets) = self.sockets.lock() {
            sockets.retain(|(i, data, _)| *i != id || !*data);
        }
    }

    /// Drops every duplicate of connection `id` (the connection is gone).
    pub(crate) fn forget(&self, id: u64) {
        if let Ok(mut sockets) = self.sockets.lock() {
            sockets.retain(|(i, _, _)| *i != id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;

    #[test]
    fn cancel_unblocks_a_read() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server, _) = listener.accept().unwrap();
        let c = std::sync::Arc::new(Canceller::new());
        c.register(c.new_id(), false, &client);
        let c2 = c.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            c2.cancel();
        });
        let mut buf = [0u8; 1];
        // Returns (0 or an error) instead of blocking forever.
        let _ = client.read(&mut buf);
        assert!(c.is_cancelled());
        t.join().unwrap();
    }
}
