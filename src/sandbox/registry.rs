//! The live sockets of the local API Gateway. It is the sandbox's `Gateway`:
//! posting to an id that is not (or no longer, or not yet) here answers 410,
//! as AWS does.

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::{mpsc, Notify};
use wschat_lambdas::gateway::{Delivery, Gateway, GatewayError};

pub enum Outbound {
    Text(Utf8Bytes),
    Binary(Bytes),
}

impl Outbound {
    pub fn len(&self) -> usize {
        match self {
            Outbound::Text(text) => text.len(),
            Outbound::Binary(bytes) => bytes.len(),
        }
    }
}

impl From<Outbound> for axum::extract::ws::Message {
    fn from(frame: Outbound) -> Self {
        match frame {
            Outbound::Text(text) => Self::Text(text),
            Outbound::Binary(bytes) => Self::Binary(bytes),
        }
    }
}

/// What a queued frame costs beyond its bytes: its channel slot and buffer header.
const FRAME_OVERHEAD: usize = 64;

/// One budget for every connection's outbound queue together: however many
/// clients stop reading, the sandbox's memory stays bounded.
pub struct Budget {
    limit: usize,
    /// Bytes queued across every connection, cut ones included until freed.
    used: AtomicUsize,
    /// Of `used`, what cut connections still hold until their queues are freed.
    releasing: AtomicUsize,
}

impl Budget {
    pub fn new(limit: usize) -> Self {
        Budget {
            limit,
            used: AtomicUsize::new(0),
            releasing: AtomicUsize::new(0),
        }
    }

    /// Whether the live queues (not the ones already on their way out) exceed the limit.
    fn over(&self) -> bool {
        let used = self.used.load(Ordering::Relaxed);
        used.saturating_sub(self.releasing.load(Ordering::Relaxed)) > self.limit
    }
}

/// A connection's share of the budget. One lock keeps its count and the
/// budget's in step, whichever of poster, writer and cut gets there first.
#[derive(Default)]
struct Account {
    queued: usize,
    /// Disconnected for what it holds: no more frames, its bytes on their way out.
    cut: bool,
}

pub struct Live {
    pub outbox: mpsc::UnboundedSender<Outbound>,
    account: Mutex<Account>,
    budget: Arc<Budget>,
    /// What this connection's queue may reach; a post past it disconnects the client.
    pub queue_limit: usize,
    /// Epoch ms.
    pub connected_at: i64,
    /// Epoch ms of the last data frame from the client (`LastActiveAt`).
    pub last_active: AtomicI64,
    /// Epoch ms of the last data frame either way: what the idle timeout counts.
    pub last_data: AtomicI64,
    pub source_ip: String,
    pub user_agent: Option<String>,
    /// Wakes the socket's reader when `DELETE @connections` closes it.
    pub kicked: Notify,
    /// Wakes the socket's reader when the client stopped reading and its
    /// queue is full, or it held the most when every queue together was.
    pub overflowed: Notify,
    /// The task writing to the socket: a cut stops it at once, which frees its queue.
    writer: std::sync::OnceLock<tokio::task::AbortHandle>,
}

impl Live {
    pub fn new(
        outbox: mpsc::UnboundedSender<Outbound>,
        queue_limit: usize,
        budget: Arc<Budget>,
        connected_at: i64,
        source_ip: String,
        user_agent: Option<String>,
    ) -> Live {
        Live {
            outbox,
            account: Mutex::default(),
            budget,
            queue_limit,
            connected_at,
            last_active: AtomicI64::new(connected_at),
            last_data: AtomicI64::new(connected_at),
            source_ip,
            user_agent,
            kicked: Notify::new(),
            overflowed: Notify::new(),
            writer: std::sync::OnceLock::new(),
        }
    }

    /// The task that drains this connection's queue into its socket.
    pub fn set_writer(&self, writer: tokio::task::AbortHandle) {
        let _ = self.writer.set(writer);
    }

    /// A data frame arrived from the client (pings and pongs do not count, as on AWS).
    pub fn received_data(&self) {
        let now = wschat_lambdas::clock::now_ms();
        self.last_active.store(now, Ordering::Relaxed);
        self.last_data.store(now, Ordering::Relaxed);
    }

    /// A data frame of `len` bytes reached the socket.
    pub fn sent_data(&self, len: usize) {
        self.release(len + FRAME_OVERHEAD);
        self.last_data
            .store(wschat_lambdas::clock::now_ms(), Ordering::Relaxed);
    }

    /// Bytes queued for this connection, overhead included.
    pub fn queued(&self) -> usize {
        self.account.lock().unwrap().queued
    }

    fn release(&self, cost: usize) {
        let mut account = self.account.lock().unwrap();
        let cost = cost.min(account.queued);
        account.queued -= cost;
        self.budget.used.fetch_sub(cost, Ordering::Relaxed);
        if account.cut {
            self.budget.releasing.fetch_sub(cost, Ordering::Relaxed);
        }
    }

    /// Disconnects the client for what it holds: its writer stops, which frees
    /// its queue (the bytes stay counted until then), and its reader closes.
    fn cut(&self) {
        let mut account = self.account.lock().unwrap();
        if !account.cut {
            account.cut = true;
            self.budget
                .releasing
                .fetch_add(account.queued, Ordering::Relaxed);
        }
        drop(account);
        if let Some(writer) = self.writer.get() {
            writer.abort();
        }
        // notify_one keeps the wake-up if the reader is not waiting right now.
        self.overflowed.notify_one();
    }

    /// The queue was dropped, and every frame in it freed.
    fn release_all(&self) {
        let queued = self.queued();
        self.release(queued);
    }

    /// Queues a frame unless that would take the queue past its limit.
    fn enqueue(&self, frame: Outbound) -> Delivery {
        let cost = frame.len() + FRAME_OVERHEAD;
        let mut account = self.account.lock().unwrap();
        if account.cut {
            return Delivery::Gone;
        }
        if account.queued + cost > self.queue_limit {
            drop(account);
            self.cut();
            return Delivery::Gone;
        }
        account.queued += cost;
        self.budget.used.fetch_add(cost, Ordering::Relaxed);
        drop(account);
        match self.outbox.send(frame) {
            Ok(()) => Delivery::Delivered,
            Err(_) => {
                self.release(cost);
                Delivery::Gone
            }
        }
    }
}

/// The receiving end of a connection's queue. Dropped (the writer ends or
/// is stopped, or the socket never came), its frames are freed, and leave
/// the budget.
pub struct Outlet {
    pub inbox: mpsc::UnboundedReceiver<Outbound>,
    live: Arc<Live>,
}

impl Outlet {
    pub fn new(inbox: mpsc::UnboundedReceiver<Outbound>, live: Arc<Live>) -> Self {
        Outlet { inbox, live }
    }

    /// A frame reached the socket.
    pub fn sent(&self, len: usize) {
        self.live.sent_data(len);
    }
}

impl Drop for Outlet {
    fn drop(&mut self) {
        self.inbox.close();
        while self.inbox.try_recv().is_ok() {}
        self.live.release_all();
    }
}

#[derive(Clone)]
pub struct Registry {
    live: Arc<RwLock<HashMap<String, Arc<Live>>>>,
    budget: Arc<Budget>,
}

impl Registry {
    /// Every connection's queue together holds at most `budget` bytes.
    pub fn new(budget: usize) -> Self {
        Registry {
            live: Arc::default(),
            budget: Arc::new(Budget::new(budget)),
        }
    }

    /// The budget each new connection's queue counts against.
    pub fn budget(&self) -> Arc<Budget> {
        self.budget.clone()
    }

    pub fn insert(&self, id: String, live: Arc<Live>) {
        self.live.write().unwrap().insert(id, live);
    }

    pub fn remove(&self, id: &str) -> Option<Arc<Live>> {
        self.live.write().unwrap().remove(id)
    }

    pub fn get(&self, id: &str) -> Option<Arc<Live>> {
        self.live.read().unwrap().get(id).cloned()
    }

    /// Over budget: cuts the connections holding the most until the rest fit.
    fn relieve(&self) {
        while self.budget.over() {
            let largest = self
                .live
                .read()
                .unwrap()
                .values()
                .filter(|l| !l.account.lock().unwrap().cut)
                .max_by_key(|l| l.queued())
                .cloned();
            let Some(largest) = largest.filter(|l| l.queued() > 0) else {
                return;
            };
            tracing::warn!(
                queued = largest.queued(),
                limit = self.budget.limit,
                "every client's queue together is over --max-outbound-total: the largest is disconnected"
            );
            largest.cut();
        }
    }
}

impl Gateway for Registry {
    async fn post(&self, connection_id: &str, data: Bytes) -> Result<Delivery, GatewayError> {
        let Some(live) = self.get(connection_id) else {
            return Ok(Delivery::Gone);
        };
        // Cheap clone: the same buffer is shared by every recipient of a fan-out.
        let frame = match Utf8Bytes::try_from(data.clone()) {
            Ok(text) => Outbound::Text(text),
            Err(_) => Outbound::Binary(data),
        };
        let delivery = live.enqueue(frame);
        if self.budget.over() {
            self.relieve();
        }
        Ok(delivery)
    }

    async fn disconnect(&self, connection_id: &str) -> Result<Delivery, GatewayError> {
        match self.get(connection_id) {
            Some(live) => {
                live.kicked.notify_one();
                Ok(Delivery::Delivered)
            }
            None => Ok(Delivery::Gone),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(registry: &Registry, id: &str, limit: usize) -> (Arc<Live>, Outlet) {
        let (outbox, inbox) = mpsc::unbounded_channel();
        let live = Arc::new(Live::new(
            outbox,
            limit,
            registry.budget(),
            0,
            "127.0.0.1".into(),
            None,
        ));
        registry.insert(id.into(), live.clone());
        (live.clone(), Outlet::new(inbox, live))
    }

    fn bytes(n: usize) -> Bytes {
        Bytes::from(vec![b'x'; n])
    }

    #[tokio::test]
    async fn a_post_past_the_queue_limit_is_gone_and_wakes_the_reader() {
        let registry = Registry::new(1 << 20);
        let (live, _inbox) = live(&registry, "a", 200);
        assert_eq!(
            registry.post("a", bytes(60)).await.unwrap(),
            Delivery::Delivered
        );
        assert_eq!(
            live.queued(),
            60 + FRAME_OVERHEAD,
            "a frame costs its bytes and its slot"
        );
        assert_eq!(registry.post("a", bytes(60)).await.unwrap(), Delivery::Gone);
        assert_eq!(
            live.queued(),
            60 + FRAME_OVERHEAD,
            "the refused frame is not counted"
        );
        live.overflowed.notified().await;
        assert_eq!(
            registry.post("a", bytes(1)).await.unwrap(),
            Delivery::Gone,
            "a cut connection takes nothing more"
        );
    }

    #[tokio::test]
    async fn over_the_total_the_largest_queues_are_cut_first() {
        let registry = Registry::new(1000);
        let (big, a) = live(&registry, "big", 10_000);
        let (mid, _b) = live(&registry, "mid", 10_000);
        let (small, _c) = live(&registry, "small", 10_000);
        registry.post("big", bytes(500)).await.unwrap();
        registry.post("mid", bytes(300)).await.unwrap();
        // The third post takes the total to 1,042 bytes, over the 1,000: the
        // biggest queue goes, not the poster's.
        registry.post("small", bytes(50)).await.unwrap();
        assert_eq!(
            registry.budget.used.load(Ordering::Relaxed),
            850 + 3 * FRAME_OVERHEAD
        );
        big.overflowed.notified().await;
        assert_eq!(
            registry.post("big", bytes(1)).await.unwrap(),
            Delivery::Gone
        );
        assert_eq!(
            registry.post("mid", bytes(1)).await.unwrap(),
            Delivery::Delivered
        );
        assert_eq!(
            registry.post("small", bytes(1)).await.unwrap(),
            Delivery::Delivered
        );
        // Its bytes leave the budget when its queue is freed.
        drop(registry.remove("big"));
        drop(big);
        drop(a);
        let held = mid.queued() + small.queued();
        assert_eq!(registry.budget.used.load(Ordering::Relaxed), held);
        assert_eq!(registry.budget.releasing.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn what_reaches_the_socket_leaves_the_budget() {
        let registry = Registry::new(1 << 20);
        let (live, mut outlet) = live(&registry, "a", 1 << 20);
        registry.post("a", bytes(100)).await.unwrap();
        let frame = outlet.inbox.recv().await.unwrap();
        outlet.sent(frame.len());
        assert_eq!(live.queued(), 0);
        assert_eq!(registry.budget.used.load(Ordering::Relaxed), 0);
        // What is still queued when the outlet goes is freed with it.
        registry.post("a", bytes(100)).await.unwrap();
        drop(outlet);
        assert_eq!(registry.budget.used.load(Ordering::Relaxed), 0);
    }
}
