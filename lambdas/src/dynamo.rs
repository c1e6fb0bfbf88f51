//! The DynamoDB `ConnectionStore`: partition key `connectionId`, a GSI on
//! `room` for fan-out and one on `username` for direct messages.
//!
//! Only reads and writes live here, since this ships in every function; the
//! CLI creates the table from the schema constants below.

use crate::store::{Connection, ConnectionStore, Filter, Listed, Page, StoreError};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;

pub const KEY: &str = "connectionId";
pub const ROOM_INDEX: &str = "room-index";
pub const USERNAME_INDEX: &str = "username-index";
pub const TTL_ATTRIBUTE: &str = "ttl";
/// Each global secondary index and the attribute it is keyed on.
pub const INDEXES: [(&str, &str); 2] = [(ROOM_INDEX, "room"), (USERNAME_INDEX, "username")];

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

fn to_item(c: &Connection) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (KEY.to_owned(), AttributeValue::S(c.connection_id.clone())),
        ("username".to_owned(), AttributeValue::S(c.username.clone())),
        ("room".to_owned(), AttributeValue::S(c.room.clone())),
        (
            "connectedAt".to_owned(),
            AttributeValue::N(c.connected_at.to_string()),
        ),
        (
            TTL_ATTRIBUTE.to_owned(),
            AttributeValue::N(c.ttl.to_string()),
        ),
    ])
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
            Filter::Room(value) | Filter::Username(value) => {
                let (index, attr) = match filter {
                    Filter::Room(_) => INDEXES[0],
                    _ => INDEXES[1],
                };
                let out = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(index)
                    .key_condition_expression("#k = :v")
                    .expression_attribute_names("#k", attr)
                    .expression_attribute_values(":v", AttributeValue::S(value.clone()))
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
