//! One queue of deadlines for every call, instead of a task and a `sleep` per call: a min-heap of
//! `(instant, item)` behind a lock, and a `Notify` that wakes the timer task when a push becomes the
//! earliest entry. Entries are never removed early: the owner of an item knows which instant it still
//! wants and treats any other popped entry as stale (`actor::calls` keeps one live entry per call).

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Mutex;
use std::time::Instant;

use tokio::sync::Notify;

pub struct TimerQueue<T> {
    heap: Mutex<BinaryHeap<Entry<T>>>,
    /// Woken when a push becomes the earliest deadline: the timer task then sleeps less.
    earlier: Notify,
}

struct Entry<T> {
    at: Instant,
    item: T,
}

// Ordered by instant alone, reversed: `BinaryHeap` is a max-heap and the earliest must come out first.
impl<T> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        other.at.cmp(&self.at)
    }
}
impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}
impl<T> Eq for Entry<T> {}

impl<T> Default for TimerQueue<T> {
    fn default() -> Self {
        TimerQueue { heap: Mutex::new(BinaryHeap::new()), earlier: Notify::new() }
    }
}

impl<T> TimerQueue<T> {
    fn heap(&self) -> std::sync::MutexGuard<'_, BinaryHeap<Entry<T>>> {
        // Nothing panics while this lock is held (push and pop only), so a poisoned lock is still sound.
        self.heap.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn push(&self, at: Instant, item: T) {
        let mut heap = self.heap();
        let earliest = heap.peek().is_none_or(|top| at < top.at);
        heap.push(Entry { at, item });
        drop(heap);
        if earliest {
            self.earlier.notify_one();
        }
    }

    /// The earliest deadline queued.
    pub fn next(&self) -> Option<Instant> {
        self.heap().peek().map(|e| e.at)
    }

    /// Moves up to `max` entries due at `now` into `out`, earliest first.
    pub fn pop_due(&self, now: Instant, max: usize, out: &mut Vec<(Instant, T)>) {
        let mut heap = self.heap();
        while out.len() < max && heap.peek().is_some_and(|top| top.at <= now) {
            if let Some(Entry { at, item }) = heap.pop() {
                out.push((at, item));
            }
        }
        if heap.is_empty() && heap.capacity() > 1024 {
            heap.shrink_to_fit();
        }
    }

    /// Resolves when a push has made an earlier deadline than the one the caller is sleeping towards
    /// (a push while nobody waits is remembered for the next call).
    pub async fn earlier(&self) {
        self.earlier.notified().await;
    }

    pub fn len(&self) -> usize {
        self.heap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn due_entries_come_out_earliest_first_and_later_ones_stay() {
        let q = TimerQueue::default();
        let t0 = crate::actor::clock::now();
        for (s, name) in [(3, "c"), (1, "a"), (9, "z"), (2, "b"), (1, "a2")] {
            q.push(t0 + Duration::from_secs(s), name);
        }
        assert_eq!(q.next(), Some(t0 + Duration::from_secs(1)));
        let mut out = Vec::new();
        q.pop_due(t0 + Duration::from_secs(3), 10, &mut out);
        let names: Vec<_> = out.iter().map(|(_, n)| *n).collect();
        assert_eq!(names.len(), 4);
        assert!(names[..2].contains(&"a") && names[..2].contains(&"a2"), "{names:?}");
        assert_eq!(&names[2..], ["b", "c"]);
        assert_eq!((q.len(), q.next()), (1, Some(t0 + Duration::from_secs(9))));
    }

    #[test]
    fn pop_due_stops_at_max() {
        let q = TimerQueue::default();
        let t0 = crate::actor::clock::now();
        for i in 0..5 {
            q.push(t0, i);
        }
        let mut out = Vec::new();
        q.pop_due(t0, 3, &mut out);
        assert_eq!((out.len(), q.len()), (3, 2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_earliest_deadline_wakes_the_waiter_and_a_later_one_does_not() {
        let q = TimerQueue::default();
        let t0 = crate::actor::clock::now();
        q.push(t0 + Duration::from_secs(5), ());
        q.earlier().await; // the first push was the earliest: its wake-up was kept
        q.push(t0 + Duration::from_secs(9), ());
        let woke = tokio::time::timeout(Duration::from_millis(20), q.earlier()).await;
        assert!(woke.is_err(), "a later deadline must not wake the timer task");
        q.push(t0 + Duration::from_secs(1), ());
        tokio::time::timeout(Duration::from_secs(5), q.earlier())
            .await
            .expect("woken by the earlier deadline");
    }
}
