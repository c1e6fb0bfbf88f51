//! Rooms of any size: one message to rooms of 1,000, 10,000 and 100,000
//! members, through the real `message` and `deliver` bootstraps, each
//! environment a process polling a Lambda Runtime API.
//!
//! One server on 127.0.0.1 stands in for AWS:
//! - DynamoDB: the room in memory, answering GetItem, Query (on the room and
//!   room-shard indexes, 1,000 rows a page) and DeleteItem after 4 ms;
//! - Lambda's Invoke: asynchronous invokes answered 202 and queued for the
//!   function's environments (16 warm ones for `deliver`, one for `message`);
//! - `@connections`: each post answered after 30 ms (an in-region round
//!   trip), behind a token bucket (10,000/s with a 5,000 burst by default,
//!   429 `LimitExceededException` beyond), 410 for 1 % of the connections.
//!
//! Each room is measured with the sharded path and with today's
//! single-invocation path (`WSCHAT_SHARD_THRESHOLD=0`) in the same run; the
//! single invocation is cut at API Gateway's 29 s, as Lambda would cut it,
//! and what it had not posted by then counts as lost. Rooms with shards are
//! also measured with each delivery worker alone (one environment runs the
//! jobs one after another, each job's posts timed from its invoke): what the
//! workers take when each has a CPU of its own, as on Lambda, rather than a
//! share of this machine's two.
//!
//! `cargo bench --bench fanout`; `WSCHAT_BENCH_ROOMS=1000,10000` picks the
//! rooms, `WSCHAT_BENCH_PATHS=sharded` the paths, and
//! `WSCHAT_BENCH_BOOTSTRAP=path` runs another build of the functions (an
//! unstripped one under `perf`). Results: `target/bench/fanout.json`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wschat_lambdas::shard::{room_shard, shard_of};
use wschat_test_support::bench as report;
use wschat_test_support::realism::{management_answer, service_error};
use wschat_test_support::runtime_api::RuntimeApi;

const STAGE: &str = "bench";
const POST_LATENCY: Duration = Duration::from_millis(30);
const DYNAMODB_LATENCY: Duration = Duration::from_millis(4);
const DELIVER_ENVIRONMENTS: usize = 16;
/// API Gateway's integration timeout: the single invocation's deadline.
const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(29);
const DELIVER_TIMEOUT: Duration = Duration::from_secs(300);
/// Prices (us-east-1): API Gateway WebSocket messages, Lambda requests and
/// GB-seconds at 128 MB, DynamoDB on-demand read request units.
const USD_PER_MESSAGE: f64 = 1.0e-6;
const USD_PER_INVOCATION: f64 = 0.2e-6;
const USD_PER_GB_SECOND: f64 = 0.000_016_666_7;
const USD_PER_READ_UNIT: f64 = 0.25e-6;

/// `@connections`' token bucket.
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[derive(Default)]
struct Table {
    items: HashMap<String, Value>,
    /// `attribute=value` to the ids under it, in key order.
    index: HashMap<String, BTreeSet<String>>,
}

impl Table {
    fn put(&mut self, item: Value) {
        let id = item["connectionId"]["S"].as_str().unwrap().to_owned();
        for attr in ["room", "roomShard", "username"] {
            let key = format!("{attr}={}", item[attr]["S"].as_str().unwrap());
            self.index.entry(key).or_default().insert(id.clone());
        }
        self.items.insert(id, item);
    }

    fn delete(&mut self, id: &str) -> Option<Value> {
        let item = self.items.remove(id)?;
        for attr in ["room", "roomShard", "username"] {
            let key = format!("{attr}={}", item[attr]["S"].as_str().unwrap());
            if let Some(ids) = self.index.get_mut(&key) {
                ids.remove(id);
            }
        }
        Some(item)
    }

    fn query(&self, request: &Value) -> Value {
        let attr = request["ExpressionAttributeNames"]["#k"].as_str().unwrap();
        let value = request["ExpressionAttributeValues"][":v"]["S"]
            .as_str()
            .unwrap();
        let limit = request["Limit"].as_u64().unwrap_or(1000) as usize;
        let after = request["ExclusiveStartKey"]["connectionId"]["S"].as_str();
        let Some(ids) = self.index.get(&format!("{attr}={value}")) else {
            return json!({"Items": [], "Count": 0, "ScannedCount": 0});
        };
        let page: Vec<&String> = match after {
            Some(after) => ids
                .range::<str, _>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
                .take(limit)
                .collect(),
            None => ids.iter().take(limit).collect(),
        };
        let items: Vec<&Value> = page.iter().map(|id| &self.items[*id]).collect();
        let mut answer = json!({"Items": items, "Count": items.len(), "ScannedCount": items.len()});
        // As DynamoDB does: a full page carries a key, even the last.
        if let (true, Some(last)) = (items.len() == limit, page.last()) {
            answer["LastEvaluatedKey"] = json!({"connectionId": {"S": last}, attr: {"S": value}});
        }
        answer
    }
}

/// One post that reached a connection.
struct Post {
    id: String,
    message_id: String,
    at: Instant,
}

struct Aws {
    table: Mutex<Table>,
    bucket: Mutex<Bucket>,
    posts: Mutex<Vec<Post>>,
    throttled: AtomicUsize,
    gone: Mutex<BTreeSet<String>>,
    items_read: AtomicUsize,
    deliver: RuntimeApi,
    /// Delivery invocations queued and not yet answered, and every one made.
    outstanding: AtomicUsize,
    invocations: AtomicUsize,
    /// Milliseconds the delivery invocations ran, together.
    deliver_ms: AtomicUsize,
    /// With `Case::alone`: the jobs as they were invoked, and when, run later
    /// one at a time.
    held: Option<Mutex<Vec<(Value, Instant)>>>,
}

type Shared = Arc<Aws>;

fn json_answer(body: &Value) -> Response {
    (
        [("content-type", "application/x-amz-json-1.0")],
        body.to_string(),
    )
        .into_response()
}

async fn dynamodb(State(aws): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    tokio::time::sleep(DYNAMODB_LATENCY).await;
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    let id = || {
        request["Key"]["connectionId"]["S"]
            .as_str()
            .unwrap_or_default()
    };
    let mut table = aws.table.lock().unwrap();
    match target.rsplit('.').next().unwrap_or_default() {
        "GetItem" => match table.items.get(id()) {
            Some(item) => json_answer(&json!({ "Item": item })),
            None => json_answer(&json!({})),
        },
        "Query" => {
            let answer = table.query(&request);
            let count = answer["Count"].as_u64().unwrap_or(0) as usize;
            aws.items_read.fetch_add(count, Ordering::Relaxed);
            json_answer(&answer)
        }
        "DeleteItem" => match table.delete(id()) {
            Some(item) => json_answer(&json!({ "Attributes": item })),
            None => json_answer(&json!({})),
        },
        other => (StatusCode::BAD_REQUEST, format!("not modelled: {other}")).into_response(),
    }
}

/// Lambda's Invoke, asynchronous only: 202, then the job runs in an environment.
async fn invoke(State(aws): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let asynchronous = headers
        .get("x-amz-invocation-type")
        .is_some_and(|v| v == "Event");
    assert!(
        asynchronous,
        "the message function invokes deliver asynchronously"
    );
    let job: Value = serde_json::from_slice(&body).unwrap();
    if let Some(held) = &aws.held {
        held.lock().unwrap().push((job, Instant::now()));
        return StatusCode::ACCEPTED.into_response();
    }
    aws.outstanding.fetch_add(1, Ordering::SeqCst);
    aws.invocations.fetch_add(1, Ordering::SeqCst);
    let answer = aws.deliver.submit(job);
    let started = Instant::now();
    tokio::spawn(async move {
        let _ = tokio::time::timeout(DELIVER_TIMEOUT, answer).await;
        aws.deliver_ms
            .fetch_add(started.elapsed().as_millis() as usize, Ordering::SeqCst);
        aws.outstanding.fetch_sub(1, Ordering::SeqCst);
    });
    StatusCode::ACCEPTED.into_response()
}

async fn connections(
    State(aws): State<Shared>,
    Path((_stage, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if !aws.bucket.lock().unwrap().take() {
        aws.throttled.fetch_add(1, Ordering::Relaxed);
        return service_error(
            "execute-api",
            429,
            "LimitExceededException",
            "Rate exceeded",
        );
    }
    tokio::time::sleep(POST_LATENCY).await;
    if aws.gone.lock().unwrap().contains(&id) {
        return management_answer("POST", true);
    }
    aws.posts.lock().unwrap().push(Post {
        id,
        message_id: message_id(&body).to_owned(),
        at: Instant::now(),
    });
    management_answer("POST", false)
}

/// The frame's message id: the first `"id":"…"` (a key inside a string would
/// have its quotes escaped). Cheaper than parsing every frame: the stand-in
/// shares the cores with the functions it measures.
fn message_id(frame: &[u8]) -> &str {
    let frame = std::str::from_utf8(frame).unwrap_or_default();
    frame
        .split_once(r#""id":""#)
        .and_then(|(_, rest)| rest.split_once('"'))
        .map_or("", |(id, _)| id)
}

/// One measured delivery: the room, how it is delivered, and the quota.
#[derive(Clone, Copy)]
struct Case {
    members: usize,
    sharded: bool,
    bucket_rate: u32,
    connections_rate: u32,
    /// Each delivery worker measured alone, as if it had its own CPU (as
    /// each Lambda environment has): one environment runs the jobs one after
    /// another, and each job's posts are timed from when it was invoked.
    alone: bool,
}

impl Case {
    fn label(&self) -> String {
        format!(
            "{} members, {}, bucket {}/s, --connections-rate {}",
            self.members,
            self.path(),
            self.bucket_rate,
            self.connections_rate
        )
    }

    fn path(&self) -> &'static str {
        match (self.sharded, self.alone) {
            (false, _) => "single",
            (true, false) => "sharded",
            (true, true) => "sharded, each worker alone",
        }
    }
}

fn member_id(i: usize) -> String {
    format!("M{i:07}bench=")
}

fn row(room: &str, i: usize) -> Value {
    let id = member_id(i);
    json!({
        "connectionId": {"S": id},
        "username": {"S": format!("u{i}")},
        "room": {"S": room},
        "roomShard": {"S": room_shard(room, shard_of(&id))},
        "connectedAt": {"N": "1700000000000"},
        "ttl": {"N": "1700008100"},
    })
}

/// An API Gateway MESSAGE event: member 0 sends to its room.
fn message_event() -> Value {
    json!({
        "requestContext": {
            "routeKey": "sendMessage", "eventType": "MESSAGE", "connectionId": member_id(0),
            "connectedAt": 1_700_000_000_000_i64, "requestTimeEpoch": 1_700_000_000_000_i64,
            "domainName": "bench.execute-api.us-east-1.amazonaws.com", "stage": STAGE,
            "apiId": "bench", "requestId": "r", "messageDirection": "IN",
            "identity": {"sourceIp": "127.0.0.1"}
        },
        "body": r#"{"action":"sendMessage","message":"to everyone"}"#,
        "isBase64Encoded": false
    })
}

struct Environments(Vec<Child>);

/// CPU-seconds a process has used (user and system), from `/proc`.
fn cpu_seconds(pid: u32) -> f64 {
    let tick = 100.0;
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let field = |n: usize| fields.get(n).and_then(|f| f.parse::<f64>().ok());
    (field(11).unwrap_or(0.0) + field(12).unwrap_or(0.0)) / tick
}

impl Environments {
    fn cpu_seconds(&self) -> f64 {
        self.0.iter().map(|c| cpu_seconds(c.id())).sum()
    }
}

impl Drop for Environments {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn start_environments(
    binary: &std::path::Path,
    api: &RuntimeApi,
    function: &str,
    n: usize,
    env: &[(String, String)],
) -> Vec<Child> {
    (0..n)
        .map(|_| {
            Command::new(binary)
                .envs(api.lambda_env(function))
                .envs(env.iter().cloned())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect()
}

async fn measure(binary: &std::path::Path, case: Case) -> Value {
    let deliver = RuntimeApi::start().await;
    let message = RuntimeApi::start().await;
    let aws = Arc::new(Aws {
        table: Mutex::default(),
        bucket: Mutex::new(Bucket {
            rate: f64::from(case.bucket_rate),
            burst: 5_000.0,
            tokens: 5_000.0,
            at: Instant::now(),
        }),
        posts: Mutex::default(),
        throttled: AtomicUsize::new(0),
        gone: Mutex::default(),
        items_read: AtomicUsize::new(0),
        deliver,
        outstanding: AtomicUsize::new(0),
        invocations: AtomicUsize::new(0),
        deliver_ms: AtomicUsize::new(0),
        held: case.alone.then(Mutex::default),
    });
    let room = "big";
    {
        let mut table = aws.table.lock().unwrap();
        let mut gone = aws.gone.lock().unwrap();
        for i in 0..case.members {
            table.put(row(room, i));
            // 1 %, never the sender.
            if i % 100 == 37 {
                gone.insert(member_id(i));
            }
        }
    }
    let app = Router::new()
        .route("/", post(dynamodb))
        .route("/2015-03-31/functions/{name}/invocations", post(invoke))
        .route("/{stage}/@connections/{id}", post(connections))
        .with_state(aws.clone());
    // Thousands of posts' connections open at once: with tokio's default
    // backlog (1,024) the kernel drops their SYNs and each retries after a
    // second, a stall API Gateway's fleet does not have.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(65_535).unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let env: Vec<(String, String)> = [
        ("AWS_ENDPOINT_URL", endpoint.clone()),
        ("TABLE_NAME", "bench".to_owned()),
        ("WSCHAT_MANAGEMENT_ENDPOINT", format!("{endpoint}/{STAGE}")),
        ("WSCHAT_DELIVER_FUNCTION", "deliver".to_owned()),
        ("WSCHAT_MAX_MESSAGE_RATE", "0".to_owned()),
        ("WSCHAT_CONNECTIONS_RATE", case.connections_rate.to_string()),
        (
            "WSCHAT_SHARD_THRESHOLD",
            if case.sharded { "1000" } else { "0" }.to_owned(),
        ),
        ("AWS_LAMBDA_LOG_LEVEL", "warn".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let mut children = start_environments(binary, &message, "message", 1, &env);
    children.extend(start_environments(
        binary,
        &aws.deliver,
        "deliver",
        if case.alone { 1 } else { DELIVER_ENVIRONMENTS },
        &env,
    ));
    let environments = Environments(children);
    message.wait_first_poll("message").await;
    aws.deliver.wait_first_poll("deliver").await;

    let started = Instant::now();
    let stand_in_cpu = cpu_seconds(std::process::id());
    let answered = tokio::time::timeout(INTEGRATION_TIMEOUT, message.submit(message_event())).await;
    let message_ms = started.elapsed().as_millis() as usize;
    let cut = answered.is_err();
    let shifts = run_held(&aws).await;
    if !cut {
        while aws.outstanding.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let cpu = Cpu {
        environments: environments.cpu_seconds(),
        stand_in: cpu_seconds(std::process::id()) - stand_in_cpu,
    };
    drop(environments);
    server.abort();
    tally(case, &aws, started, cut, message_ms, cpu, &shifts)
}

/// Runs the held jobs one after another; for each shard, how much later
/// its job ran than it was invoked.
async fn run_held(aws: &Aws) -> HashMap<u64, Duration> {
    let Some(held) = &aws.held else {
        return HashMap::new();
    };
    let jobs = std::mem::take(&mut *held.lock().unwrap());
    let mut shifts = HashMap::new();
    for (job, invoked) in jobs {
        let shard = job["delivery"]["shard"].as_u64().expect("a room's shard");
        let ran = Instant::now();
        aws.invocations.fetch_add(1, Ordering::SeqCst);
        let answer = aws.deliver.submit(job);
        let _ = tokio::time::timeout(DELIVER_TIMEOUT, answer).await;
        aws.deliver_ms
            .fetch_add(ran.elapsed().as_millis() as usize, Ordering::SeqCst);
        shifts.insert(shard, ran - invoked);
    }
    shifts
}

/// CPU-seconds used: by the environments (all their life: they start idle),
/// and by the stand-in for AWS from the message on.
#[derive(Clone, Copy)]
struct Cpu {
    environments: f64,
    stand_in: f64,
}

fn tally(
    case: Case,
    aws: &Aws,
    started: Instant,
    cut: bool,
    message_ms: usize,
    cpu: Cpu,
    shifts: &HashMap<u64, Duration>,
) -> Value {
    let mut posts = aws.posts.lock().unwrap();
    // A worker measured alone: its posts as if it had run when invoked.
    for post in posts.iter_mut() {
        if let Some(shift) = shifts.get(&u64::from(shard_of(&post.id))) {
            post.at -= *shift;
        }
    }
    // The single invocation is gone at its deadline: what came later never left it.
    let deadline = started + INTEGRATION_TIMEOUT;
    let in_time: Vec<&Post> = posts.iter().filter(|p| !cut || p.at <= deadline).collect();
    let mut per_member: HashMap<&str, usize> = HashMap::new();
    for p in &in_time {
        *per_member.entry(p.id.as_str()).or_default() += 1;
    }
    let gone = aws.gone.lock().unwrap().len();
    let reachable = case.members - gone;
    let delivered = per_member.len();
    let duplicates: usize = per_member.values().map(|n| n - 1).sum();
    let message_ids: BTreeSet<&str> = in_time.iter().map(|p| p.message_id.as_str()).collect();
    let last = in_time.iter().map(|p| p.at).max().unwrap_or(started);
    let invocations = 1 + aws.invocations.load(Ordering::SeqCst);
    let lambda_seconds = (message_ms + aws.deliver_ms.load(Ordering::SeqCst)) as f64 / 1000.0;
    let items_read = aws.items_read.load(Ordering::Relaxed);
    let cost = (delivered + duplicates + gone) as f64 * USD_PER_MESSAGE
        + invocations as f64 * USD_PER_INVOCATION
        + lambda_seconds * 0.125 * USD_PER_GB_SECOND
        // About 200 bytes a row, eventually consistent: half a unit per 4 KB.
        + (items_read as f64 * 200.0 / 4096.0 / 2.0).ceil() * USD_PER_READ_UNIT;
    let seconds = last.duration_since(started).as_secs_f64();
    println!(
        "| {} | {} | {} | {} | {:.2} s | {} | {} | {} | {} | ${:.4} | {:.1} | {:.1} |",
        case.members,
        case.path(),
        case.bucket_rate,
        case.connections_rate,
        seconds,
        reachable - delivered,
        duplicates,
        aws.throttled.load(Ordering::Relaxed),
        invocations,
        cost,
        cpu.environments,
        cpu.stand_in
    );
    json!({
        "case": case.label(), "members": case.members, "sharded": case.sharded,
        "each_worker_alone": case.alone,
        "bucket_rate": case.bucket_rate, "connections_rate": case.connections_rate,
        "seconds_to_last_delivery": (seconds * 1000.0).round() / 1000.0,
        "cut_at_29_s": cut, "reachable": reachable, "delivered": delivered,
        "lost": reachable - delivered, "gone_410": gone,
        "duplicate_posts": duplicates,
        // Every frame carries the message's id and clients show an id once.
        "duplicates_shown": message_ids.len().saturating_sub(1),
        "throttled_429": aws.throttled.load(Ordering::Relaxed),
        "invocations": invocations, "lambda_seconds": lambda_seconds,
        "items_read": items_read, "cost_usd": cost,
        "environments_cpu_seconds": cpu.environments,
        "stand_in_cpu_seconds": cpu.stand_in,
    })
}

fn main() {
    if !report::benchmarking() {
        return;
    }
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    // Another build of the functions (an unstripped one, to profile).
    let binary = match std::env::var_os("WSCHAT_BENCH_BOOTSTRAP") {
        Some(path) => std::path::PathBuf::from(path),
        None => {
            let zips = report::package_zips(env!("CARGO_BIN_EXE_wschat"));
            wschat_test_support::unzip_bootstrap(&zips.join("deliver.zip"))
        }
    };
    let rooms: Vec<usize> = std::env::var("WSCHAT_BENCH_ROOMS")
        .unwrap_or_else(|_| "1000,10000,100000".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let paths = std::env::var("WSCHAT_BENCH_PATHS").unwrap_or_else(|_| "single,sharded".into());
    let case = |members, sharded, (bucket_rate, connections_rate), alone| Case {
        members,
        sharded,
        bucket_rate,
        connections_rate,
        alone,
    };
    // The default bucket with the default share of it, and with all of it;
    // a bucket raised to 100,000/s.
    let (default, whole, raised) = ((10_000, 5_000), (10_000, 10_000), (100_000, 100_000));
    let mut cases = Vec::new();
    for &members in &rooms {
        if paths.contains("single") {
            cases.push(case(members, false, default, false));
            cases.push(case(members, false, raised, false));
        }
        if paths.contains("sharded") {
            cases.push(case(members, true, default, false));
            cases.push(case(members, true, raised, false));
            cases.push(case(members, true, whole, false));
            // Each worker alone: only where the room has shards to deliver.
            if members > 1_000 {
                cases.push(case(members, true, raised, true));
            }
        }
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    println!("| members | path | bucket/s | --connections-rate | last delivery | lost | duplicates | 429s | invocations | cost | functions' CPU s | stand-in's CPU s |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let results: Vec<Value> = cases
        .into_iter()
        .map(|case| runtime.block_on(measure(&binary, case)))
        .collect();
    report::write(
        "fanout",
        &json!({
            "post_latency_ms": POST_LATENCY.as_millis() as u64,
            "dynamodb_latency_ms": DYNAMODB_LATENCY.as_millis() as u64,
            "deliver_environments": DELIVER_ENVIRONMENTS,
            "cases": results,
        }),
    );
}
