//! Observability: the functions' structured lines and metrics, and the
//! health section of `wschat status`, on `wschat dev` and on AWS.

use crate::harness::{eventually, Dev};
use serde_json::{json, Value};
use std::time::Duration;

/// After a scripted conversation, `status --local` counts exactly what happened,
/// and the message function's log has the conversation's EMF lines without its text.
#[tokio::test]
async fn status_local_counts_a_scripted_conversation_exactly() {
    let dev = Dev::start(&[]);
    let [mut ada, mut bob, mut cy, mut eve] = dev
        .join_all([
            "username=ada",
            "username=bob",
            "username=cy",
            "username=eve&room=elsewhere",
        ])
        .await;
    // Refused at $connect for a bad name: a client error, not an auth refusal.
    let refused = tokio_tungstenite::connect_async(dev.ws_url("username=%3Cscript%3E")).await;
    assert!(refused.is_err());

    // Two room messages to three members, a direct message (its two parties),
    // and a malformed frame.
    for text in ["one", "two"] {
        ada.send_json(json!({"action": "sendMessage", "message": text}))
            .await;
        for client in [&mut ada, &mut bob, &mut cy] {
            assert_eq!(
                client.next_of_type("message").await["data"]["message"],
                text
            );
        }
    }
    bob.send_json(json!({"action": "sendMessage", "message": "psst", "to": "cy"}))
        .await;
    cy.next_of_type("message").await;
    bob.next_of_type("message").await;
    eve.send_text("not json").await;
    eve.next_of_type("error").await;
    drop(bob);

    let health = eventually(
        Duration::from_secs(10),
        "bob's $disconnect counted",
        async || {
            let status = dev.local_json(&["status"]).await;
            let health = status["health"].clone();
            (health["counts"]["Disconnects"] == 1.0).then_some(health)
        },
    )
    .await;
    let counts = &health["counts"];
    assert_eq!(counts["Connects"], 4.0, "{health}");
    assert_eq!(counts["Messages"], 3.0, "{health}");
    assert_eq!(counts["Deliveries"], 8.0, "{health}");
    assert_eq!(counts["ClientErrors"], 2.0, "{health}");
    for absent in ["Errors", "AuthRefusals", "FailedDeliveries", "Pruned"] {
        assert!(counts.get(absent).is_none(), "{absent}: {health}");
    }
    assert_eq!(health["connections"], 3, "{health}");
    assert_eq!(health["since_seconds"], 900);
    assert!(
        health["fanout_ms"]["p99"].as_f64().unwrap()
            >= health["fanout_ms"]["p50"].as_f64().unwrap()
    );

    let text = dev.local(&["status", "--output", "text"]).await;
    assert!(
        text.stdout.contains("3 (0.2/min); 8 deliveries"),
        "{}",
        text.stdout
    );

    let logs = dev.local_json(&["logs", "message"]).await;
    let lines: Vec<Value> = logs["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| serde_json::from_str(e["message"].as_str()?).ok())
        .filter(|line: &Value| line.get("_aws").is_some())
        .collect();
    let sent: Vec<&Value> = lines.iter().filter(|l| l["Messages"] == 1.0).collect();
    assert_eq!(sent.len(), 3, "{lines:?}");
    assert_eq!(sent[0]["Stack"], format!("wschat-{}", dev.stage));
    assert_eq!(sent[0]["room"], "lobby");
    assert!(
        sent[2].get("room").is_none(),
        "a direct message names no room"
    );
    for line in &lines {
        let raw = line.to_string();
        assert!(!raw.contains("psst") && !raw.contains("\"two\""), "{raw}");
    }
}
