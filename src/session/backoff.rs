//! How connect attempts back off while a server keeps failing to start.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// How connect attempts back off after failures.
#[derive(Debug)]
pub(crate) struct Backoff {
    /// Failed connects since the last success (shared by all callers of one client).
    failures: AtomicU32,
}

const BACKOFF_BASE: Duration = Duration::from_millis(100);
const BACKOFF_CAP: Duration = Duration::from_secs(5);

impl Backoff {
    pub(crate) fn new() -> Backoff {
        Backoff {
            failures: AtomicU32::new(0),
        }
    }

    /// Records a failed connect attempt: the next one waits longer.
    pub(crate) fn failed(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a successful connect: the next failure starts from the shortest delay.
    pub(crate) fn succeeded(&self) {
        self.failures.store(0, Ordering::Relaxed);
    }

    /// The delay before the next attempt: doubling from 100 ms per consecutive failure, capped
    /// at 5 s, with ±20% jitter so that many clients do not respawn in step.
    pub(crate) fn delay(&self) -> Duration {
        let failures = self.failures.load(Ordering::Relaxed);
        if failures == 0 {
            return Duration::ZERO;
        }
        let exponential = BACKOFF_BASE.saturating_mul(1 << (failures - 1).min(16));
        let capped = exponential.min(BACKOFF_CAP);
        capped.mul_f64(0.8 + 0.4 * jitter())
    }
}

/// A number in [0, 1) that differs between calls.
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    // Randomly keyed per process, fed the wall clock and a counter: differs per call, per
    // client and per process.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    hasher.write_u128(now.as_nanos());
    hasher.write_u64(CALLS.fetch_add(1, Ordering::Relaxed));
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_from_100_ms_within_20_percent_and_stop_at_5_s() {
        let backoff = Backoff::new();
        assert_eq!(backoff.delay(), Duration::ZERO);
        for (failures, nominal) in [(1, 100), (2, 200), (3, 400), (7, 5000), (40, 5000)] {
            while backoff.failures.load(Ordering::Relaxed) < failures {
                backoff.failed();
            }
            let delay = backoff.delay().as_secs_f64() * 1000.0;
            let nominal = f64::from(nominal);
            assert!(
                (nominal * 0.8..=nominal * 1.2).contains(&delay),
                "{failures} failures: {delay} ms, expected {nominal} ms ± 20%"
            );
        }
        backoff.succeeded();
        assert_eq!(backoff.delay(), Duration::ZERO);
    }

    #[test]
    fn jitter_spreads_over_the_unit_interval() {
        let samples: Vec<f64> = (0..1000).map(|_| jitter()).collect();
        assert!(samples.iter().all(|x| (0.0..1.0).contains(x)));
        let low = samples.iter().filter(|&&x| x < 0.5).count();
        assert!((350..=650).contains(&low), "{low} of 1000 below 0.5");
        let mut distinct = samples.clone();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        assert!(
            distinct.len() > 990,
            "only {} distinct values",
            distinct.len()
        );
    }
}
