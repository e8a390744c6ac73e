//! The only place that reads the clock. Through tokio's clock, so `#[tokio::test(start_paused = true)]`
//! drives every machine in virtual time.

use std::time::Instant;

pub fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// A `proto` deadline as something `tokio::time::sleep_until` accepts.
pub fn to_tokio(at: Instant) -> tokio::time::Instant {
    tokio::time::Instant::from_std(at)
}
