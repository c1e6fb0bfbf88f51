//! `wschat dev` against hostile clients (issue 11):
//!
//! 1. a client that never reads, sent 20,000 direct messages of 4 KB and
//!    3,000 posts of 128 KB to its `@connections` URL, while 100 other
//!    clients get a probe message every 50 ms: the sandbox's peak memory,
//!    when the slow client is cut off, the others' delivery latency, and
//!    memory 10 s and 60 s after the burst against the baseline;
//! 2. 40 clients that never read, each posted 128 KB frames until it is cut
//!    off: memory at the peak (every queue full), and after, to see the
//!    allocator give it back;
//! 3. 2,000 sockets held open that say nothing or half a request head: how
//!    long a new client takes to connect and get its first answer;
//! 4. (issue 20) 100, then 1,000 clients that never read, each alone in its
//!    room sending itself 4,000-character messages until it is cut off: the
//!    sandbox's peak memory against one budget for every queue together.
//!
//! `WSCHAT_BENCH_PARTS=self_flood` (a comma-separated list of `flood`,
//! `full_queues`, `silent`, `self_flood`) runs only those parts;
//! `WSCHAT_BENCH_SELF_FLOOD=100` sets part 4's sizes; `WSCHAT_BENCH_BIN`
//! measures another build of `wschat`.

use wschat_test_support::bench as report;

use aws_sdk_apigatewaymanagement::primitives::Blob;
use futures_util::{SinkExt, StreamExt};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;

const OBSERVERS: usize = 100;
const FLOOD_MESSAGES: usize = 20_000;
const POSTS: usize = 3_000;
const POST_BYTES: usize = 128 * 1024 - 1024;
const SILENT_SOCKETS: usize = 2_000;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str) -> Socket {
    tokio_tungstenite::connect_async(url)
        .await
        .expect("connect")
        .0
}

/// Sends `who` and waits for the presence frame: the connection is in.
async fn joined(socket: &mut Socket) {
    socket
        .send(Message::text(r#"{"action":"who"}"#))
        .await
        .unwrap();
    while let Some(Ok(frame)) = socket.next().await {
        if frame.to_text().is_ok_and(|t| t.contains("presence")) {
            return;
        }
    }
    panic!("no presence answer");
}

/// A client whose socket takes almost nothing in, and which never reads.
async fn never_reading(url: &str) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let addr = url.trim_start_matches("ws://").split('/').next().unwrap();
    let tcp = socket.connect(addr.parse().unwrap()).await.unwrap();
    tokio_tungstenite::client_async(url, tcp).await.unwrap().0
}

async fn never_reading_owned(
    url: String,
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    never_reading(&url).await
}

/// The `wschat` under measurement (this build, or `WSCHAT_BENCH_BIN`), its
/// sandbox credentials where the support crate reads them.
fn wschat() -> Command {
    let binary = std::env::var_os("WSCHAT_BENCH_BIN").map_or_else(
        || env!("CARGO_BIN_EXE_wschat").into(),
        std::path::PathBuf::from,
    );
    wschat_test_support::wschat(&binary)
}

fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

/// Samples a process's resident memory every 10 ms until `done` is set;
/// the task answers the highest sample.
fn sample_peak(pid: u32) -> (Arc<AtomicBool>, tokio::task::JoinHandle<f64>) {
    let done = Arc::new(AtomicBool::new(false));
    let stop = done.clone();
    let peak = tokio::spawn(async move {
        let mut peak = 0.0f64;
        while !stop.load(Ordering::Relaxed) {
            peak = peak.max(rss_mb(pid));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        peak
    });
    (done, peak)
}

fn rss_mb(pid: u32) -> f64 {
    report::memory_mb(pid).map_or(0.0, |(rss, _)| rss)
}

struct Sandbox {
    child: std::process::Child,
    port: u16,
}

impl Sandbox {
    fn start() -> Sandbox {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // WSCHAT_BENCH_DEV_ARGS: more flags for `wschat dev`, e.g. `--max-outbound-total 64MiB`.
        let extra = std::env::var("WSCHAT_BENCH_DEV_ARGS").unwrap_or_default();
        let mut child = wschat()
            .args(["dev", "--port", &port.to_string()])
            // The self-flood measures the outbound budget, not the message rate.
            .args(["--max-message-rate", "0"])
            .args(extra.split_whitespace())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        while !lines.next().unwrap().unwrap().contains("WebSocket") {}
        std::thread::spawn(move || lines.for_each(drop));
        Sandbox { child, port }
    }

    fn url(&self, query: &str) -> String {
        format!("ws://127.0.0.1:{}/dev?{query}", self.port)
    }

    fn connection_id(&self, username: &str) -> String {
        let out = wschat()
            .args(["--output", "json", "connections", "--local"])
            .arg(format!("http://127.0.0.1:{}", self.port))
            .output()
            .unwrap();
        let listing: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        listing["connections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["username"] == username)
            .and_then(|r| r["connection_id"].as_str())
            .expect("the user is connected")
            .to_owned()
    }

    async fn management_client(&self) -> aws_sdk_apigatewaymanagement::Client {
        let (key, secret) = wschat_test_support::dev_credentials(self.port);
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_apigatewaymanagement::config::Credentials::new(
                key, secret, None, None, "bench",
            ))
            .load()
            .await;
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(&sdk)
            .endpoint_url(format!("http://127.0.0.1:{}/dev", self.port))
            .build();
        aws_sdk_apigatewaymanagement::Client::from_conf(config)
    }
}

impl Sandbox {
    fn is_alive(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_none()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// Part 1: the slow client under a flood, the others' latency, memory.
async fn flood(sandbox: &Sandbox) -> serde_json::Value {
    let pid = sandbox.child.id();
    // Observers in a room of their own; each notes when each probe arrives.
    let sent_at: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let mut observers = Vec::new();
    for i in 0..OBSERVERS {
        let mut socket = connect(&sandbox.url(&format!("username=o{i}&room=watch"))).await;
        joined(&mut socket).await;
        let (sent_at, latencies) = (sent_at.clone(), latencies.clone());
        observers.push(tokio::spawn(async move {
            while let Some(Ok(frame)) = socket.next().await {
                let Ok(text) = frame.to_text() else { continue };
                let Some(at) = text.find("probe-") else {
                    continue;
                };
                let digits: String = text[at + 6..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                let Ok(k) = digits.parse::<usize>() else {
                    continue;
                };
                let sent = sent_at.lock().unwrap()[k];
                latencies.lock().unwrap().push(sent.elapsed());
            }
        }));
    }
    let mut prober = connect(&sandbox.url("username=prober&room=watch")).await;
    joined(&mut prober).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let baseline = rss_mb(pid);

    let _slow = never_reading(&sandbox.url("username=slow&room=lobby")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let slow_id = sandbox.connection_id("slow");
    let started = Instant::now();
    let (done, peak) = sample_peak(pid);
    // The flood: direct messages to the slow client, as fast as the socket takes them.
    let flooder = {
        let mut socket = connect(&sandbox.url("username=flood&room=lobby")).await;
        joined(&mut socket).await;
        tokio::spawn(async move {
            let (mut sink, mut stream) = socket.split();
            let refused = Arc::new(AtomicUsize::new(0));
            let counted = refused.clone();
            let reader = tokio::spawn(async move {
                while let Some(Ok(frame)) = stream.next().await {
                    if frame
                        .to_text()
                        .is_ok_and(|t| t.contains("unknown_recipient"))
                    {
                        counted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
            let text = "x".repeat(4000);
            for _ in 0..FLOOD_MESSAGES {
                let frame = format!(r#"{{"action":"sendMessage","to":"slow","message":"{text}"}}"#);
                sink.send(Message::text(frame)).await.unwrap();
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            reader.abort();
            refused.load(Ordering::Relaxed)
        })
    };
    // The posts: 128 KB each to the slow client's @connections URL, 16 at a time.
    let poster = {
        let client = sandbox.management_client().await;
        let first_gone: Arc<Mutex<Option<Duration>>> = Arc::default();
        let gone_at = first_gone.clone();
        tokio::spawn(async move {
            let blob = Blob::new(vec![b'y'; POST_BYTES]);
            let answers: Vec<bool> = futures_util::stream::iter(0..POSTS)
                .map(|_| {
                    let (client, blob, slow_id) = (client.clone(), blob.clone(), slow_id.clone());
                    let gone_at = gone_at.clone();
                    async move {
                        let ok = client
                            .post_to_connection()
                            .connection_id(slow_id)
                            .data(blob)
                            .send()
                            .await
                            .is_ok();
                        if !ok {
                            gone_at.lock().unwrap().get_or_insert(started.elapsed());
                        }
                        ok
                    }
                })
                .buffer_unordered(16)
                .collect()
                .await;
            let delivered = answers.iter().filter(|ok| **ok).count();
            (delivered, *first_gone.lock().unwrap())
        })
    };
    // The probes, every 50 ms until the burst is over.
    let mut k = 0;
    while !(flooder.is_finished() && poster.is_finished()) {
        sent_at.lock().unwrap().push(Instant::now());
        prober
            .send(Message::text(format!(
                r#"{{"action":"sendMessage","message":"probe-{k}"}}"#
            )))
            .await
            .unwrap();
        k += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let burst = started.elapsed();
    let refused_dms = flooder.await.unwrap();
    let (posts_delivered, first_410) = poster.await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    done.store(true, Ordering::Relaxed);
    let peak = peak.await.unwrap();
    let mut lat = latencies.lock().unwrap().clone();
    lat.sort();
    let expected = k * OBSERVERS;
    tokio::time::sleep(Duration::from_secs(9)).await;
    let after_10s = rss_mb(pid);
    tokio::time::sleep(Duration::from_secs(50)).await;
    let after_60s = rss_mb(pid);
    for o in observers {
        o.abort();
    }
    serde_json::json!({
        "slow_client": {
            "direct_messages_sent": FLOOD_MESSAGES, "message_bytes": 4000,
            "refused_as_unknown_recipient": refused_dms,
            "posts": POSTS, "post_bytes": POST_BYTES,
            "posts_delivered_before_cut_off": posts_delivered,
            "first_410_after_s": first_410.map(|d| d.as_secs_f64()),
        },
        "burst_seconds": burst.as_secs_f64(),
        "probes": { "sent": k, "observers": OBSERVERS, "deliveries": lat.len(), "expected": expected,
            "latency_ms": { "p50": report::ms(report::percentile(&lat, 50.0)), "p99": report::ms(report::percentile(&lat, 99.0)), "max": report::ms(lat.last().copied().unwrap_or_default()) } },
        "memory_mb": { "baseline": baseline, "peak": peak, "after_10s": after_10s, "after_60s": after_60s },
    })
}

const FULL_QUEUES: usize = 40;

/// Part 2: many full queues at once, then gone.
async fn full_queues(sandbox: &Sandbox) -> serde_json::Value {
    let pid = sandbox.child.id();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let baseline = rss_mb(pid);
    let files_before = open_files(pid);
    let mut slow = Vec::new();
    for i in 0..FULL_QUEUES {
        slow.push(never_reading(&sandbox.url(&format!("username=s{i}"))).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let client = sandbox.management_client().await;
    let blob = Blob::new(vec![b'z'; POST_BYTES]);
    let ids: Vec<String> = (0..FULL_QUEUES)
        .map(|i| sandbox.connection_id(&format!("s{i}")))
        .collect();
    let mut peak = 0.0f64;
    let mut delivered = 0;
    // Round by round, so every queue is near full at the same time.
    let mut open: Vec<String> = ids;
    while !open.is_empty() {
        let mut still = Vec::new();
        for id in open {
            let sent = client
                .post_to_connection()
                .connection_id(&id)
                .data(blob.clone())
                .send()
                .await;
            if sent.is_ok() {
                delivered += 1;
                still.push(id);
            }
        }
        peak = peak.max(rss_mb(pid));
        open = still;
    }
    tokio::time::sleep(Duration::from_secs(10)).await;
    let after_10s = rss_mb(pid);
    let files_after = open_files(pid);
    tokio::time::sleep(Duration::from_secs(50)).await;
    let after_60s = rss_mb(pid);
    drop(slow);
    serde_json::json!({
        "clients": FULL_QUEUES, "posts_delivered": delivered, "post_bytes": POST_BYTES,
        "sandbox_open_files": { "before": files_before, "after": files_after },
        "memory_mb": { "baseline": baseline, "peak": peak, "after_10s": after_10s, "after_60s": after_60s },
    })
}

/// Part 3: silent sockets held open while a client connects.
async fn silent(sandbox: &Sandbox) -> serde_json::Value {
    let mut held = Vec::with_capacity(SILENT_SOCKETS);
    for i in 0..SILENT_SOCKETS {
        match tokio::net::TcpStream::connect(("127.0.0.1", sandbox.port)).await {
            Ok(mut s) => {
                // Half say nothing, half start a request head and never end it.
                if i % 2 == 1 {
                    let _ = s
                        .write_all(b"GET /dev?username=x HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                        .await;
                }
                held.push(s)
            }
            Err(e) => panic!("silent socket {}: {e}", held.len()),
        }
    }
    let mut joins = Vec::new();
    for i in 0..10 {
        let started = Instant::now();
        let mut socket = connect(&sandbox.url(&format!("username=late{i}"))).await;
        joined(&mut socket).await;
        joins.push(started.elapsed());
        // More silent sockets arrive between the joins.
        for _ in 0..100 {
            if let Ok(s) = tokio::net::TcpStream::connect(("127.0.0.1", sandbox.port)).await {
                held.push(s);
            }
        }
    }
    joins.sort();
    serde_json::json!({
        "silent_sockets": held.len(),
        "join_ms": { "p50": report::ms(report::percentile(&joins, 50.0)), "max": report::ms(*joins.last().unwrap()) },
    })
}

/// Frames of 4,000 characters each self-flooder sends at most (16 MB).
const SELF_FLOOD_FRAMES: usize = 4_000;

/// One client that never reads, flooding its own room until cut off; the
/// frames it got out.
async fn self_flooder(
    mut socket: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
) -> usize {
    let frame =
        serde_json::json!({"action": "sendMessage", "message": "x".repeat(4000)}).to_string();
    for sent in 0..SELF_FLOOD_FRAMES {
        if socket.send(Message::text(frame.clone())).await.is_err() {
            return sent;
        }
    }
    SELF_FLOOD_FRAMES
}

/// Part 4: `clients` never-reading self-flooders at once: peak memory.
async fn self_flood(mut sandbox: Sandbox, clients: usize) -> serde_json::Value {
    let pid = sandbox.child.id();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let baseline = rss_mb(pid);
    let (done, peak) = sample_peak(pid);
    // Connected 50 at a time (the sandbox drops the longest-waiting of over
    // 256 pending handshakes), then all flood at once.
    let mut sockets = Vec::with_capacity(clients);
    for batch in (0..clients).collect::<Vec<_>>().chunks(50) {
        let connects = batch
            .iter()
            .map(|i| never_reading_owned(sandbox.url(&format!("username=f{i}&room=alone{i}"))));
        sockets.extend(futures_util::future::join_all(connects).await);
    }
    let started = Instant::now();
    let floods: Vec<_> = sockets
        .into_iter()
        .map(|socket| tokio::spawn(self_flooder(socket)))
        .collect();
    let mut frames = 0;
    let mut cut = 0;
    for flood in floods {
        let sent = flood.await.unwrap();
        frames += sent;
        cut += usize::from(sent < SELF_FLOOD_FRAMES);
    }
    let elapsed = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    done.store(true, Ordering::Relaxed);
    let peak = peak.await.unwrap();
    let high_water = report::memory_mb(pid).map_or(0.0, |(_, hwm)| hwm);
    let alive = sandbox.is_alive();
    serde_json::json!({
        "clients": clients, "frames_sent": frames, "clients_cut_off": cut,
        "seconds": elapsed.as_secs_f64(), "sandbox_alive_after": alive,
        "memory_mb": { "baseline": baseline, "peak_sampled": peak, "peak_vmhwm": high_water },
    })
}

/// How many self-flooders each run of part 4 has: `WSCHAT_BENCH_SELF_FLOOD`
/// (e.g. `100`), else 100 and 1,000.
fn self_flood_sizes() -> Vec<usize> {
    std::env::var("WSCHAT_BENCH_SELF_FLOOD").map_or(vec![100, 1_000], |sizes| {
        sizes
            .split(',')
            .filter_map(|n| n.trim().parse().ok())
            .collect()
    })
}

/// Which parts `WSCHAT_BENCH_PARTS` asks for (all when unset).
fn wanted(part: &str) -> bool {
    std::env::var("WSCHAT_BENCH_PARTS").map_or(true, |parts| parts.split(',').any(|p| p == part))
}

fn main() {
    if !report::benchmarking() {
        return;
    }
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let results = runtime.block_on(async {
        let mut results = serde_json::json!({});
        if wanted("flood") {
            results["never_reading_client"] = flood(&Sandbox::start()).await;
        }
        if wanted("full_queues") {
            results["full_queues"] = full_queues(&Sandbox::start()).await;
        }
        if wanted("silent") {
            results["silent_sockets"] = silent(&Sandbox::start()).await;
        }
        if wanted("self_flood") {
            let mut runs = Vec::new();
            for clients in self_flood_sizes() {
                runs.push(self_flood(Sandbox::start(), clients).await);
            }
            results["self_flooders"] = serde_json::json!(runs);
        }
        results
    });
    println!("{}", serde_json::to_string_pretty(&results).unwrap());
    report::write("hostile", &results);
}
