//! The per-connection message rate: a token bucket kept as one number per
//! connection row (GCRA: the time at which the bucket is full again), so
//! every Lambda environment sees the same bucket and a spend is one
//! conditional write.

/// A rate and the burst it allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Milliseconds one message costs.
    pub interval_ms: i64,
    /// Messages a full bucket holds.
    pub burst: u32,
}

impl Rate {
    /// `per_second` messages a second, with two seconds' worth as the burst;
    /// `None` for 0 (no limit).
    pub fn per_second(per_second: f64) -> Option<Rate> {
        if !(per_second.is_finite() && per_second > 0.0) {
            return None;
        }
        Some(Rate {
            interval_ms: ((1000.0 / per_second).round() as i64).max(1),
            burst: ((per_second * 2.0).ceil() as u32).max(1),
        })
    }

    /// The bucket's new full-again time if one message may go now, given
    /// the stored one (`0`: never spent). `None`: the bucket is empty.
    pub fn spend(&self, full_at: i64, now_ms: i64) -> Option<i64> {
        let next = full_at.max(now_ms) + self.interval_ms;
        (next - now_ms <= self.limit()).then_some(next)
    }

    /// How far past now the full-again time may go.
    pub fn limit(&self) -> i64 {
        self.interval_ms * i64::from(self.burst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_allows_its_burst_then_one_message_per_interval() {
        let rate = Rate::per_second(10.0).unwrap();
        assert_eq!((rate.interval_ms, rate.burst), (100, 20));
        let mut full_at = 0;
        let now = 1_000_000;
        for n in 0..20 {
            full_at = rate
                .spend(full_at, now)
                .unwrap_or_else(|| panic!("message {n}"));
        }
        assert_eq!(rate.spend(full_at, now), None, "the 21st at once");
        assert_eq!(rate.spend(full_at, now + 99), None);
        assert!(
            rate.spend(full_at, now + 100).is_some(),
            "one interval later"
        );
        assert!(
            rate.spend(full_at, now + 10_000).is_some(),
            "an idle bucket refills"
        );
        assert_eq!(Rate::per_second(0.0), None);
        assert_eq!(Rate::per_second(0.2).unwrap().burst, 1);
    }
}
