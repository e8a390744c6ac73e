//! The call index: Call-ID of either leg → the call task's mailbox and which leg it is. Written at call
//! start and end, read on every message. Entries are removed by a guard the call task owns, so a call
//! that ends in any way, a panic included, leaves nothing behind. One of the two places dashmap is used.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use tokio::sync::mpsc;

use crate::net::Peer;
use crate::proto::call::{Input, LegId};

/// Boxed: a bounded mailbox preallocates a block of slots, and a held call should cost pointers, not messages.
pub type Mail = Box<Input<Peer>>;

#[derive(Debug, Default)]
pub struct CallIndex {
    by_call_id: DashMap<String, (mpsc::Sender<Mail>, LegId)>,
    live: AtomicUsize,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// `max_calls` calls are up already.
    Full,
    /// A call with this Call-ID exists (a retransmission raced us): route to it instead.
    Exists,
}

/// Owned by the call task: dropping it removes both legs' entries.
#[derive(Debug)]
pub struct IndexGuard {
    index: Arc<CallIndex>,
    keys: [String; 2],
}

impl Drop for IndexGuard {
    fn drop(&mut self) {
        for key in &self.keys {
            self.index.by_call_id.remove(key);
        }
        self.index.live.fetch_sub(1, Ordering::AcqRel);
    }
}

impl CallIndex {
    pub fn new() -> Arc<CallIndex> {
        Arc::new(CallIndex::default())
    }

    /// The mailbox and leg for a Call-ID (a clone: no guard is held past this call).
    pub fn get(&self, call_id: &str) -> Option<(mpsc::Sender<Mail>, LegId)> {
        self.by_call_id.get(call_id).map(|e| e.value().clone())
    }

    /// Registers a new call under both Call-IDs, unless `max` calls are live or leg A's Call-ID is taken.
    pub fn insert(
        self: &Arc<Self>,
        a: &str,
        b: &str,
        mailbox: mpsc::Sender<Mail>,
        max: usize,
    ) -> Result<IndexGuard, Refused> {
        if self.live.fetch_add(1, Ordering::AcqRel) >= max {
            self.live.fetch_sub(1, Ordering::AcqRel);
            return Err(Refused::Full);
        }
        match self.by_call_id.entry(a.to_owned()) {
            Entry::Occupied(_) => {
                self.live.fetch_sub(1, Ordering::AcqRel);
                return Err(Refused::Exists);
            }
            Entry::Vacant(v) => {
                v.insert((mailbox.clone(), LegId::A));
            }
        }
        self.by_call_id.insert(b.to_owned(), (mailbox, LegId::B));
        Ok(IndexGuard { index: Arc::clone(self), keys: [a.to_owned(), b.to_owned()] })
    }

    /// Calls whose task is still running.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// Index entries (two per live call).
    pub fn entries(&self) -> usize {
        self.by_call_id.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailbox() -> mpsc::Sender<Mail> {
        mpsc::channel(1).0
    }

    #[test]
    fn both_call_ids_route_and_the_guard_removes_them() {
        let index = CallIndex::new();
        let guard = index.insert("a@x", "b@y", mailbox(), 10).expect("room");
        assert_eq!(index.get("a@x").map(|(_, leg)| leg), Some(LegId::A));
        assert_eq!(index.get("b@y").map(|(_, leg)| leg), Some(LegId::B));
        assert_eq!((index.live(), index.entries()), (1, 2));
        drop(guard);
        assert_eq!((index.live(), index.entries()), (0, 0), "nothing left behind");
        assert!(index.get("a@x").is_none());
    }

    #[test]
    fn max_calls_and_taken_call_ids_are_refused() {
        let index = CallIndex::new();
        let first = index.insert("a1", "b1", mailbox(), 1).expect("room for one");
        assert_eq!(index.insert("a2", "b2", mailbox(), 1).unwrap_err(), Refused::Full);
        drop(first);
        let _second = index.insert("a2", "b2", mailbox(), 1).expect("room again");
        assert_eq!(index.insert("a2", "b3", mailbox(), 5).unwrap_err(), Refused::Exists);
        assert_eq!((index.live(), index.entries()), (1, 2), "refusals leave no trace");
    }

    #[test]
    fn a_panicking_call_task_still_releases_its_entries() {
        let index = CallIndex::new();
        let guard = index.insert("a", "b", mailbox(), 10).expect("room");
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _owned = guard;
            panic!("call task panics");
        }));
        assert!(result.is_err());
        assert_eq!((index.live(), index.entries()), (0, 0));
    }
}
