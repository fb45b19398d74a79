//! State shared by every session of a daemon, kept across reloads: failed
//! logins per client address (the lock-out of RFC 2577 §5) and logged-in
//! sessions per account.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// When an address is locked out after failed logins.
///
/// After `failures` wrong passwords from one address (an IPv4 address, or
/// an IPv6 /64), each less than `window` after the one before, that address
/// is refused with `421` until `window` has passed since its last failure.
/// `failures = 0` disables the lock-out. Refused attempts do not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failed logins that lock an address; 0 never locks.
    pub failures: u32,
    /// How long failures are remembered, and how long a lock lasts after
    /// the last one.
    pub window: Duration,
}

impl LockoutPolicy {
    /// No lock-out (the library default; `ftpshd` uses [`Self::daemon`]).
    pub const DISABLED: Self = Self {
        failures: 0,
        window: Duration::ZERO,
    };

    /// `ftpshd`'s default, libunftp's: 3 failures, 120 s.
    pub fn daemon() -> Self {
        Self {
            failures: 3,
            window: Duration::from_secs(120),
        }
    }
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self::DISABLED
    }
}

/// The unit limits apply to: an IPv4 address (IPv4-mapped IPv6 addresses
/// count as IPv4), or the /64 network of an IPv6 address, since one IPv6
/// host usually holds a whole /64.
pub fn address_block(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !(u128::from(u64::MAX));
            IpAddr::V6(bits.into())
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// Entries beyond which expired failure records are swept on insert.
const SWEEP_ABOVE: usize = 1024;

#[derive(Debug, Default)]
pub(crate) struct LoginState {
    failures: Mutex<HashMap<IpAddr, Failures>>,
    sessions: Mutex<HashMap<String, usize>>,
}

/// Locks a mutex, recovering from poisoning: the maps stay consistent
/// because every critical section is a single insert or update.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl LoginState {
    pub(crate) fn is_locked(&self, policy: LockoutPolicy, ip: IpAddr, now: Instant) -> bool {
        if policy.failures == 0 {
            return false;
        }
        lock(&self.failures)
            .get(&address_block(ip))
            .is_some_and(|f| {
                f.count >= policy.failures && now.duration_since(f.last) < policy.window
            })
    }

    /// Records a failed login; returns true when the address is now locked.
    pub(crate) fn fail(&self, policy: LockoutPolicy, ip: IpAddr, now: Instant) -> bool {
        if policy.failures == 0 {
            return false;
        }
        let mut map = lock(&self.failures);
        if map.len() > SWEEP_ABOVE {
            map.retain(|_, f| now.duration_since(f.last) < policy.window);
        }
        let entry = map.entry(address_block(ip)).or_insert(Failures {
            count: 0,
            last: now,
        });
        if now.duration_since(entry.last) >= policy.window {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
        entry.count >= policy.failures
    }

    /// Takes a session slot for `name` unless `limit` are taken.
    pub(crate) fn open_session(
        self: &Arc<Self>,
        name: &str,
        limit: Option<usize>,
    ) -> Option<SessionSlot> {
        let mut map = lock(&self.sessions);
        let n = map.entry(name.to_owned()).or_insert(0);
        if limit.is_some_and(|l| *n >= l) {
            return None;
        }
        *n += 1;
        Some(SessionSlot {
            state: self.clone(),
            name: name.to_owned(),
        })
    }

    pub(crate) fn sessions_of(&self, name: &str) -> usize {
        lock(&self.sessions).get(name).copied().unwrap_or(0)
    }
}

/// One logged-in session of an account, counted against the account's
/// `max_sessions` until dropped (logout, `REIN`, a new `USER`, or the
/// connection closing).
pub struct SessionSlot {
    state: Arc<LoginState>,
    name: String,
}

impl fmt::Debug for SessionSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SessionSlot").field(&self.name).finish()
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        let mut map = lock(&self.state.sessions);
        if let Some(n) = map.get_mut(&self.name) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks() {
        assert_eq!(address_block(ip("10.1.2.3")), ip("10.1.2.3"));
        assert_eq!(address_block(ip("::ffff:10.1.2.3")), ip("10.1.2.3"));
        assert_eq!(
            address_block(ip("2001:db8:1:2:aaaa::1")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(
            address_block(ip("2001:db8:1:2:ffff::9")),
            address_block(ip("2001:db8:1:2::1"))
        );
        assert_ne!(address_block(ip("2001:db8:1:3::1")), ip("2001:db8:1:2::"));
    }

    #[test]
    fn lockout_counts_within_the_window_and_expires() {
        let policy = LockoutPolicy {
            failures: 3,
            window: Duration::from_secs(120),
        };
        let s = LoginState::default();
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        assert!(!s.fail(policy, a, t0));
        assert!(!s.fail(policy, a, t0 + Duration::from_secs(1)));
        assert!(!s.is_locked(policy, a, t0 + Duration::from_secs(2)));
        assert!(s.fail(policy, a, t0 + Duration::from_secs(3)));
        assert!(s.is_locked(policy, a, t0 + Duration::from_secs(4)));
        assert!(!s.is_locked(policy, ip("192.0.2.2"), t0 + Duration::from_secs(4)));
        // The lock ends a window after the last failure.
        assert!(s.is_locked(policy, a, t0 + Duration::from_secs(122)));
        assert!(!s.is_locked(policy, a, t0 + Duration::from_secs(123)));
        // Failures further apart than the window never add up.
        let b = ip("2001:db8::1");
        for i in 0..5 {
            assert!(!s.fail(policy, b, t0 + Duration::from_secs(200 * i)));
        }
        // IPv6: one /64 is one address.
        assert!(!s.fail(policy, ip("2001:db8::2"), t0 + Duration::from_secs(801)));
        assert!(s.fail(policy, ip("2001:db8::3"), t0 + Duration::from_secs(802)));
        assert!(s.is_locked(policy, ip("2001:db8::ffff"), t0 + Duration::from_secs(803)));
        assert!(!s.is_locked(policy, ip("2001:db8:0:1::1"), t0 + Duration::from_secs(803)));
        assert!(!LoginState::default().fail(LockoutPolicy::DISABLED, a, t0));
    }

    #[test]
    fn session_slots_count_and_release() {
        let s = Arc::new(LoginState::default());
        let a = s.open_session("alice", Some(2)).unwrap();
        let b = s.open_session("alice", Some(2)).unwrap();
        assert!(s.open_session("alice", Some(2)).is_none());
        assert!(s.open_session("bob", Some(2)).is_some());
        drop(a);
        assert_eq!(s.sessions_of("alice"), 1);
        let _c = s.open_session("alice", Some(2)).unwrap();
        drop(b);
        assert_eq!(s.sessions_of("alice"), 1);
        assert!(s.open_session("carol", None).is_some());
    }
}
