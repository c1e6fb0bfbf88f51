//! A recording, optionally delaying, HTTP proxy in front of moto. It sees what
//! `wschat` really sends: which AWS operations, which of them write, and when.
//! It can also kill a process when a given write arrives, to interrupt a deploy,
//! lose the reply of chosen operations (the request is applied upstream, the
//! answer never comes back), and stall everything (a dead endpoint).

use crate::invoke;
use crate::realism::{self, Fault, Faults, Realism, World};
use crate::runtime_api::RuntimeApi;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use http_body_util::BodyExt;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Call {
    pub service: String,
    pub operation: String,
    pub write: bool,
    pub started: Instant,
    pub finished: Instant,
}

#[derive(Default)]
struct Settings {
    delay: Duration,
    /// (pid, n): SIGKILL `pid` when the n-th write arrives, before forwarding it.
    kill_at_write: Option<(u32, usize)>,
    /// Operations whose next reply is lost, once each.
    lose_reply: Vec<String>,
    /// Operations whose next call is throttled as the service throttles, once each.
    throttle: Vec<String>,
    /// An operation whose next call waits, before it is forwarded, until the test releases it.
    pause: Option<(
        String,
        tokio::sync::oneshot::Sender<()>,
        Arc<tokio::sync::Notify>,
    )>,
    /// Accept requests and never answer them.
    stall: bool,
    /// Connection ids API Gateway no longer knows: `@connections` answers 410.
    gone: std::collections::HashSet<String>,
    /// The upstream answers `@connections` itself (a `wschat dev`).
    upstream_connections: bool,
    /// Functions the test runs, by name: Lambda's Invoke reaches them ([`invoke`]).
    functions: std::collections::HashMap<String, Arc<RuntimeApi>>,
    /// How many of the next synchronous invokes of those functions crash.
    crash_invokes: usize,
}

struct Shared {
    world: Mutex<World>,
    faults: Mutex<Option<Faults>>,
    upstream: String,
    client: Client<HttpConnector, Body>,
    calls: Mutex<Vec<Call>>,
    writes_seen: Mutex<usize>,
    settings: Mutex<Settings>,
    metrics: Mutex<crate::metrics::MetricStore>,
}

pub struct Proxy {
    pub endpoint: String,
    shared: Arc<Shared>,
}

const READ_PREFIXES: [&str; 7] = [
    "Describe", "Get", "List", "Query", "Scan", "BatchGet", "Check",
];

/// Names the operation from the request: `X-Amz-Target` (JSON protocols), `Action=` (query protocol),
/// or the method and path (REST protocols); the service from the SigV4 credential scope.
fn classify(
    method: &str,
    path: &str,
    headers: &axum::http::HeaderMap,
    body: &[u8],
) -> (String, String, bool) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let scope_service = header("authorization")
        .split("Credential=")
        .nth(1)
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or("unknown")
        .to_owned();
    let target = header("x-amz-target");
    let named = if let Some((_, op)) = target.split_once('.') {
        Some(op.to_owned())
    } else {
        String::from_utf8_lossy(body)
            .split('&')
            .find_map(|kv| kv.strip_prefix("Action=").map(str::to_owned))
    };
    match named {
        Some(op) => {
            let write = !READ_PREFIXES.iter().any(|p| op.starts_with(p));
            (scope_service, op, write)
        }
        None => (
            scope_service,
            format!("{method} {path}"),
            !matches!(method, "GET" | "HEAD"),
        ),
    }
}

async fn forward(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    // A request cut off mid-body (its sender killed) never reaches AWS whole:
    // it is not forwarded.
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
        return realism::connection_reset();
    };
    let path = parts.uri.path().to_owned();
    let (service, operation, write) = classify(parts.method.as_str(), &path, &parts.headers, &body);
    let (delay, kill, lose, throttle, stall, pause) = {
        let mut settings = shared.settings.lock().unwrap();
        let named = |op: &String| match op.strip_suffix('*') {
            Some(prefix) => operation.starts_with(prefix),
            None => *op == operation,
        };
        let take = |list: &mut Vec<String>| match list.iter().position(named) {
            Some(i) => {
                list.remove(i);
                true
            }
            None => false,
        };
        let lose = take(&mut settings.lose_reply);
        let throttle = take(&mut settings.throttle);
        let pause = match settings.pause.take() {
            Some((op, arrived, release)) if named(&op) => Some((arrived, release)),
            other => {
                settings.pause = other;
                None
            }
        };
        let kill = if write {
            let mut seen = shared.writes_seen.lock().unwrap();
            *seen += 1;
            match settings.kill_at_write {
                Some((pid, n)) if n == *seen => {
                    settings.kill_at_write = None;
                    Some(pid)
                }
                _ => None,
            }
        } else {
            None
        };
        (settings.delay, kill, lose, throttle, settings.stall, pause)
    };
    if let Some((arrived, release)) = pause {
        let _ = arrived.send(());
        release.notified().await;
    }
    if stall {
        std::future::pending::<()>().await;
    }
    if let Some(pid) = kill {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    tokio::time::sleep(delay).await;
    let seen = realism::Request {
        service: &service,
        operation: &operation,
        method: parts.method.as_str(),
        path: &path,
        body: &body,
    };
    // A reply chosen to be lost is lost, not pre-empted by a random fault.
    let fault = if throttle {
        Some(Fault::Throttled)
    } else if lose {
        None
    } else {
        shared
            .faults
            .lock()
            .unwrap()
            .as_mut()
            .and_then(Faults::pick)
    };
    let record = |shared: &Shared| {
        shared.calls.lock().unwrap().push(Call {
            service: service.clone(),
            operation: operation.clone(),
            write,
            started,
            finished: Instant::now(),
        })
    };
    match fault {
        Some(Fault::ServerError(status)) => {
            record(&shared);
            return realism::service_error(&service, status, "InternalFailure", "injected fault");
        }
        Some(Fault::Throttled) => {
            record(&shared);
            return realism::throttled(&service);
        }
        Some(Fault::Reset) => {
            record(&shared);
            return realism::connection_reset();
        }
        Some(Fault::Stall) => std::future::pending::<()>().await,
        _ => {}
    }
    // API Gateway's management API, which moto lacks for a stage URL: 410
    // for connections that are gone, success for the others.
    if let Some((_, id)) = path.split_once("/@connections/") {
        let settings = shared.settings.lock().unwrap();
        if !settings.upstream_connections {
            // The management API's model has no stage in its paths.
            let checked = crate::models::check(&crate::models::Request {
                signing_name: "execute-api",
                method: parts.method.as_str(),
                path: &path[path.find("/@connections/").unwrap_or(0)..],
                query: parts.uri.query(),
                headers: &parts.headers,
                body: &body,
            });
            if let Some(refusal) = crate::models::refusal("execute-api", checked) {
                return refusal;
            }
            let gone = settings.gone.contains(&crate::percent_decode(id));
            drop(settings);
            record(&shared);
            return realism::management_answer(parts.method.as_str(), gone);
        }
    }
    let function = invoke::function_of(&path);
    let running = function.and_then(|f| shared.settings.lock().unwrap().functions.get(&f).cloned());
    if let Some(api) = running {
        record(&shared);
        if !invoke::asynchronous(&parts.headers) {
            let mut settings = shared.settings.lock().unwrap();
            if settings.crash_invokes > 0 {
                settings.crash_invokes -= 1;
                return invoke::crashed();
            }
        }
        let event = serde_json::from_slice(&body).unwrap_or_default();
        return invoke::run(api, event, invoke::asynchronous(&parts.headers)).await;
    }
    let supplied =
        crate::metrics::answer(&shared.metrics.lock().unwrap(), &service, &operation, &body);
    if let Some(answer) = supplied {
        record(&shared);
        return answer;
    }
    if (service.as_str(), operation.as_str()) == ("monitoring", "PutMetricData") {
        let input = serde_json::from_slice(&body).unwrap_or_default();
        shared.metrics.lock().unwrap().put(&input);
    }
    let refusal = shared.world.lock().unwrap().refuse(&seen);
    if let Some(refusal) = refusal {
        record(&shared);
        return refusal;
    }
    let uri = format!(
        "{}{}",
        shared.upstream,
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let mut upstream = axum::http::Request::builder()
        .method(parts.method.clone())
        .uri(uri);
    for (name, value) in &parts.headers {
        upstream = upstream.header(name, value);
    }
    let response = shared
        .client
        .request(upstream.body(Body::from(body.clone())).unwrap())
        .await;
    let response = match response {
        Ok(r) => {
            let (mut answer, body) = r.into_parts();
            let mut bytes = body
                .collect()
                .await
                .map(|b| b.to_bytes().to_vec())
                .unwrap_or_default();
            shared
                .world
                .lock()
                .unwrap()
                .answered(&seen, answer.status.as_u16(), &mut bytes);
            answer.headers.remove("content-length");
            Response::from_parts(answer, Body::from(bytes))
        }
        Err(e) => Response::builder()
            .status(502)
            .body(Body::from(e.to_string()))
            .unwrap(),
    };
    record(&shared);
    if lose || fault == Some(Fault::LostReply) {
        // Applied upstream; the caller waits until its own timeout gives up.
        std::future::pending::<()>().await;
    }
    response
}

impl Proxy {
    pub async fn start(upstream: &str) -> Proxy {
        Proxy::listen(upstream, "127.0.0.1:0").await
    }

    /// A faulty link in front of a `wschat dev` on `port`: on 127.0.0.2 and the
    /// same port, so the `Host` its callers sign names the sandbox's port (as
    /// its guard requires), and `@connections` is the sandbox's own.
    pub async fn in_front_of_sandbox(port: u16) -> Proxy {
        let proxy = Proxy::listen(
            &format!("http://127.0.0.1:{port}"),
            &format!("127.0.0.2:{port}"),
        )
        .await;
        proxy.shared.settings.lock().unwrap().upstream_connections = true;
        proxy
    }

    async fn listen(upstream: &str, address: &str) -> Proxy {
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: Client::builder(TokioExecutor::new()).build_http(),
            calls: Mutex::default(),
            writes_seen: Mutex::default(),
            settings: Mutex::default(),
            world: Mutex::default(),
            faults: Mutex::default(),
            metrics: Mutex::default(),
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(address).await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Proxy { endpoint, shared }
    }

    pub fn set_delay(&self, delay: Duration) {
        self.shared.settings.lock().unwrap().delay = delay;
    }

    /// Kills `pid` when the `n`-th write (counted from now) arrives.
    pub fn kill_at_write(&self, pid: u32, n: usize) {
        *self.shared.writes_seen.lock().unwrap() = 0;
        self.shared.settings.lock().unwrap().kill_at_write = Some((pid, n));
    }

    /// Loses the reply of the next call of each operation (as the proxy names
    /// it: `CreateTable`, `CreateRole`, `POST /v2/apis`, ...; a trailing `*`
    /// matches any operation that starts so).
    pub fn lose_replies(&self, operations: &[&str]) {
        let mut settings = self.shared.settings.lock().unwrap();
        settings.lose_reply = operations.iter().map(|s| (*s).to_owned()).collect();
    }

    /// Operations whose reply is still to be lost.
    pub fn replies_left_to_lose(&self) -> Vec<String> {
        self.shared.settings.lock().unwrap().lose_reply.clone()
    }

    /// Throttles the next call of each operation (named as for
    /// [`Proxy::lose_replies`]) in the service's own way ([`realism::throttled`]).
    pub fn throttle_next(&self, operations: &[&str]) {
        let mut settings = self.shared.settings.lock().unwrap();
        settings.throttle = operations.iter().map(|s| (*s).to_owned()).collect();
    }

    /// Holds the next call of `operation` (named as for [`Proxy::lose_replies`])
    /// before it is forwarded: the test learns it arrived, acts, then lets it go on.
    pub fn pause_at(&self, operation: &str) -> Paused {
        let (arrived_tx, arrived) = tokio::sync::oneshot::channel();
        let release = Arc::new(tokio::sync::Notify::new());
        self.shared.settings.lock().unwrap().pause =
            Some((operation.to_owned(), arrived_tx, release.clone()));
        Paused { arrived, release }
    }

    /// Operations whose throttling is still to come.
    pub fn throttles_left(&self) -> Vec<String> {
        self.shared.settings.lock().unwrap().throttle.clone()
    }

    /// From now on, moto behaves like AWS where the tests need it to ([`Realism`]).
    pub fn realistic(&self, realism: Realism) {
        self.shared.world.lock().unwrap().realism = Some(realism);
    }

    /// `name` resolves from now on, as a record added at the user's DNS
    /// provider (outside Route 53) would: ACM validates by it.
    pub fn publish_dns(&self, name: &str) {
        self.shared.world.lock().unwrap().publish(name);
    }

    /// From now on, a share of requests meets a fault ([`Faults`]); `None` ends them.
    pub fn faults(&self, faults: Option<Faults>) {
        *self.shared.faults.lock().unwrap() = faults;
    }

    /// `@connections` answers 410 GoneException for these ids, as API Gateway
    /// does for connections that closed, and success for any other.
    pub fn set_gone(&self, ids: &[&str]) {
        self.shared.settings.lock().unwrap().gone = ids.iter().map(|s| (*s).to_owned()).collect();
    }

    /// Lambda's Invoke of `function` runs it in `api`'s environments (started by the test).
    pub fn run_function(&self, function: &str, api: Arc<RuntimeApi>) {
        let mut settings = self.shared.settings.lock().unwrap();
        settings.functions.insert(function.to_owned(), api);
    }

    /// The next `n` synchronous invokes of a function the test runs crash
    /// before it runs (an environment killed): Lambda answers 200 with
    /// `X-Amz-Function-Error: Unhandled`.
    pub fn crash_next_invokes(&self, n: usize) {
        self.shared.settings.lock().unwrap().crash_invokes = n;
    }

    /// From now on, accepts every request and never answers.
    pub fn stall(&self) {
        self.shared.settings.lock().unwrap().stall = true;
    }

    /// The calls since the last `take`.
    pub fn take(&self) -> Vec<Call> {
        std::mem::take(&mut self.shared.calls.lock().unwrap())
    }
}

/// A call held by [`Proxy::pause_at`].
pub struct Paused {
    /// Resolves when the call has arrived (and waits).
    pub arrived: tokio::sync::oneshot::Receiver<()>,
    release: Arc<tokio::sync::Notify>,
}

impl Paused {
    /// Lets the held call go on to the service.
    pub fn release(&self) {
        self.release.notify_one();
    }
}

/// Operations that wrote, as `service:Operation`, sorted.
pub fn writes(calls: &[Call]) -> Vec<String> {
    let mut w: Vec<String> = calls
        .iter()
        .filter(|c| c.write)
        .map(|c| format!("{}:{}", c.service, c.operation))
        .collect();
    w.sort();
    w
}

/// The longest chain of calls each starting after the previous finished:
/// the sequential round trips on the critical path, as `service:Operation`.
pub fn critical_path(calls: &[Call]) -> Vec<String> {
    let mut sorted: Vec<&Call> = calls.iter().collect();
    sorted.sort_by_key(|c| c.finished);
    // Per call: the chain's length ending with it, and the call before it.
    let mut chains: Vec<(usize, Option<usize>)> = Vec::with_capacity(sorted.len());
    for (i, call) in sorted.iter().enumerate() {
        let before = (0..i)
            .filter(|&j| sorted[j].finished <= call.started)
            .max_by_key(|&j| chains[j].0);
        chains.push((before.map_or(0, |j| chains[j].0) + 1, before));
    }
    let mut at = (0..sorted.len()).max_by_key(|&i| chains[i].0);
    let mut path = Vec::new();
    while let Some(i) = at {
        path.push(format!("{}:{}", sorted[i].service, sorted[i].operation));
        at = chains[i].1;
    }
    path.reverse();
    path
}
