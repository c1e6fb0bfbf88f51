//! History, resume, moderation and typing notices through `wschat dev`, in
//! memory and over moto's DynamoDB, with real WebSocket clients and the
//! real `wschat` moderation commands (`--local`).

use crate::harness::{eventually, run, wschat, Client, Closed, Dev};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use wschat_test_support::moto::{unique, Moto};

fn texts(frame: &Value) -> Vec<String> {
    frame["data"]["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("a history frame: {frame}"))
        .iter()
        .map(|m| m["message"].as_str().unwrap().to_owned())
        .collect()
}

fn ids(frame: &Value) -> Vec<String> {
    frame["data"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Sends `texts` from `client` one by one, each after the last one's echo: the id of the last.
async fn say(client: &mut Client, texts: impl IntoIterator<Item = String>) -> String {
    let mut last = String::new();
    for text in texts {
        client
            .send_json(json!({"action": "sendMessage", "message": text}))
            .await;
        loop {
            let echo = client.next_of_type("message").await;
            if echo["data"]["message"] == text.as_str() {
                last = echo["data"]["id"].as_str().unwrap().to_owned();
                break;
            }
        }
    }
    last
}

/// A dev over moto's DynamoDB: both tables made there, as deploy makes them.
fn dev_over_moto(extra: &[&str]) -> Dev {
    let moto = Moto::shared();
    let name = unique("hist");
    let mut args = vec!["--name", &name, "--dynamodb-endpoint", &moto.endpoint];
    args.extend_from_slice(extra);
    Dev::start_with(&args, |cmd| {
        cmd.env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing");
    })
}

async fn newcomer_gets_the_last_50_and_pages_back_to_the_first_10(dev: Dev) {
    let [mut ada] = dev.join_all(["username=ada"]).await;
    say(&mut ada, (0..60).map(|i| format!("m{i:02}"))).await;

    let mut bob = Client::connect(&dev.ws_url("username=bob")).await;
    let history = bob.next_of_type("history").await;
    assert_eq!(history["data"]["reason"], "join");
    assert_eq!(history["data"]["room"], "lobby");
    let wanted: Vec<String> = (10..60).map(|i| format!("m{i:02}")).collect();
    assert_eq!(texts(&history), wanted, "the last 50, oldest first");
    assert_eq!(history["data"]["more"], true);

    let oldest = &ids(&history)[0];
    bob.send_json(json!({"action": "history", "before": oldest, "limit": 20}))
        .await;
    let page = bob.next_of_type("history").await;
    assert_eq!(page["data"]["reason"], "page");
    let first: Vec<String> = (0..10).map(|i| format!("m{i:02}")).collect();
    assert_eq!(texts(&page), first);
    assert_eq!(page["data"]["more"], false);

    // Claimed names: direct-message history is neither kept nor served.
    bob.send_json(json!({"action": "history", "with": "ada"}))
        .await;
    let refused = bob.next_of_type("error").await;
    assert_eq!(refused["data"]["code"], "dm_history_unavailable");
}

#[tokio::test]
async fn a_newcomer_gets_the_last_50_messages_and_pages_back_to_the_first_10() {
    let dev = Dev::start(&["--max-message-rate", "0"]);
    newcomer_gets_the_last_50_and_pages_back_to_the_first_10(dev).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn over_dynamodb_a_newcomer_gets_the_last_50_and_pages_back() {
    let dev = dev_over_moto(&["--max-message-rate", "0"]);
    newcomer_gets_the_last_50_and_pages_back_to_the_first_10(dev).await;
}

async fn a_dropped_client_resumes_with_exactly_what_it_missed(dev: Dev) {
    let [mut ada, mut bob] = dev.join_all(["username=ada", "username=bob"]).await;
    say(&mut ada, ["before".to_owned()]).await;
    let seen = bob.next_of_type("message").await;
    let since = seen["data"]["id"].as_str().unwrap().to_owned();
    drop(bob);
    let missed: Vec<String> = (0..10).map(|i| format!("missed {i}")).collect();
    say(&mut ada, missed.clone()).await;

    let mut bob = Client::connect(&dev.ws_url(&format!("username=bob&since={since}"))).await;
    let caught_up = bob.next_of_type("history").await;
    assert_eq!(caught_up["data"]["reason"], "resume");
    assert_eq!(texts(&caught_up), missed, "exactly those 10, in order");
    assert_eq!(caught_up["data"]["more"], false);

    // Then live traffic, and nothing of the 10 again.
    say(&mut ada, ["live".to_owned()]).await;
    assert_eq!(bob.next_of_type("message").await["data"]["message"], "live");
    for frame in bob.sync().await {
        let kind = frame["type"].as_str().unwrap_or_default();
        assert!(!["message", "history"].contains(&kind), "again: {frame}");
    }
}

#[tokio::test]
async fn a_client_dropped_for_10_messages_resumes_with_exactly_those_10() {
    a_dropped_client_resumes_with_exactly_what_it_missed(Dev::start(&[])).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn over_dynamodb_a_dropped_client_resumes_with_exactly_what_it_missed() {
    a_dropped_client_resumes_with_exactly_what_it_missed(dev_over_moto(&[])).await;
}

async fn token(dev: &Dev, user: &str) -> String {
    let mut cmd = wschat();
    cmd.args(["token", "--user", user, "--local", &dev.base()]);
    let out = run(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.stdout.trim().to_owned()
}

#[tokio::test]
async fn direct_message_history_is_served_to_its_two_parties_where_names_are_verified() {
    let dev = Dev::start(&["--auth", "token"]);
    let (ada, bob, eve) = (
        token(&dev, "ada").await,
        token(&dev, "bob").await,
        token(&dev, "eve").await,
    );
    let [mut ada, mut bob, mut eve] = dev
        .join_all([
            &format!("token={ada}") as &str,
            &format!("token={bob}"),
            &format!("token={eve}"),
        ])
        .await;
    ada.send_json(json!({"action": "sendMessage", "to": "bob", "message": "psst"}))
        .await;
    assert_eq!(bob.next_of_type("message").await["data"]["message"], "psst");
    for (client, other) in [(&mut ada, "bob"), (&mut bob, "ada")] {
        client
            .send_json(json!({"action": "history", "with": other}))
            .await;
        let page = client.next_of_type("history").await;
        assert_eq!(texts(&page), ["psst"]);
        assert_eq!(page["data"]["with"], other);
    }
    // A third party asking for "ada" gets its own (empty) conversation with her.
    eve.send_json(json!({"action": "history", "with": "ada"}))
        .await;
    assert!(texts(&eve.next_of_type("history").await).is_empty());
}

async fn handshake(url: &str) -> u16 {
    let request = url.into_client_request().unwrap();
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("handshake with {url}: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_banned_user_is_closed_and_refused_until_the_ban_ends_and_a_muted_one_cannot_send() {
    let dev = Dev::start(&[]);
    let [mut troll, mut bob] = dev.join_all(["username=troll", "username=bob"]).await;
    let banned = dev
        .local_json(&["ban", "troll", "--for", "3s", "--reason", "spam"])
        .await;
    assert_eq!(banned["connections"], 1, "{banned}");
    assert_eq!(banned["names_verified"], false);
    assert_ne!(troll.closed(Duration::from_secs(10)).await, Closed::NoFrame);
    let url = dev.ws_url("username=troll");
    assert_eq!(handshake(&url).await, 403, "refused while banned");
    let listed = dev.local_json(&["bans"]).await;
    assert_eq!(listed["sanctions"][0]["username"], "troll");
    assert_eq!(listed["sanctions"][0]["reason"], "spam");
    eventually(Duration::from_secs(10), "the ban ends", async || {
        (handshake(&url).await == 101).then_some(())
    })
    .await;

    dev.local_json(&["mute", "bob"]).await;
    bob.send_json(json!({"action": "sendMessage", "message": "hello"}))
        .await;
    let refused = bob.next_of_type("error").await;
    assert_eq!(refused["data"]["code"], "muted");
    let lifted = dev.local_json(&["unmute", "bob"]).await;
    assert_eq!(lifted["found"], true);
    say(&mut bob, ["hello again".to_owned()]).await;
}

#[tokio::test]
async fn a_deleted_message_leaves_history_and_the_room_is_told() {
    let dev = Dev::start(&[]);
    let [mut ada, mut bob] = dev.join_all(["username=ada", "username=bob"]).await;
    say(&mut ada, ["keep".to_owned()]).await;
    let doomed = say(&mut ada, ["regret".to_owned()]).await;
    let listed = dev
        .local_json(&["messages", "list", "--room", "lobby"])
        .await;
    let listed: Vec<&str> = listed["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["keep", "regret"]);

    let deleted = dev.local_json(&["messages", "delete", &doomed]).await;
    assert_eq!(deleted["notified"], 2, "{deleted}");
    let told = bob.next_of_type("deleted").await;
    assert_eq!(told["data"]["id"], doomed.as_str());
    let after = dev.local_json(&["messages", "list"]).await;
    assert_eq!(after["messages"].as_array().unwrap().len(), 1);
    let again = dev.local(&["messages", "delete", &doomed]).await;
    assert_eq!(again.code, 1, "{}", again.stdout);
    assert!(
        again.stderr.contains("no stored message"),
        "{}",
        again.stderr
    );

    // Typing: the rest of the room hears it, once a second at most.
    ada.send_json(json!({"action": "typing"})).await;
    ada.send_json(json!({"action": "typing"})).await;
    let typing = bob.next_of_type("typing").await;
    assert_eq!(typing["data"]["username"], "ada");
    let later: Vec<Value> = bob.sync().await;
    assert!(later.iter().all(|f| f["type"] != "typing"), "{later:?}");
}
