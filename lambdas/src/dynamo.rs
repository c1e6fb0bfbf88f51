//! The DynamoDB `ConnectionStore`: partition key `connectionId`, a GSI on
//! `room` (a room's first page decides how it is delivered), one on
//! `roomShard` (each delivery worker's part of a large room) and one on
//! `username` for direct messages.
//!
//! Only reads and writes live here, since this ships in every function; the
//! CLI creates the table from the schema constants below.

use crate::rate::Rate;
use crate::store::{Connection, ConnectionStore, Filter, Listed, Page, StoreError};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;

pub const KEY: &str = "connectionId";
pub const ROOM_INDEX: &str = "room-index";
pub const ROOM_SHARD_INDEX: &str = "room-shard-index";
pub const USERNAME_INDEX: &str = "username-index";
pub const TTL_ATTRIBUTE: &str = "ttl";
/// Each global secondary index and the attribute it is keyed on.
pub const INDEXES: [(&str, &str); 3] = [
    (ROOM_INDEX, "room"),
    (ROOM_SHARD_INDEX, "roomShard"),
    (USERNAME_INDEX, "username"),
];

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }
}

fn err(op: &str, e: impl std::error::Error) -> StoreError {
    let detail = aws_sdk_dynamodb::error::DisplayErrorContext(e);
    StoreError(format!("DynamoDB {op} failed: {detail}"))
}

fn is_condition_failed(
    e: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::update_item::UpdateItemError,
    >,
) -> bool {
    e.as_service_error()
        .is_some_and(|e| e.is_conditional_check_failed_exception())
}

/// The connection's message bucket ([`crate::rate`]).
const FULL_AT: &str = "fullAt";
const MUTED_UNTIL: &str = "mutedUntil";
const TYPING_AT: &str = "typingAt";

fn to_item(c: &Connection) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        (KEY.to_owned(), AttributeValue::S(c.connection_id.clone())),
        ("username".to_owned(), AttributeValue::S(c.username.clone())),
        ("room".to_owned(), AttributeValue::S(c.room.clone())),
        ("roomShard".to_owned(), AttributeValue::S(c.room_shard())),
        (
            "connectedAt".to_owned(),
            AttributeValue::N(c.connected_at.to_string()),
        ),
        (
            TTL_ATTRIBUTE.to_owned(),
            AttributeValue::N(c.ttl.to_string()),
        ),
    ]);
    for (name, value) in [
        (FULL_AT, c.full_at),
        (MUTED_UNTIL, c.muted_until),
        (TYPING_AT, c.typing_at),
    ] {
        if value > 0 {
            item.insert(name.to_owned(), AttributeValue::N(value.to_string()));
        }
    }
    item
}

fn from_item(item: &HashMap<String, AttributeValue>) -> Option<Connection> {
    let s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    let n = |k: &str| {
        item.get(k)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
    };
    Some(Connection {
        connection_id: s(KEY)?,
        username: s("username").unwrap_or_default(),
        room: s("room").unwrap_or_default(),
        connected_at: n("connectedAt").unwrap_or(0),
        ttl: n(TTL_ATTRIBUTE).unwrap_or(0),
        full_at: n(FULL_AT).unwrap_or(0),
        muted_until: n(MUTED_UNTIL).unwrap_or(0),
        typing_at: n(TYPING_AT).unwrap_or(0),
    })
}

/// `LastEvaluatedKey` holds only string keys here, so a JSON object of strings is a faithful cursor.
fn encode_cursor(key: &HashMap<String, AttributeValue>) -> String {
    let plain: HashMap<&str, &str> = key
        .iter()
        .filter_map(|(k, v)| v.as_s().ok().map(|s| (k.as_str(), s.as_str())))
        .collect();
    serde_json::to_string(&plain).expect("string map serializes")
}

fn decode_cursor(cursor: &str) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let plain: HashMap<String, String> = serde_json::from_str(cursor)
        .map_err(|_| StoreError(format!("invalid page cursor {cursor:?}")))?;
    Ok(plain
        .into_iter()
        .map(|(k, v)| (k, AttributeValue::S(v)))
        .collect())
}

impl ConnectionStore for DynamoStore {
    async fn put(&self, connection: &Connection) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(connection)))
            .send()
            .await
            .map_err(|e| err("PutItem", e))?;
        Ok(())
    }

    async fn get(&self, connection_id: &str) -> Result<Option<Connection>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(connection_id.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| err("GetItem", e))?;
        Ok(out.item.as_ref().and_then(from_item))
    }

    /// GCRA in at most two conditional writes: an idle bucket (full again
    /// already) restarts from now; a draining one moves on by one interval
    /// unless that would pass its limit. Both refused: the bucket is empty.
    async fn spend(&self, id: &str, rate: &Rate, now_ms: i64) -> Result<Option<i64>, StoreError> {
        let n = |v: i64| AttributeValue::N(v.to_string());
        let idle = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(id.to_owned()))
            .update_expression("SET #full = :next")
            .condition_expression(
                "attribute_exists(#key) AND (attribute_not_exists(#full) OR #full <= :now)",
            )
            .expression_attribute_names("#key", KEY)
            .expression_attribute_names("#full", FULL_AT)
            .expression_attribute_values(":next", n(now_ms + rate.interval_ms))
            .expression_attribute_values(":now", n(now_ms))
            .send()
            .await;
        match idle {
            Ok(_) => return Ok(Some(now_ms + rate.interval_ms)),
            Err(e) if !is_condition_failed(&e) => return Err(err("UpdateItem", e)),
            Err(_) => {}
        }
        let draining = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(id.to_owned()))
            .update_expression("SET #full = #full + :interval")
            .condition_expression("#full > :now AND #full <= :ceiling")
            .expression_attribute_names("#full", FULL_AT)
            .expression_attribute_values(":interval", n(rate.interval_ms))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":ceiling", n(now_ms + rate.limit() - rate.interval_ms))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match draining {
            Ok(out) => Ok(out
                .attributes
                .and_then(|a| a.get(FULL_AT)?.as_n().ok()?.parse().ok())),
            Err(e) if is_condition_failed(&e) => Ok(None),
            Err(e) => Err(err("UpdateItem", e)),
        }
    }

    async fn typing(&self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let n = |v: i64| AttributeValue::N(v.to_string());
        let marked = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(id.to_owned()))
            .update_expression("SET #typing = :now")
            .condition_expression(
                "attribute_exists(#key) AND (attribute_not_exists(#typing) OR #typing <= :since)",
            )
            .expression_attribute_names("#key", KEY)
            .expression_attribute_names("#typing", TYPING_AT)
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":since", n(now_ms - crate::store::TYPING_INTERVAL_MS))
            .send()
            .await;
        match marked {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(err("UpdateItem", e)),
        }
    }

    async fn set_muted(&self, id: &str, until_ms: i64) -> Result<bool, StoreError> {
        let set = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(id.to_owned()))
            .update_expression("SET #muted = :until")
            .condition_expression("attribute_exists(#key)")
            .expression_attribute_names("#key", KEY)
            .expression_attribute_names("#muted", MUTED_UNTIL)
            .expression_attribute_values(":until", AttributeValue::N(until_ms.to_string()))
            .send()
            .await;
        match set {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(err("UpdateItem", e)),
        }
    }

    async fn delete(&self, connection_id: &str) -> Result<Option<Connection>, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(connection_id.to_owned()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| err("DeleteItem", e))?;
        Ok(out.attributes.as_ref().and_then(from_item))
    }

    async fn list(&self, filter: &Filter, cursor: Option<String>, limit: usize) -> Listed {
        let start = cursor.as_deref().map(decode_cursor).transpose()?;
        let limit = limit.clamp(1, 1000) as i32;
        let (items, last) = match filter {
            Filter::All => {
                let out = self
                    .client
                    .scan()
                    .table_name(&self.table)
                    .limit(limit)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| err("Scan", e))?;
                (out.items, out.last_evaluated_key)
            }
            Filter::Segment(segment, of) => {
                let out = self
                    .client
                    .scan()
                    .table_name(&self.table)
                    .segment(i32::from(*segment))
                    .total_segments(i32::from(*of))
                    .limit(limit)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| err("Scan", e))?;
                (out.items, out.last_evaluated_key)
            }
            Filter::Room(_) | Filter::RoomShard(..) | Filter::Username(_) => {
                let ((index, attr), value) = match filter {
                    Filter::Room(room) => (INDEXES[0], room.clone()),
                    Filter::RoomShard(room, shard) => {
                        (INDEXES[1], crate::shard::room_shard(room, *shard))
                    }
                    Filter::Username(name) => (INDEXES[2], name.clone()),
                    _ => unreachable!("matched above"),
                };
                let out = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(index)
                    .key_condition_expression("#k = :v")
                    .expression_attribute_names("#k", attr)
                    .expression_attribute_values(":v", AttributeValue::S(value))
                    .limit(limit)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| err("Query", e))?;
                (out.items, out.last_evaluated_key)
            }
        };
        Ok(Page {
            items: items
                .unwrap_or_default()
                .iter()
                .filter_map(from_item)
                .collect(),
            next: last.filter(|k| !k.is_empty()).as_ref().map(encode_cursor),
        })
    }
}
