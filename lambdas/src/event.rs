//! API Gateway WebSocket proxy events and responses, in the exact JSON shape
//! API Gateway sends, so `wschat dev` can produce what the Lambdas consume.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum EventType {
    Connect,
    Message,
    Disconnect,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    #[serde(default)]
    pub source_ip: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestContext {
    pub route_key: String,
    pub event_type: EventType,
    pub connection_id: String,
    /// Epoch milliseconds.
    #[serde(default)]
    pub connected_at: i64,
    /// Epoch milliseconds.
    #[serde(default)]
    pub request_time_epoch: i64,
    #[serde(default)]
    pub domain_name: String,
    #[serde(default)]
    pub stage: String,
    #[serde(default)]
    pub api_id: String,
    #[serde(default)]
    pub request_id: String,
    /// API Gateway's own id for the request, beside `requestId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extended_request_id: Option<String>,
    /// CLF-style, e.g. `09/Apr/2020:18:03:38 +0000`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(default = "direction_in")]
    pub message_direction: String,
    #[serde(default)]
    pub identity: Identity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disconnect_status_code: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disconnect_reason: Option<String>,
}

fn direction_in() -> String {
    "IN".to_owned()
}

/// What API Gateway hands the integration. The query string is only present
/// on `$connect`, the client's headers too (`$disconnect` carries a few of
/// API Gateway's own); `body` only on MESSAGE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebSocketEvent {
    pub request_context: RequestContext,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<HashMap<String, String>>,
    /// Every value of each header, for names sent more than once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_value_headers: Option<HashMap<String, Vec<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_string_parameters: Option<HashMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_value_query_string_parameters: Option<HashMap<String, Vec<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default)]
    pub is_base64_encoded: bool,
}

impl WebSocketEvent {
    /// An event with this context and nothing else: no headers, query or body.
    pub fn new(request_context: RequestContext) -> Self {
        WebSocketEvent {
            request_context,
            headers: None,
            multi_value_headers: None,
            query_string_parameters: None,
            multi_value_query_string_parameters: None,
            body: None,
            is_base64_encoded: false,
        }
    }
}

/// The integration's answer. On `$connect` a non-2xx status rejects the handshake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    pub status_code: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

impl Response {
    pub fn ok() -> Self {
        Response {
            status_code: 200,
            body: None,
        }
    }

    pub fn status(status_code: u16, body: impl Into<String>) -> Self {
        Response {
            status_code,
            body: Some(body.into()),
        }
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status_code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_message_event_as_api_gateway_sends_it() {
        let json = r#"{
          "requestContext": {
            "routeKey": "sendMessage", "messageId": "R0oXAdfD0kwCH6w=", "eventType": "MESSAGE",
            "extendedRequestId": "x", "requestTime": "09/Apr/2020:18:03:38 +0000",
            "messageDirection": "IN", "stage": "dev", "connectedAt": 1586455418043,
            "requestTimeEpoch": 1586455418316, "identity": {"sourceIp": "1.2.3.4"},
            "requestId": "KLQDvE", "domainName": "abc.execute-api.us-east-1.amazonaws.com",
            "connectionId": "R0oXAdfD0kwCH6w=", "apiId": "abc"
          },
          "body": "{\"action\":\"sendMessage\",\"data\":\"hi\"}",
          "isBase64Encoded": false
        }"#;
        let event: WebSocketEvent = serde_json::from_str(json).unwrap();
        assert_eq!(event.request_context.event_type, EventType::Message);
        assert_eq!(event.request_context.connection_id, "R0oXAdfD0kwCH6w=");
        assert_eq!(event.request_context.identity.source_ip, "1.2.3.4");
        let back = serde_json::to_value(&event).unwrap();
        assert_eq!(back["requestContext"]["routeKey"], "sendMessage");
        assert_eq!(back["requestContext"]["connectedAt"], 1586455418043i64);
    }
}
