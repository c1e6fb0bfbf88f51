//! Where connections live: the `ConnectionStore` trait and its in-memory implementation.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::Mutex;

use crate::rate::Rate;

/// API Gateway closes every connection after 2 h; rows outlive that by a margin,
/// then DynamoDB's TTL removes ghosts whose `$disconnect` never ran.
pub const TTL_SECONDS: i64 = 2 * 3600 + 15 * 60;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    pub connection_id: String,
    pub username: String,
    pub room: String,
    /// Epoch milliseconds.
    pub connected_at: i64,
    /// Epoch seconds after which the row may be expired.
    pub ttl: i64,
    /// When its message bucket is full again, epoch ms ([`crate::rate`]); 0: never spent.
    #[serde(default)]
    pub full_at: i64,
    /// Until when an operator muted its user, epoch ms; 0: not muted.
    #[serde(default)]
    pub muted_until: i64,
    /// Its last typing notice, epoch ms.
    #[serde(default)]
    pub typing_at: i64,
}

/// API Gateway answers 410 for a connection until its `$connect` returns,
/// which may take up to the 29 s integration timeout: a row younger than this
/// may belong to a connection that is still opening, so a 410 does not prune it.
pub const CONNECTING_WINDOW_MS: i64 = 30_000;

impl Connection {
    /// The key of its room's shard in the shard index (`lobby#3`).
    pub fn room_shard(&self) -> String {
        crate::shard::room_shard(&self.room, crate::shard::shard_of(&self.connection_id))
    }

    /// Whether a 410 for this row may only mean its `$connect` has not returned yet.
    pub fn may_be_connecting(&self, now_ms: i64) -> bool {
        now_ms - self.connected_at < CONNECTING_WINDOW_MS
    }

    pub fn new(connection_id: &str, username: &str, room: &str, connected_at_ms: i64) -> Self {
        Connection {
            connection_id: connection_id.to_owned(),
            username: username.to_owned(),
            room: room.to_owned(),
            connected_at: connected_at_ms,
            ttl: connected_at_ms / 1000 + TTL_SECONDS,
            full_at: 0,
            muted_until: 0,
            typing_at: 0,
        }
    }

    pub fn is_muted(&self, now_ms: i64) -> bool {
        self.muted_until > now_ms
    }
}

/// The shortest gap between one connection's typing notices.
pub const TYPING_INTERVAL_MS: i64 = 1_000;

/// Which rows a listing walks. Rooms, their shards and usernames are index
/// queries, never a scan; a segment is one part of a parallel scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    All,
    Room(String),
    /// One shard of a room ([`crate::shard`]).
    RoomShard(String, u16),
    Username(String),
    /// Segment `.0` of a scan split into `.1` (every row in exactly one).
    Segment(u16, u16),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<Connection>,
    /// Opaque; pass back to get the next page. `None` on the last page.
    pub next: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("connection store: {0}")]
pub struct StoreError(pub String);

/// Where the live connections are kept: the DynamoDB table on AWS, memory in
/// `wschat dev`, the sandbox's endpoints for `--local` ops.
///
/// A row exists from a connection's `$connect` until its `$disconnect`, or
/// until a post to it answers 410 and the fan-out prunes it. Every method is
/// one round trip at most; none of them retries.
pub trait ConnectionStore: Send + Sync + 'static {
    /// Writes the row, replacing any row with the same connection id.
    fn put(&self, connection: &Connection) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The row, or `None` when there is none (a strongly consistent read on DynamoDB).
    fn get(
        &self,
        connection_id: &str,
    ) -> impl Future<Output = Result<Option<Connection>, StoreError>> + Send;
    /// Removes the row and returns what it held; absent is not an error.
    fn delete(
        &self,
        connection_id: &str,
    ) -> impl Future<Output = Result<Option<Connection>, StoreError>> + Send;
    /// One page of the rows `filter` matches, at most `limit` of them (a store
    /// may return fewer, even none, and still have more). Start with `cursor`
    /// `None`; pass each page's `next` back until it is `None`. A room or a
    /// username is an index query, never a walk over every row.
    fn list(
        &self,
        filter: &Filter,
        cursor: Option<String>,
        limit: usize,
    ) -> impl Future<Output = Listed> + Send;
    /// Spends one message from the connection's bucket at `now_ms`,
    /// atomically however many invocations spend at once: its new full-again
    /// time, or `None` when the bucket is empty (or the row is gone).
    fn spend(
        &self,
        connection_id: &str,
        rate: &Rate,
        now_ms: i64,
    ) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send;
    /// Records a typing notice at `now_ms` unless the connection sent one
    /// less than [`TYPING_INTERVAL_MS`] ago (atomically, like `spend`):
    /// whether this one may go out.
    fn typing(
        &self,
        connection_id: &str,
        now_ms: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Sets the row's `muted_until` (0 lifts it); false when the row is gone.
    fn set_muted(
        &self,
        connection_id: &str,
        until_ms: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// One page of a listing, or why not.
pub type Listed = Result<Page, StoreError>;

/// Every row a filter matches, page by page. For small sets (a username's
/// connections); rooms are walked page by page by the fan-out instead.
pub async fn list_all<S: ConnectionStore>(
    store: &S,
    filter: &Filter,
) -> Result<Vec<Connection>, StoreError> {
    let mut items = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.list(filter, cursor, 1000).await?;
        items.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(items),
        }
    }
}

/// A process-local store: for tests and `wschat dev`. Rooms and usernames are
/// indexed like the table's GSIs so listing a room never walks every row.
#[derive(Default)]
pub struct InMemoryStore {
    inner: Mutex<Indexed>,
}

#[derive(Default)]
struct Indexed {
    rows: BTreeMap<String, Connection>,
    by_room: HashMap<String, BTreeSet<String>>,
    by_room_shard: HashMap<String, BTreeSet<String>>,
    by_username: HashMap<String, BTreeSet<String>>,
}

impl Indexed {
    fn unindex(&mut self, row: &Connection) {
        let shard = row.room_shard();
        for (index, key) in [
            (&mut self.by_room, &row.room),
            (&mut self.by_room_shard, &shard),
            (&mut self.by_username, &row.username),
        ] {
            if let Some(ids) = index.get_mut(key) {
                ids.remove(&row.connection_id);
                if ids.is_empty() {
                    index.remove(key);
                }
            }
        }
    }
}

impl InMemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.inner.lock().unwrap().rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn page_of<'a>(
    ids: impl Iterator<Item = &'a String>,
    rows: &BTreeMap<String, Connection>,
    cursor: Option<&str>,
    limit: usize,
) -> Page {
    let limit = limit.max(1);
    let mut items: Vec<Connection> = ids
        .skip_while(|id| cursor.is_some_and(|c| id.as_str() <= c))
        .take(limit + 1)
        .filter_map(|id| rows.get(id).cloned())
        .collect();
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|c| c.connection_id.clone())
    } else {
        None
    };
    Page { items, next }
}

impl ConnectionStore for InMemoryStore {
    async fn put(&self, connection: &Connection) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().unwrap();
        if let Some(old) = inner.rows.remove(&connection.connection_id) {
            inner.unindex(&old);
        }
        let id = connection.connection_id.clone();
        inner
            .by_room
            .entry(connection.room.clone())
            .or_default()
            .insert(id.clone());
        inner
            .by_room_shard
            .entry(connection.room_shard())
            .or_default()
            .insert(id.clone());
        inner
            .by_username
            .entry(connection.username.clone())
            .or_default()
            .insert(id.clone());
        inner.rows.insert(id, connection.clone());
        Ok(())
    }

    async fn spend(&self, id: &str, rate: &Rate, now_ms: i64) -> Result<Option<i64>, StoreError> {
        let mut inner = self.inner.lock().unwrap();
        let Some(row) = inner.rows.get_mut(id) else {
            return Ok(None);
        };
        let spent = rate.spend(row.full_at, now_ms);
        if let Some(full_at) = spent {
            row.full_at = full_at;
        }
        Ok(spent)
    }

    async fn get(&self, connection_id: &str) -> Result<Option<Connection>, StoreError> {
        Ok(self.inner.lock().unwrap().rows.get(connection_id).cloned())
    }

    async fn typing(&self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let mut inner = self.inner.lock().unwrap();
        let Some(row) = inner.rows.get_mut(id) else {
            return Ok(false);
        };
        if now_ms - row.typing_at < TYPING_INTERVAL_MS {
            return Ok(false);
        }
        row.typing_at = now_ms;
        Ok(true)
    }

    async fn set_muted(&self, id: &str, until_ms: i64) -> Result<bool, StoreError> {
        let mut inner = self.inner.lock().unwrap();
        let Some(row) = inner.rows.get_mut(id) else {
            return Ok(false);
        };
        row.muted_until = until_ms;
        Ok(true)
    }

    async fn delete(&self, connection_id: &str) -> Result<Option<Connection>, StoreError> {
        let mut inner = self.inner.lock().unwrap();
        let old = inner.rows.remove(connection_id);
        if let Some(old) = &old {
            inner.unindex(old);
        }
        Ok(old)
    }

    async fn list(&self, filter: &Filter, cursor: Option<String>, limit: usize) -> Listed {
        let inner = self.inner.lock().unwrap();
        let cursor = cursor.as_deref();
        let indexed = |index: &HashMap<String, BTreeSet<String>>, key: &str| match index.get(key) {
            Some(ids) => page_of(ids.iter(), &inner.rows, cursor, limit),
            None => Page::default(),
        };
        Ok(match filter {
            Filter::All => page_of(inner.rows.keys(), &inner.rows, cursor, limit),
            Filter::Room(room) => indexed(&inner.by_room, room),
            Filter::RoomShard(room, shard) => indexed(
                &inner.by_room_shard,
                &crate::shard::room_shard(room, *shard),
            ),
            Filter::Username(name) => indexed(&inner.by_username, name),
            Filter::Segment(segment, of) => {
                let mine = |id: &&String| crate::shard::shard_of(id) % (*of).max(1) == *segment;
                page_of(inner.rows.keys().filter(mine), &inner.rows, cursor, limit)
            }
        })
    }
}

/// One of two stores, chosen at run time (e.g. in memory or DynamoDB).
pub enum EitherStore<A, B> {
    Left(A),
    Right(B),
}

impl<A: ConnectionStore, B: ConnectionStore> ConnectionStore for EitherStore<A, B> {
    async fn put(&self, c: &Connection) -> Result<(), StoreError> {
        match self {
            EitherStore::Left(s) => s.put(c).await,
            EitherStore::Right(s) => s.put(c).await,
        }
    }

    async fn get(&self, id: &str) -> Result<Option<Connection>, StoreError> {
        match self {
            EitherStore::Left(s) => s.get(id).await,
            EitherStore::Right(s) => s.get(id).await,
        }
    }

    async fn delete(&self, id: &str) -> Result<Option<Connection>, StoreError> {
        match self {
            EitherStore::Left(s) => s.delete(id).await,
            EitherStore::Right(s) => s.delete(id).await,
        }
    }

    async fn list(&self, filter: &Filter, cursor: Option<String>, limit: usize) -> Listed {
        match self {
            EitherStore::Left(s) => s.list(filter, cursor, limit).await,
            EitherStore::Right(s) => s.list(filter, cursor, limit).await,
        }
    }

    async fn spend(&self, id: &str, rate: &Rate, now_ms: i64) -> Result<Option<i64>, StoreError> {
        match self {
            EitherStore::Left(s) => s.spend(id, rate, now_ms).await,
            EitherStore::Right(s) => s.spend(id, rate, now_ms).await,
        }
    }

    async fn typing(&self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        match self {
            EitherStore::Left(s) => s.typing(id, now_ms).await,
            EitherStore::Right(s) => s.typing(id, now_ms).await,
        }
    }

    async fn set_muted(&self, id: &str, until_ms: i64) -> Result<bool, StoreError> {
        match self {
            EitherStore::Left(s) => s.set_muted(id, until_ms).await,
            EitherStore::Right(s) => s.set_muted(id, until_ms).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pages_through_a_room_without_losing_or_repeating_rows() {
        let store = InMemoryStore::new();
        for i in 0..25 {
            let room = if i % 5 == 0 { "other" } else { "lobby" };
            store
                .put(&Connection::new(
                    &format!("c{i:02}"),
                    &format!("u{i}"),
                    room,
                    0,
                ))
                .await
                .unwrap();
        }
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = store
                .list(&Filter::Room("lobby".into()), cursor, 7)
                .await
                .unwrap();
            assert!(page.items.len() <= 7);
            seen.extend(page.items.into_iter().map(|c| c.connection_id));
            cursor = page.next;
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(seen.len(), 20);
        seen.dedup();
        assert_eq!(seen.len(), 20);
        assert_eq!(list_all(&store, &Filter::All).await.unwrap().len(), 25);
    }

    #[tokio::test]
    async fn moving_a_connection_reindexes_it() {
        let store = InMemoryStore::new();
        let mut c = Connection::new("a", "ada", "lobby", 1_000);
        store.put(&c).await.unwrap();
        c.room = "ops".into();
        store.put(&c).await.unwrap();
        assert!(list_all(&store, &Filter::Room("lobby".into()))
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            list_all(&store, &Filter::Room("ops".into())).await.unwrap(),
            vec![c.clone()]
        );
        assert_eq!(store.delete("a").await.unwrap(), Some(c));
        assert_eq!(store.delete("a").await.unwrap(), None);
        assert!(list_all(&store, &Filter::Username("ada".into()))
            .await
            .unwrap()
            .is_empty());
        assert!(store.is_empty());
    }

    #[test]
    fn ttl_outlives_the_two_hour_connection_limit() {
        let c = Connection::new("a", "ada", "lobby", 1_700_000_000_000);
        assert!(c.ttl > 1_700_000_000 + 2 * 3600);
    }
}
