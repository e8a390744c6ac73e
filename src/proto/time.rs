//! Deadlines as data: an instant and the reason it was armed, so the next wake-up is loggable
//! ("next wake: TimerA in 500 ms"). The clock itself is read only in `actor::clock`.

use std::time::{Duration, Instant};

/// Why a machine wants to be woken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerKind {
    /// RFC 3261 §17 transaction timers, named as the RFC names them.
    A,
    B,
    D,
    E,
    F,
    G,
    H,
    I,
    J,
    K,
    /// RFC 6026 §8.4 / §8.7: how long an accepted INVITE transaction absorbs 2xx / INVITE retransmissions.
    L,
    M,
    /// The daemon's own 100 Trying for an INVITE (RFC 3261 §17.2.1).
    Trying,
    /// RFC 4028 §10: send the refresh (interval/2 after the last 2xx), as refresher.
    SessionRefresh,
    /// RFC 4028 §10: no refresh came in time; the session is over.
    SessionExpiry,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    pub at: Instant,
    pub kind: TimerKind,
}

impl Deadline {
    pub fn new(at: Instant, kind: TimerKind) -> Deadline {
        Deadline { at, kind }
    }

    pub fn after(now: Instant, wait: Duration, kind: TimerKind) -> Deadline {
        Deadline { at: now + wait, kind }
    }

    /// The earlier of two optional deadlines (how a parent folds its children's).
    pub fn earliest(a: Option<Deadline>, b: Option<Deadline>) -> Option<Deadline> {
        match (a, b) {
            (Some(a), Some(b)) => Some(if b.at < a.at { b } else { a }),
            (a, None) => a,
            (None, b) => b,
        }
    }

    pub fn is_due(&self, now: Instant) -> bool {
        self.at <= now
    }
}
