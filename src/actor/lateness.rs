//! How late call timers fire against the deadlines their machines asked for: a lock-free histogram of
//! log-spaced buckets, read by the stats line (p50, p99, max). A refresh storm shows up here first.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Bucket `i` counts wake-ups at most 2^i microseconds late (bucket 0: ≤ 1 µs); the last one is open.
const BUCKETS: usize = 32;

#[derive(Debug, Default)]
pub struct Lateness {
    buckets: [AtomicU64; BUCKETS],
    max_us: AtomicU64,
}

impl Lateness {
    pub fn record(&self, late: Duration) {
        let us = u64::try_from(late.as_micros()).unwrap_or(u64::MAX);
        let bucket = (64 - us.saturating_sub(1).leading_zeros() as usize).min(BUCKETS - 1);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    /// The upper bound of the bucket holding quantile `q` (0.0–1.0), never above the largest value seen,
    /// and the count.
    pub fn quantile(&self, q: f64) -> (Duration, u64) {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return (Duration::ZERO, 0);
        }
        let wanted = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, count) in counts.iter().enumerate() {
            seen += count;
            if seen >= wanted {
                return (Duration::from_micros(1u64 << i).min(self.max()), total);
            }
        }
        (self.max(), total)
    }

    pub fn max(&self) -> Duration {
        Duration::from_micros(self.max_us.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_log_buckets() {
        let l = Lateness::default();
        assert_eq!(l.quantile(0.5), (Duration::ZERO, 0));
        for _ in 0..98 {
            l.record(Duration::from_micros(300)); // bucket ≤ 512 µs
        }
        l.record(Duration::from_millis(20)); // ≤ 32768 µs
        l.record(Duration::from_millis(70)); // ≤ 131072 µs
        assert_eq!(l.quantile(0.5), (Duration::from_micros(512), 100));
        assert_eq!(l.quantile(0.99), (Duration::from_micros(32_768), 100));
        assert_eq!(l.quantile(1.0).0, Duration::from_millis(70), "capped by the largest value seen");
        assert_eq!(l.max(), Duration::from_millis(70));
    }
}
