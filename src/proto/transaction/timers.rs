//! Transaction timer values (RFC 3261 §17.1.1.1, §17.1.2.1, Table 4 in Appendix A; RFC 6026 §8.11 for
//! Timers L and M) and the small set of armed deadlines each transaction machine keeps.

use std::time::{Duration, Instant};

use smallvec::SmallVec;

use crate::proto::time::{Deadline, TimerKind};

/// The three base values of RFC 3261 §17.1.1.1; every other timer is derived from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate: 500 ms by default (§17.1.1.1).
    pub t1: Duration,
    /// Longest retransmit interval for non-INVITE requests and INVITE responses: 4 s (§17.1.2.2).
    pub t2: Duration,
    /// Longest time a message stays in the network: 5 s (§17.1.2.2).
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> TimerConfig {
        TimerConfig { t1: Duration::from_millis(500), t2: Duration::from_secs(4), t4: Duration::from_secs(5) }
    }
}

/// RFC 3261 Table 4 gives Timer D as "> 32 s for UDP"; it must outlast the server's Timer H.
const TIMER_D_FLOOR: Duration = Duration::from_secs(32);

impl TimerConfig {
    fn t1_64(&self) -> Duration {
        self.t1 * 64
    }

    /// Timer A: first INVITE retransmit interval, T1, doubling each time with no cap (§17.1.1.2).
    pub fn timer_a(&self) -> Duration {
        self.t1
    }

    /// Timer B: INVITE transaction timeout, 64*T1 (§17.1.1.2).
    pub fn timer_b(&self) -> Duration {
        self.t1_64()
    }

    /// Timer D: wait for response retransmissions after a non-2xx final, at least 32 s over an unreliable
    /// transport (and at least 64*T1, the peer's Timer H), zero over a reliable one (§17.1.1.2).
    pub fn timer_d(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            TIMER_D_FLOOR.max(self.t1_64())
        }
    }

    /// Timer E: first non-INVITE retransmit interval, T1 (§17.1.2.2); see [`TimerConfig::backoff`].
    pub fn timer_e(&self) -> Duration {
        self.t1
    }

    /// Timer F: non-INVITE transaction timeout, 64*T1 (§17.1.2.2).
    pub fn timer_f(&self) -> Duration {
        self.t1_64()
    }

    /// Timer G: first INVITE final-response retransmit interval, T1 (§17.2.1); see [`TimerConfig::backoff`].
    pub fn timer_g(&self) -> Duration {
        self.t1
    }

    /// Timer H: wait for the ACK, 64*T1 on every transport (§17.2.1).
    pub fn timer_h(&self) -> Duration {
        self.t1_64()
    }

    /// Timer I: absorb ACK retransmissions, T4 unreliable, zero reliable (§17.2.1).
    pub fn timer_i(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t4
        }
    }

    /// Timer J: absorb non-INVITE request retransmissions, 64*T1 unreliable, zero reliable (§17.2.2,
    /// Table 4).
    pub fn timer_j(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t1_64()
        }
    }

    /// Timer K: absorb response retransmissions, T4 unreliable, zero reliable (§17.1.2.2).
    pub fn timer_k(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t4
        }
    }

    /// Timer L: an Accepted server INVITE transaction absorbs INVITE retransmissions, 64*T1 (RFC 6026 §8.7).
    pub fn timer_l(&self) -> Duration {
        self.t1_64()
    }

    /// Timer M: an Accepted client INVITE transaction passes 2xx retransmissions up, 64*T1 (RFC 6026 §8.4).
    pub fn timer_m(&self) -> Duration {
        self.t1_64()
    }

    /// The next interval of Timer E or G: double the last one, capped at T2 (§17.1.2.2, §17.2.1).
    pub fn backoff(&self, last: Duration) -> Duration {
        (last * 2).min(self.t2)
    }
}

/// The deadlines one transaction has armed, at most one per [`TimerKind`]. No machine arms more than two
/// at once (A+B, E+F, G+H), so they live inline: no allocation per transaction.
#[derive(Debug, Clone, Default)]
pub(super) struct Armed {
    list: SmallVec<[Deadline; 2]>,
}

/// Retransmit timers sort after a timeout due at the same instant: a message about to time out is not
/// worth one more copy on the wire.
fn is_retransmit(kind: TimerKind) -> bool {
    matches!(kind, TimerKind::A | TimerKind::E | TimerKind::G)
}

impl Armed {
    /// Arms `kind` at `at`, replacing any earlier arming of the same kind.
    pub(super) fn arm(&mut self, at: Instant, kind: TimerKind) {
        self.cancel(kind);
        self.list.push(Deadline::new(at, kind));
    }

    pub(super) fn cancel(&mut self, kind: TimerKind) {
        self.list.retain(|d| d.kind != kind);
    }

    pub(super) fn clear(&mut self) {
        self.list.clear();
    }

    /// The earliest armed deadline.
    pub(super) fn earliest(&self) -> Option<Deadline> {
        self.list.iter().copied().min_by_key(|d| (d.at, is_retransmit(d.kind)))
    }

    /// Disarms and returns the next deadline due at `now`: a due timeout before any due retransmission
    /// (after a late wake-up that finds Timer B due, one more INVITE on the wire helps nobody), then the
    /// earliest.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<Deadline> {
        let due = self
            .list
            .iter()
            .copied()
            .filter(|d| d.is_due(now))
            .min_by_key(|d| (is_retransmit(d.kind), d.at))?;
        self.cancel(due.kind);
        Some(due)
    }
}

/// A retransmit timer (A, E, G) that fired at `fired`: the next deadline after `now`, and the interval that
/// led to it. Intervals missed by a late wake-up are skipped rather than sent in a burst, so the schedule
/// stays that of the RFC whatever the owner's latency.
pub(super) fn next_retransmit(
    fired: Instant,
    now: Instant,
    mut interval: Duration,
    next_interval: impl Fn(Duration) -> Duration,
) -> (Instant, Duration) {
    let mut at = fired;
    loop {
        // A zero interval (a T1 of zero in a broken configuration) would never leave the past.
        interval = next_interval(interval).max(Duration::from_millis(1));
        at += interval;
        if at > now {
            return (at, interval);
        }
    }
}
