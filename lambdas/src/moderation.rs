//! What an operator does to people and messages: bans, mutes, deleting a
//! message, reading a room's history. One implementation for both places
//! it runs: the CLI against the stack's tables and `@connections`, and
//! `wschat dev` behind its moderation endpoint (`--local`).
//!
//! A ban or mute is of a name. Where names are verified (`--auth token` or
//! `jwt`) that is a person; in open mode anyone may connect under any name,
//! so a banned user can come back under another one.

use crate::clock::now_ms;
use crate::fanout::{self, FanoutOptions};
use crate::gateway::{Delivery, Gateway};
use crate::history::{Conversation, HistoryStore, Range, Sanction, SanctionKind};
use crate::protocol::{ChatMessage, Deleted, ServerFrame};
use crate::store::{list_all, ConnectionStore, Filter, StoreError};
use serde::{Deserialize, Serialize};

/// One moderation request, as the CLI sends it to a sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Command {
    /// A ban (refused at `$connect`, live connections closed) or a mute
    /// (messages refused), for `for_ms` or until lifted.
    Impose {
        kind: SanctionKind,
        username: String,
        #[serde(default)]
        for_ms: Option<i64>,
        #[serde(default)]
        reason: Option<String>,
    },
    Lift {
        kind: SanctionKind,
        username: String,
    },
    /// Every ban and mute in force.
    Sanctions,
    /// Removes a message from history and tells its room (or its two parties) to hide it.
    Delete { id: String },
    /// A page of a room's history, newest last.
    List {
        room: String,
        #[serde(default)]
        before: Option<String>,
        limit: usize,
    },
}

/// What a command did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The sanction imposed, or every one in force for `Sanctions`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sanctions: Vec<Sanction>,
    /// Whether a lifted sanction existed; whether a deleted message did.
    #[serde(default)]
    pub found: bool,
    /// Live connections closed (ban) or changed (mute, unmute).
    #[serde(default)]
    pub connections: usize,
    /// Connections told of a deletion.
    #[serde(default)]
    pub notified: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<ChatMessage>,
    /// More older messages than `messages` (a listing).
    #[serde(default)]
    pub more: bool,
}

/// Runs a command against the chat's stores and gateway.
pub async fn run<S: ConnectionStore, G: Gateway>(
    store: &S,
    history: &dyn HistoryStore,
    gateway: &G,
    command: &Command,
) -> Result<Outcome, StoreError> {
    let now = now_ms();
    let mut outcome = Outcome::default();
    match command {
        Command::Impose {
            kind,
            username,
            for_ms,
            reason,
        } => {
            let sanction = Sanction {
                kind: *kind,
                username: username.clone(),
                until: for_ms.map(|ms| now.saturating_add(ms)),
                reason: reason.clone(),
                at: now,
            };
            history.sanction(&sanction).await?;
            let live = list_all(store, &Filter::Username(username.clone())).await?;
            for connection in &live {
                let acted = match kind {
                    // API Gateway closes it and runs its `$disconnect`.
                    SanctionKind::Ban => matches!(
                        gateway.disconnect(&connection.connection_id).await,
                        Ok(Delivery::Delivered)
                    ),
                    SanctionKind::Mute => {
                        let until = sanction.until.unwrap_or(i64::MAX);
                        store.set_muted(&connection.connection_id, until).await?
                    }
                };
                outcome.connections += usize::from(acted);
            }
            outcome.sanctions.push(sanction);
        }
        Command::Lift { kind, username } => {
            outcome.found = history.lift(*kind, username).await?;
            if *kind == SanctionKind::Mute {
                for connection in list_all(store, &Filter::Username(username.clone())).await? {
                    let changed = store.set_muted(&connection.connection_id, 0).await?;
                    outcome.connections += usize::from(changed);
                }
            }
        }
        Command::Sanctions => {
            let mut all = history.sanctions(None).await?;
            all.retain(|s| s.active(now));
            all.sort_by(|a, b| (&a.username, a.kind).cmp(&(&b.username, b.kind)));
            outcome.sanctions = all;
        }
        Command::Delete { id } => {
            let Some(message) = history.remove(id).await? else {
                return Ok(outcome);
            };
            outcome.found = true;
            let frame = ServerFrame::Deleted(Deleted {
                id: message.id.clone(),
                room: message.room.clone(),
            });
            let audience = match &message.to {
                Some(to) => vec![
                    Filter::Username(message.username.clone()),
                    Filter::Username(to.clone()),
                ],
                None => vec![Filter::Room(message.room.clone())],
            };
            let payload = frame.to_payload();
            for filter in audience {
                let options = FanoutOptions::default();
                let report =
                    fanout::deliver_to(store, gateway, &filter, &payload, &options).await?;
                outcome.notified += report.delivered;
            }
            outcome.messages.push(message);
        }
        Command::List {
            room,
            before,
            limit,
        } => {
            let range = match before {
                Some(id) => Range::Before(id),
                None => Range::Latest,
            };
            let conversation = Conversation::Room(room.clone());
            let read = history.read(&conversation, range, *limit, now).await?;
            outcome.messages = read.messages;
            outcome.more = read.more;
        }
    }
    Ok(outcome)
}
