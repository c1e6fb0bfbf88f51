//! The chat protocol: what clients may send, what the server sends back.
//! `docs/protocol.md` is the prose version of this module.

use crate::names::normalize_username;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;

pub const DEFAULT_ROOM: &str = "lobby";
/// API Gateway refuses to deliver a message over 128 KB, so none is ever posted.
pub const MAX_FRAME_BYTES: usize = 128 * 1024;
pub const DEFAULT_MAX_TEXT_BYTES: usize = 4 * 1024;
/// Most messages one `history` page holds, and how many without a `limit`.
pub const MAX_HISTORY_PAGE: usize = 100;
pub const DEFAULT_HISTORY_PAGE: usize = 50;
pub use crate::names::MAX_NAME_CHARS;

/// Actions that have their own route on the WebSocket API. Anything else
/// (seed 004's `"action":"message"`, or no action) lands on `$default`.
pub const ROUTED_ACTIONS: [&str; 5] = ["sendMessage", "join", "who", "history", "typing"];
pub const DEFAULT_ROUTE: &str = "$default";
/// The routes API Gateway selects by itself, on the handshake and after the close.
pub const CONNECT_ROUTE: &str = "$connect";
pub const DISCONNECT_ROUTE: &str = "$disconnect";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    pub code: &'static str,
    pub message: String,
}

impl ProtocolError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        ProtocolError {
            code,
            message: message.into(),
        }
    }
}

impl From<crate::names::NameRefused> for ProtocolError {
    fn from(refused: crate::names::NameRefused) -> Self {
        ProtocolError::new("bad_username", refused.message)
    }
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// Rooms: 1 to 32 ASCII letters, digits, `_` or `-`.
pub fn validate_room(room: &str) -> Result<(), ProtocolError> {
    let ok_chars = room
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
    if room.is_empty() || room.len() > MAX_NAME_CHARS || !ok_chars {
        return Err(ProtocolError::new(
            "bad_room",
            format!("room must be 1-{MAX_NAME_CHARS} ASCII letters, digits, '_' or '-'"),
        ));
    }
    Ok(())
}

/// Who is connecting, from the `$connect` query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectParams {
    pub username: String,
    pub room: String,
    /// `since`: the last message id a reconnecting client saw; it is sent what followed.
    pub since: Option<String>,
}

/// Message ids: 12 hex digits of epoch milliseconds, then 8 random ones ([`new_message_id`]).
pub fn validate_message_id(field: &str, id: &str) -> Result<(), ProtocolError> {
    if id.len() == 20 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Ok(());
    }
    Err(ProtocolError::new(
        "bad_id",
        format!("'{field}' must be a message id (20 hex digits, as in a message frame's 'id')"),
    ))
}

impl ConnectParams {
    /// `username` (alias `userId`, seed 002), `room` and `since`; a missing name gets a generated `guest-XXXX`.
    pub fn from_query(query: Option<&HashMap<String, String>>) -> Result<Self, ProtocolError> {
        let get = |key: &str| query.and_then(|q| q.get(key)).filter(|v| !v.is_empty());
        let username = match get("username").or_else(|| get("userId")) {
            Some(name) => normalize_username(name)?,
            None => format!("guest-{:04x}", fastrand::u16(..)),
        };
        let room = match get("room") {
            Some(room) => {
                validate_room(room)?;
                room.clone()
            }
            None => DEFAULT_ROOM.to_owned(),
        };
        let since = get("since").cloned();
        if let Some(id) = &since {
            validate_message_id("since", id)?;
        }
        Ok(ConnectParams {
            username,
            room,
            since,
        })
    }
}

/// A client frame after route selection, ready for a handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    SendMessage {
        text: String,
        to: Option<String>,
        room: Option<String>,
    },
    Join {
        room: String,
    },
    Who,
    /// A page of a room's history, or of a direct conversation's (`with`).
    History {
        room: Option<String>,
        with: Option<String>,
        before: Option<String>,
        after: Option<String>,
        limit: usize,
    },
    Typing,
}

/// What API Gateway's route selection (`$request.body.action`) picks for a body.
pub fn select_route(body: &str) -> &'static str {
    let action = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("action").and_then(Value::as_str).map(str::to_owned));
    match action {
        Some(a) => ROUTED_ACTIONS
            .iter()
            .find(|r| **r == a)
            .copied()
            .unwrap_or(DEFAULT_ROUTE),
        None => DEFAULT_ROUTE,
    }
}

/// Turns a MESSAGE body on a given route into an [`Action`], or the error frame the sender gets.
pub fn parse_action(
    route_key: &str,
    body: &str,
    max_text_bytes: usize,
) -> Result<Action, ProtocolError> {
    let value: Value = serde_json::from_str(body).map_err(|_| {
        ProtocolError::new(
            "bad_json",
            "frames must be JSON objects, e.g. {\"action\":\"sendMessage\",\"message\":\"hi\"}",
        )
    })?;
    let Value::Object(fields) = value else {
        return Err(ProtocolError::new(
            "bad_json",
            "frames must be JSON objects",
        ));
    };
    let string_field = |names: &[&str]| -> Result<Option<String>, ProtocolError> {
        for name in names {
            match fields.get(*name) {
                None | Some(Value::Null) => continue,
                Some(Value::String(s)) => return Ok(Some(s.clone())),
                Some(_) => {
                    return Err(ProtocolError::new(
                        "bad_field",
                        format!("'{name}' must be a string"),
                    ))
                }
            }
        }
        Ok(None)
    };
    let room = string_field(&["room"])?;
    if let Some(room) = &room {
        validate_room(room)?;
    }
    match route_key {
        "join" => match room {
            Some(room) => Ok(Action::Join { room }),
            None => Err(ProtocolError::new("bad_room", "join needs a 'room'")),
        },
        "who" => Ok(Action::Who),
        "typing" => Ok(Action::Typing),
        "history" => {
            let with = string_field(&["with"])?
                .map(|name| normalize_username(&name))
                .transpose()?;
            let before = string_field(&["before"])?;
            let after = string_field(&["after"])?;
            for (field, id) in [("before", &before), ("after", &after)] {
                if let Some(id) = id {
                    validate_message_id(field, id)?;
                }
            }
            if before.is_some() && after.is_some() {
                return Err(ProtocolError::new(
                    "bad_field",
                    "give 'before' or 'after', not both",
                ));
            }
            let max = MAX_HISTORY_PAGE;
            let limit = match fields.get("limit") {
                None | Some(Value::Null) => DEFAULT_HISTORY_PAGE,
                Some(v) => match v.as_u64() {
                    Some(n @ 1..) if n as usize <= max => n as usize,
                    _ => {
                        return Err(ProtocolError::new(
                            "bad_field",
                            format!("'limit' must be a whole number from 1 to {max}"),
                        ))
                    }
                },
            };
            Ok(Action::History {
                room,
                with,
                before,
                after,
                limit,
            })
        }
        "sendMessage" | DEFAULT_ROUTE => {
            let text = string_field(&["message", "data", "body"])?;
            // A direct message finds its recipient by the same normal form names are stored in.
            let to = string_field(&["to", "destinationUserId"])?
                .map(|name| normalize_username(&name))
                .transpose()?;
            let Some(text) = text else {
                let hint = if route_key == DEFAULT_ROUTE {
                    let action = fields.get("action").and_then(Value::as_str);
                    match action {
                        Some(a) => format!("unknown action '{a}' and no text; actions are sendMessage, join, who, history, typing"),
                        None => "no action and no text; send {\"action\":\"sendMessage\",\"message\":\"...\"}".to_owned(),
                    }
                } else {
                    "sendMessage needs the text in 'message' (or 'data' / 'body')".to_owned()
                };
                return Err(ProtocolError::new("no_text", hint));
            };
            if text.trim().is_empty() {
                return Err(ProtocolError::new("empty_text", "the message is empty"));
            }
            if text.len() > max_text_bytes {
                return Err(ProtocolError::new(
                    "text_too_long",
                    format!(
                        "the message is {} bytes; the limit is {max_text_bytes}",
                        text.len()
                    ),
                ));
            }
            Ok(Action::SendMessage { text, to, room })
        }
        other => Err(ProtocolError::new(
            "unknown_action",
            format!("no handler for route '{other}'"),
        )),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub id: String,
    pub room: String,
    pub username: String,
    pub message: String,
    /// Epoch milliseconds.
    pub ts: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Set only on frames `wschat broadcast` posts: the handlers build every
    /// client's message from its text alone, so no client frame can carry it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ops: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomNotice {
    pub room: String,
    pub username: String,
    pub ts: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    pub room: String,
    pub users: Vec<String>,
    pub count: usize,
    /// True when `users` was cut to keep the frame small.
    #[serde(default)]
    pub truncated: bool,
}

/// Stored messages, oldest first: on joining a room, on resuming, or a `history` page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryPage {
    /// The room, or for a direct conversation `with` the other party.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with: Option<String>,
    /// `join`, `resume` or `page`.
    pub reason: String,
    pub messages: Vec<ChatMessage>,
    /// More beyond these: older ones for `join` and a page with `before`,
    /// newer ones for `resume` and a page with `after`.
    pub more: bool,
}

/// A message an operator removed: clients hide it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deleted {
    pub id: String,
    pub room: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

/// Every frame the server sends: `{"type": ..., "data": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "lowercase")]
pub enum ServerFrame {
    Message(ChatMessage),
    Join(RoomNotice),
    Leave(RoomNotice),
    Presence(Presence),
    History(HistoryPage),
    Deleted(Deleted),
    /// Someone in the room is typing: ephemeral, never stored.
    Typing(RoomNotice),
    Error(ErrorBody),
}

impl ServerFrame {
    pub fn error(err: &ProtocolError) -> Self {
        ServerFrame::Error(ErrorBody {
            code: err.code.to_owned(),
            message: err.message.clone(),
        })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server frames always serialize")
    }

    /// The frame as the payload every recipient shares, in an allocation of
    /// its exact size: a queued frame costs what it is long, not the up to
    /// twice that a growing buffer reserved. (Shrinking that buffer in place
    /// would leave its tail as a hole between queued frames.)
    pub fn to_payload(&self) -> bytes::Bytes {
        bytes::Bytes::copy_from_slice(self.to_json().as_bytes())
    }
}

/// A fresh message id: 12 hex digits of epoch ms, 3 of a sequence within
/// the ms, 5 random (unique across Lambda environments). Ids one process
/// makes always increase, even within one millisecond or as its clock steps
/// back, so a conversation's ids are its order.
pub fn new_message_id(now_ms: i64) -> String {
    static LAST: std::sync::Mutex<(i64, u32)> = std::sync::Mutex::new((0, 0));
    let (ms, seq) = {
        let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
        *last = match *last {
            (ms, seq) if now_ms <= ms && seq < 0xfff => (ms, seq + 1),
            (ms, _) if now_ms <= ms => (ms + 1, 0),
            _ => (now_ms, 0),
        };
        *last
    };
    format!("{ms:012x}{seq:03x}{:05x}", fastrand::u32(..0x10_0000))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn connect_params_accept_username_or_user_id_and_default_the_room() {
        let p = ConnectParams::from_query(Some(&query(&[("username", "Ada Lovelace")]))).unwrap();
        assert_eq!(
            p,
            ConnectParams {
                username: "Ada Lovelace".into(),
                room: "lobby".into(),
                since: None
            }
        );
        let p =
            ConnectParams::from_query(Some(&query(&[("userId", "2"), ("room", "ops")]))).unwrap();
        assert_eq!(
            p,
            ConnectParams {
                username: "2".into(),
                room: "ops".into(),
                since: None
            }
        );
        let p = ConnectParams::from_query(None).unwrap();
        assert!(p.username.starts_with("guest-"), "{}", p.username);
    }

    #[test]
    fn connect_params_reject_bad_names() {
        for bad in ["<script>", " lead", "x".repeat(33).as_str(), "a/b"] {
            let err = ConnectParams::from_query(Some(&query(&[("username", bad)]))).unwrap_err();
            assert_eq!(err.code, "bad_username", "{bad}");
        }
        let err = ConnectParams::from_query(Some(&query(&[("room", "no spaces")]))).unwrap_err();
        assert_eq!(err.code, "bad_room");
    }

    #[test]
    fn route_selection_follows_the_action_field() {
        assert_eq!(
            select_route(r#"{"action":"sendMessage","data":"x"}"#),
            "sendMessage"
        );
        assert_eq!(select_route(r#"{"action":"join","room":"a"}"#), "join");
        assert_eq!(
            select_route(r#"{"action":"message","message":"x"}"#),
            "$default"
        );
        assert_eq!(select_route(r#"{"message":"x"}"#), "$default");
        assert_eq!(select_route("not json"), "$default");
        assert_eq!(select_route(r#"{"action":7}"#), "$default");
    }

    #[test]
    fn seed_frames_parse_as_send_message() {
        let seed001 = parse_action("$default", r#"{"message":"hi"}"#, 4096).unwrap();
        assert_eq!(
            seed001,
            Action::SendMessage {
                text: "hi".into(),
                to: None,
                room: None
            }
        );
        let seed002 = r#"{"action":"sendMessage","destinationUserId":"2","body":"hello there!"}"#;
        assert_eq!(
            parse_action("sendMessage", seed002, 4096).unwrap(),
            Action::SendMessage {
                text: "hello there!".into(),
                to: Some("2".into()),
                room: None
            }
        );
        let seed003 = r#"{"action": "sendMessage", "data" : "Ground Control to Major Tom"}"#;
        assert!(matches!(
            parse_action("sendMessage", seed003, 4096),
            Ok(Action::SendMessage { .. })
        ));
        let seed004 = r#"{"action":"message","message":"yo","type":"chat"}"#;
        assert!(matches!(
            parse_action("$default", seed004, 4096),
            Ok(Action::SendMessage { .. })
        ));
    }

    #[test]
    fn client_mistakes_have_codes() {
        let code = |route, body| parse_action(route, body, 10).unwrap_err().code;
        assert_eq!(code("$default", "hello"), "bad_json");
        assert_eq!(code("$default", "[1,2]"), "bad_json");
        assert_eq!(code("$default", r#"{"action":"dance"}"#), "no_text");
        assert_eq!(
            code("sendMessage", r#"{"action":"sendMessage"}"#),
            "no_text"
        );
        assert_eq!(code("sendMessage", r#"{"message":"   "}"#), "empty_text");
        assert_eq!(
            code("sendMessage", r#"{"message":"01234567890"}"#),
            "text_too_long"
        );
        assert_eq!(code("sendMessage", r#"{"message":5}"#), "bad_field");
        assert_eq!(code("join", r#"{"action":"join"}"#), "bad_room");
        assert_eq!(
            code("join", r#"{"action":"join","room":"a b"}"#),
            "bad_room"
        );
    }

    #[test]
    fn ids_made_within_one_millisecond_keep_their_order() {
        let ids: Vec<String> = (0..5_000).map(|_| new_message_id(1_000)).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        assert!(ids.iter().all(|id| validate_message_id("id", id).is_ok()));
    }

    #[test]
    fn server_frames_have_the_seed_004_shape() {
        let frame = ServerFrame::Message(ChatMessage {
            id: "1".into(),
            room: "lobby".into(),
            username: "ada".into(),
            message: "hi".into(),
            ts: 5,
            to: None,
            ops: false,
        });
        let v: Value = serde_json::from_str(&frame.to_json()).unwrap();
        assert_eq!(v["type"], "message");
        assert_eq!(v["data"]["username"], "ada");
        assert_eq!(v["data"]["message"], "hi");
        assert!(v["data"].get("to").is_none());
        assert!(v["data"].get("ops").is_none());
    }
}
