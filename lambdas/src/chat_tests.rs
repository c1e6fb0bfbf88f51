//! Every action and error path of the handlers over the in-memory store and a recording gateway.

use crate::chat::{Chat, ChatConfig};
use crate::delivery::{DeliveryJob, Dispatch, DispatchError};
use crate::event::{EventType, Identity, RequestContext, WebSocketEvent};
use crate::gateway::{Delivery, Gateway, GatewayError};
use crate::protocol::select_route;
use crate::store::{ConnectionStore, InMemoryStore};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

#[derive(Default)]
struct RecordingGateway {
    sent: Mutex<Vec<(String, Value)>>,
    gone: Mutex<HashSet<String>>,
    /// 410s answered, so far.
    gone_answers: AtomicUsize,
    throttle_next: AtomicUsize,
}

impl Gateway for RecordingGateway {
    async fn post(&self, id: &str, data: Bytes) -> Result<Delivery, GatewayError> {
        if self.throttle_next.load(Ordering::SeqCst) > 0 {
            self.throttle_next.fetch_sub(1, Ordering::SeqCst);
            return Err(GatewayError::Throttled);
        }
        if self.gone.lock().unwrap().contains(id) {
            self.gone_answers.fetch_add(1, Ordering::SeqCst);
            return Ok(Delivery::Gone);
        }
        let frame = serde_json::from_slice(&data).expect("server frames are JSON");
        self.sent.lock().unwrap().push((id.to_owned(), frame));
        Ok(Delivery::Delivered)
    }

    async fn disconnect(&self, _id: &str) -> Result<Delivery, GatewayError> {
        Ok(Delivery::Delivered)
    }
}

type TestChat = Chat<InMemoryStore, RecordingGateway>;

fn chat() -> TestChat {
    Chat::new(
        InMemoryStore::new(),
        RecordingGateway::default(),
        ChatConfig::default(),
    )
}

fn event(event_type: EventType, id: &str, route_key: &str) -> WebSocketEvent {
    WebSocketEvent::new(RequestContext {
        route_key: route_key.to_owned(),
        event_type,
        connection_id: id.to_owned(),
        connected_at: 1_700_000_000_000,
        request_time_epoch: 1_700_000_000_000,
        domain_name: "abc.execute-api.us-east-1.amazonaws.com".into(),
        stage: "dev".into(),
        api_id: "abc".into(),
        request_id: "r".into(),
        extended_request_id: None,
        request_time: None,
        message_id: None,
        message_direction: "IN".into(),
        identity: Identity {
            source_ip: "127.0.0.1".into(),
            user_agent: None,
        },
        disconnect_status_code: None,
        disconnect_reason: None,
    })
}

async fn connect(chat: &TestChat, id: &str, query: &[(&str, &str)]) -> u16 {
    let mut e = event(EventType::Connect, id, "$connect");
    e.query_string_parameters = Some(
        query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    chat.handle(&e).await.status_code
}

/// Sends a frame the way API Gateway would route it.
async fn send(chat: &TestChat, id: &str, body: &str) -> u16 {
    let mut e = event(EventType::Message, id, select_route(body));
    e.body = Some(body.to_owned());
    chat.handle(&e).await.status_code
}

/// Frames received per connection since the last call.
fn inbox(chat: &TestChat) -> HashMap<String, Vec<Value>> {
    let mut by_id: HashMap<String, Vec<Value>> = HashMap::new();
    for (id, frame) in chat.gateway.sent.lock().unwrap().drain(..) {
        by_id.entry(id).or_default().push(frame);
    }
    by_id
}

fn only<'a>(inbox: &'a HashMap<String, Vec<Value>>, id: &str) -> &'a Value {
    let frames = inbox
        .get(id)
        .unwrap_or_else(|| panic!("{id} got nothing: {inbox:?}"));
    assert_eq!(frames.len(), 1, "{id} got {frames:?}");
    &frames[0]
}

#[tokio::test]
async fn everyone_in_the_room_gets_the_message_with_one_id() {
    let chat = chat();
    assert_eq!(connect(&chat, "A", &[("username", "ada")]).await, 200);
    assert_eq!(connect(&chat, "B", &[("username", "bob")]).await, 200);
    let joins = inbox(&chat);
    assert_eq!(only(&joins, "A")["type"], "join", "ada hears bob arrive");
    assert!(
        !joins.contains_key("B"),
        "a connecting client is never posted to during $connect"
    );

    assert_eq!(
        send(&chat, "A", r#"{"action":"sendMessage","message":"hi all"}"#).await,
        200
    );
    let got = inbox(&chat);
    let (to_a, to_b) = (only(&got, "A"), only(&got, "B"));
    assert_eq!(to_b["type"], "message");
    assert_eq!(to_b["data"]["username"], "ada");
    assert_eq!(to_b["data"]["message"], "hi all");
    assert_eq!(to_b["data"]["room"], "lobby");
    assert_eq!(
        to_a["data"]["id"], to_b["data"]["id"],
        "the sender's echo carries the same id"
    );
}

#[tokio::test]
async fn rooms_are_isolated_and_join_moves_you() {
    let chat = chat();
    connect(&chat, "A", &[("username", "ada"), ("room", "red")]).await;
    connect(&chat, "B", &[("username", "bob"), ("room", "blue")]).await;
    inbox(&chat);
    send(
        &chat,
        "A",
        r#"{"action":"sendMessage","message":"red only"}"#,
    )
    .await;
    let got = inbox(&chat);
    assert!(!got.contains_key("B"));

    send(&chat, "B", r#"{"action":"join","room":"red"}"#).await;
    let got = inbox(&chat);
    assert_eq!(only(&got, "A")["type"], "join");
    assert_eq!(
        only(&got, "B")["data"]["username"],
        "bob",
        "the joiner hears its own join"
    );
    send(
        &chat,
        "A",
        r#"{"action":"sendMessage","message":"now both"}"#,
    )
    .await;
    assert_eq!(only(&inbox(&chat), "B")["data"]["message"], "now both");
}

#[tokio::test]
async fn leaving_a_room_tells_those_who_stay() {
    let chat = chat();
    connect(&chat, "A", &[("username", "ada")]).await;
    connect(&chat, "B", &[("username", "bob")]).await;
    inbox(&chat);
    send(&chat, "B", r#"{"action":"join","room":"side"}"#).await;
    let got = inbox(&chat);
    assert_eq!(only(&got, "A")["type"], "leave");
    assert_eq!(only(&got, "A")["data"]["username"], "bob");
    let disconnect = event(EventType::Disconnect, "B", "$disconnect");
    assert_eq!(chat.handle(&disconnect).await.status_code, 200);
    assert!(chat.store.get("B").await.unwrap().is_none());
    assert!(
        !inbox(&chat).contains_key("A"),
        "bob had left the lobby already"
    );
    assert_eq!(
        chat.handle(&disconnect).await.status_code,
        200,
        "a second $disconnect is harmless"
    );
}

#[tokio::test]
async fn seed_002_direct_message_reaches_only_its_recipient() {
    let chat = chat();
    connect(&chat, "U1", &[("userId", "1")]).await;
    connect(&chat, "U2", &[("userId", "2")]).await;
    connect(&chat, "U3", &[("userId", "3")]).await;
    inbox(&chat);
    send(
        &chat,
        "U1",
        r#"{ "action": "sendMessage", "destinationUserId": "2","body":"hello there!"}"#,
    )
    .await;
    let got = inbox(&chat);
    let to_2 = only(&got, "U2");
    assert_eq!(to_2["data"]["message"], "hello there!");
    assert_eq!(to_2["data"]["username"], "1");
    assert_eq!(to_2["data"]["to"], "2");
    assert_eq!(only(&got, "U1")["data"]["id"], to_2["data"]["id"]);
    assert!(!got.contains_key("U3"));
}

#[tokio::test]
async fn seed_001_and_003_and_004_frames_are_chat_messages() {
    let chat = chat();
    connect(&chat, "A", &[]).await;
    connect(&chat, "B", &[("username", "Grace Hopper")]).await;
    inbox(&chat);
    for (body, text) in [
        (r#"{"message":"from seed 001"}"#, "from seed 001"),
        (
            r#"{"action": "sendMessage", "data" : "Ground Control to Major Tom"}"#,
            "Ground Control to Major Tom",
        ),
        (
            r#"{"action":"message","message":"from seed 004","type":"chat"}"#,
            "from seed 004",
        ),
        (r#"{ "body": "hello!" }"#, "hello!"),
    ] {
        assert_eq!(send(&chat, "B", body).await, 200);
        let got = inbox(&chat);
        let frame = only(&got, "A");
        assert_eq!(frame["type"], "message", "{body}");
        assert_eq!(frame["data"]["message"], text);
        assert_eq!(frame["data"]["username"], "Grace Hopper");
    }
}

#[tokio::test]
async fn who_lists_the_room() {
    let chat = chat();
    connect(&chat, "A", &[("username", "ada")]).await;
    connect(&chat, "B", &[("username", "bob")]).await;
    connect(&chat, "C", &[("username", "cy"), ("room", "elsewhere")]).await;
    inbox(&chat);
    send(&chat, "A", r#"{"action":"who"}"#).await;
    let got = inbox(&chat);
    let presence = only(&got, "A");
    assert_eq!(presence["type"], "presence");
    assert_eq!(presence["data"]["users"], serde_json::json!(["ada", "bob"]));
    assert_eq!(presence["data"]["count"], 2);
}

#[tokio::test]
async fn client_mistakes_get_an_error_frame_and_a_200() {
    let chat = chat();
    connect(&chat, "A", &[("username", "ada")]).await;
    connect(&chat, "B", &[("username", "bob")]).await;
    inbox(&chat);
    let long = format!(
        r#"{{"action":"sendMessage","message":"{}"}}"#,
        "x".repeat(5000)
    );
    for (body, code) in [
        ("not json", "bad_json"),
        (r#"{"action":"sendMessage"}"#, "no_text"),
        (r#"{"action":"dance"}"#, "no_text"),
        (r#"{"action":"sendMessage","message":""}"#, "empty_text"),
        (long.as_str(), "text_too_long"),
        (
            r#"{"action":"sendMessage","message":"psst","to":"nobody"}"#,
            "unknown_recipient",
        ),
        (r#"{"action":"join"}"#, "bad_room"),
        (
            r#"{"action":"sendMessage","message":{"nested":1}}"#,
            "bad_field",
        ),
    ] {
        assert_eq!(send(&chat, "A", body).await, 200, "{body}");
        let got = inbox(&chat);
        let frame = only(&got, "A");
        assert_eq!(frame["type"], "error", "{body}");
        assert_eq!(frame["data"]["code"], code, "{body}");
        assert!(!got.contains_key("B"), "nothing reaches others for {body}");
    }
}

#[tokio::test]
async fn a_connection_without_a_row_is_told_to_reconnect() {
    let chat = chat();
    send(&chat, "ghost", r#"{"action":"sendMessage","message":"hi"}"#).await;
    assert_eq!(
        only(&inbox(&chat), "ghost")["data"]["code"],
        "not_connected"
    );
}

#[tokio::test]
async fn bad_names_reject_the_handshake() {
    let chat = chat();
    assert_eq!(connect(&chat, "A", &[("username", "<b>")]).await, 400);
    assert_eq!(connect(&chat, "A", &[("room", "a room")]).await, 400);
    assert!(chat.store.is_empty());
}

#[tokio::test]
async fn a_gone_recipient_is_pruned_not_the_sender() {
    let chat = chat();
    connect(&chat, "A", &[("username", "ada")]).await;
    connect(&chat, "STALE", &[("username", "old")]).await;
    connect(&chat, "B", &[("username", "bob")]).await;
    inbox(&chat);
    chat.gateway.gone.lock().unwrap().insert("STALE".into());
    send(
        &chat,
        "A",
        r#"{"action":"sendMessage","message":"anyone?"}"#,
    )
    .await;
    let got = inbox(&chat);
    assert_eq!(only(&got, "B")["data"]["message"], "anyone?");
    assert!(
        chat.store.get("STALE").await.unwrap().is_none(),
        "410 prunes the stale row"
    );
    assert!(
        chat.store.get("A").await.unwrap().is_some(),
        "the sender stays"
    );
}

#[tokio::test]
async fn throttled_posts_are_retried() {
    let chat = chat();
    connect(&chat, "A", &[("username", "ada")]).await;
    inbox(&chat);
    chat.gateway.throttle_next.store(3, Ordering::SeqCst);
    send(
        &chat,
        "A",
        r#"{"action":"sendMessage","message":"eventually"}"#,
    )
    .await;
    assert_eq!(only(&inbox(&chat), "A")["data"]["message"], "eventually");
}

#[tokio::test]
async fn big_rooms_get_no_join_notices() {
    let config = ChatConfig {
        notice_limit: 2,
        ..ChatConfig::default()
    };
    let chat = Chat::new(InMemoryStore::new(), RecordingGateway::default(), config);
    for id in ["A", "B", "C"] {
        connect(&chat, id, &[]).await;
    }
    inbox(&chat);
    connect(&chat, "D", &[]).await;
    assert!(inbox(&chat).is_empty());
}

#[tokio::test]
async fn binary_frames_are_refused_politely() {
    let chat = chat();
    connect(&chat, "A", &[]).await;
    inbox(&chat);
    let mut e = event(EventType::Message, "A", "$default");
    e.body = Some("AAEC".into());
    e.is_base64_encoded = true;
    assert_eq!(chat.handle(&e).await.status_code, 200);
    assert_eq!(only(&inbox(&chat), "A")["data"]["code"], "binary_frame");
}

/// A chat whose rooms above `threshold` members go through shards.
fn sharding_chat(threshold: usize) -> TestChat {
    let config = ChatConfig {
        shard_threshold: threshold,
        notice_limit: 0,
        ..ChatConfig::default()
    };
    Chat::new(InMemoryStore::new(), RecordingGateway::default(), config)
}

async fn crowd(chat: &TestChat, n: usize) {
    for i in 0..n {
        let id = format!("C{i:04}=");
        assert_eq!(
            connect(chat, &id, &[("username", &format!("u{i}"))]).await,
            200
        );
    }
    inbox(chat);
}

#[tokio::test]
async fn a_room_past_the_threshold_is_delivered_through_its_shards_once_each() {
    let chat = sharding_chat(10);
    crowd(&chat, 300).await;
    send(
        &chat,
        "C0000=",
        r#"{"action":"sendMessage","message":"to all"}"#,
    )
    .await;
    let got = inbox(&chat);
    assert_eq!(got.len(), 300, "every member");
    for i in 0..300 {
        assert_eq!(
            only(&got, &format!("C{i:04}="))["data"]["message"],
            "to all"
        );
    }
}

/// Runs each job it is handed on its own task, as the delivery function would.
struct Spawning {
    chat: std::sync::OnceLock<std::sync::Weak<TestChat>>,
    handed: AtomicUsize,
}

impl Dispatch for Spawning {
    fn dispatch(&self, jobs: Vec<DeliveryJob>) -> BoxFuture<'_, Vec<(DeliveryJob, DispatchError)>> {
        self.handed.fetch_add(jobs.len(), Ordering::SeqCst);
        let chat = self.chat.get().and_then(std::sync::Weak::upgrade).unwrap();
        let handles: Vec<_> = jobs
            .into_iter()
            .map(|job| {
                let chat = chat.clone();
                tokio::spawn(async move { chat.deliver_job(&job).await.unwrap() })
            })
            .collect();
        Box::pin(async move {
            for handle in handles {
                handle.await.unwrap();
            }
            Vec::new()
        })
    }
}

#[tokio::test]
async fn shard_jobs_handed_to_workers_reach_each_member_once() {
    let spawning = std::sync::Arc::new(Spawning {
        chat: std::sync::OnceLock::new(),
        handed: AtomicUsize::new(0),
    });
    let chat = std::sync::Arc::new(
        sharding_chat(10).with_dispatch(spawning.clone(), "http://stage".into()),
    );
    spawning.chat.set(std::sync::Arc::downgrade(&chat)).ok();
    crowd(&chat, 200).await;
    send(
        &chat,
        "C0007=",
        r#"{"action":"sendMessage","message":"hello"}"#,
    )
    .await;
    assert_eq!(
        spawning.handed.load(Ordering::SeqCst),
        crate::shard::ROOM_SHARDS as usize
    );
    let got = inbox(&chat);
    assert_eq!(got.len(), 200);
    assert!(got.values().all(|frames| frames.len() == 1));
}

#[tokio::test]
async fn a_sender_past_its_message_rate_gets_rate_limited_and_nothing_goes_out() {
    let chat = Chat::new(
        InMemoryStore::new(),
        RecordingGateway::default(),
        ChatConfig {
            message_rate: crate::rate::Rate::per_second(1.0),
            ..ChatConfig::default()
        },
    );
    connect(&chat, "A", &[("username", "ada")]).await;
    let message = r#"{"action":"sendMessage","message":"hi"}"#;
    for _ in 0..2 {
        assert_eq!(send(&chat, "A", message).await, 200);
        assert_eq!(only(&inbox(&chat), "A")["data"]["message"], "hi");
    }
    assert_eq!(send(&chat, "A", message).await, 200);
    let inbox = inbox(&chat);
    let refused = only(&inbox, "A");
    assert_eq!(refused["type"], "error");
    assert_eq!(refused["data"]["code"], "rate_limited");
}

#[tokio::test]
async fn a_full_room_refuses_a_join_and_a_handshake_into_it() {
    let chat = Chat::new(
        InMemoryStore::new(),
        RecordingGateway::default(),
        ChatConfig {
            max_room_size: 2,
            ..ChatConfig::default()
        },
    );
    assert_eq!(
        connect(&chat, "A", &[("username", "a"), ("room", "r")]).await,
        200
    );
    assert_eq!(
        connect(&chat, "B", &[("username", "b"), ("room", "r")]).await,
        200
    );
    assert_eq!(
        connect(&chat, "C", &[("username", "c"), ("room", "r")]).await,
        403
    );
    assert_eq!(
        connect(&chat, "C", &[("username", "c"), ("room", "s")]).await,
        200
    );
    inbox(&chat);
    assert_eq!(
        send(&chat, "C", r#"{"action":"join","room":"r"}"#).await,
        200
    );
    assert_eq!(only(&inbox(&chat), "C")["data"]["code"], "room_full");
    let row = chat.store.get("C").await.unwrap().unwrap();
    assert_eq!(row.room, "s", "the refused join moved no one");
}

fn chat_with_history(on_join: usize) -> TestChat {
    let config = ChatConfig {
        history_on_join: on_join,
        ..ChatConfig::default()
    };
    Chat::new(InMemoryStore::new(), RecordingGateway::default(), config)
        .with_history(std::sync::Arc::new(crate::history::InMemoryHistory::new()))
}

fn texts(frame: &Value) -> Vec<String> {
    frame["data"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_joiner_gets_the_rooms_latest_messages_and_pages_back_through_the_rest() {
    let chat = chat_with_history(5);
    connect(&chat, "A", &[("username", "ada")]).await;
    connect(&chat, "B", &[("username", "bob"), ("room", "side")]).await;
    for i in 0..8 {
        let body = format!(r#"{{"action":"sendMessage","message":"m{i}"}}"#);
        assert_eq!(send(&chat, "A", &body).await, 200);
    }
    inbox(&chat);
    send(&chat, "B", r#"{"action":"join","room":"lobby"}"#).await;
    let got = inbox(&chat);
    let frames = &got["B"];
    assert_eq!(frames[0]["type"], "join");
    let history = &frames[1];
    assert_eq!(history["type"], "history");
    assert_eq!(history["data"]["reason"], "join");
    assert_eq!(history["data"]["room"], "lobby");
    assert_eq!(texts(history), ["m3", "m4", "m5", "m6", "m7"]);
    assert_eq!(history["data"]["more"], true);

    let oldest = history["data"]["messages"][0]["id"].as_str().unwrap();
    let page = format!(r#"{{"action":"history","before":"{oldest}","limit":10}}"#);
    send(&chat, "B", &page).await;
    let got = inbox(&chat);
    let page = only(&got, "B");
    assert_eq!(page["data"]["reason"], "page");
    assert_eq!(texts(page), ["m0", "m1", "m2"]);
    assert_eq!(page["data"]["more"], false);

    send(&chat, "B", r#"{"action":"history","limit":1000}"#).await;
    assert_eq!(only(&inbox(&chat), "B")["data"]["code"], "bad_field");
}

#[tokio::test]
async fn direct_message_history_is_neither_kept_nor_served_where_names_are_claimed() {
    let chat = chat_with_history(5);
    connect(&chat, "A", &[("username", "ada")]).await;
    connect(&chat, "B", &[("username", "bob")]).await;
    send(
        &chat,
        "A",
        r#"{"action":"sendMessage","to":"bob","message":"psst"}"#,
    )
    .await;
    inbox(&chat);
    send(&chat, "B", r#"{"action":"history","with":"ada"}"#).await;
    let refused = only(&inbox(&chat), "B").clone();
    assert_eq!(refused["data"]["code"], "dm_history_unavailable");
    let dm = crate::history::Conversation::direct("ada", "bob");
    let read = chat
        .history
        .as_ref()
        .unwrap()
        .read(
            &dm,
            crate::history::Range::Latest,
            10,
            crate::clock::now_ms(),
        )
        .await
        .unwrap();
    assert!(read.messages.is_empty(), "nothing kept under claimed names");
}

#[tokio::test]
async fn typing_reaches_the_rest_of_the_room_at_most_once_a_second() {
    let chat = chat_with_history(0);
    connect(&chat, "A", &[("username", "ada")]).await;
    connect(&chat, "B", &[("username", "bob")]).await;
    inbox(&chat);
    for _ in 0..3 {
        assert_eq!(send(&chat, "A", r#"{"action":"typing"}"#).await, 200);
    }
    let got = inbox(&chat);
    assert!(!got.contains_key("A"), "no echo, no error: {got:?}");
    let typing = only(&got, "B");
    assert_eq!(typing["type"], "typing");
    assert_eq!(typing["data"]["username"], "ada");
    let row = chat.store.get("A").await.unwrap().unwrap();
    assert_eq!(
        row.full_at, 0,
        "typing spends nothing of the message bucket"
    );
}

#[tokio::test]
async fn a_banned_name_is_refused_at_connect_and_a_muted_one_cannot_send() {
    use crate::history::{Sanction, SanctionKind};
    let chat = chat_with_history(0);
    let history = chat.history.clone().unwrap();
    let now = crate::clock::now_ms();
    let sanction = |kind, username: &str, until| Sanction {
        kind,
        username: username.into(),
        until,
        reason: Some("spam".into()),
        at: now,
    };
    let ban = sanction(SanctionKind::Ban, "troll", Some(now + 60_000));
    history.sanction(&ban).await.unwrap();
    assert_eq!(connect(&chat, "T", &[("username", "troll")]).await, 403);
    let lapsed = sanction(SanctionKind::Ban, "troll", Some(now - 1));
    history.sanction(&lapsed).await.unwrap();
    assert_eq!(connect(&chat, "T", &[("username", "troll")]).await, 200);

    history
        .sanction(&sanction(SanctionKind::Mute, "bob", None))
        .await
        .unwrap();
    connect(&chat, "B", &[("username", "bob")]).await;
    inbox(&chat);
    send(&chat, "B", r#"{"action":"sendMessage","message":"hello"}"#).await;
    let refused = only(&inbox(&chat), "B").clone();
    assert_eq!(refused["data"]["code"], "muted");
    assert!(
        refused["data"]["message"]
            .as_str()
            .unwrap()
            .contains("until an operator lifts it"),
        "{refused}"
    );
    chat.store.set_muted("B", 0).await.unwrap();
    send(&chat, "B", r#"{"action":"sendMessage","message":"hello"}"#).await;
    assert_eq!(only(&inbox(&chat), "T")["data"]["message"], "hello");
}

/// Keeps the jobs it is handed, for the test to run when it chooses.
#[derive(Default)]
struct Keeping(Mutex<Vec<DeliveryJob>>);

impl Dispatch for Keeping {
    fn dispatch(&self, jobs: Vec<DeliveryJob>) -> BoxFuture<'_, Vec<(DeliveryJob, DispatchError)>> {
        self.0.lock().unwrap().extend(jobs);
        Box::pin(std::future::ready(Vec::new()))
    }
}

#[tokio::test]
async fn a_resume_waits_for_the_connection_to_open_and_misses_nothing_stored_meanwhile() {
    let keeping = std::sync::Arc::new(Keeping::default());
    let chat = std::sync::Arc::new(
        chat_with_history(5).with_dispatch(keeping.clone(), "http://stage".into()),
    );
    connect(&chat, "A", &[("username", "ada")]).await;
    for text in ["m0", "m1", "m2"] {
        let body = format!(r#"{{"action":"sendMessage","message":"{text}"}}"#);
        send(&chat, "A", &body).await;
    }
    let history = chat.history.as_ref().unwrap();
    let lobby = crate::history::Conversation::Room("lobby".into());
    let now = crate::clock::now_ms();
    let stored = history
        .read(&lobby, crate::history::Range::Latest, 10, now)
        .await
        .unwrap();
    let since = stored.messages[0].id.clone();

    // Bob reconnects; until his $connect has returned, posts to him answer 410.
    chat.gateway.gone.lock().unwrap().insert("B".into());
    let mut e = event(EventType::Connect, "B", "$connect");
    e.request_context.connected_at = now;
    e.query_string_parameters = Some(HashMap::from([
        ("username".to_owned(), "bob".to_owned()),
        ("since".to_owned(), since),
    ]));
    assert_eq!(chat.handle(&e).await.status_code, 200);
    let job = keeping.0.lock().unwrap().pop().expect("a catch-up job");
    assert!(keeping.0.lock().unwrap().is_empty());
    // Said while bob's connection opens: live it reaches him as a 410.
    send(&chat, "A", r#"{"action":"sendMessage","message":"m3"}"#).await;
    inbox(&chat);
    let refused_so_far = chat.gateway.gone_answers.load(Ordering::SeqCst);
    let worker = {
        let chat = chat.clone();
        tokio::spawn(async move { chat.deliver_job(&job).await.unwrap() })
    };
    // The worker has met the 410 twice: it tried again rather than giving up.
    while chat.gateway.gone_answers.load(Ordering::SeqCst) < refused_so_far + 2 {
        tokio::task::yield_now().await;
    }
    assert!(
        !inbox(&chat).contains_key("B"),
        "nothing arrives before it opens"
    );
    chat.gateway.gone.lock().unwrap().remove("B");
    worker.await.unwrap();
    let got = inbox(&chat);
    let frames = &got["B"];
    assert_eq!(frames.len(), 2, "{frames:?}");
    assert_eq!(frames[0]["data"]["reason"], "resume");
    assert_eq!(texts(&frames[0]), ["m1", "m2"]);
    assert_eq!(texts(&frames[1]), ["m3"], "what was stored while it opened");
}
