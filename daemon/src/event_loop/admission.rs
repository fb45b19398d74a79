//! Who may connect (per-address limits and lock-out at accept) and
//! configuration reloads.

use ftpsh_core::auth::address_block;

use super::*;

/// Best effort: the socket is fresh, so the short `421` fits its buffer.
pub(super) fn refuse(stream: &mut TcpStream, text: &str) {
    let _ = stream.write(&Reply::new(ReplyCode::SERVICE_NOT_AVAILABLE, text).to_wire());
    let _ = stream.shutdown(Shutdown::Both);
}

impl EventLoop {
    /// Closes a connection beyond `max_sessions`: with `421`, or without a
    /// word on the implicit-TLS listener, whose client could not read a
    /// clear-text reply.
    pub(super) fn refuse_too_many(&self, stream: &mut TcpStream, peer: SocketAddr, implicit: bool) {
        tracing::warn!(%peer, "refused: too many connections");
        if implicit {
            let _ = stream.shutdown(Shutdown::Both);
        } else {
            refuse(stream, "too many connections");
        }
        self.metrics.refused("too-many");
    }
}

impl EventLoop {
    /// The address block of `peer` if it may open one more session:
    /// refused with `421` while locked out after failed logins (RFC 2577
    /// §5) or when it has `max_sessions_per_ip` open already.
    pub(super) fn admissible(
        &mut self,
        stream: &mut TcpStream,
        peer: SocketAddr,
    ) -> Option<IpAddr> {
        let ip = peer.ip().to_canonical();
        let block = address_block(ip);
        if self.server_config.users.is_locked_out(ip) {
            tracing::info!(
                target: "ftpshd::login",
                "connection refused client={ip} reason=locked-out"
            );
            refuse(
                stream,
                "too many failed logins from your address, try again later",
            );
            self.metrics.refused("locked-out");
            return None;
        }
        let open = self.per_ip.get(&block).copied().unwrap_or(0);
        if open >= self.config.max_sessions_per_ip {
            tracing::warn!(%peer, open, "refused: too many connections from this address");
            refuse(stream, "too many connections from your address");
            self.metrics.refused("per-ip");
            return None;
        }
        Some(block)
    }

    /// Forgets a closed connection in the per-address count.
    pub(super) fn release(&mut self, block: IpAddr) {
        if let Some(n) = self.per_ip.get_mut(&block) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_ip.remove(&block);
            }
        }
        self.metrics.set_sessions(self.conns.len());
    }

    /// Takes the configurations handed over by [`crate::Reloader`]; the
    /// last one wins.
    pub(super) fn apply_reloads(&mut self) {
        let Some(mut new) = self.reloads.try_iter().last() else {
            return;
        };
        new.server.users.keep_state_of(&self.server_config.users);
        // Roots already open stay shared by old and new sessions.
        new.server.storage = self.server_config.storage.clone();
        if new.listen != self.config.listen {
            tracing::warn!(old = %self.config.listen, new = %new.listen, "reload: listen needs a restart, unchanged");
        }
        if new.workers != self.config.workers {
            tracing::warn!("reload: workers needs a restart, unchanged");
        }
        if new.xferlog != self.config.xferlog {
            tracing::warn!("reload: the xferlog path needs a restart, unchanged");
        }
        if new.proxy_protocol != self.config.proxy_protocol {
            tracing::warn!("reload: proxy_protocol needs a restart, unchanged");
        }
        if new.implicit_tls_listen != self.config.implicit_tls_listen {
            tracing::warn!("reload: implicit_tls_listen needs a restart, unchanged");
        }
        if self.implicit.is_some() && new.tls.is_none() {
            // The implicit listener cannot serve without a certificate.
            tracing::warn!("reload: the implicit-TLS listener needs tls_cert, kept the old one");
            new.tls = self.config.tls.clone();
            new.server.tls.available = true;
        }
        if let Some(log) = &self.xferlog {
            log.reopen();
        }
        if let Some(address) = &new.server.passive_address {
            crate::resolver::watch(address);
        }
        self.server_config = Arc::new(new.server.clone());
        self.config.server = new.server;
        self.config.idle_timeout = new.idle_timeout;
        self.config.data_timeout = new.data_timeout;
        self.config.max_sessions = new.max_sessions;
        self.config.max_sessions_per_ip = new.max_sessions_per_ip;
        self.config.fsync_uploads = new.fsync_uploads;
        self.config.settle_min_proxied = new.settle_min_proxied;
        // The certificate was read again: new TLS sessions use it, running
        // ones keep the one they started with.
        self.config.tls = new.tls;
        tracing::info!(
            accounts = self.server_config.users.len(),
            "configuration reloaded: new logins use it"
        );
    }
}
