//! Jittered exponential backoff, shared by the fan-out (throttling) and the CLI (IAM propagation).

use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    pub const fn new(base: Duration, cap: Duration) -> Self {
        Backoff { base, cap }
    }

    /// "Full jitter": a uniform delay in `[0, min(cap, base * 2^attempt)]`, so
    /// many callers retrying at once spread out instead of colliding again.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << attempt.min(20))
            .min(self.cap);
        let millis = ceiling.as_millis() as u64;
        Duration::from_millis(fastrand::u64(0..=millis.max(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_under_the_cap() {
        let b = Backoff::new(Duration::from_millis(50), Duration::from_secs(2));
        for attempt in 0..40 {
            assert!(b.delay(attempt) <= Duration::from_secs(2));
        }
        assert!(b.delay(0) <= Duration::from_millis(50));
    }
}
