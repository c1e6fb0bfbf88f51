//! The live sockets of the local API Gateway. It is the sandbox's `Gateway`:
//! posting to an id that is not (or no longer) here answers 410, as AWS does.

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use tokio::sync::{mpsc, Notify};
use wschat_lambdas::gateway::{Delivery, Gateway, GatewayError};

pub enum Outbound {
    Text(Utf8Bytes),
    Binary(Bytes),
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
    /// Epoch ms.
    pub connected_at: i64,
    /// Epoch ms of the last frame from the client.
    pub last_active: AtomicI64,
    pub source_ip: String,
    pub user_agent: Option<String>,
    /// Wakes the socket's reader when `DELETE @connections` closes it.
    pub kicked: Notify,
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
        match live.outbox.send(frame) {
            Ok(()) => Ok(Delivery::Delivered),
            Err(_) => Ok(Delivery::Gone),
        }
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

pub fn touch(live: &Live) {
    live.last_active
        .store(wschat_lambdas::chat::now_ms(), Ordering::Relaxed);
}
