//! What the chat remembers: every room message (and, where names are
//! verified, every direct message) for a retention period, and the
//! operators' bans and mutes.
//!
//! On AWS this is the stack's messages table, beside the connections table
//! rather than inside it: its key (a conversation, then the message id) has
//! a sort key the connections table's cannot gain, its rows live days where
//! connections live hours, and keeping them apart keeps the connection scans
//! (`connections`, a broadcast's segments, `status`'s census) as short as
//! the connections themselves. A conversation's messages are read from the
//! table itself, strongly consistent: a client resuming a moment after a
//! message was stored finds it. One message is one write, whatever the size
//! of its room.
//!
//! Message ids start with their epoch milliseconds in fixed-width hex, so
//! ids sort in time order and a conversation's sort key is its timeline.

use crate::protocol::ChatMessage;
use crate::store::StoreError;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// The messages table's partition key: a conversation, or [`MODERATION`].
pub const KEY: &str = "pk";
/// Its sort key: a message id, or `{username}#{kind}` for a sanction.
pub const SORT: &str = "sk";
/// A KEYS_ONLY index on `id`: `wschat messages delete ID` finds the message's conversation.
pub const ID_INDEX: &str = "id-index";
pub const ID: &str = "id";
/// DynamoDB's TTL attribute: epoch seconds.
pub const EXPIRES: &str = "expiresAt";
/// The partition holding every sanction.
pub const MODERATION: &str = "moderation";

pub const DEFAULT_TTL_SECONDS: i64 = 7 * 24 * 3600;
pub const DEFAULT_ON_JOIN: usize = 50;
/// Most messages a resuming client is sent at once; past that it pages on with `after`.
pub const MAX_CATCH_UP: usize = 500;
/// `wschat dev`'s in-memory history keeps at most this many messages in all,
/// and at most this many bytes of their text: flooding clients cannot grow it past that.
pub const IN_MEMORY_LIMIT: usize = 100_000;
pub const IN_MEMORY_BYTES: usize = 16 * 1024 * 1024;

/// Where a message belongs: a room, or the two parties of a direct message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Conversation {
    Room(String),
    /// The two names, in order, so either party finds the same conversation.
    Direct(String, String),
}

impl Conversation {
    pub fn direct(a: &str, b: &str) -> Self {
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        Conversation::Direct(a.to_owned(), b.to_owned())
    }

    pub fn of(message: &ChatMessage) -> Self {
        match &message.to {
            Some(to) => Conversation::direct(&message.username, to),
            None => Conversation::Room(message.room.clone()),
        }
    }

    /// The partition key. Rooms and names cannot hold `#`, so keys never collide.
    pub fn key(&self) -> String {
        match self {
            Conversation::Room(room) => format!("room#{room}"),
            Conversation::Direct(a, b) => format!("dm#{a}#{b}"),
        }
    }
}

/// Which part of a conversation to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range<'a> {
    /// The newest messages.
    Latest,
    /// The newest messages older than this id.
    Before(&'a str),
    /// The oldest messages newer than this id.
    After(&'a str),
}

/// Messages read, oldest first, and whether the conversation holds more
/// beyond them (older for `Latest` and `Before`, newer for `After`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Read {
    pub messages: Vec<ChatMessage>,
    pub more: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SanctionKind {
    /// Refused at `$connect`.
    Ban,
    /// Their messages refused.
    Mute,
}

impl SanctionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SanctionKind::Ban => "ban",
            SanctionKind::Mute => "mute",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ban" => Some(SanctionKind::Ban),
            "mute" => Some(SanctionKind::Mute),
            _ => None,
        }
    }
}

/// An operator's ban or mute of one name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sanction {
    pub kind: SanctionKind,
    pub username: String,
    /// Epoch ms at which it ends; `None`: until lifted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Epoch ms it was made.
    pub at: i64,
}

impl Sanction {
    pub fn active(&self, now_ms: i64) -> bool {
        self.until.is_none_or(|until| until > now_ms)
    }

    /// The sort key: a name's sanctions are one prefix of the partition.
    pub fn sort_key(kind: SanctionKind, username: &str) -> String {
        format!("{username}#{}", kind.as_str())
    }
}

/// Where history and sanctions are kept: the messages table on AWS and
/// behind `wschat dev --dynamodb-endpoint`, memory in `wschat dev`. Each
/// method is one round trip, two for [`remove`](HistoryStore::remove).
pub trait HistoryStore: Send + Sync + 'static {
    /// Stores a message until `expires_at` (epoch seconds).
    fn append<'a>(
        &'a self,
        message: &'a ChatMessage,
        expires_at: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// At most `limit` messages of a conversation, oldest first; expired ones are never returned.
    fn read<'a>(
        &'a self,
        conversation: &'a Conversation,
        range: Range<'a>,
        limit: usize,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Read, StoreError>>;
    /// Removes a message by id and returns it; `None` when there is none.
    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<ChatMessage>, StoreError>>;
    /// One name's sanctions, or everyone's; lapsed ones included (callers ask [`Sanction::active`]).
    fn sanctions<'a>(
        &'a self,
        username: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<Sanction>, StoreError>>;
    /// Stores a sanction, replacing the name's earlier one of that kind.
    fn sanction<'a>(&'a self, sanction: &'a Sanction) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Lifts a sanction; whether there was one.
    fn lift<'a>(
        &'a self,
        kind: SanctionKind,
        username: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
}

/// `wschat dev`'s history: per conversation in id order, bounded to
/// [`IN_MEMORY_LIMIT`] messages and [`IN_MEMORY_BYTES`] of text in all (the
/// oldest go first), expired ones dropped as new ones arrive.
#[derive(Default)]
pub struct InMemoryHistory {
    inner: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    conversations: HashMap<String, BTreeMap<String, (ChatMessage, i64)>>,
    /// Every message's id and conversation key, oldest first.
    by_age: BTreeMap<String, String>,
    sanctions: BTreeMap<(String, SanctionKind), Sanction>,
    /// The text bytes of every message kept.
    bytes: usize,
}

fn weight(message: &ChatMessage) -> usize {
    message.message.len() + message.username.len() + 64
}

impl Kept {
    fn forget_oldest(&mut self) {
        if let Some((id, key)) = self.by_age.pop_first() {
            if let Some(messages) = self.conversations.get_mut(&key) {
                if let Some((gone, _)) = messages.remove(&id) {
                    self.bytes -= weight(&gone);
                }
                if messages.is_empty() {
                    self.conversations.remove(&key);
                }
            }
        }
    }

    fn oldest_expired(&self, now_s: i64) -> bool {
        let Some((id, key)) = self.by_age.first_key_value() else {
            return false;
        };
        self.conversations
            .get(key)
            .and_then(|m| m.get(id))
            .is_none_or(|(_, expires)| *expires <= now_s)
    }
}

impl InMemoryHistory {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.inner.lock().unwrap().by_age.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn ready<'a, T: Send + 'a>(value: T) -> BoxFuture<'a, T> {
    Box::pin(std::future::ready(value))
}

impl HistoryStore for InMemoryHistory {
    fn append<'a>(
        &'a self,
        message: &'a ChatMessage,
        expires_at: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let mut kept = self.inner.lock().unwrap();
        while kept.oldest_expired(crate::clock::now_ms() / 1000) {
            kept.forget_oldest();
        }
        while !kept.by_age.is_empty()
            && (kept.by_age.len() >= IN_MEMORY_LIMIT
                || kept.bytes + weight(message) > IN_MEMORY_BYTES)
        {
            kept.forget_oldest();
        }
        kept.bytes += weight(message);
        let key = Conversation::of(message).key();
        kept.by_age.insert(message.id.clone(), key.clone());
        kept.conversations
            .entry(key)
            .or_default()
            .insert(message.id.clone(), (message.clone(), expires_at));
        ready(Ok(()))
    }

    fn read<'a>(
        &'a self,
        conversation: &'a Conversation,
        range: Range<'a>,
        limit: usize,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Read, StoreError>> {
        let kept = self.inner.lock().unwrap();
        let Some(messages) = kept.conversations.get(&conversation.key()) else {
            return ready(Ok(Read::default()));
        };
        use std::ops::Bound::{Excluded, Unbounded};
        let (bounds, forward) = match range {
            Range::Latest => ((Unbounded, Unbounded), false),
            Range::Before(id) => ((Unbounded, Excluded(id)), false),
            Range::After(id) => ((Excluded(id), Unbounded), true),
        };
        let within = messages.range::<str, _>(bounds);
        // Walked from the reader's side: newest first, unless paging forward.
        let walk: Box<dyn Iterator<Item = _>> = if forward {
            Box::new(within)
        } else {
            Box::new(within.rev())
        };
        let limit = limit.max(1);
        let mut picked: Vec<ChatMessage> = walk
            .filter(|(_, (_, expires))| *expires > now_ms / 1000)
            .take(limit + 1)
            .map(|(_, (m, _))| m.clone())
            .collect();
        let more = picked.len() > limit;
        picked.truncate(limit);
        if !forward {
            picked.reverse();
        }
        ready(Ok(Read {
            messages: picked,
            more,
        }))
    }

    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<ChatMessage>, StoreError>> {
        let mut kept = self.inner.lock().unwrap();
        let removed = kept.by_age.remove(id).and_then(|key| {
            let messages = kept.conversations.get_mut(&key)?;
            let (message, _) = messages.remove(id)?;
            if messages.is_empty() {
                kept.conversations.remove(&key);
            }
            kept.bytes -= weight(&message);
            Some(message)
        });
        ready(Ok(removed))
    }

    fn sanctions<'a>(
        &'a self,
        username: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<Sanction>, StoreError>> {
        let kept = self.inner.lock().unwrap();
        let found = kept
            .sanctions
            .values()
            .filter(|s| username.is_none_or(|u| s.username == u))
            .cloned()
            .collect();
        ready(Ok(found))
    }

    fn sanction<'a>(&'a self, sanction: &'a Sanction) -> BoxFuture<'a, Result<(), StoreError>> {
        let key = (sanction.username.clone(), sanction.kind);
        self.inner
            .lock()
            .unwrap()
            .sanctions
            .insert(key, sanction.clone());
        ready(Ok(()))
    }

    fn lift<'a>(
        &'a self,
        kind: SanctionKind,
        username: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let key = (username.to_owned(), kind);
        ready(Ok(self
            .inner
            .lock()
            .unwrap()
            .sanctions
            .remove(&key)
            .is_some()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(ms: i64, room: &str, text: &str) -> ChatMessage {
        ChatMessage {
            id: crate::protocol::new_message_id(ms),
            room: room.into(),
            username: "ada".into(),
            message: text.into(),
            ts: ms,
            to: None,
            ops: false,
        }
    }

    #[tokio::test]
    async fn pages_back_and_forth_in_time_order() {
        let history = InMemoryHistory::new();
        let now = crate::clock::now_ms();
        let all: Vec<ChatMessage> = (0..30)
            .map(|i| message(now + i, "lobby", &format!("m{i}")))
            .collect();
        for m in &all {
            history.append(m, now / 1000 + 60).await.unwrap();
        }
        history
            .append(&message(now, "other", "x"), now / 1000 + 60)
            .await
            .unwrap();
        let lobby = Conversation::Room("lobby".into());
        let latest = history.read(&lobby, Range::Latest, 10, now).await.unwrap();
        assert_eq!(latest.messages, all[20..]);
        assert!(latest.more);
        let before = &latest.messages[0].id;
        let older = history
            .read(&lobby, Range::Before(before), 25, now)
            .await
            .unwrap();
        assert_eq!(older.messages, all[..20]);
        assert!(!older.more);
        let after = history
            .read(&lobby, Range::After(&all[4].id), 5, now)
            .await
            .unwrap();
        assert_eq!(after.messages, all[5..10]);
        assert!(after.more);
        assert_eq!(
            history.remove(&all[7].id).await.unwrap().as_ref(),
            Some(&all[7])
        );
        assert_eq!(history.remove(&all[7].id).await.unwrap(), None);
        assert_eq!(history.len(), 30);
    }

    #[tokio::test]
    async fn expired_messages_are_never_read() {
        let history = InMemoryHistory::new();
        let now = crate::clock::now_ms();
        history
            .append(&message(now - 5_000, "lobby", "old"), now / 1000 - 1)
            .await
            .unwrap();
        history
            .append(&message(now, "lobby", "new"), now / 1000 + 60)
            .await
            .unwrap();
        let read = history
            .read(&Conversation::Room("lobby".into()), Range::Latest, 10, now)
            .await
            .unwrap();
        assert_eq!(read.messages.len(), 1);
        assert_eq!(read.messages[0].message, "new");
    }

    #[test]
    fn either_party_finds_the_same_direct_conversation() {
        assert_eq!(
            Conversation::direct("bob", "ada").key(),
            Conversation::direct("ada", "bob").key()
        );
        assert_eq!(Conversation::Room("lobby".into()).key(), "room#lobby");
    }
}
