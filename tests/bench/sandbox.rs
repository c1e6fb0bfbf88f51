//! `wschat dev` under load, and `wschat broadcast --local` to everyone in it:
//! connect rate, fan-out completion for rooms of 1,000 and 10,000, resident
//! memory at 10,000 connections, and the broadcast CLI's time and memory.

use wschat_test_support::bench as report;

use futures_util::{SinkExt, StreamExt};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const TRIALS: usize = 5;

/// The `wschat` measured: this build, or `WSCHAT_BENCH_BIN` (e.g. an older
/// build, to compare side by side in one session).
fn wschat_binary() -> std::path::PathBuf {
    std::env::var_os("WSCHAT_BENCH_BIN").map_or_else(
        || env!("CARGO_BIN_EXE_wschat").into(),
        std::path::PathBuf::from,
    )
}
const CONNECT_CONCURRENCY: usize = 100;

/// Receipt times (ns since `base`) per trial, per client; 0 = not yet.
struct Receipts {
    base: Instant,
    slots: Vec<Vec<AtomicU64>>,
}

impl Receipts {
    fn new(trials: usize, clients: usize) -> Arc<Receipts> {
        let slots = (0..trials)
            .map(|_| (0..clients).map(|_| AtomicU64::new(0)).collect())
            .collect();
        Arc::new(Receipts {
            base: Instant::now(),
            slots,
        })
    }

    fn count(&self, trial: usize) -> usize {
        self.slots[trial]
            .iter()
            .filter(|s| s.load(Ordering::Relaxed) > 0)
            .count()
    }
}

type Sink = futures_util::stream::SplitSink<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    Message,
>;

/// Connects `n` clients to `room`; each records when it sees `tag-{trial}`. Returns the sinks and the elapsed time.
async fn connect_room(
    url: &str,
    room: &str,
    n: usize,
    tag: &'static str,
    receipts: Arc<Receipts>,
) -> (Vec<Sink>, Duration) {
    let started = Instant::now();
    let sinks = futures_util::stream::iter(0..n)
        .map(|i| {
            let url = format!("{url}?username=u{i}&room={room}");
            let receipts = receipts.clone();
            async move {
                let (socket, _) = tokio_tungstenite::connect_async(&url)
                    .await
                    .expect("connect");
                let (sink, mut stream) = socket.split();
                tokio::spawn(async move {
                    while let Some(Ok(Message::Text(text))) = stream.next().await {
                        if let Some(at) = text.find(tag) {
                            let digits: String = text[at + tag.len()..]
                                .chars()
                                .take_while(char::is_ascii_digit)
                                .collect();
                            if let Ok(trial) = digits.parse::<usize>() {
                                let ns = receipts.base.elapsed().as_nanos() as u64;
                                let _ = receipts.slots[trial][i].compare_exchange(
                                    0,
                                    ns,
                                    Ordering::Relaxed,
                                    Ordering::Relaxed,
                                );
                            }
                        }
                    }
                });
                sink
            }
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    (sinks, started.elapsed())
}

async fn wait_for(receipts: &Receipts, trial: usize, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while receipts.count(trial) < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} got trial {trial}",
            receipts.count(trial)
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// One member sends; completion is when the last member has it.
async fn fan_out(sender: &mut Sink, receipts: &Receipts, n: usize) -> serde_json::Value {
    let mut completions = Vec::new();
    let mut latencies = Vec::new();
    for trial in 0..TRIALS {
        let sent = receipts.base.elapsed();
        sender
            .send(Message::text(format!(
                r#"{{"action":"sendMessage","message":"bench-{trial}"}}"#
            )))
            .await
            .unwrap();
        wait_for(receipts, trial, n).await;
        let mut these: Vec<Duration> = receipts.slots[trial]
            .iter()
            .map(|s| Duration::from_nanos(s.load(Ordering::Relaxed)).saturating_sub(sent))
            .collect();
        these.sort();
        completions.push(*these.last().unwrap());
        latencies.extend(these);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    completions.sort();
    latencies.sort();
    serde_json::json!({
        "room_size": n, "trials": TRIALS,
        "completion_ms": { "p50": report::ms(report::percentile(&completions, 50.0)), "max": report::ms(*completions.last().unwrap()) },
        "delivery_latency_ms": { "p50": report::ms(report::percentile(&latencies, 50.0)), "p99": report::ms(report::percentile(&latencies, 99.0)) },
    })
}

fn main() {
    if !report::benchmarking() {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut dev = Command::new(wschat_binary())
        .args(["dev", "--port", &port.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(dev.stdout.take().unwrap()).lines();
    while !lines.next().unwrap().unwrap().contains("WebSocket") {}
    std::thread::spawn(move || lines.for_each(drop));
    let base = format!("http://127.0.0.1:{port}");
    let url = format!("ws://127.0.0.1:{port}/dev");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let results = runtime.block_on(async {
        let big_receipts = Receipts::new(TRIALS + 1, 10_000);
        let (mut big, big_connect) = connect_room(&url, "r10k", 10_000, "bench-", big_receipts.clone()).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (rss_held, _) = report::memory_mb(dev.id()).unwrap();
        let big_fanout = fan_out(&mut big[0], &big_receipts, 10_000).await;
        let (rss_after, hwm) = report::memory_mb(dev.id()).unwrap();

        let small_receipts = Receipts::new(TRIALS, 1_000);
        let (mut small, small_connect) = connect_room(&url, "r1k", 1_000, "bench-", small_receipts.clone()).await;
        let small_fanout = fan_out(&mut small[0], &small_receipts, 1_000).await;

        // The operator's broadcast to the 10,000 (11,000 connected), through @connections, with default settings.
        let receipts = big_receipts.clone();
        let started = Instant::now();
        let mut cli = Command::new(wschat_binary())
            .args(["--quiet", "--output", "json", "broadcast", "--local", &base, "--room", "r10k", &format!("ops bench-{TRIALS}")])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut cli_peak = 0.0f64;
        while cli.try_wait().unwrap().is_none() {
            if let Some((_, hwm)) = report::memory_mb(cli.id()) {
                cli_peak = cli_peak.max(hwm);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let cli_wall = started.elapsed();
        let out = cli.wait_with_output().unwrap();
        let cli_report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        wait_for(&receipts, TRIALS, 10_000).await;
        drop((small, big));
        serde_json::json!({
            "connect": {
                "first_10000": { "seconds": big_connect.as_secs_f64(), "per_second": 10_000.0 / big_connect.as_secs_f64() },
                "next_1000": { "seconds": small_connect.as_secs_f64(), "per_second": 1_000.0 / small_connect.as_secs_f64() },
                "concurrency": CONNECT_CONCURRENCY,
            },
            "fanout": [small_fanout, big_fanout],
            "server_memory_mb": { "rss_holding_10000": rss_held, "rss_after_10000_fanouts": rss_after, "peak_at_10000": hwm },
            "broadcast_cli": {
                "recipients": cli_report["recipients"], "delivered": cli_report["delivered"], "failed": cli_report["failed"],
                "wall_seconds": cli_wall.as_secs_f64(), "send_seconds": cli_report["elapsed_seconds"],
                "posts_per_second": cli_report["posts_per_second"], "peak_rss_mb": cli_peak,
            },
        })
    });
    let _ = Command::new("kill")
        .args(["-INT", &dev.id().to_string()])
        .status();
    let _ = dev.wait();
    println!("{}", serde_json::to_string_pretty(&results).unwrap());
    report::write("sandbox", &results);
}
