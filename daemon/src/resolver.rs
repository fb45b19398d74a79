//! Keeps a `passive_address` given as a DNS name resolved, on a thread of
//! its own: lookups block, and neither the loop nor a worker may wait for
//! DNS.

use std::sync::{Arc, Weak};
use std::time::Duration;

use ftpsh_core::PassiveAddress;

/// How often the name is looked up again.
const REFRESH: Duration = Duration::from_secs(300);
/// How soon a failed lookup is retried.
const RETRY: Duration = Duration::from_secs(10);
/// How often the thread checks that the address is still in use.
const TICK: Duration = Duration::from_secs(1);

/// Resolves `address` now and every [`REFRESH`] from a new thread, until
/// no configuration holds it any more (a reload replaced it). Does nothing
/// for a literal address.
pub(crate) fn watch(address: &Arc<PassiveAddress>) {
    if !address.needs_resolving() {
        return;
    }
    let weak: Weak<PassiveAddress> = Arc::downgrade(address);
    let spawned = std::thread::Builder::new()
        .name("ftpshd-resolver".to_owned())
        .spawn(move || {
            loop {
                let Some(address) = weak.upgrade() else {
                    return;
                };
                let before = address.current();
                let wait = match address.resolve() {
                    Ok(ip) => {
                        if before != Some(ip) {
                            tracing::info!("passive_address {} is {ip}", address.name());
                        }
                        REFRESH
                    }
                    Err(e) => {
                        tracing::warn!(name = address.name(), "passive_address lookup: {e}");
                        RETRY
                    }
                };
                drop(address);
                let mut waited = Duration::ZERO;
                while waited < wait {
                    std::thread::sleep(TICK);
                    waited += TICK;
                    if weak.strong_count() == 0 {
                        return;
                    }
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("passive_address resolver thread: {e}");
    }
}
