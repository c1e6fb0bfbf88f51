//! No input makes a handler panic: arbitrary bodies, routes and query strings.

use proptest::prelude::*;
use std::collections::HashMap;
use wschat_lambdas::event::{EventType, RequestContext, WebSocketEvent};
use wschat_lambdas::gateway::{Delivery, Gateway, GatewayError};
use wschat_lambdas::protocol::select_route;
use wschat_lambdas::{Chat, ChatConfig, InMemoryStore};

struct NullGateway;

impl Gateway for NullGateway {
    async fn post(&self, _: &str, data: bytes::Bytes) -> Result<Delivery, GatewayError> {
        assert!(data.len() <= wschat_lambdas::protocol::MAX_FRAME_BYTES);
        serde_json::from_slice::<serde_json::Value>(&data).expect("every frame is JSON");
        Ok(Delivery::Delivered)
    }
    async fn disconnect(&self, _: &str) -> Result<Delivery, GatewayError> {
        Ok(Delivery::Delivered)
    }
}

fn event(event_type: EventType, route: &str) -> WebSocketEvent {
    let context = serde_json::json!({
        "routeKey": route, "eventType": event_type, "connectionId": "X0000000000000=",
        "connectedAt": 1, "requestTimeEpoch": 1, "domainName": "d", "stage": "dev",
        "apiId": "a", "requestId": "r", "messageDirection": "IN", "identity": {"sourceIp": "1.1.1.1"}
    });
    let request_context: RequestContext = serde_json::from_value(context).unwrap();
    WebSocketEvent::new(request_context)
}

/// Bodies that look like chat frames often enough to reach deep paths.
fn body() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        any::<String>().prop_map(serde_json::Value::String),
        any::<i64>().prop_map(serde_json::Value::from),
        Just(serde_json::Value::Null),
        Just(serde_json::json!({"nested": [1, 2]})),
        "[a-z ]{0,5000}".prop_map(serde_json::Value::String),
    ];
    let key = prop_oneof![
        Just("action"),
        Just("message"),
        Just("data"),
        Just("body"),
        Just("to"),
        Just("destinationUserId"),
        Just("room"),
        Just("type")
    ];
    let action = prop_oneof![
        Just("sendMessage"),
        Just("join"),
        Just("who"),
        Just("message"),
        Just("?")
    ];
    prop_oneof![
        any::<String>(),
        prop::collection::hash_map(key, value, 0..6)
            .prop_map(|m| serde_json::to_string(&m).unwrap()),
        (action.clone(), any::<String>())
            .prop_map(|(a, t)| serde_json::json!({"action": a, "message": t}).to_string()),
        (action, "[a-zA-Z0-9_ -]{0,40}")
            .prop_map(|(a, r)| serde_json::json!({"action": a, "room": r}).to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn handlers_never_panic(
        query in prop::collection::hash_map("username|userId|room|[a-z]{1,4}", any::<String>(), 0..4),
        bodies in prop::collection::vec(body(), 1..6),
        base64 in any::<bool>(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        runtime.block_on(async {
            let chat = Chat::new(InMemoryStore::new(), NullGateway, ChatConfig::default());
            let mut connect = event(EventType::Connect, "$connect");
            connect.query_string_parameters = Some(query.into_iter().collect::<HashMap<_, _>>());
            let answer = chat.handle(&connect).await;
            prop_assert!(answer.status_code == 200 || answer.status_code == 400);
            for body in bodies {
                let mut message = event(EventType::Message, select_route(&body));
                message.body = Some(body);
                message.is_base64_encoded = base64;
                prop_assert_eq!(chat.handle(&message).await.status_code, 200);
            }
            prop_assert_eq!(chat.handle(&event(EventType::Disconnect, "$disconnect")).await.status_code, 200);
            Ok(())
        })?;
    }
}
