//! Waiting, done once: jittered backoff, the retry loop every caller shares
//! (the fan-out's posts, the CLI's control-plane calls and its `--local`
//! reads), and the poll loop that waits for a state under a deadline.

use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

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

/// What the caller makes of a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Try again after this pause.
    Retry(Duration),
    /// The failure is final.
    Stop,
}

/// How far [`retry`] may go: at most this many attempts, and no new
/// attempt once this long has passed since the first (either may be unset).
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    pub attempts: Option<u32>,
    pub within: Option<Duration>,
}

/// The last failure, and what it took to get there.
#[derive(Debug)]
pub struct Failed<E> {
    pub error: E,
    pub attempts: u32,
    pub elapsed: Duration,
}

/// Runs `attempt` (given its number, from 1) until it succeeds, `judge`
/// calls a failure final, or a new attempt would break `limits`. `judge`
/// sees the failure, the attempt's number and the time since the first.
pub async fn retry<T, E, Fut>(
    limits: Limits,
    mut attempt: impl FnMut(u32) -> Fut,
    mut judge: impl FnMut(&E, u32, Duration) -> Verdict,
) -> Result<T, Failed<E>>
where
    Fut: Future<Output = Result<T, E>>,
{
    let started = Instant::now();
    let mut n = 0;
    loop {
        n += 1;
        let error = match attempt(n).await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let failed = |error| Failed {
            error,
            attempts: n,
            elapsed: started.elapsed(),
        };
        let Verdict::Retry(pause) = judge(&error, n, started.elapsed()) else {
            return Err(failed(error));
        };
        let out_of_attempts = limits.attempts.is_some_and(|max| n >= max);
        let out_of_time = limits
            .within
            .is_some_and(|within| started.elapsed() + pause >= within);
        if out_of_attempts || out_of_time {
            return Err(failed(error));
        }
        tokio::time::sleep(pause).await;
    }
}

/// Why [`poll_until`] gave up.
#[derive(Debug, PartialEq, Eq)]
pub enum Unsettled<E> {
    /// `within` passed before the state was reached.
    TimedOut,
    /// A probe failed.
    Failed(E),
}

/// Probes every `every` until `probe` answers `Some` (the state was
/// reached), a probe fails, or `within` has passed.
pub async fn poll_until<T, E, Fut>(
    every: Duration,
    within: Duration,
    mut probe: impl FnMut() -> Fut,
) -> Result<T, Unsettled<E>>
where
    Fut: Future<Output = Result<Option<T>, E>>,
{
    let deadline = Instant::now() + within;
    loop {
        match probe().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) if Instant::now() >= deadline => return Err(Unsettled::TimedOut),
            Ok(None) => tokio::time::sleep(every.min(deadline - Instant::now())).await,
            Err(e) => return Err(Unsettled::Failed(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn delays_stay_under_the_cap() {
        let b = Backoff::new(Duration::from_millis(50), Duration::from_secs(2));
        for attempt in 0..40 {
            assert!(b.delay(attempt) <= Duration::from_secs(2));
        }
        assert!(b.delay(0) <= Duration::from_millis(50));
    }

    /// Fails `failures` times, then succeeds; counts the calls.
    fn flaky(
        failures: u32,
        calls: &Cell<u32>,
    ) -> impl FnMut(u32) -> std::future::Ready<Result<u32, &'static str>> + '_ {
        move |n| {
            calls.set(calls.get() + 1);
            std::future::ready(if n <= failures { Err("busy") } else { Ok(n) })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retry_sleeps_as_judged_and_stops_at_the_attempt_limit() {
        let calls = Cell::new(0);
        let started = Instant::now();
        let limits = Limits {
            attempts: Some(5),
            within: None,
        };
        let got = retry(limits, flaky(3, &calls), |_, _, _| {
            Verdict::Retry(Duration::from_secs(1))
        })
        .await;
        assert_eq!(got.unwrap(), 4);
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(3),
            "three pauses of 1 s"
        );

        let calls = Cell::new(0);
        let limits = Limits {
            attempts: Some(2),
            within: None,
        };
        let failed = retry(limits, flaky(9, &calls), |_, _, _| {
            Verdict::Retry(Duration::ZERO)
        })
        .await
        .unwrap_err();
        assert_eq!((failed.attempts, calls.get()), (2, 2));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_gives_up_before_a_pause_would_pass_the_deadline() {
        let calls = Cell::new(0);
        let limits = Limits {
            attempts: None,
            within: Some(Duration::from_secs(10)),
        };
        let failed = retry(limits, flaky(99, &calls), |_, _, _| {
            Verdict::Retry(Duration::from_secs(3))
        })
        .await
        .unwrap_err();
        // Attempts at 0, 3, 6 and 9 s; a fifth would start at 12 s.
        assert_eq!(failed.attempts, 4);
        assert_eq!(failed.elapsed, Duration::from_secs(9));
    }

    #[tokio::test(start_paused = true)]
    async fn a_final_failure_stops_at_once() {
        let calls = Cell::new(0);
        let failed = retry(Limits::default(), flaky(99, &calls), |e, n, _| {
            assert_eq!(*e, "busy");
            if n < 2 {
                Verdict::Retry(Duration::from_millis(10))
            } else {
                Verdict::Stop
            }
        })
        .await
        .unwrap_err();
        assert_eq!((failed.attempts, failed.error), (2, "busy"));
    }

    #[tokio::test(start_paused = true)]
    async fn polling_waits_for_the_state_or_the_deadline() {
        let started = Instant::now();
        let probes = Cell::new(0);
        let reached = poll_until(Duration::from_secs(2), Duration::from_secs(60), || {
            probes.set(probes.get() + 1);
            std::future::ready(Ok::<_, ()>((probes.get() == 4).then_some("active")))
        })
        .await;
        assert_eq!(reached, Ok("active"));
        assert_eq!(started.elapsed(), Duration::from_secs(6));

        let started = Instant::now();
        let never = poll_until(Duration::from_secs(2), Duration::from_secs(5), || {
            std::future::ready(Ok::<Option<()>, ()>(None))
        })
        .await;
        assert_eq!(never, Err(Unsettled::TimedOut));
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(5),
            "the last wait is cut to the deadline"
        );

        let failed = poll_until(Duration::from_secs(2), Duration::from_secs(5), || {
            std::future::ready(Err::<Option<()>, _>("gone"))
        })
        .await;
        assert_eq!(failed, Err(Unsettled::Failed("gone")));
    }
}
