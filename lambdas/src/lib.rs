//! The wschat chat: protocol, handlers, connection stores and fan-out.
//!
//! The same code runs in the three Lambda functions, in `wschat dev`, and
//! behind `wschat broadcast`.

pub mod chat;
#[cfg(test)]
mod chat_tests;
pub mod dynamo;
pub mod event;
pub mod fanout;
pub mod gateway;
pub mod lambda;
pub mod protocol;
pub mod retry;
pub mod store;

pub use chat::{Chat, ChatConfig};
pub use event::{EventType, Response, WebSocketEvent};
pub use gateway::{Delivery, Gateway, GatewayError};
pub use store::{Connection, ConnectionStore, Filter, InMemoryStore, Page, StoreError};
