//! When things happen on a leg with a session timer (RFC 4028 §10): the refresher refreshes at half the
//! interval; the other side gives up at interval − min(32, interval/3) (60 s for 90, 1768 s for 1800).
//! The refresher keeps the same expiry, in case none of its refreshes succeeds.

use std::time::{Duration, Instant};

use super::negotiate::Session;

/// How long after the last 2xx the refresher sends its refresh.
pub fn refresh_after(session: Session) -> Duration {
    Duration::from_secs(u64::from(session.interval)) / 2
}

/// How long after the last 2xx the session is considered expired (§10).
pub fn expire_after(session: Session) -> Duration {
    let interval = u64::from(session.interval);
    Duration::from_secs(interval - (interval / 3).min(32))
}

/// The deadlines a session armed at `at` implies: (refresh if we refresh, expiry).
pub fn deadlines(session: Session, at: Instant) -> (Option<Instant>, Instant) {
    let refresh = session.we_refresh.then(|| at + refresh_after(session));
    (refresh, at + expire_after(session))
}
