//! Rooms of any size: a room past the shard threshold is delivered by one
//! delivery invocation per shard, each member exactly once; in `wschat dev`,
//! and on a stack in moto, whose delivery function the real bootstrap runs.

use crate::harness::{
    eventually, lambda_zips, run, unzip_bootstrap, wschat_aws, Client, Dev, Environment,
};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use wschat_lambdas::dynamo::DynamoStore;
use wschat_lambdas::shard::shard_of;
use wschat_lambdas::store::{Connection, ConnectionStore};
use wschat_test_support::moto::{unique, Moto};
use wschat_test_support::proxy::{Call, Proxy};
use wschat_test_support::runtime_api::RuntimeApi;

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

/// The on-failure record Lambda sends to the dead-letter queue once it gives
/// up on an asynchronous invoke (its retries exhausted).
fn on_failure_record(function: &str, job: &Value) -> String {
    json!({
        "version": "1.0",
        "timestamp": "2026-12-02T10:00:00.000Z",
        "requestContext": {
            "requestId": "0f1e2d3c-0000-4000-8000-000000000000",
            "functionArn": format!("arn:aws:lambda:us-east-1:123456789012:function:{function}:$LATEST"),
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3
        },
        "requestPayload": job,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": "LimitExceededException", "errorMessage": "Rate exceeded"}
    })
    .to_string()
}

/// The `@connections` posts among the proxy's calls.
fn posts(calls: &[Call]) -> usize {
    calls
        .iter()
        .filter(|c| c.operation.contains("/@connections/"))
        .count()
}

/// A stack in moto, its delivery function run by the real bootstrap behind
/// Lambda's Invoke (the proxy's): `broadcast` to a room past the threshold
/// is 16 invocations whose reports make the totals, and a part whose worker
/// crashed is posted from the laptop; a job Lambda gave up on is counted by
/// `status` and handed back by `redrive`.
#[tokio::test(flavor = "multi_thread")]
async fn a_large_broadcast_goes_through_the_delivery_function_and_redrive_sends_failures_again() {
    const MEMBERS: usize = 1_200;
    let moto = Moto::shared();
    let proxy = Proxy::start(&moto.endpoint).await;
    let name = unique("hall");
    let aws = |args: &[&str]| {
        let mut cmd = wschat_aws(&proxy.endpoint, &name);
        cmd.args(["--output", "json"]).args(args);
        cmd
    };
    let mut deploy = aws(&["deploy", "--prebuilt"]);
    deploy.arg(lambda_zips());
    let deployed = run(deploy).await;
    assert_eq!(deployed.code, 0, "{}", deployed.stderr);

    let table = format!("{name}-dev-connections");
    let sdk = moto.sdk_config().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &table);
    let ids: Vec<String> = (0..MEMBERS).map(|i| format!("hall{i:06}member=")).collect();
    // Open a minute ago: a 410 now means gone, not still opening.
    let opened = wschat_lambdas::clock::now_ms() - 60_000;
    futures_util::stream::iter(ids.iter().enumerate())
        .for_each_concurrent(16, |(i, id)| {
            let row = Connection::new(id, &format!("m{i}"), "hall", opened);
            let store = &store;
            async move { store.put(&row).await.unwrap() }
        })
        .await;
    let gone = [&ids[5], &ids[500], &ids[1100]].map(String::as_str);
    proxy.set_gone(&gone);

    let function = format!("{name}-dev-deliver");
    let deliver = Arc::new(RuntimeApi::start().await);
    let binary =
        tokio::task::block_in_place(|| unzip_bootstrap(&lambda_zips().join("deliver.zip")));
    let _environments: Vec<Environment> = (0..4)
        .map(|_| Environment::start(&binary, &deliver, &function, &proxy.endpoint, &table, &[]))
        .collect();
    proxy.run_function(&function, deliver.clone());

    proxy.take();
    let sent = run(aws(&[
        "broadcast",
        "--room",
        "hall",
        "the hall closes at ten",
    ]))
    .await;
    assert_eq!(sent.code, 0, "{}", sent.stderr);
    let report = sent.json();
    let totals = [
        "recipients",
        "delivered",
        "pruned",
        "failed",
        "unknown",
        "invocations",
    ]
    .map(|k| report[k].as_u64().unwrap());
    assert_eq!(totals, [1_200, 1_197, 3, 0, 0, 16], "{report}");
    let calls = proxy.take();
    assert_eq!(
        posts(&calls),
        MEMBERS,
        "each member once, posted by the workers"
    );
    let invokes = calls
        .iter()
        .filter(|c| c.operation.ends_with("/invocations"));
    assert_eq!(invokes.count(), 16, "one invoke per shard");
    for id in gone {
        assert!(store.get(id).await.unwrap().is_none(), "{id} pruned");
    }

    // A worker's environment dies under its invoke: the laptop posts that
    // part itself, and every member still gets the message once.
    proxy.crash_next_invokes(1);
    let again = run(aws(&["broadcast", "--room", "hall", "last call"])).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    let report = again.json();
    let totals = ["recipients", "delivered", "pruned", "failed", "unknown"]
        .map(|k| report[k].as_u64().unwrap());
    assert_eq!(totals, [1_197, 1_197, 0, 0, 0], "{report}");
    assert!(
        again.stderr.contains("Runtime.ExitError")
            && again.stderr.contains("delivering it from here"),
        "the failed part is named, and posted from here: {}",
        again.stderr
    );
    assert_eq!(
        posts(&proxy.take()),
        MEMBERS - gone.len(),
        "each member once: fifteen shards by the workers, one from here"
    );

    // Shard 3's job, as Lambda's on-failure destination records it.
    let shard = 3;
    let job = json!({
        "delivery": {"kind": "room_shard", "room": "hall", "shard": shard},
        "frame": r#"{"type":"message","data":{"id":"01JREDRIVE","room":"hall","username":"ops","message":"again","ts":1}}"#,
        "endpoint": format!("{}/dev", proxy.endpoint),
        "rate": 500
    });
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue = sqs
        .get_queue_url()
        .queue_name(format!("{name}-dev-deliver-failed"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    // What Lambda does once it gives up on the job.
    let give_up = async || {
        let record = on_failure_record(&function, &job);
        let sent = sqs.send_message().queue_url(&queue).message_body(record);
        sent.send().await.unwrap();
    };
    give_up().await;
    let status = run(aws(&["status"])).await;
    assert_eq!(status.json()["dead_letters"], 1, "{}", status.stderr);
    let dry = run(aws(&["redrive", "--dry-run"])).await.json();
    assert_eq!(
        (dry["waiting"].as_u64(), dry["redriven"].as_u64()),
        (Some(1), Some(0))
    );

    let in_shard = ids
        .iter()
        .filter(|id| !gone.contains(&id.as_str()) && shard_of(id) == shard)
        .count();
    proxy.take();
    let redriven = run(aws(&["redrive"])).await;
    assert_eq!(redriven.code, 0, "{}", redriven.stderr);
    assert_eq!(redriven.json()["redriven"], 1);
    let mut seen = 0;
    eventually(
        Duration::from_secs(30),
        "the redriven shard delivered",
        async || {
            seen += posts(&proxy.take());
            (seen >= in_shard).then_some(())
        },
    )
    .await;
    assert_eq!(seen, in_shard, "shard {shard}'s members, once each");
    let after = run(aws(&["status"])).await.json();
    assert_eq!(after["dead_letters"], 0);

    // What still waits goes with the queue, and teardown says so first.
    give_up().await;
    let plan = run(aws(&["teardown", "--dry-run"])).await.json();
    assert_eq!(plan["dead_letters"], 1, "{plan}");
    let down = run(aws(&["teardown", "--yes"])).await;
    assert_eq!(down.code, 0, "{}", down.stderr);
    assert_eq!(down.json()["dead_letters"], 1);
    assert!(
        down.stderr.contains("holds 1 failed delivery"),
        "{}",
        down.stderr
    );
}
