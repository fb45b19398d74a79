//! What a finished transfer leaves behind: metrics and the xferlog line.

use std::time::SystemTime;

use ftpsh_core::TransferType;

use super::*;
use crate::xferlog::Entry;

/// Counts transfer `t` of `conn` (ended with `226` when `complete`) in the
/// metrics, and logs a file transfer to the xferlog.
pub(super) fn observe_transfer(
    metrics: &Metrics,
    xferlog: Option<&XferLog>,
    conn: &Conn,
    t: &Active,
    complete: bool,
) {
    let direction = t.direction;
    let seconds = t.started.elapsed().as_secs_f64();
    metrics.bytes(direction, t.bytes);
    let Some(path) = &t.path else {
        return;
    };
    if complete {
        metrics.file(direction, seconds);
    }
    let Some(log) = xferlog else {
        return;
    };
    let Some(session) = &conn.session else {
        return;
    };
    let Some(user) = session.user() else {
        return;
    };
    log.record(&Entry {
        when: SystemTime::now(),
        seconds,
        host: conn.peer.ip(),
        bytes: t.bytes,
        path,
        binary: session.transfer_type == TransferType::Binary,
        direction,
        anonymous: user.is_anonymous(),
        user: &user.name,
        complete,
    });
}
