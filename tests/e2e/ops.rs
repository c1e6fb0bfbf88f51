//! `wschat connections`, `broadcast` and `logs`: against `wschat dev` with live
//! clients, and against a stack deployed in moto.

use crate::harness::{lambda_zips, run, said, wschat, wschat_aws, Client, Closed, Dev};
use serde_json::Value;
use std::time::Duration;
use wschat_lambdas::dynamo::DynamoStore;
use wschat_lambdas::store::{list_all, Connection, ConnectionStore, Filter};
use wschat_test_support::moto::{unique, Moto};

#[tokio::test]
async fn broadcast_reaches_a_room_one_user_or_everyone() {
    let dev = Dev::start(&[]);
    let [mut ada, mut bob, mut cy] = dev
        .join_all(["username=ada", "username=bob", "username=cy&room=ops"])
        .await;

    let out = dev
        .local(&["broadcast", "--room", "lobby", "maintenance in 5 minutes"])
        .await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        (
            out.json()["delivered"].as_u64(),
            out.json()["failed"].as_u64()
        ),
        (Some(2), Some(0))
    );
    for client in [&mut ada, &mut bob] {
        let got = client.next_of_type("message").await;
        assert_eq!(said(&got), ("ops", "maintenance in 5 minutes"));
    }
    cy.expect_no_message().await;

    let out = dev
        .local(&[
            "broadcast",
            "--to",
            "cy",
            "--from",
            "alice-oncall",
            "just you",
        ])
        .await;
    assert_eq!(out.json()["delivered"], 1);
    assert_eq!(
        cy.next_of_type("message").await["data"]["username"],
        "alice-oncall"
    );
    ada.expect_no_message().await;

    let out = dev.local(&["broadcast", "everyone, hello"]).await;
    assert_eq!(out.json()["recipients"], 3);
    for client in [&mut ada, &mut bob, &mut cy] {
        assert_eq!(
            client.next_of_type("message").await["data"]["message"],
            "everyone, hello"
        );
    }

    let dry = dev.local(&["broadcast", "--dry-run", "not sent"]).await;
    assert_eq!(
        (
            dry.json()["recipients"].as_u64(),
            dry.json()["delivered"].as_u64()
        ),
        (Some(3), Some(0))
    );
    ada.expect_no_message().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dropped_clients_are_ghosts_that_check_marks_and_broadcast_prunes() {
    let moto = Moto::shared();
    let name = unique("ghosts");
    let start = |name: &str| {
        Dev::start_with(
            &["--name", name, "--dynamodb-endpoint", &moto.endpoint],
            |cmd| {
                cmd.env("AWS_ACCESS_KEY_ID", "testing")
                    .env("AWS_SECRET_ACCESS_KEY", "testing");
            },
        )
    };
    let mut first = start(&name);
    let mut dropped = Vec::new();
    // In a room of their own: the live client's join notice would otherwise find them gone and prune them.
    for user in ["d1", "d2", "d3"] {
        dropped.push(Client::join(&first.ws_url(&format!("username={user}&room=night"))).await);
    }
    // The host dies: no close frames, no $disconnect; the rows stay behind as on AWS.
    first.kill_hard();
    drop(dropped);
    // A minute later: a 410 from a younger row may only mean its $connect is still running.
    crate::harness::age_rows(&format!("{name}-dev-connections"), "night", 60_000).await;
    let dev = start(&name);
    let mut live = Client::join(&dev.ws_url("username=live")).await;

    let checked = dev.local(&["connections", "--check"]).await;
    assert_eq!(checked.code, 0, "{}", checked.stderr);
    let report = checked.json();
    assert_eq!(
        (report["count"].as_u64(), report["ghosts"].as_u64()),
        (Some(4), Some(3)),
        "{report}"
    );
    let live_row = report["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["username"] == "live")
        .unwrap()
        .clone();
    assert_eq!(live_row["state"], "alive");
    assert_eq!(live_row["source_ip"], "127.0.0.1");

    let out = dev.local(&["broadcast", "after the outage"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report = out.json();
    assert_eq!(
        (
            report["delivered"].as_u64(),
            report["pruned"].as_u64(),
            report["failed"].as_u64()
        ),
        (Some(1), Some(3), Some(0))
    );
    assert_eq!(
        live.next_of_type("message").await["data"]["message"],
        "after the outage"
    );
    let left = dev.local(&["connections", "--count"]).await.json();
    assert_eq!(left["count"], 1, "the ghosts' rows are gone");
}

#[tokio::test]
async fn prune_removes_ghost_rows_without_sending() {
    let moto = Moto::shared();
    let name = unique("prune");
    let dev = Dev::start_with(
        &["--name", &name, "--dynamodb-endpoint", &moto.endpoint],
        |cmd| {
            cmd.env("AWS_ACCESS_KEY_ID", "testing")
                .env("AWS_SECRET_ACCESS_KEY", "testing");
        },
    );
    let _live = Client::join(&dev.ws_url("username=live")).await;
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&moto.sdk_config().await),
        format!("{name}-dev-connections"),
    );
    store
        .put(&Connection::new("ghostghostghost=", "old", "lobby", 1))
        .await
        .unwrap();
    let out = dev.local(&["connections", "--prune"]).await.json();
    assert_eq!(
        (out["ghosts"].as_u64(), out["pruned"].as_u64()),
        (Some(1), Some(1))
    );
    assert!(store.get("ghostghostghost=").await.unwrap().is_none());
    assert_eq!(list_all(&store, &Filter::All).await.unwrap().len(), 1);
}

#[tokio::test]
async fn kick_closes_the_socket_and_fires_disconnect() {
    let dev = Dev::start(&[]);
    let mut ada = Client::join(&dev.ws_url("username=ada")).await;
    let mut bob = Client::join(&dev.ws_url("username=bob")).await;
    let listed = dev.local(&["connections"]).await.json();
    let ada_id = listed["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["username"] == "ada")
        .unwrap()["connection_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = dev.local(&["connections", "kick", &ada_id]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json()["closed"], true);
    assert!(matches!(
        ada.closed(Duration::from_secs(5)).await,
        Closed::Frame(1000, _)
    ));
    assert_eq!(bob.next_of_type("leave").await["data"]["username"], "ada");
    let again = dev.local(&["connections", "kick", &ada_id]).await;
    assert_eq!(again.code, 1, "an unknown id is an error");
    assert!(again.stderr.contains("no connection"), "{}", again.stderr);
}

#[tokio::test]
async fn bad_broadcasts_say_why_and_send_nothing() {
    let dev = Dev::start(&[]);
    let mut ada = Client::join(&dev.ws_url("username=ada")).await;
    let huge = std::env::temp_dir().join(format!("{}.txt", unique("huge")));
    std::fs::write(&huge, "x".repeat(130 * 1024)).unwrap();
    let huge = huge.display().to_string();
    for (args, code, needle) in [
        (vec!["broadcast", "   "], 2, "empty"),
        (vec!["broadcast", "--file", huge.as_str()], 2, "128 KB"),
        (
            vec!["broadcast", "--room", "nowhere", "hi"],
            1,
            "no one is connected in room 'nowhere'",
        ),
        (
            vec!["broadcast", "--to", "nobody", "hi"],
            1,
            "no connection or user 'nobody'",
        ),
    ] {
        let out = dev.local(&args).await;
        assert_eq!(out.code, code, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
    }
    ada.expect_no_message().await;

    let mut nothing_there = wschat();
    nothing_there.args([
        "broadcast",
        "--local",
        &format!("http://127.0.0.1:{}", crate::harness::free_port()),
        "hi",
    ]);
    let out = run(nothing_there).await;
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("wschat dev"), "{}", out.stderr);

    let moto = Moto::shared();
    let mut no_stack = wschat_aws(&moto.endpoint, &unique("absent"));
    no_stack.args(["broadcast", "hi"]);
    let out = run(no_stack).await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("no stack") && out.stderr.contains("wschat deploy"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn status_local_reports_the_sandbox() {
    let dev = Dev::start(&[]);
    let _ada = Client::join(&dev.ws_url("username=ada")).await;
    let out = dev.local(&["status"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json()["connections"], 1);
    assert_eq!(
        out.json()["websocket_url"],
        format!("ws://127.0.0.1:{}/dev", dev.port)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_and_logs_of_a_stack_deployed_in_moto() {
    let moto = Moto::shared();
    let name = unique("ops");
    let aws = |args: &[&str]| {
        let mut cmd = wschat_aws(&moto.endpoint, &name);
        cmd.args(["--output", "json"]).args(args);
        cmd
    };
    let mut deploy = aws(&["deploy", "--prebuilt"]);
    deploy
        .arg(lambda_zips())
        .arg("--web-client")
        .arg(std::env::temp_dir().join(format!("{name}.html")));
    let deployed = run(deploy).await;
    assert_eq!(deployed.code, 0, "{}", deployed.stderr);

    let sdk = moto.sdk_config().await;
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        format!("{name}-dev-connections"),
    );
    for (i, room) in ["lobby", "lobby", "ops"].iter().enumerate() {
        store
            .put(&Connection::new(
                &format!("conn{i}conn{i}conn="),
                &format!("user{i}"),
                room,
                wschat_lambdas::clock::now_ms(),
            ))
            .await
            .unwrap();
    }
    let all = run(aws(&["connections"])).await;
    assert_eq!(all.code, 0, "{}", all.stderr);
    assert_eq!(all.json()["count"], 3);
    let ops_room = run(aws(&["connections", "--room", "ops"])).await.json();
    assert_eq!(ops_room["connections"].as_array().unwrap().len(), 1);
    assert_eq!(ops_room["connections"][0]["username"], "user2");
    let count = run(aws(&["connections", "--count"])).await.json();
    assert_eq!(
        (
            count["count"].as_u64(),
            count["connections"].as_array().map(Vec::len)
        ),
        (Some(3), Some(0))
    );

    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    let now = wschat_lambdas::clock::now_ms();
    for (function, offset, text) in [
        ("message", 30, "fan-out done conn1"),
        ("connect", 10, "connected conn1"),
        ("disconnect", 50, "disconnected conn2"),
    ] {
        let group = format!("/aws/lambda/{name}-dev-{function}");
        logs.create_log_stream()
            .log_group_name(&group)
            .log_stream_name("s")
            .send()
            .await
            .unwrap();
        let event = aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
            .timestamp(now - 60_000 + offset)
            .message(text)
            .build()
            .unwrap();
        logs.put_log_events()
            .log_group_name(&group)
            .log_stream_name("s")
            .log_events(event)
            .send()
            .await
            .unwrap();
    }
    let merged = run(aws(&["logs", "--since", "5m"])).await;
    assert_eq!(merged.code, 0, "{}", merged.stderr);
    let events: Vec<String> = merged.json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["function"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        events,
        ["connect", "message", "disconnect"],
        "merged in time order"
    );
    let filtered = run(aws(&["logs", "--filter", "conn1"])).await.json();
    assert_eq!(filtered["events"].as_array().unwrap().len(), 2);
    let one = run(aws(&["logs", "disconnect"])).await.json();
    assert_eq!(one["events"][0]["message"], "disconnected conn2");
    let text = run({
        let mut c = wschat_aws(&moto.endpoint, &name);
        c.args(["logs", "message"]);
        c
    })
    .await;
    assert!(
        text.stdout.contains("message    fan-out done conn1"),
        "{}",
        text.stdout
    );

    // Moderation on AWS: the messages table and the connection rows.
    use wschat_lambdas::history::HistoryStore;
    let history = wschat_lambdas::dynamo_history::DynamoHistory::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        format!("{name}-dev-messages"),
    );
    let stored = wschat_lambdas::protocol::ChatMessage {
        id: wschat_lambdas::protocol::new_message_id(now),
        room: "lobby".into(),
        username: "user0".into(),
        message: "kept".into(),
        ts: now,
        to: None,
        ops: false,
    };
    history.append(&stored, now / 1000 + 600).await.unwrap();
    let listed = run(aws(&["messages", "list", "--room", "lobby"])).await;
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert_eq!(listed.json()["messages"][0]["message"], "kept");
    let muted = run(aws(&["mute", "user1", "--for", "10m"])).await.json();
    assert_eq!(muted["connections"], 1, "{muted}");
    assert_eq!(muted["names_verified"], false);
    let row = store.get("conn1conn1conn=").await.unwrap().unwrap();
    assert!(row.muted_until > now, "{row:?}");
    let bans = run(aws(&["bans"])).await.json();
    assert_eq!(bans["sanctions"][0]["kind"], "mute");
    let unmuted = run(aws(&["unmute", "user1"])).await.json();
    assert_eq!(unmuted["found"], true);
    let row = store.get("conn1conn1conn=").await.unwrap().unwrap();
    assert_eq!(row.muted_until, 0);
    let deleted = run(aws(&["messages", "delete", &stored.id])).await;
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);
    assert!(run(aws(&["messages", "list"])).await.json()["messages"].is_null());

    let mut down = wschat_aws(&moto.endpoint, &name);
    down.args(["teardown", "--yes"]);
    assert_eq!(run(down).await.code, 0);
}

#[tokio::test]
async fn logs_local_shows_the_handlers_logs() {
    let dev = Dev::start(&[]);
    let mut ada = Client::join(&dev.ws_url("username=ada")).await;
    ada.send_text("not json").await;
    ada.next_of_type("error").await;
    let out = dev.local(&["logs", "message"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let events = out.json()["events"].as_array().unwrap().clone();
    assert!(events.iter().all(|e| e["function"] == "message"));
    assert!(
        events
            .iter()
            .any(|e| e["message"].as_str().unwrap().contains("bad_json")),
        "{events:?}"
    );
    let connects = dev.local(&["logs", "connect"]).await.json();
    let lines: Vec<&Value> = connects["events"].as_array().unwrap().iter().collect();
    assert!(
        lines.iter().any(|e| e["message"]
            .as_str()
            .unwrap()
            .contains("\"username\":\"ada\"")),
        "{lines:?}"
    );
}
