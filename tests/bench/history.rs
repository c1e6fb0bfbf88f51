//! What keeping history adds to a message: two `wschat dev` over moto's
//! DynamoDB (both tables there, as deploy makes them), one with history (the
//! default) and one with `--history-ttl 0`, measured in alternating rounds.
//! Latency is from a sender's frame to its arrival at another member of the
//! room; each message waits for the last to arrive. Writes
//! `target/bench/history.json`.

use futures_util::{SinkExt, StreamExt};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use wschat_test_support::bench as report;
use wschat_test_support::moto::{unique, Moto};

const ROUNDS: usize = 6;
const MESSAGES_PER_ROUND: usize = 100;

fn start_dev(endpoint: &str, extra: &[&str]) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let name = unique("benchhist");
    let mut dev = Command::new(env!("CARGO_BIN_EXE_wschat"))
        .args(["dev", "--port", &port.to_string(), "--name", &name])
        .args(["--dynamodb-endpoint", endpoint, "--max-message-rate", "0"])
        .args(extra)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(dev.stdout.take().unwrap()).lines();
    while !lines.next().unwrap().unwrap().contains("WebSocket") {}
    std::thread::spawn(move || lines.for_each(drop));
    (dev, format!("ws://127.0.0.1:{port}/dev"))
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A sender and a reader in one room, joined (each answered a `who`).
async fn pair(url: &str) -> (Socket, Socket) {
    let mut joined = Vec::new();
    for name in ["sender", "reader"] {
        let (mut socket, _) = tokio_tungstenite::connect_async(format!("{url}?username={name}"))
            .await
            .unwrap();
        socket
            .send(Message::text(r#"{"action":"who"}"#))
            .await
            .unwrap();
        while let Some(Ok(frame)) = socket.next().await {
            if frame.to_text().unwrap_or_default().contains("\"presence\"") {
                break;
            }
        }
        joined.push(socket);
    }
    let reader = joined.pop().unwrap();
    (joined.pop().unwrap(), reader)
}

/// One round: each message's time from send to the reader.
async fn round(sender: &mut Socket, reader: &mut Socket, round: usize) -> Vec<Duration> {
    let mut latencies = Vec::with_capacity(MESSAGES_PER_ROUND);
    for i in 0..MESSAGES_PER_ROUND {
        let tag = format!("r{round}-m{i}");
        let frame = serde_json::json!({"action": "sendMessage", "message": tag}).to_string();
        let sent = Instant::now();
        sender.send(Message::text(frame)).await.unwrap();
        loop {
            let got = reader.next().await.unwrap().unwrap();
            if got
                .to_text()
                .unwrap_or_default()
                .contains(&format!("\"{tag}\""))
            {
                break;
            }
        }
        latencies.push(sent.elapsed());
        // The sender's echo, so its socket never backs up.
        while let Some(Ok(echo)) = sender.next().await {
            if echo
                .to_text()
                .unwrap_or_default()
                .contains(&format!("\"{tag}\""))
            {
                break;
            }
        }
    }
    latencies
}

fn summary(mut all: Vec<Duration>) -> serde_json::Value {
    all.sort();
    serde_json::json!({
        "messages": all.len(),
        "p50_ms": report::ms(report::percentile(&all, 50.0)),
        "p99_ms": report::ms(report::percentile(&all, 99.0)),
    })
}

fn main() {
    if !report::benchmarking() {
        return;
    }
    let moto = Moto::shared();
    let (mut kept, kept_url) = start_dev(&moto.endpoint, &[]);
    let (mut off, off_url) = start_dev(&moto.endpoint, &["--history-ttl", "0"]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let results = runtime.block_on(async {
        let (mut kept_sender, mut kept_reader) = pair(&kept_url).await;
        let (mut off_sender, mut off_reader) = pair(&off_url).await;
        // A warm-up round each, not counted.
        round(&mut kept_sender, &mut kept_reader, usize::MAX).await;
        round(&mut off_sender, &mut off_reader, usize::MAX - 1).await;
        let (mut with, mut without) = (Vec::new(), Vec::new());
        for r in 0..ROUNDS {
            with.extend(round(&mut kept_sender, &mut kept_reader, 2 * r).await);
            without.extend(round(&mut off_sender, &mut off_reader, 2 * r + 1).await);
        }
        let (with, without) = (summary(with), summary(without));
        let added = |p: &str| with[p].as_f64().unwrap() - without[p].as_f64().unwrap();
        serde_json::json!({
            "store": "moto's DynamoDB (both tables), through wschat dev",
            "rounds": ROUNDS, "messages_per_round": MESSAGES_PER_ROUND,
            "history_kept": with,
            "history_off": without,
            "added_ms": { "p50": added("p50_ms"), "p99": added("p99_ms") },
            "goal": "added p50 under 5 ms",
        })
    });
    for dev in [&mut kept, &mut off] {
        let _ = Command::new("kill")
            .args(["-INT", &dev.id().to_string()])
            .status();
        let _ = dev.wait();
    }
    println!("{}", serde_json::to_string_pretty(&results).unwrap());
    report::write("history", &results);
}
