//! Builds the events API Gateway would send the integrations, field for field
//! (checked against the published samples in `tests/fixtures/`).

use super::ids::new_id;
use crate::clock::request_time;
use std::collections::HashMap;
use wschat_lambdas::clock::now_ms;
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

/// Name/value pairs in the order and casing the client sent them.
pub type Pairs = Vec<(String, String)>;

/// `headers` keeps the last value of a repeated name, `multiValueHeaders` every
/// value; the same for the query string.
fn single_and_multi(pairs: Pairs) -> (HashMap<String, String>, HashMap<String, Vec<String>>) {
    let mut multi: HashMap<String, Vec<String>> = HashMap::new();
    let mut single = HashMap::new();
    for (name, value) in pairs {
        multi.entry(name.clone()).or_default().push(value.clone());
        single.insert(name, value);
    }
    (single, multi)
}

impl Api<'_> {
    fn context(&self, origin: &Origin, route_key: &str, event_type: EventType) -> RequestContext {
        let now = now_ms();
        let request_id = new_id();
        RequestContext {
            route_key: route_key.to_owned(),
            event_type,
            connection_id: origin.connection_id.clone(),
            connected_at: origin.connected_at,
            request_time_epoch: now,
            domain_name: self.domain_name.to_owned(),
            stage: self.stage.to_owned(),
            api_id: self.api_id.to_owned(),
            // AWS's samples show the same value in both.
            extended_request_id: Some(request_id.clone()),
            request_id,
            request_time: Some(request_time(now)),
            message_id: None,
            message_direction: "IN".to_owned(),
            identity: origin.identity.clone(),
            disconnect_status_code: None,
            disconnect_reason: None,
        }
    }

    /// The client's headers (with the `X-Forwarded-*` API Gateway adds) and
    /// query string reach `$connect` only.
    pub fn connect(&self, origin: &Origin, mut headers: Pairs, query: Pairs) -> WebSocketEvent {
        let port = self.domain_name.rsplit_once(':').map_or("80", |(_, p)| p);
        headers.extend([
            (
                "X-Forwarded-For".to_owned(),
                origin.identity.source_ip.clone(),
            ),
            ("X-Forwarded-Port".to_owned(), port.to_owned()),
            ("X-Forwarded-Proto".to_owned(), "http".to_owned()),
        ]);
        let (headers, multi_value_headers) = single_and_multi(headers);
        let (query, multi_query) = single_and_multi(query);
        let has_query = !query.is_empty();
        WebSocketEvent {
            request_context: self.context(origin, CONNECT_ROUTE, EventType::Connect),
            headers: Some(headers),
            multi_value_headers: Some(multi_value_headers),
            query_string_parameters: has_query.then_some(query),
            multi_value_query_string_parameters: has_query.then_some(multi_query),
            body: None,
            is_base64_encoded: false,
        }
    }

    pub fn message(&self, origin: &Origin, route_key: &str, body: String) -> WebSocketEvent {
        let mut request_context = self.context(origin, route_key, EventType::Message);
        request_context.message_id = Some(new_id());
        WebSocketEvent {
            body: Some(body),
            ..WebSocketEvent::new(request_context)
        }
    }

    /// `$disconnect` carries API Gateway's own few headers, not the client's.
    pub fn disconnect(&self, origin: &Origin, status_code: u16, reason: &str) -> WebSocketEvent {
        let mut request_context = self.context(origin, DISCONNECT_ROUTE, EventType::Disconnect);
        request_context.disconnect_status_code = Some(status_code);
        request_context.disconnect_reason = Some(reason.to_owned());
        let headers = [
            ("Host", self.domain_name),
            ("x-api-key", ""),
            ("X-Forwarded-For", ""),
            ("x-restapi", ""),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        WebSocketEvent {
            headers: Some(HashMap::from(headers)),
            multi_value_headers: Some(HashMap::from([(
                "Host".to_owned(),
                vec![self.domain_name.to_owned()],
            )])),
            ..WebSocketEvent::new(request_context)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// Every key path of a JSON value, with the kind of value found there.
    fn shape(value: &Value, path: &str, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    shape(v, &format!("{path}.{k}"), out);
                }
            }
            Value::Array(items) => {
                out.push(format!("{path}[]"));
                if let Some(first) = items.first() {
                    shape(first, &format!("{path}[]"), out);
                }
            }
            Value::Number(_) => out.push(format!("{path}: number")),
            Value::String(_) => out.push(format!("{path}: string")),
            Value::Bool(_) => out.push(format!("{path}: bool")),
            Value::Null => out.push(format!("{path}: null")),
        }
    }

    fn shape_of(value: &Value) -> Vec<String> {
        let mut out = Vec::new();
        shape(value, "", &mut out);
        // Header and query names are the client's; compare the structure around them.
        out.retain(|p| {
            !(p.starts_with(".headers.")
                || p.starts_with(".multiValueHeaders.")
                || p.starts_with(".queryStringParameters.")
                || p.starts_with(".multiValueQueryStringParameters."))
        });
        out.sort();
        out
    }

    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn api() -> Api<'static> {
        Api {
            domain_name: "127.0.0.1:8080",
            stage: "dev",
            api_id: "local",
        }
    }

    fn origin() -> Origin {
        Origin {
            connection_id: new_id(),
            connected_at: now_ms(),
            identity: Identity {
                source_ip: "127.0.0.1".into(),
                user_agent: Some("wscat/5.2.0".into()),
            },
        }
    }

    fn pairs(items: &[(&str, &str)]) -> Pairs {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn events_have_the_shape_of_aws_published_samples() {
        let headers = pairs(&[("Host", "127.0.0.1:8080"), ("User-Agent", "wscat/5.2.0")]);
        let connect = api().connect(&origin(), headers, pairs(&[("username", "ada")]));
        let message = api().message(&origin(), "sendMessage", "{}".into());
        let disconnect =
            api().disconnect(&origin(), 1005, "Client-side close frame status not set");
        for (event, name) in [
            (connect, "connect.json"),
            (message, "message.json"),
            (disconnect, "disconnect.json"),
        ] {
            let ours = serde_json::to_value(&event).unwrap();
            assert_eq!(shape_of(&ours), shape_of(&fixture(name)), "{name}");
        }
    }

    #[test]
    fn repeated_names_keep_every_value_and_the_clients_casing() {
        let query = pairs(&[("room", "a"), ("room", "b")]);
        let headers = pairs(&[("Sec-WebSocket-Protocol", "x"), ("X-Custom", "1")]);
        let event = api().connect(&origin(), headers, query);
        assert_eq!(event.query_string_parameters.unwrap()["room"], "b");
        assert_eq!(
            event.multi_value_query_string_parameters.unwrap()["room"],
            ["a", "b"]
        );
        let headers = event.headers.unwrap();
        assert_eq!(headers["Sec-WebSocket-Protocol"], "x");
        assert_eq!(headers["X-Forwarded-For"], "127.0.0.1");
        assert!(!headers.contains_key("sec-websocket-protocol"));
    }
}
