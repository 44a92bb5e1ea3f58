//! Reconnect delays: exponential with full jitter, so that a thousand sensors
//! that lost the collector at once do not come back at once.

use std::time::Duration;

/// The delay before the next attempt, growing from `base` to `cap`.
#[derive(Clone, Debug)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
    /// xorshift state: jitter needs spread, not unpredictability.
    seed: u64,
}

impl Backoff {
    /// Starts at `base`, never above `cap`.
    pub fn new(base: Duration, cap: Duration) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9e37_79b9, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id()).rotate_left(32);
        Self {
            base,
            cap,
            attempt: 0,
            seed: seed | 1,
        }
    }

    /// After a success: the next failure waits `base` again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The next delay: uniform in [ceiling / 2, ceiling], with the ceiling
    /// doubling per attempt up to `cap`. Half is kept fixed so a retry never
    /// comes immediately.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.cap);
        self.attempt = self.attempt.saturating_add(1);
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let half = ceiling / 2;
        let spread = u64::try_from(half.as_micros()).unwrap_or(u64::MAX).max(1);
        half + Duration::from_micros(self.seed % spread)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_cap_with_jitter_and_reset() {
        let (base, cap) = (Duration::from_millis(100), Duration::from_secs(10));
        let mut b = Backoff::new(base, cap);
        let mut last_ceiling = Duration::ZERO;
        for i in 0..30 {
            let d = b.next_delay();
            let ceiling = base.saturating_mul(1 << i.min(20)).min(cap);
            assert!(
                d >= ceiling / 2 && d <= ceiling,
                "{i}: {d:?} vs {ceiling:?}"
            );
            assert!(ceiling >= last_ceiling);
            last_ceiling = ceiling;
        }
        assert_eq!(last_ceiling, cap);
        b.reset();
        assert!(b.next_delay() <= base);
        // Two sensors' delays differ (jitter), most of the time.
        let mut other = Backoff::new(base, cap);
        other.seed ^= 0xdead_beef;
        let a: Vec<_> = (0..8).map(|_| b.next_delay()).collect();
        let c: Vec<_> = (0..8).map(|_| other.next_delay()).collect();
        assert_ne!(a, c);
    }
}
