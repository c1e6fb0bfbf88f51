//! The live sockets of the local API Gateway. It is the sandbox's `Gateway`:
//! posting to an id that is not (or no longer, or not yet) here answers 410,
//! as AWS does.

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
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

pub struct Live {
    pub outbox: mpsc::UnboundedSender<Outbound>,
    /// Bytes posted and not yet written to the socket.
    pub queued: AtomicUsize,
    /// What `queued` may reach; a post past it disconnects the client.
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
    /// Wakes the socket's reader when the client stopped reading and its queue is full.
    pub overflowed: Notify,
}

impl Live {
    pub fn new(
        outbox: mpsc::UnboundedSender<Outbound>,
        queue_limit: usize,
        connected_at: i64,
        source_ip: String,
        user_agent: Option<String>,
    ) -> Live {
        Live {
            outbox,
            queued: AtomicUsize::new(0),
            queue_limit,
            connected_at,
            last_active: AtomicI64::new(connected_at),
            last_data: AtomicI64::new(connected_at),
            source_ip,
            user_agent,
            kicked: Notify::new(),
            overflowed: Notify::new(),
        }
    }

    /// A data frame arrived from the client (pings and pongs do not count, as on AWS).
    pub fn received_data(&self) {
        let now = wschat_lambdas::chat::now_ms();
        self.last_active.store(now, Ordering::Relaxed);
        self.last_data.store(now, Ordering::Relaxed);
    }

    /// A data frame of `len` bytes reached the socket.
    pub fn sent_data(&self, len: usize) {
        self.queued.fetch_sub(len, Ordering::Relaxed);
        self.last_data
            .store(wschat_lambdas::chat::now_ms(), Ordering::Relaxed);
    }

    /// Queues a frame unless that would take the queue past its limit.
    fn enqueue(&self, frame: Outbound) -> Delivery {
        let len = frame.len();
        if self.queued.fetch_add(len, Ordering::Relaxed) + len > self.queue_limit {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            // notify_one keeps the wake-up if the reader is not waiting right now.
            self.overflowed.notify_one();
            return Delivery::Gone;
        }
        match self.outbox.send(frame) {
            Ok(()) => Delivery::Delivered,
            Err(_) => Delivery::Gone,
        }
    }
}

#[derive(Clone, Default)]
pub struct Registry {
    live: Arc<RwLock<HashMap<String, Arc<Live>>>>,
}

impl Registry {
    pub fn insert(&self, id: String, live: Arc<Live>) {
        self.live.write().unwrap().insert(id, live);
    }

    pub fn remove(&self, id: &str) -> Option<Arc<Live>> {
        self.live.write().unwrap().remove(id)
    }

    pub fn get(&self, id: &str) -> Option<Arc<Live>> {
        self.live.read().unwrap().get(id).cloned()
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
        Ok(live.enqueue(frame))
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

    #[tokio::test]
    async fn a_post_past_the_queue_limit_is_gone_and_wakes_the_reader() {
        let (outbox, _inbox) = mpsc::unbounded_channel();
        let live = Arc::new(Live::new(outbox, 10, 0, "127.0.0.1".into(), None));
        let registry = Registry::default();
        registry.insert("a".into(), live.clone());
        let post = |n: usize| registry.post("a", Bytes::from(vec![b'x'; n]));
        assert_eq!(post(6).await.unwrap(), Delivery::Delivered);
        assert_eq!(post(6).await.unwrap(), Delivery::Gone);
        assert_eq!(
            live.queued.load(Ordering::Relaxed),
            6,
            "the refused frame is not counted"
        );
        live.overflowed.notified().await;
        live.sent_data(6);
        assert_eq!(post(10).await.unwrap(), Delivery::Delivered);
    }
}
