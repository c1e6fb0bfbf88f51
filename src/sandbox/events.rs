//! Builds the events API Gateway would send the integrations, field for field.

use super::ids::new_id;
use std::collections::HashMap;
use wschat_lambdas::chat::now_ms;
use wschat_lambdas::event::{EventType, Identity, RequestContext, WebSocketEvent};
use wschat_lambdas::protocol::{CONNECT_ROUTE, DISCONNECT_ROUTE};

/// What the sandbox knows of one connection, for every event it raises.
#[derive(Clone)]
pub struct Origin {
    pub connection_id: String,
    pub connected_at: i64,
    pub identity: Identity,
}

pub struct Api<'a> {
    pub domain_name: &'a str,
    pub stage: &'a str,
    pub api_id: &'a str,
}

impl Api<'_> {
    fn context(&self, origin: &Origin, route_key: &str, event_type: EventType) -> RequestContext {
        RequestContext {
            route_key: route_key.to_owned(),
            event_type,
            connection_id: origin.connection_id.clone(),
            connected_at: origin.connected_at,
            request_time_epoch: now_ms(),
            domain_name: self.domain_name.to_owned(),
            stage: self.stage.to_owned(),
            api_id: self.api_id.to_owned(),
            request_id: new_id(),
            message_id: None,
            message_direction: "IN".to_owned(),
            identity: origin.identity.clone(),
            disconnect_status_code: None,
            disconnect_reason: None,
        }
    }

    /// Headers and query string reach `$connect` only.
    pub fn connect(
        &self,
        origin: &Origin,
        headers: HashMap<String, String>,
        query: HashMap<String, String>,
    ) -> WebSocketEvent {
        WebSocketEvent {
            request_context: self.context(origin, CONNECT_ROUTE, EventType::Connect),
            headers: Some(headers),
            query_string_parameters: Some(query).filter(|q| !q.is_empty()),
            body: None,
            is_base64_encoded: false,
        }
    }

    pub fn message(
        &self,
        origin: &Origin,
        route_key: &str,
        body: String,
        is_base64_encoded: bool,
    ) -> WebSocketEvent {
        let mut request_context = self.context(origin, route_key, EventType::Message);
        request_context.message_id = Some(new_id());
        WebSocketEvent {
            request_context,
            headers: None,
            query_string_parameters: None,
            body: Some(body),
            is_base64_encoded,
        }
    }

    pub fn disconnect(&self, origin: &Origin, status_code: u16, reason: &str) -> WebSocketEvent {
        let mut request_context = self.context(origin, DISCONNECT_ROUTE, EventType::Disconnect);
        request_context.disconnect_status_code = Some(status_code);
        request_context.disconnect_reason = Some(reason.to_owned());
        WebSocketEvent {
            request_context,
            headers: None,
            query_string_parameters: None,
            body: None,
            is_base64_encoded: false,
        }
    }
}
