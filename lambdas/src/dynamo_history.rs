//! The messages table as a [`HistoryStore`]: partition key `pk` (a
//! conversation, or `moderation`), sort key `sk` (a message id, or
//! `{username}#{kind}`), TTL on `expiresAt`, and a KEYS_ONLY index on `id`.
//! The CLI creates the table from [`crate::history`]'s constants.

use crate::history::{
    Conversation, HistoryStore, Range, Read, Sanction, SanctionKind, EXPIRES, ID, ID_INDEX, KEY,
    MODERATION, SORT,
};
use crate::protocol::ChatMessage;
use crate::store::StoreError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;
use futures_util::future::BoxFuture;
use std::collections::HashMap;

#[derive(Clone)]
pub struct DynamoHistory {
    client: Client,
    table: String,
}

impl DynamoHistory {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoHistory {
            client,
            table: table.into(),
        }
    }
}

type Item = HashMap<String, AttributeValue>;

fn err(op: &str, e: impl std::error::Error) -> StoreError {
    let detail = aws_sdk_dynamodb::error::DisplayErrorContext(e);
    StoreError(format!(
        "DynamoDB {op} on the messages table failed: {detail}"
    ))
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_s(item: &Item, k: &str) -> Option<String> {
    item.get(k).and_then(|v| v.as_s().ok()).cloned()
}

fn get_n(item: &Item, k: &str) -> Option<i64> {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

fn message_item(m: &ChatMessage, expires_at: i64) -> Item {
    let mut item = HashMap::from([
        (KEY.to_owned(), s(Conversation::of(m).key())),
        (SORT.to_owned(), s(&m.id)),
        (ID.to_owned(), s(&m.id)),
        ("room".to_owned(), s(&m.room)),
        ("username".to_owned(), s(&m.username)),
        ("message".to_owned(), s(&m.message)),
        ("ts".to_owned(), n(m.ts)),
        (EXPIRES.to_owned(), n(expires_at)),
    ]);
    if let Some(to) = &m.to {
        item.insert("to".to_owned(), s(to));
    }
    item
}

fn message_of(item: &Item) -> Option<ChatMessage> {
    Some(ChatMessage {
        id: get_s(item, ID)?,
        room: get_s(item, "room").unwrap_or_default(),
        username: get_s(item, "username").unwrap_or_default(),
        message: get_s(item, "message").unwrap_or_default(),
        ts: get_n(item, "ts").unwrap_or(0),
        to: get_s(item, "to"),
        ops: false,
    })
}

/// Whether DynamoDB's TTL, which deletes within days rather than on time, has not reached the row yet.
fn expired(item: &Item, now_ms: i64) -> bool {
    get_n(item, EXPIRES).is_some_and(|e| e <= now_ms / 1000)
}

fn sanction_item(sanction: &Sanction) -> Item {
    let mut item = HashMap::from([
        (KEY.to_owned(), s(MODERATION)),
        (
            SORT.to_owned(),
            s(Sanction::sort_key(sanction.kind, &sanction.username)),
        ),
        ("kind".to_owned(), s(sanction.kind.as_str())),
        ("username".to_owned(), s(&sanction.username)),
        ("at".to_owned(), n(sanction.at)),
    ]);
    if let Some(until) = sanction.until {
        item.insert("until".to_owned(), n(until));
        // Lapsed sanctions go by themselves, a day after they end.
        item.insert(EXPIRES.to_owned(), n(until / 1000 + 86_400));
    }
    if let Some(reason) = &sanction.reason {
        item.insert("reason".to_owned(), s(reason));
    }
    item
}

fn sanction_of(item: &Item) -> Option<Sanction> {
    Some(Sanction {
        kind: SanctionKind::parse(&get_s(item, "kind")?)?,
        username: get_s(item, "username")?,
        until: get_n(item, "until"),
        reason: get_s(item, "reason"),
        at: get_n(item, "at").unwrap_or(0),
    })
}

impl DynamoHistory {
    async fn read_page(
        &self,
        conversation: &Conversation,
        range: Range<'_>,
        limit: usize,
        now_ms: i64,
    ) -> Result<Read, StoreError> {
        let limit = limit.clamp(1, 1000);
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .expression_attribute_names("#pk", KEY)
            .expression_attribute_values(":pk", s(conversation.key()))
            // One more than asked for says whether there are more.
            .limit(limit as i32 + 1);
        query = match range {
            Range::Latest => query
                .key_condition_expression("#pk = :pk")
                .scan_index_forward(false),
            Range::Before(id) => query
                .key_condition_expression("#pk = :pk AND #sk < :id")
                .expression_attribute_names("#sk", SORT)
                .expression_attribute_values(":id", s(id))
                .scan_index_forward(false),
            Range::After(id) => query
                .key_condition_expression("#pk = :pk AND #sk > :id")
                .expression_attribute_names("#sk", SORT)
                .expression_attribute_values(":id", s(id))
                .scan_index_forward(true),
        };
        let out = query.send().await.map_err(|e| err("Query", e))?;
        let mut messages: Vec<ChatMessage> = out
            .items()
            .iter()
            .filter(|item| !expired(item, now_ms))
            .filter_map(message_of)
            .collect();
        let more = messages.len() > limit;
        messages.truncate(limit);
        if !matches!(range, Range::After(_)) {
            messages.reverse();
        }
        Ok(Read { messages, more })
    }

    async fn put(&self, item: Item) -> Result<(), StoreError> {
        let request = self.client.put_item().table_name(&self.table);
        request
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| err("PutItem", e))?;
        Ok(())
    }

    async fn remove_by_id(&self, id: &str) -> Result<Option<ChatMessage>, StoreError> {
        let found = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(ID_INDEX)
            .key_condition_expression("#id = :id")
            .expression_attribute_names("#id", ID)
            .expression_attribute_values(":id", s(id))
            .send()
            .await
            .map_err(|e| err("Query", e))?;
        let Some(key) = found.items().first() else {
            return Ok(None);
        };
        let (Some(pk), Some(sk)) = (key.get(KEY), key.get(SORT)) else {
            return Ok(None);
        };
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(KEY, pk.clone())
            .key(SORT, sk.clone())
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| err("DeleteItem", e))?;
        Ok(out.attributes.as_ref().and_then(message_of))
    }

    async fn query_sanctions(&self, username: Option<&str>) -> Result<Vec<Sanction>, StoreError> {
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .expression_attribute_names("#pk", KEY)
                .expression_attribute_values(":pk", s(MODERATION))
                .set_exclusive_start_key(start);
            query = match username {
                Some(name) => query
                    .key_condition_expression("#pk = :pk AND begins_with(#sk, :name)")
                    .expression_attribute_names("#sk", SORT)
                    .expression_attribute_values(":name", s(format!("{name}#"))),
                None => query.key_condition_expression("#pk = :pk"),
            };
            let out = query.send().await.map_err(|e| err("Query", e))?;
            found.extend(out.items().iter().filter_map(sanction_of));
            match out.last_evaluated_key.filter(|k| !k.is_empty()) {
                Some(key) => start = Some(key),
                None => return Ok(found),
            }
        }
    }
}

impl HistoryStore for DynamoHistory {
    fn append<'a>(
        &'a self,
        message: &'a ChatMessage,
        expires_at: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.put(message_item(message, expires_at)))
    }

    fn read<'a>(
        &'a self,
        conversation: &'a Conversation,
        range: Range<'a>,
        limit: usize,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Read, StoreError>> {
        Box::pin(self.read_page(conversation, range, limit, now_ms))
    }

    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<ChatMessage>, StoreError>> {
        Box::pin(self.remove_by_id(id))
    }

    fn sanctions<'a>(
        &'a self,
        username: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<Sanction>, StoreError>> {
        Box::pin(self.query_sanctions(username))
    }

    fn sanction<'a>(&'a self, sanction: &'a Sanction) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.put(sanction_item(sanction)))
    }

    fn lift<'a>(
        &'a self,
        kind: SanctionKind,
        username: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let out = self
                .client
                .delete_item()
                .table_name(&self.table)
                .key(KEY, s(MODERATION))
                .key(SORT, s(Sanction::sort_key(kind, username)))
                .return_values(ReturnValue::AllOld)
                .send()
                .await
                .map_err(|e| err("DeleteItem", e))?;
            Ok(out.attributes.is_some_and(|a| !a.is_empty()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_row_reads_back_as_the_message() {
        let m = ChatMessage {
            id: "0000000000010000abcd".into(),
            room: "lobby".into(),
            username: "ada".into(),
            message: "hi".into(),
            ts: 1,
            to: Some("bob".into()),
            ops: false,
        };
        let item = message_item(&m, 99);
        assert_eq!(get_s(&item, KEY).unwrap(), "dm#ada#bob");
        assert_eq!(message_of(&item), Some(m));
        assert!(expired(&item, 99_000));
        assert!(!expired(&item, 98_999));
    }

    #[test]
    fn a_sanction_row_reads_back_as_the_sanction() {
        let ban = Sanction {
            kind: SanctionKind::Ban,
            username: "troll".into(),
            until: Some(5_000),
            reason: Some("spam".into()),
            at: 1,
        };
        let item = sanction_item(&ban);
        assert_eq!(get_s(&item, SORT).unwrap(), "troll#ban");
        assert_eq!(sanction_of(&item), Some(ban));
    }
}
