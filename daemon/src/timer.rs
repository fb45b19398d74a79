//! Deadlines for the event loop: one binary heap, earliest first, whose top
//! gives the poll timeout.
//!
//! Timers are not cancelled in the heap one by one. Each connection keeps,
//! per [`Kind`], the deadline it currently wants and the one it has armed;
//! when a heap entry fires the loop compares it with what the connection
//! wants (re-arming if the deadline moved, e.g. after activity), so each
//! connection has at most one live heap entry per kind.
//!
//! Entries that can no longer fire for anything - those of closed
//! connections, and those superseded by an earlier deadline - are counted
//! as garbage ([`Timers::release`]) and swept in one pass
//! ([`Timers::compact`]) once they outnumber the live ones, so the heap
//! follows the connections that are open, not those opened during the last
//! idle timeout: at most twice the live entries plus [`GARBAGE_SLACK`].

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use crate::workers::ConnId;

/// What a deadline is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    /// Control connection idle outside a transfer -> `421`, close.
    Idle = 0,
    /// Passive listener without an accepted data connection -> close it.
    Passive = 1,
    /// Data connection without progress -> `426`, close it.
    Stall = 2,
    /// A delayed reply (failed login) is due.
    Delay = 3,
    /// A received upload has settled and may be committed.
    Settle = 4,
}

pub(crate) const KINDS: usize = 5;

/// Garbage entries tolerated before a sweep regardless of the heap size,
/// so that a small heap is not swept at every close.
pub(crate) const GARBAGE_SLACK: usize = 1024;

/// One connection's wanted and armed deadline for one [`Kind`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Slot {
    pub want: Option<Instant>,
    armed: Option<Instant>,
}

impl Slot {
    /// The deadline of this slot's live heap entry.
    pub(crate) fn armed(&self) -> Option<Instant> {
        self.armed
    }
}

/// A heap entry, as [`Timers::compact`] shows it to its caller.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Armed {
    pub id: ConnId,
    pub kind: Kind,
    pub at: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    at: Instant,
    key: usize,
    generation: u64,
    kind: Kind,
}

/// The heap of armed deadlines.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<Entry>>,
    /// Entries known to be dead (an upper bound: some of them may already
    /// have been popped).
    garbage: usize,
}

impl Timers {
    /// Sets `slot`'s deadline to `at`, arming a heap entry unless one that
    /// fires no later is already armed.
    pub(crate) fn set(&mut self, id: ConnId, kind: Kind, slot: &mut Slot, at: Instant) {
        slot.want = Some(at);
        if slot.armed.is_none_or(|armed| armed > at) {
            if slot.armed.is_some() {
                // The later entry stays in the heap but can no longer fire.
                self.garbage += 1;
            }
            slot.armed = Some(at);
            self.heap.push(Reverse(Entry {
                at,
                key: id.key,
                generation: id.generation,
                kind,
            }));
        }
    }

    /// Time until the earliest armed deadline (zero if it passed).
    pub(crate) fn timeout(&self, now: Instant) -> Option<Duration> {
        self.heap
            .peek()
            .map(|Reverse(e)| e.at.saturating_duration_since(now))
    }

    /// Pops the next heap entry due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(ConnId, Kind, Instant)> {
        if self.heap.peek().is_some_and(|Reverse(e)| e.at <= now) {
            let Reverse(e) = self.heap.pop()?;
            let id = ConnId {
                key: e.key,
                generation: e.generation,
            };
            return Some((id, e.kind, e.at));
        }
        None
    }

    /// Decides what a popped entry means for the connection's `slot`:
    /// `true` when the wanted deadline has passed (act on it, the slot is
    /// cleared); otherwise the entry is re-armed at the wanted deadline if
    /// there still is one and nothing earlier is armed.
    pub(crate) fn fire(
        &mut self,
        id: ConnId,
        kind: Kind,
        slot: &mut Slot,
        armed_at: Instant,
        now: Instant,
    ) -> bool {
        if slot.armed == Some(armed_at) {
            slot.armed = None;
        } else {
            // A superseded entry, counted as garbage when it was.
            self.discard();
        }
        match slot.want {
            Some(at) if at <= now => {
                slot.want = None;
                true
            }
            Some(at) => {
                if slot.armed.is_none() {
                    self.set(id, kind, slot, at);
                }
                false
            }
            None => false,
        }
    }

    /// A closed connection's `slots`: their entries become garbage.
    pub(crate) fn release(&mut self, slots: &[Slot]) {
        self.garbage += slots.iter().filter(|s| s.armed.is_some()).count();
    }

    /// An entry popped for a connection that no longer exists.
    pub(crate) fn discard(&mut self) {
        self.garbage = self.garbage.saturating_sub(1);
    }

    /// True when the garbage outnumbers the live entries (and the slack).
    pub(crate) fn needs_compaction(&self) -> bool {
        self.garbage > GARBAGE_SLACK && self.garbage * 2 > self.heap.len()
    }

    /// Keeps only the entries for which `live` is true (the caller checks
    /// that the connection exists and still has the entry armed), in one
    /// O(n) pass, and frees the memory of the rest.
    pub(crate) fn compact(&mut self, mut live: impl FnMut(Armed) -> bool) {
        self.heap.retain(|Reverse(e)| {
            live(Armed {
                id: ConnId {
                    key: e.key,
                    generation: e.generation,
                },
                kind: e.kind,
                at: e.at,
            })
        });
        self.heap.shrink_to(self.heap.len() * 2);
        self.garbage = 0;
    }

    /// Number of heap entries, live or not.
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: ConnId = ConnId {
        key: 1,
        generation: 7,
    };

    #[test]
    fn moved_deadline_rearms_once() {
        let mut t = Timers::default();
        let mut slot = Slot::default();
        let t0 = Instant::now();
        t.set(ID, Kind::Idle, &mut slot, t0 + Duration::from_secs(1));
        // Activity pushes the deadline out many times: no new heap entries.
        for i in 2..100 {
            t.set(ID, Kind::Idle, &mut slot, t0 + Duration::from_secs(i));
        }
        assert_eq!(t.len(), 1);
        let now = t0 + Duration::from_secs(1);
        let (id, kind, at) = t.pop_due(now).unwrap();
        assert_eq!((id, kind), (ID, Kind::Idle));
        assert!(!t.fire(id, kind, &mut slot, at, now));
        assert_eq!(t.len(), 1);
        assert_eq!(t.timeout(now), Some(Duration::from_secs(98)));
        let late = t0 + Duration::from_secs(99);
        let (id, kind, at) = t.pop_due(late).unwrap();
        assert!(t.fire(id, kind, &mut slot, at, late));
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn cleared_slot_never_fires() {
        let mut t = Timers::default();
        let mut slot = Slot::default();
        let t0 = Instant::now();
        t.set(ID, Kind::Passive, &mut slot, t0);
        slot.want = None;
        let (id, kind, at) = t.pop_due(t0).unwrap();
        assert!(!t.fire(id, kind, &mut slot, at, t0));
        assert!(t.pop_due(t0 + Duration::from_secs(9)).is_none());
    }

    #[test]
    fn closed_connections_leave_bounded_garbage() {
        // 28,000 short connections, each with an idle deadline far away,
        // 100 of them still open: the heap follows the open ones.
        let mut t = Timers::default();
        let t0 = Instant::now();
        let mut open: Vec<(ConnId, [Slot; KINDS])> = Vec::new();
        for generation in 0..28_000u64 {
            let id = ConnId {
                key: (generation % 200) as usize,
                generation,
            };
            let mut slots = [Slot::default(); KINDS];
            t.set(
                id,
                Kind::Idle,
                &mut slots[Kind::Idle as usize],
                t0 + Duration::from_secs(300),
            );
            t.set(
                id,
                Kind::Stall,
                &mut slots[Kind::Stall as usize],
                t0 + Duration::from_secs(30),
            );
            open.push((id, slots));
            if open.len() > 100 {
                let (_, closed) = open.remove(0);
                t.release(&closed);
            }
            if t.needs_compaction() {
                t.compact(|a| {
                    open.iter().any(|(id, slots)| {
                        *id == a.id && slots[a.kind as usize].armed() == Some(a.at)
                    })
                });
            }
            assert!(
                t.len() <= 2 * 2 * 100 + 2 * GARBAGE_SLACK + 2,
                "{}",
                t.len()
            );
        }
        t.compact(|a| open.iter().any(|(id, _)| *id == a.id));
        assert_eq!(t.len(), 200);
    }

    #[test]
    fn earlier_deadline_is_armed_too() {
        let mut t = Timers::default();
        let mut slot = Slot::default();
        let t0 = Instant::now();
        t.set(ID, Kind::Delay, &mut slot, t0 + Duration::from_secs(5));
        t.set(ID, Kind::Delay, &mut slot, t0 + Duration::from_secs(1));
        assert_eq!(t.timeout(t0), Some(Duration::from_secs(1)));
    }
}
