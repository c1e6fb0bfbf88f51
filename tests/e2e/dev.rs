//! `wschat dev` with real WebSocket clients: the chat, API Gateway's behaviour, the management API.

use crate::bootstrap::{message_event, unzip_function};
use crate::harness::{
    eventually, is_gone, management_client, said, Client, Closed, Dev, Environment,
};
use aws_sdk_apigatewaymanagement::primitives::Blob;
use serde_json::json;
use std::time::Duration;
use wschat_lambdas::dynamo::DynamoStore;
use wschat_lambdas::store::{list_all, ConnectionStore, Filter};
use wschat_test_support::moto::{unique, Moto};
use wschat_test_support::runtime_api::RuntimeApi;

#[tokio::test]
async fn two_users_chat_and_rooms_are_isolated() {
    let dev = Dev::start(&[]);
    let [mut ada, mut bob, mut eve] = dev
        .join_all([
            "username=ada",
            "username=bob",
            "username=eve&room=elsewhere",
        ])
        .await;
    assert_eq!(ada.next_of_type("join").await["data"]["username"], "bob");

    ada.send_json(json!({"action": "sendMessage", "message": "hi bob"}))
        .await;
    let got = bob.next_of_type("message").await;
    assert_eq!(said(&got), ("ada", "hi bob"));
    let echo = ada.next_of_type("message").await;
    assert_eq!(
        echo["data"]["id"], got["data"]["id"],
        "the sender's echo has the same id"
    );
    bob.send_json(json!({"action": "sendMessage", "message": "hi ada"}))
        .await;
    assert_eq!(
        ada.next_of_type("message").await["data"]["message"],
        "hi ada"
    );
    assert_eq!(
        bob.next_of_type("message").await["data"]["message"],
        "hi ada"
    );
    bob.sync().await;
    eve.expect_no_message().await;

    eve.send_json(json!({"action": "sendMessage", "message": "anyone?"}))
        .await;
    assert_eq!(
        eve.next_of_type("message").await["data"]["room"],
        "elsewhere"
    );
    eve.sync().await;
    ada.expect_no_message().await;
    bob.expect_no_message().await;
}

#[tokio::test]
async fn direct_messages_and_who() {
    let dev = Dev::start(&[]);
    let [mut ada, mut bob, mut cy] = dev
        .join_all(["username=ada", "username=bob", "username=cy"])
        .await;
    ada.send_json(json!({"action": "sendMessage", "message": "psst", "to": "bob"}))
        .await;
    let got = bob.next_of_type("message").await;
    assert_eq!(got["data"]["to"], "bob");
    assert_eq!(ada.next_of_type("message").await["data"]["message"], "psst");
    ada.sync().await;
    cy.expect_no_message().await;

    cy.send_json(json!({"action": "who"})).await;
    let presence = cy.next_of_type("presence").await;
    assert_eq!(presence["data"]["users"], json!(["ada", "bob", "cy"]));

    cy.send_json(json!({"action": "join", "room": "side"}))
        .await;
    assert_eq!(cy.next_of_type("join").await["data"]["room"], "side");
    assert_eq!(ada.next_of_type("leave").await["data"]["username"], "cy");
    cy.send_json(json!({"action": "who"})).await;
    assert_eq!(
        cy.next_of_type("presence").await["data"]["users"],
        json!(["cy"])
    );
}

#[tokio::test]
async fn the_seed_clients_frames_work_unchanged() {
    let dev = Dev::start(&[]);
    // Seed 002: wscat with ?userId=, a direct message by destinationUserId.
    let mut user1 = Client::join(&dev.ws_url("userId=1")).await;
    let mut user2 = Client::join(&dev.ws_url("userId=2")).await;
    user1
        .send_text(r#"{ "action": "sendMessage", "destinationUserId": "2","body":"hello there!"}"#)
        .await;
    let got = user2.next_of_type("message").await;
    assert_eq!(said(&got), ("1", "hello there!"));
    assert_eq!(
        user1.next_of_type("message").await["data"]["to"],
        "2",
        "the sender's copy"
    );

    // Seed 003: wscat with no query, {"action":"sendMessage","data":...} reaches everyone.
    let mut wscat = Client::join(&dev.ws_url("")).await;
    wscat
        .send_text(r#"{"action": "sendMessage", "data" : "Ground Control to Major Tom"}"#)
        .await;
    for client in [&mut user1, &mut user2, &mut wscat] {
        assert_eq!(
            client.next_of_type("message").await["data"]["message"],
            "Ground Control to Major Tom"
        );
    }

    // Seed 001's page: {"message": ...} on $default; it shows whatever text arrives.
    user1
        .send_text(r#"{"message":"from the seed 001 page"}"#)
        .await;
    for client in [&mut user1, &mut user2, &mut wscat] {
        assert_eq!(
            client.next_of_type("message").await["data"]["message"],
            "from the seed 001 page"
        );
    }

    // Seed 004's page: ?username=, action "message" (no such route), renders data.username/data.message.
    let mut page = Client::join(&dev.ws_url("username=Grace%20Hopper")).await;
    page.send_text(r#"{"action":"message","message":"from seed 004","type":"chat"}"#)
        .await;
    // Seed 004 renders any frame of type "message": nothing else may come first.
    let got = user1.next_skipping_notices().await;
    assert_eq!(got["type"], "message", "{got}");
    assert_eq!(said(&got), ("Grace Hopper", "from seed 004"));
}

#[tokio::test]
async fn a_bad_frame_gets_an_error_frame_and_the_connection_stays_open() {
    let dev = Dev::start(&[]);
    let mut ada = Client::join(&dev.ws_url("username=ada")).await;
    for (frame, code) in [
        ("this is not json", "bad_json"),
        (r#"{"action":"sendMessage"}"#, "no_text"),
        (r#"{"action":"join"}"#, "bad_room"),
    ] {
        ada.send_text(frame).await;
        let error = ada.next_of_type("error").await;
        assert_eq!(error["data"]["code"], code, "{frame}");
    }
    ada.send_json(json!({"action": "sendMessage", "message": "still here"}))
        .await;
    assert_eq!(
        ada.next_of_type("message").await["data"]["message"],
        "still here"
    );
}

#[tokio::test]
async fn connect_errors_reject_the_handshake_with_their_status() {
    let dev = Dev::start(&[]);
    let err = tokio_tungstenite::connect_async(dev.ws_url("username=%3Cscript%3E"))
        .await
        .unwrap_err();
    match err {
        tokio_tungstenite::tungstenite::Error::Http(response) => assert_eq!(response.status(), 400),
        other => panic!("expected an HTTP 400 rejection, got {other}"),
    }
    let wrong_stage = format!("ws://127.0.0.1:{}/prod", dev.port);
    match tokio_tungstenite::connect_async(wrong_stage)
        .await
        .unwrap_err()
    {
        tokio_tungstenite::tungstenite::Error::Http(response) => {
            assert_eq!(
                response.status(),
                403,
                "an unknown stage is forbidden, as on AWS"
            )
        }
        other => panic!("expected an HTTP 403 rejection, got {other}"),
    }
}

#[tokio::test]
async fn oversized_messages_and_frames_close_with_1009() {
    let dev = Dev::start(&[]);
    let mut ada = Client::join(&dev.ws_url("username=ada")).await;
    let mut bob = Client::join(&dev.ws_url("username=bob")).await;
    let huge = format!(
        r#"{{"action":"sendMessage","message":"{}"}}"#,
        "x".repeat(130 * 1024)
    );
    ada.send_text(&huge).await;
    assert_eq!(
        ada.closed(Duration::from_secs(10)).await,
        Closed::Frame(1009, "Message too big".into())
    );
    assert_eq!(
        bob.next_of_type("leave").await["data"]["username"],
        "ada",
        "$disconnect fired"
    );
    bob.expect_no_message().await;
}

#[tokio::test]
async fn idle_connections_close_and_fire_disconnect() {
    let dev = Dev::start(&["--idle-timeout", "1s"]);
    let mut ada = Client::join(&dev.ws_url("username=ada")).await;
    let mut bob = Client::join(&dev.ws_url("username=bob")).await;
    // Bob keeps talking inside the idle window; Ada stays silent.
    let leave = eventually(
        Duration::from_secs(20),
        "ada closed for idling",
        async || {
            bob.send_json(json!({"action": "who"})).await;
            let frame = bob.next_within(Duration::from_millis(400)).await?;
            (frame["type"] == "leave").then_some(frame)
        },
    )
    .await;
    assert_eq!(leave["data"]["username"], "ada");
    assert_eq!(
        ada.closed(Duration::from_secs(5)).await,
        Closed::Frame(1001, "Going away".into()),
        "API Gateway's code and words for an idle connection"
    );
}

/// Refused as AWS refuses a gone connection: status 410, `GoneException`.
/// `wschat dev` keeping its connections in moto's DynamoDB, so the test reads ids as an operator would.
fn dev_over_moto(name: &str, stage: &str) -> (Dev, DynamoStore) {
    let moto = Moto::shared();
    let dev = Dev::start_with(
        &[
            "--name",
            name,
            "--stage",
            stage,
            "--dynamodb-endpoint",
            &moto.endpoint,
        ],
        |cmd| {
            cmd.env("AWS_ACCESS_KEY_ID", "testing")
                .env("AWS_SECRET_ACCESS_KEY", "testing");
        },
    );
    let table = format!("{name}-{stage}-connections");
    let client = tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current()
            .block_on(async { aws_sdk_dynamodb::Client::new(&moto.sdk_config().await) })
    });
    (dev, DynamoStore::new(client, table))
}

async fn id_of(store: &DynamoStore, username: &str) -> String {
    let rows = list_all(store, &Filter::Username(username.into()))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "{username}: {rows:?}");
    rows[0].connection_id.clone()
}

/// A custom domain mapped to the API puts that domain in every event's
/// `domainName`; the message function still posts through the API's own
/// endpoint (here `wschat dev`'s, reached through the endpoint template a
/// private endpoint would use), never the domain, so a mapped domain cannot
/// break delivery.
#[tokio::test(flavor = "multi_thread")]
async fn a_custom_domain_in_the_event_does_not_move_the_message_functions_posts() {
    let name = unique("domain");
    let (dev, store) = dev_over_moto(&name, "test");
    let table = format!("{name}-test-connections");
    let mut ada = Client::join(&dev.ws_url("username=ada")).await;
    let mut bob = Client::join(&dev.ws_url("username=bob")).await;
    let bob_id = id_of(&store, "bob").await;
    let (key, secret) = wschat_test_support::dev_credentials(dev.port);
    let api = RuntimeApi::start().await;
    let binary = tokio::task::block_in_place(|| unzip_function("message"));
    let template = format!("{}/{{stage}}", dev.base());
    let _message = Environment::start(
        &binary,
        &api,
        "wschat-domain-message",
        &Moto::shared().endpoint,
        &table,
        &[
            ("WSCHAT_MANAGEMENT_ENDPOINT", &template),
            ("AWS_ACCESS_KEY_ID", &key),
            ("AWS_SECRET_ACCESS_KEY", &secret),
        ],
    );
    let body = r#"{"action":"sendMessage","message":"via the mapped domain"}"#;
    let mut event = message_event("chat.example.com", &bob_id, "sendMessage", body);
    event["requestContext"]["stage"] = "test".into();
    let answer = api.invoke(event).await.unwrap();
    assert_eq!(answer["statusCode"], 200, "{answer}");
    for client in [&mut ada, &mut bob] {
        let frame = client.next_skipping_notices().await;
        assert_eq!(frame["data"]["message"], "via the mapped domain", "{frame}");
    }
    assert!(
        api.take_posts().is_empty(),
        "nothing went anywhere but the API's endpoint"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_management_api_works_with_the_real_sdk_client() {
    let (dev, store) = dev_over_moto(&unique("mgmt"), "test");
    let client = management_client(&dev).await;
    let mut ada = Client::join(&dev.ws_url("username=ada")).await;
    let mut bob = Client::join(&dev.ws_url("username=bob")).await;
    let ada_id = id_of(&store, "ada").await;
    assert_eq!(ada_id.len(), 16, "ids look like API Gateway's: {ada_id}");

    let posted = json!({"type": "ops", "data": {"text": "from the operator"}});
    client
        .post_to_connection()
        .connection_id(&ada_id)
        .data(Blob::new(posted.to_string()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        ada.next_skipping_notices().await,
        posted,
        "the posted bytes arrive as they were sent"
    );

    let info = client
        .get_connection()
        .connection_id(&ada_id)
        .send()
        .await
        .unwrap();
    assert!(info.connected_at().is_some() && info.last_active_at().is_some());
    assert_eq!(
        info.identity().and_then(|i| i.source_ip()),
        Some("127.0.0.1")
    );

    let too_big = client
        .post_to_connection()
        .connection_id(&ada_id)
        .data(Blob::new(vec![b'x'; 129 * 1024]))
        .send()
        .await;
    assert!(too_big
        .unwrap_err()
        .into_service_error()
        .is_payload_too_large_exception());

    client
        .delete_connection()
        .connection_id(&ada_id)
        .send()
        .await
        .unwrap();
    assert!(matches!(
        ada.closed(Duration::from_secs(5)).await,
        Closed::Frame(1000, _)
    ));
    assert_eq!(
        bob.next_of_type("leave").await["data"]["username"],
        "ada",
        "$disconnect fired"
    );
    assert!(
        store.get(&ada_id).await.unwrap().is_none(),
        "$disconnect removed the row"
    );

    let post = client.post_to_connection().connection_id(&ada_id);
    let get = client.get_connection().connection_id(&ada_id);
    let delete = client.delete_connection().connection_id("bm9zdWNoaWQ=");
    for (call, gone) in [
        ("POST", is_gone(post.data(Blob::new("x")).send().await)),
        ("GET", is_gone(get.send().await)),
        ("DELETE of an unknown id", is_gone(delete.send().await)),
    ] {
        assert!(
            gone,
            "{call}: a closed or unknown id answers 410 GoneException"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_closes_every_connection_and_each_gets_its_disconnect() {
    let (mut dev, store) = dev_over_moto(&unique("stop"), "dev");
    let mut clients = Vec::new();
    for name in ["ada", "bob", "cy"] {
        clients.push(Client::join(&dev.ws_url(&format!("username={name}"))).await);
    }
    assert_eq!(list_all(&store, &Filter::All).await.unwrap().len(), 3);
    let status = dev.interrupt().await;
    assert!(status.success(), "{status:?}");
    for client in &mut clients {
        assert!(matches!(
            client.closed(Duration::from_secs(5)).await,
            Closed::Frame(1001, _)
        ));
    }
    assert!(
        list_all(&store, &Filter::All).await.unwrap().is_empty(),
        "every $disconnect ran before exit"
    );
}

#[tokio::test]
async fn a_message_over_128_kb_in_small_frames_closes_with_1009() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::Message;

    let dev = Dev::start(&[]);
    let mut ada = Client::join(&dev.ws_url("username=ada")).await;
    // Each frame is under the 32 KB frame limit; together they pass the 128 KB message limit.
    let chunk = vec![b'x'; 30 * 1024];
    for i in 0..5 {
        let opcode = if i == 0 {
            OpCode::Data(Data::Text)
        } else {
            OpCode::Data(Data::Continue)
        };
        let frame = Frame::message(chunk.clone(), opcode, i == 4);
        if ada.socket.send(Message::Frame(frame)).await.is_err() {
            break;
        }
    }
    assert_eq!(
        ada.closed(Duration::from_secs(10)).await,
        Closed::Frame(1009, "Message too big".into())
    );

    let mut bob = Client::join(&dev.ws_url("username=bob")).await;
    let one_big_frame = format!(r#"{{"message":"{}"}}"#, "y".repeat(40 * 1024));
    bob.send_text(&one_big_frame).await;
    assert_eq!(
        bob.closed(Duration::from_secs(10)).await,
        Closed::Frame(1009, "Message too big".into()),
        "a 40 KB frame"
    );
}

/// Arrivals racing each other's `$connect` must not prune each other's fresh rows.
#[tokio::test]
async fn a_crowd_connecting_at_once_all_get_the_message() {
    let dev = Dev::start(&[]);
    let url = dev.ws_url("");
    let crowd: Vec<Client> = futures_util::future::join_all((0..150).map(|i| {
        let url = format!("{url}?username=c{i}&room=crowd");
        async move { Client::connect(&url).await }
    }))
    .await;
    let mut sender = Client::join(&dev.ws_url("username=sender&room=crowd")).await;
    sender
        .send_json(json!({"action": "sendMessage", "message": "everyone?"}))
        .await;
    for mut client in crowd {
        assert_eq!(
            client.next_of_type("message").await["data"]["message"],
            "everyone?"
        );
    }
}
