//! Delivering one frame to many connections: bounded concurrency, an optional
//! rate limit, jittered retry on throttling, and a 410 prunes that stale row
//! (unless the row is young enough that its `$connect` may still be running).
//! The message Lambda, `wschat dev` and `wschat broadcast` all send through here.

use crate::gateway::{Delivery, Gateway};
use crate::retry::{retry, Backoff, Limits, Verdict};
use crate::store::{ConnectionStore, Filter, StoreError};
use bytes::Bytes;
use futures_util::stream::{self, Stream, StreamExt};
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

pub const DEFAULT_CONCURRENCY: usize = 64;
const PAGE_SIZE: usize = 1000;

#[derive(Debug, Clone)]
pub struct FanoutOptions {
    pub concurrency: usize,
    /// Posts per second across the whole fan-out; `None` for no limit.
    pub rate: Option<u32>,
    /// Attempts per connection while API Gateway throttles or fails transiently;
    /// the only retry layer (the `@connections` client itself does not retry).
    pub max_attempts: u32,
    pub backoff: Backoff,
}

impl Default for FanoutOptions {
    fn default() -> Self {
        FanoutOptions {
            concurrency: DEFAULT_CONCURRENCY,
            rate: None,
            max_attempts: 6,
            backoff: Backoff::new(Duration::from_millis(50), Duration::from_secs(2)),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FanoutReport {
    pub delivered: usize,
    /// Connections that answered 410 and whose rows were deleted.
    pub pruned: usize,
    /// Connections that answered 410 while their `$connect` may still be running; their rows stay.
    pub connecting: usize,
    /// Not delivered: every attempt was answered with a failure.
    pub failed: usize,
    /// Sent without an answer (and no later attempt answered): may have been delivered.
    pub unknown: usize,
}

impl FanoutReport {
    pub fn add(&mut self, other: &FanoutReport) {
        self.delivered += other.delivered;
        self.pruned += other.pruned;
        self.connecting += other.connecting;
        self.failed += other.failed;
        self.unknown += other.unknown;
    }
}

/// Spaces posts to honour a requests-per-second budget. Slots a busy CPU
/// let pass may be used late, up to [`CATCH_UP`]'s worth: the average holds
/// the rate, and no burst is larger than a tenth of a second's posts (the
/// account's bucket allows half a second's). Posts wake on a [`TICK`] grid,
/// a few at a time: one wake-up per post cost more CPU than the post itself.
struct Pacer {
    interval: Duration,
    start: Instant,
    next: Mutex<Instant>,
}

const CATCH_UP: Duration = Duration::from_millis(100);
const TICK: Duration = Duration::from_millis(10);

impl Pacer {
    fn new(rate: Option<u32>) -> Option<Self> {
        let rate = rate.filter(|r| *r > 0)?;
        let start = Instant::now();
        Some(Pacer {
            interval: Duration::from_secs(1) / rate,
            start,
            next: Mutex::new(start),
        })
    }

    async fn wait(&self) {
        let now = Instant::now();
        let slot = {
            let mut next = self.next.lock().unwrap();
            let slot = (*next).max(now.checked_sub(CATCH_UP).unwrap_or(now));
            *next = slot + self.interval;
            slot
        };
        if slot > now {
            let ticks = (slot - self.start).as_nanos().div_ceil(TICK.as_nanos());
            let wake = self.start + TICK * ticks as u32;
            tokio::time::sleep_until(wake).await;
        }
    }
}

enum Outcome {
    Delivered,
    Pruned,
    Connecting,
    Failed,
    Unknown,
}

/// A 410: prune the row, unless it is young enough to be a connection still opening.
async fn prune<S: ConnectionStore>(store: &S, connection_id: &str) -> Outcome {
    let young = match store.get(connection_id).await {
        Ok(row) => row.is_some_and(|r| r.may_be_connecting(crate::clock::now_ms())),
        Err(e) => {
            tracing::warn!(connection_id, error = %e, "could not read the connection to prune");
            return Outcome::Failed;
        }
    };
    if young {
        tracing::info!(
            connection_id,
            "410 Gone from a connection still opening: kept"
        );
        return Outcome::Connecting;
    }
    if let Err(e) = store.delete(connection_id).await {
        tracing::warn!(connection_id, error = %e, "could not prune stale connection");
        return Outcome::Failed;
    }
    tracing::info!(connection_id, "pruned stale connection (410 Gone)");
    Outcome::Pruned
}

async fn deliver_one<S: ConnectionStore, G: Gateway>(
    store: &S,
    gateway: &G,
    connection_id: &str,
    payload: &Bytes,
    options: &FanoutOptions,
    pacer: Option<&Pacer>,
) -> Outcome {
    // Whether an attempt went out and no answer came back: then a final
    // failure does not mean the frame never arrived.
    let mut uncertain = false;
    let limits = Limits {
        attempts: Some(options.max_attempts),
        within: None,
    };
    let posted = retry(
        limits,
        |_| async {
            if let Some(p) = pacer {
                p.wait().await;
            }
            gateway.post(connection_id, payload.clone()).await
        },
        |e, attempt, _| {
            uncertain |= e.may_have_arrived();
            if e.is_retryable() {
                Verdict::Retry(options.backoff.delay(attempt - 1))
            } else {
                Verdict::Stop
            }
        },
    )
    .await;
    match posted {
        Ok(Delivery::Delivered) => Outcome::Delivered,
        Ok(Delivery::Gone) => prune(store, connection_id).await,
        Err(failed) if uncertain => {
            tracing::warn!(connection_id, error = %failed.error, "delivery unknown: sent, no answer");
            Outcome::Unknown
        }
        Err(failed) => {
            tracing::warn!(connection_id, error = %failed.error, "delivery failed");
            Outcome::Failed
        }
    }
}

/// Posts `payload` to each connection id; one failure never stops the rest.
pub async fn deliver<S: ConnectionStore, G: Gateway>(
    store: &S,
    gateway: &G,
    connection_ids: impl IntoIterator<Item = String>,
    payload: &Bytes,
    options: &FanoutOptions,
) -> FanoutReport {
    deliver_stream(
        store,
        gateway,
        stream::iter(connection_ids),
        payload,
        options,
    )
    .await
}

async fn deliver_stream<S: ConnectionStore, G: Gateway>(
    store: &S,
    gateway: &G,
    connection_ids: impl Stream<Item = String>,
    payload: &Bytes,
    options: &FanoutOptions,
) -> FanoutReport {
    let pacer = Pacer::new(options.rate);
    let mut report = FanoutReport::default();
    let outcomes = connection_ids
        .map(|id| {
            let pacer = pacer.as_ref();
            async move { deliver_one(store, gateway, &id, payload, options, pacer).await }
        })
        .buffer_unordered(options.concurrency.max(1));
    let mut outcomes = std::pin::pin!(outcomes);
    while let Some(outcome) = outcomes.next().await {
        match outcome {
            Outcome::Delivered => report.delivered += 1,
            Outcome::Pruned => report.pruned += 1,
            Outcome::Connecting => report.connecting += 1,
            Outcome::Failed => report.failed += 1,
            Outcome::Unknown => report.unknown += 1,
        }
    }
    report
}

/// Delivers to every connection a filter matches, one index page at a time,
/// so memory stays bounded however large the room. The next page is read
/// while the last posts of the one before are in flight: the posts never
/// wait for a page boundary. A page that cannot be read ends the delivery
/// with that error.
pub async fn deliver_to<S: ConnectionStore, G: Gateway>(
    store: &S,
    gateway: &G,
    filter: &Filter,
    payload: &Bytes,
    options: &FanoutOptions,
) -> Result<FanoutReport, StoreError> {
    let unread = Mutex::new(None);
    let failed = &unread;
    // The state is the cursor of the page to read; `None` once there is none.
    let pages = stream::unfold(Some(None), move |cursor| async move {
        match store.list(filter, cursor?, PAGE_SIZE).await {
            Ok(page) => Some((page.items, page.next.map(Some))),
            Err(e) => {
                *failed.lock().unwrap() = Some(e);
                None
            }
        }
    });
    // Boxed: the compiler cannot prove the closures' futures `Send` for every
    // lifetime otherwise (a known limit of its inference).
    let ids = pages
        .flat_map(|items| stream::iter(items.into_iter().map(|c| c.connection_id)))
        .boxed();
    let report = deliver_stream(store, gateway, ids, payload, options).await;
    match unread.into_inner().unwrap() {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::GatewayError;
    use crate::store::InMemoryStore;

    /// Answers each connection's posts from a script, one answer per attempt.
    struct Scripted(Mutex<std::collections::HashMap<String, Vec<Result<Delivery, GatewayError>>>>);

    impl Gateway for Scripted {
        async fn post(&self, id: &str, _: Bytes) -> Result<Delivery, GatewayError> {
            let mut script = self.0.lock().unwrap();
            let answers = script.get_mut(id).expect("a scripted connection");
            answers.remove(0)
        }

        async fn disconnect(&self, _: &str) -> Result<Delivery, GatewayError> {
            Ok(Delivery::Delivered)
        }
    }

    /// Counts the posts each connection gets.
    #[derive(Default)]
    struct Counting(Mutex<std::collections::HashMap<String, usize>>);

    impl Gateway for Counting {
        async fn post(&self, id: &str, _: Bytes) -> Result<Delivery, GatewayError> {
            *self.0.lock().unwrap().entry(id.to_owned()).or_default() += 1;
            Ok(Delivery::Delivered)
        }

        async fn disconnect(&self, _: &str) -> Result<Delivery, GatewayError> {
            Ok(Delivery::Delivered)
        }
    }

    #[tokio::test]
    async fn a_room_of_several_pages_gets_each_member_once_and_the_rest_none() {
        let store = InMemoryStore::new();
        let members = 2 * PAGE_SIZE + 345;
        for i in 0..members {
            let c = crate::Connection::new(&format!("c{i}="), &format!("u{i}"), "big", 0);
            store.put(&c).await.unwrap();
        }
        store
            .put(&crate::Connection::new("elsewhere=", "x", "small", 0))
            .await
            .unwrap();
        let gateway = Counting::default();
        let filter = Filter::Room("big".into());
        let options = FanoutOptions::default();
        let report = deliver_to(&store, &gateway, &filter, &Bytes::new(), &options)
            .await
            .unwrap();
        assert_eq!(report.delivered, members);
        let posts = gateway.0.into_inner().unwrap();
        assert_eq!(posts.len(), members);
        assert!(posts.values().all(|n| *n == 1));
        assert!(!posts.contains_key("elsewhere="));
    }

    #[tokio::test(start_paused = true)]
    async fn the_pacer_keeps_the_rate_and_catches_up_at_most_a_tenth_of_a_second() {
        let pacer = Pacer::new(Some(1_000)).unwrap();
        let started = Instant::now();
        for _ in 0..500 {
            pacer.wait().await;
        }
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(490) && took <= Duration::from_millis(510),
            "{took:?}"
        );
        // A second's stall: only a tenth of a second's posts go at once.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let resumed = Instant::now();
        for _ in 0..100 {
            pacer.wait().await;
        }
        assert!(
            resumed.elapsed() < TICK,
            "a tenth of a second's posts go at once"
        );
        pacer.wait().await;
        pacer.wait().await;
        assert!(
            resumed.elapsed() >= Duration::from_millis(1),
            "then the rate again"
        );
    }

    #[tokio::test]
    async fn a_post_sent_without_an_answer_is_unknown_never_failed() {
        let lost = || Err(GatewayError::NoAnswer("timed out".into()));
        let down = || Err(GatewayError::Transient("503".into()));
        let script = Scripted(Mutex::new(
            [
                ("ok", vec![lost(), Ok(Delivery::Delivered)]),
                ("lost", vec![lost(), lost(), lost()]),
                ("lost-then-down", vec![lost(), down(), down()]),
                ("down", vec![down(), down(), down()]),
            ]
            .into_iter()
            .map(|(id, answers)| (id.to_owned(), answers))
            .collect(),
        ));
        let options = FanoutOptions {
            max_attempts: 3,
            backoff: Backoff::new(Duration::from_millis(1), Duration::from_millis(1)),
            ..FanoutOptions::default()
        };
        let ids = ["ok", "lost", "lost-then-down", "down"].map(str::to_owned);
        let report = deliver(&InMemoryStore::new(), &script, ids, &Bytes::new(), &options).await;
        assert_eq!(
            report,
            FanoutReport {
                delivered: 1,
                unknown: 2,
                failed: 1,
                ..FanoutReport::default()
            }
        );
    }
}
