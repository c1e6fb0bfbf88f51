//! Rooms of any size: a room past the shard threshold is delivered by one
//! delivery invocation per shard, each member exactly once.

use crate::harness::{eventually, Client, Dev};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::time::Duration;

/// Connects `n` members to `room`, `at_once` at a time.
async fn crowd(dev: &Dev, room: &str, n: usize, at_once: usize) -> Vec<Client> {
    let mut members = Vec::with_capacity(n);
    for batch in (0..n).collect::<Vec<_>>().chunks(at_once) {
        let joins = batch.iter().map(|i| {
            let url = dev.ws_url(&format!("username=m{i}&room={room}"));
            async move { Client::connect(&url).await }
        });
        members.extend(futures_util::future::join_all(joins).await);
    }
    members
}

/// The `shard delivered` log lines of `wschat dev` so far.
async fn shards_delivered(dev: &Dev) -> Vec<Value> {
    let logs = dev.local_json(&["logs"]).await;
    logs["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e["message"].as_str()?).ok())
        .filter(|line| line["fields"]["message"] == "shard delivered")
        .collect()
}

/// Reads until `text` arrives: the frames with message `counted` before it.
async fn copies_before(client: &mut Client, counted: &str, text: &str) -> usize {
    let mut copies = 0;
    loop {
        let frame = client.next_within(Duration::from_secs(60)).await;
        let frame = frame.unwrap_or_else(|| panic!("no '{text}' within 60 s"));
        match frame["data"]["message"].as_str() {
            Some(m) if m == text => return copies,
            Some(m) if m == counted => copies += 1,
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_5000_member_room_gets_one_message_through_its_shards_once_each() {
    const MEMBERS: usize = 5_000;
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let dev = Dev::start(&[]);
    let mut members = crowd(&dev, "big", MEMBERS, 100).await;
    eventually(
        Duration::from_secs(30),
        "every member registered",
        async || {
            let counted = dev
                .local_json(&["connections", "--room", "big", "--count"])
                .await;
            (counted["count"] == MEMBERS).then_some(())
        },
    )
    .await;

    let message = json!({"action": "sendMessage", "message": "to the whole room"});
    members[0].send_json(message).await;
    // Every shard's invocation has finished before the marker goes out, so
    // any second copy of the message would already be queued ahead of it.
    let shards = wschat_lambdas::shard::ROOM_SHARDS as usize;
    let delivered = eventually(
        Duration::from_secs(60),
        "every shard delivered",
        async || {
            let lines = shards_delivered(&dev).await;
            (lines.len() >= shards).then_some(lines)
        },
    )
    .await;
    assert_eq!(delivered.len(), shards, "one delivery invocation per shard");
    let total: u64 = delivered
        .iter()
        .map(|l| l["fields"]["delivered"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(
        total, MEMBERS as u64,
        "the shards' deliveries add up: {delivered:?}"
    );

    members[0]
        .send_json(json!({"action": "sendMessage", "message": "marker"}))
        .await;
    let counts = futures_util::stream::iter(members.iter_mut())
        .map(|m| copies_before(m, "to the whole room", "marker"))
        .buffer_unordered(200)
        .collect::<Vec<usize>>()
        .await;
    assert_eq!(counts.len(), MEMBERS);
    assert!(counts.iter().all(|c| *c == 1), "each member exactly once");
}
