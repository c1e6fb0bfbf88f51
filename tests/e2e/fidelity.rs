//! `wschat dev` against API Gateway's documented behaviour, one test per row
//! of docs/fidelity.md: what code meets on AWS, it meets here first.

use crate::harness::{eventually, is_gone, management_client, Client, Closed, Dev};
use aws_sdk_apigatewaymanagement::primitives::Blob;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread")]
async fn until_connect_returns_posts_are_gone_and_the_new_row_is_kept() {
    let dev = Dev::hooked(&[]);
    let mut ada = Client::join(&dev.ws_url("username=ada")).await;
    // Bob's $connect writes his row, then runs 3 s longer.
    let slow = dev.ws_url("username=bob&hook=sleep&ms=3000");
    let opening = tokio::spawn(async move { Client::connect(&slow).await });
    let bob_id = registered(&dev, "bob").await;
    let client = management_client(&dev).await;
    let post = client
        .post_to_connection()
        .connection_id(&bob_id)
        .data(Blob::new("welcome"))
        .send()
        .await;
    assert!(is_gone(post), "AWS answers 410 until $connect returns");
    let report = dev.local_json(&["broadcast", "while bob connects"]).await;
    assert_eq!(
        (
            &report["delivered"],
            &report["connecting"],
            &report["pruned"]
        ),
        (&json!(1), &json!(1), &json!(0)),
        "{report}"
    );
    assert!(!opening.is_finished(), "bob's handshake is still pending");
    let mut bob = opening.await.unwrap();
    bob.send_json(json!({"action": "sendMessage", "message": "made it"}))
        .await;
    assert_eq!(
        bob.next_of_type("message").await["data"]["message"],
        "made it",
        "bob's row outlived the 410s"
    );
    assert_eq!(
        ada.next_of_type("message").await["data"]["message"],
        "while bob connects"
    );
}

#[tokio::test]
async fn pings_do_not_keep_a_connection_alive_data_frames_do() {
    let dev = Dev::start(&["--idle-timeout", "2s"]);
    let mut pinger = Client::join(&dev.ws_url("username=pinger&room=p")).await;
    let mut talker = Client::join(&dev.ws_url("username=talker&room=t")).await;
    let mut listener = Client::join(&dev.ws_url("username=listener&room=t")).await;
    let started = Instant::now();
    let mut pinger_closed = None;
    while started.elapsed() < Duration::from_millis(3500) {
        talker
            .send_json(json!({"action": "sendMessage", "message": "still here"}))
            .await;
        if pinger_closed.is_none() {
            pinger.socket.send(Message::Ping("hi".into())).await.ok();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_millis(400);
        while pinger_closed.is_none() {
            match tokio::time::timeout_at(deadline, pinger.socket.next()).await {
                Err(_) => break,
                Ok(Some(Ok(Message::Close(Some(frame))))) => {
                    pinger_closed = Some((u16::from(frame.code), frame.reason.to_string()))
                }
                Ok(Some(Ok(_))) => continue,
                Ok(other) => panic!("the pinger expected a close frame, got {other:?}"),
            }
        }
        tokio::time::sleep_until(deadline).await;
    }
    assert_eq!(
        pinger_closed,
        Some((1001, "Going away".to_owned())),
        "pings do not reset API Gateway's idle timer"
    );
    // The talker sent data, the listener only received it: both are open.
    for client in [&mut talker, &mut listener] {
        client.send_json(json!({"action": "who"})).await;
        assert_eq!(client.next_of_type("presence").await["type"], "presence");
    }
}

#[tokio::test]
async fn the_connection_lifetime_ends_even_a_busy_connection() {
    let dev = Dev::start(&["--max-lifetime", "2s"]);
    let mut ada = Client::join(&dev.ws_url("username=ada")).await;
    let started = Instant::now();
    let closed = eventually(
        Duration::from_secs(10),
        "the lifetime's close",
        async || {
            ada.send_json(json!({"action": "who"})).await;
            match tokio::time::timeout(Duration::from_millis(300), ada.socket.next()).await {
                Ok(Some(Ok(Message::Close(Some(frame))))) => {
                    Some((u16::from(frame.code), frame.reason.to_string()))
                }
                Ok(Some(Ok(_))) | Err(_) => None,
                Ok(other) => panic!("expected a close frame, got {other:?}"),
            }
        },
    )
    .await;
    assert_eq!(closed, (1001, "Going away".to_owned()));
    assert!(started.elapsed() >= Duration::from_millis(1500));
}

#[tokio::test]
async fn binary_frames_close_with_1003_as_api_gateway_does() {
    let dev = Dev::start(&[]);
    let [mut ada, mut bob] = dev.join_all(["username=ada", "username=bob"]).await;
    ada.socket
        .send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    assert!(matches!(
        ada.closed(Duration::from_secs(5)).await,
        Closed::Frame(1003, _)
    ));
    assert_eq!(bob.next_of_type("leave").await["data"]["username"], "ada");
}

#[tokio::test]
async fn invalid_utf8_closes_with_1007_and_protocol_errors_with_1002() {
    let dev = Dev::start(&[]);
    let mut ada = Client::join(&dev.ws_url("username=ada")).await;
    let not_utf8 = Frame::message(vec![0xc3, 0x28], OpCode::Data(Data::Text), true);
    ada.socket.send(Message::Frame(not_utf8)).await.unwrap();
    assert!(matches!(
        ada.closed(Duration::from_secs(5)).await,
        Closed::Frame(1007, _)
    ));
    let mut bob = Client::join(&dev.ws_url("username=bob")).await;
    // A continuation with nothing to continue violates RFC 6455.
    let stray = Frame::message(b"x".to_vec(), OpCode::Data(Data::Continue), true);
    bob.socket.send(Message::Frame(stray)).await.unwrap();
    assert!(matches!(
        bob.closed(Duration::from_secs(5)).await,
        Closed::Frame(1002, _)
    ));
}

#[tokio::test]
async fn failed_and_timed_out_handlers_send_api_gateways_error_frames() {
    let dev = Dev::hooked(&["--integration-timeout", "1s"]);
    let mut ada = Client::join(&dev.ws_url("username=ada")).await;
    let ada_id = dev.connection_id("ada").await.unwrap();
    for (hook, message) in [
        (json!({"hook": "panic"}), "Internal server error"),
        (
            json!({"hook": "sleep", "ms": 5000}),
            "Endpoint request timed out",
        ),
    ] {
        let sent = Instant::now();
        ada.send_json(hook).await;
        let frame = ada.next().await;
        assert_eq!(frame["message"], message, "{frame}");
        assert_eq!(frame["connectionId"], ada_id.as_str());
        assert!(frame["requestId"].as_str().is_some_and(|r| !r.is_empty()));
        assert!(sent.elapsed() < Duration::from_secs(4), "cut off at 1 s");
    }
    ada.send_json(json!({"action": "who"})).await;
    assert_eq!(
        ada.next_of_type("presence").await["type"],
        "presence",
        "the connection stays open"
    );
    match tokio_tungstenite::connect_async(dev.ws_url("username=bob&hook=panic")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 500)
        }
        other => panic!("a failing $connect refuses the handshake with 500, got {other:?}"),
    }
}

/// The time until the first frame of `kind`.
async fn time_to(client: &mut Client, kind: &str) -> Duration {
    let started = Instant::now();
    client.next_of_type(kind).await;
    started.elapsed()
}

#[tokio::test]
async fn frames_are_concurrent_invocations_unless_serialised() {
    for (flags, concurrent) in [(&[][..], true), (&["--serial-frames"][..], false)] {
        let dev = Dev::hooked(flags);
        let mut ada = Client::join(&dev.ws_url("username=ada")).await;
        ada.send_json(
            json!({"hook": "sleep", "ms": 2000, "action": "sendMessage", "message": "slow"}),
        )
        .await;
        ada.send_json(json!({"action": "who"})).await;
        let waited = time_to(&mut ada, "presence").await;
        assert_eq!(
            waited < Duration::from_millis(1500),
            concurrent,
            "{flags:?}: who answered after {waited:?}"
        );
    }
}

/// Every key path of an event, with header and query names left out (they are the client's).
fn shape(value: &Value, path: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let path = format!("{path}.{k}");
                let named = ["headers", "multiValueHeaders", "queryStringParameters"];
                if named.iter().any(|n| path.starts_with(&format!(".{n}")))
                    || path.starts_with(".multiValueQueryStringParameters")
                {
                    out.push(path.split('.').take(2).collect::<Vec<_>>().join("."));
                    continue;
                }
                shape(v, &path, out);
            }
        }
        other => out.push(format!("{path}: {}", kind(other))),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Bool(_) => "bool",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        Value::Null => "null",
    }
}

fn shape_of(value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    shape(value, "", &mut out);
    out.sort();
    out.dedup();
    out
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn events_are_shaped_as_aws_sends_them_with_the_clients_header_casing() {
    let log = tempfile_path("events");
    let dev = Dev::start_with(&[], |cmd| {
        cmd.env("WSCHAT_DEV_EVENT_LOG", &log);
    });
    // A handshake written by hand, to choose the header names' casing.
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", dev.port))
        .await
        .unwrap();
    let head = format!(
        "GET /dev?username=ada&room=a&room=b HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         X-Mixed-Case: yes\r\nUser-Agent: fidelity-test\r\n\r\n",
        dev.port
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut answer = [0u8; 12];
    tcp.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"HTTP/1.1 101");
    drop(tcp);
    let mut bob = join_as_browser(&dev.ws_url("username=bob")).await;
    bob.socket.close(None).await.unwrap();
    let mut carol = join_as_browser(&dev.ws_url("username=carol")).await;
    carol
        .socket
        .close(Some(tungstenite::protocol::CloseFrame {
            code: tungstenite::protocol::frame::coding::CloseCode::Normal,
            reason: "bye".into(),
        }))
        .await
        .unwrap();
    // Stopping the sandbox closes what is still open with 1001: wait until it
    // has read every close (on a loaded machine carol's may still be queued).
    let logged = eventually(
        Duration::from_secs(10),
        "three $disconnect events",
        async || {
            let text = std::fs::read_to_string(&log).unwrap();
            (text.matches(r#""routeKey":"$disconnect""#).count() >= 3).then_some(text)
        },
    )
    .await;
    drop(dev);

    let events: Vec<Value> = logged
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of = |route: &str| -> Vec<&Value> {
        events
            .iter()
            .filter(|e| e["requestContext"]["routeKey"] == route)
            .collect()
    };
    let connect = of("$connect")[0];
    assert_eq!(connect["headers"]["X-Mixed-Case"], "yes", "{connect}");
    assert_eq!(connect["headers"]["User-Agent"], "fidelity-test");
    assert_eq!(connect["queryStringParameters"]["room"], "b");
    assert_eq!(
        connect["multiValueQueryStringParameters"]["room"],
        json!(["a", "b"])
    );
    assert_eq!(shape_of(connect), shape_of(&fixture("connect.json")));
    let bob_id = &of("$connect")
        .into_iter()
        .find(|e| e["queryStringParameters"]["username"] == "bob")
        .unwrap()["requestContext"]["connectionId"];
    let bobs_who = of("who")
        .into_iter()
        .find(|e| &e["requestContext"]["connectionId"] == bob_id)
        .unwrap();
    assert_eq!(
        shape_of(bobs_who),
        shape_of(&fixture("message.json")),
        "a message event"
    );
    let disconnects = of("$disconnect");
    for event in &disconnects {
        assert_eq!(shape_of(event), shape_of(&fixture("disconnect.json")));
    }
    let reasons: Vec<(u64, &str)> = disconnects
        .iter()
        .map(|e| {
            let c = &e["requestContext"];
            (
                c["disconnectStatusCode"].as_u64().unwrap(),
                c["disconnectReason"].as_str().unwrap(),
            )
        })
        .collect();
    for expected in [
        (1005, "Client-side close frame status not set"),
        (1000, "Connection Closed Normally"),
    ] {
        assert!(reasons.contains(&expected), "{reasons:?}");
    }
    let time = connect["requestContext"]["requestTime"].as_str().unwrap();
    assert!(
        time.len() == 26 && time.ends_with(" +0000") && time.as_bytes()[2] == b'/',
        "{time}"
    );
    let _ = std::fs::remove_file(&log);
}

/// Joins with a `User-Agent`, as browsers and wscat send one.
async fn join_as_browser(url: &str) -> Client {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("User-Agent", "fidelity-test".parse().unwrap());
    let (socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let mut client = Client { socket };
    client.send_json(json!({"action": "who"})).await;
    client.next_of_type("presence").await;
    client
}

fn tempfile_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "wschat-{name}-{}-{}.jsonl",
        std::process::id(),
        fastrand::u64(..)
    ))
}

/// A WebSocket client whose socket takes almost nothing in and never reads.
/// The connection id of `username` once its `$connect` has stored it.
async fn registered(dev: &Dev, username: &str) -> String {
    let what = format!("{username}'s row");
    eventually(Duration::from_secs(10), &what, async || {
        dev.connection_id(username).await
    })
    .await
}

async fn stalled_client(url: &str) -> impl Sized {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let addr = url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let tcp = socket.connect(addr).await.unwrap();
    let (ws, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
    ws
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_stops_reading_is_disconnected_not_buffered() {
    let dev = Dev::start(&["--max-outbound-buffer", "256KiB"]);
    let mut ada = Client::join(&dev.ws_url("username=ada")).await;
    let _stalled = stalled_client(&dev.ws_url("username=slow")).await;
    let slow_id = registered(&dev, "slow").await;
    let client = management_client(&dev).await;
    let chunk = Blob::new(vec![b'x'; 120 * 1024]);
    let mut posted = 0;
    loop {
        let answer = client
            .post_to_connection()
            .connection_id(&slow_id)
            .data(chunk.clone())
            .send()
            .await;
        if is_gone(answer) {
            break;
        }
        posted += 1;
        assert!(posted < 400, "48 MB posted and the client is still held");
    }
    assert_eq!(
        ada.next_of_type("leave").await["data"]["username"],
        "slow",
        "its $disconnect ran"
    );
    ada.send_json(json!({"action": "sendMessage", "message": "fine"}))
        .await;
    assert_eq!(ada.next_of_type("message").await["data"]["message"], "fine");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_whose_link_died_is_let_go_at_the_idle_timeout() {
    // A queue large enough that only the idle timeout can end it.
    let dev = Dev::start(&["--idle-timeout", "3s", "--max-outbound-buffer", "64MiB"]);
    let mut ada = Client::join(&dev.ws_url("username=ada")).await;
    let files_before = dev.open_files();
    let stalled = stalled_client(&dev.ws_url("username=dead")).await;
    let dead_id = registered(&dev, "dead").await;
    let client = management_client(&dev).await;
    let chunk = Blob::new(vec![b'x'; 120 * 1024]);
    let mut queued = 0;
    for round in 0..100 {
        if round % 3 == 0 {
            // Ada stays active while the queue fills; only the dead link idles.
            ada.send_json(json!({"action": "who"})).await;
        }
        let sent = client
            .post_to_connection()
            .connection_id(&dead_id)
            .data(chunk.clone())
            .send()
            .await;
        if sent.is_err() {
            // On a loaded machine the idle timeout may come before the last post.
            break;
        }
        queued += 1;
    }
    assert!(
        queued >= 10,
        "{queued} posts of 120 KB queued: far past what the socket takes"
    );
    // Ada keeps talking; the dead link can neither take data nor say anything.
    eventually(
        Duration::from_secs(10),
        "the dead link let go",
        async || {
            ada.send_json(json!({"action": "who"})).await;
            let frame = ada.next_within(Duration::from_millis(500)).await?;
            (frame["type"] == "leave" && frame["data"]["username"] == "dead").then_some(())
        },
    )
    .await;
    // Its writer, queue and socket go within the 1 s grace, not when TCP gives up.
    drop(client);
    let what = format!("back to {files_before} descriptors");
    eventually(Duration::from_secs(2), &what, async || {
        (dev.open_files() <= files_before).then_some(())
    })
    .await;
    drop(stalled);
}

#[tokio::test]
async fn silent_sockets_do_not_keep_out_a_client_that_talks() {
    let dev = Dev::start(&[]);
    let mut silent = Vec::new();
    for _ in 0..400 {
        silent.push(
            tokio::net::TcpStream::connect(("127.0.0.1", dev.port))
                .await
                .unwrap(),
        );
    }
    let started = Instant::now();
    let mut ada = Client::join(&dev.ws_url("username=ada")).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    ada.send_json(json!({"action": "sendMessage", "message": "hello"}))
        .await;
    assert_eq!(
        ada.next_of_type("message").await["data"]["message"],
        "hello"
    );
    // The longest-waiting silent sockets were dropped to stay under the cap.
    let mut byte = [0u8; 1];
    let first = tokio::time::timeout(Duration::from_secs(2), silent[0].read(&mut byte)).await;
    assert!(matches!(first, Ok(Ok(0)) | Ok(Err(_))), "{first:?}");
}

#[tokio::test]
async fn at_the_connection_limit_newcomers_get_503_and_the_connected_keep_chatting() {
    let dev = Dev::start(&["--max-connections", "4"]);
    let [mut ada, mut bob, _cy, _dee] = dev
        .join_all([
            "username=ada",
            "username=bob",
            "username=cy",
            "username=dee",
        ])
        .await;
    match tokio_tungstenite::connect_async(dev.ws_url("username=eve")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503)
        }
        other => panic!("expected 503 at the limit, got {other:?}"),
    }
    ada.send_json(json!({"action": "sendMessage", "message": "still fine"}))
        .await;
    assert_eq!(
        bob.next_of_type("message").await["data"]["message"],
        "still fine"
    );
    drop(bob);
    eventually(Duration::from_secs(5), "a freed place taken", async || {
        let joined = tokio_tungstenite::connect_async(dev.ws_url("username=eve")).await;
        joined.ok()
    })
    .await;
}
