//! The wschat chat: protocol, handlers, connection stores and fan-out.
//!
//! The same code runs in the four Lambda functions, in `wschat dev`, and
//! behind `wschat broadcast`. Only what runs in Lambda lives here: creating
//! the table and the rest of the stack is the CLI's job.
//!
//! # Layout
//!
//! - [`protocol`]: what clients send and receive, and route selection;
//! - [`names`]: usernames, normalised and checked against look-alikes;
//! - [`event`]: API Gateway's WebSocket event and the integration's answer;
//! - [`chat`]: the handlers, generic over a [`ConnectionStore`] and a [`Gateway`];
//! - [`store`]: the store trait and the in-memory store; [`dynamo`]: the table's;
//! - [`history`]: stored messages and sanctions, in memory; [`dynamo_history`]: the messages table's;
//! - [`gateway`]: the gateway trait and `@connections`, its posts signed by
//!   [`post_signer`];
//! - [`fanout`]: one frame to many connections, bounded, paced, retried, pruning 410s;
//! - [`shard`]: a room's members split into shards; [`delivery`]: large rooms
//!   delivered by parallel workers, one shard each; [`rate`]: each
//!   connection's message bucket;
//! - [`retry`]: jittered backoff; [`clip`]: client text cut short for logs and refusals;
//!   [`clock`]: the epoch milliseconds rows and frames carry;
//! - [`moderation`]: bans, mutes and deleted messages, for the CLI and `wschat dev`;
//! - [`lambda`]: the runtime loop each function's `main` calls;
//! - [`partition`]: a region's partition and the endpoints' DNS names.

pub mod auth;
pub mod chat;
#[cfg(test)]
mod chat_tests;
pub mod clip;
pub mod clock;
pub mod delivery;
pub mod dynamo;
pub mod dynamo_history;
pub mod event;
pub mod fanout;
pub mod gateway;
pub mod history;
pub(crate) mod http;
pub mod json_api;
pub mod lambda;
pub mod moderation;
pub mod names;
pub mod partition;
pub mod post_signer;
pub mod protocol;
pub mod rate;
pub mod retry;
pub mod shard;
pub mod signed;
pub mod store;
pub mod telemetry;
pub mod xml;

pub use chat::{Chat, ChatConfig};
pub use event::{EventType, Response, WebSocketEvent};
pub use gateway::{Delivery, Gateway, GatewayError};
pub use store::{Connection, ConnectionStore, Filter, InMemoryStore, Page, StoreError};
