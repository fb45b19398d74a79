//! Timers: idle, passive-accept, stalled-transfer and delayed-reply deadlines.

use super::*;

impl EventLoop {
    // ---- timers ----

    pub(super) fn run_timers(&mut self) {
        let now = Instant::now();
        self.expire_headers(now);
        if self.accept_retry.is_some_and(|at| at <= now) {
            self.accept_retry = None;
            self.accept(false);
            self.accept(true);
        }
        while let Some((id, kind, at)) = self.timers.pop_due(now) {
            let Some(conn) = self
                .conns
                .get_mut(id.key)
                .filter(|c| c.generation == id.generation)
            else {
                self.timers.discard();
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
                Kind::Settle => {
                    self.lateness.observe(now.saturating_duration_since(at));
                    self.settle_upload(id.key);
                }
                Kind::Delay => {
                    if let Some(conn) = self.conns.get_mut(id.key)
                        && let Some(reply) = conn.delayed.take()
                    {
                        conn.control.queue(&reply);
                        if std::mem::take(&mut conn.delayed_close) {
                            conn.closing = true;
                        }
                    }
                    self.drive_control(id.key);
                }
            }
        }
    }

    /// Sweeps the timer heap once the entries of closed connections
    /// outnumber the live ones (see [`crate::timer`]).
    pub(super) fn compact_timers(&mut self) {
        if !self.timers.needs_compaction() {
            return;
        }
        let before = self.timers.len();
        let conns = &self.conns;
        self.timers.compact(|a| {
            conns
                .get(a.id.key)
                .filter(|c| c.generation == a.id.generation)
                .is_some_and(|c| c.timers[a.kind as usize].armed() == Some(a.at))
        });
        tracing::debug!(before, after = self.timers.len(), "timer heap swept");
    }

    pub(super) fn idle_timeout(&mut self, key: usize) {
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

    pub(super) fn passive_timeout(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        // The same deadline bounds an active-mode connect.
        if conn.passive.is_none() && !conn.connecting {
            return;
        }
        tracing::debug!(peer = %conn.peer, "no data connection within the data timeout");
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

    pub(super) fn stall_timeout(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.stream.is_handshaking() {
            // The control connection's TLS handshake did not finish in time:
            // no reply is possible (nothing is protected yet), just close.
            tracing::debug!(peer = %conn.peer, "TLS handshake timed out");
            self.close(key);
            return;
        }
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
}
