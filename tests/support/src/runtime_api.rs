//! A small Lambda Runtime API (the `2018-06-01` interface a `provided.al2023`
//! bootstrap polls), plus a recording `@connections` endpoint, so a built
//! `bootstrap` runs exactly as Lambda runs it.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

type Pending = HashMap<String, oneshot::Sender<(bool, Value)>>;

struct Shared {
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, Value)>>,
    pending: Mutex<Pending>,
    first_poll: Mutex<Option<Instant>>,
    posts: Mutex<Vec<(String, Value)>>,
}

pub struct RuntimeApi {
    pub addr: std::net::SocketAddr,
    shared: Arc<Shared>,
    sender: mpsc::UnboundedSender<(String, Value)>,
}

async fn next(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    s.first_poll
        .lock()
        .unwrap()
        .get_or_insert_with(Instant::now);
    let (id, event) = s
        .queue
        .lock()
        .await
        .recv()
        .await
        .expect("test keeps the queue open");
    let deadline = (std::time::SystemTime::now() + std::time::Duration::from_secs(30))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let mut headers = HeaderMap::new();
    headers.insert("Lambda-Runtime-Aws-Request-Id", id.parse().unwrap());
    headers.insert(
        "Lambda-Runtime-Deadline-Ms",
        deadline.to_string().parse().unwrap(),
    );
    headers.insert(
        "Lambda-Runtime-Invoked-Function-Arn",
        "arn:aws:lambda:us-east-1:123456789012:function:wschat-dev-message"
            .parse()
            .unwrap(),
    );
    headers.insert(
        "Lambda-Runtime-Trace-Id",
        "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"
            .parse()
            .unwrap(),
    );
    (headers, event.to_string())
}

async fn finish(s: &Shared, id: &str, ok: bool, body: &Bytes) -> StatusCode {
    let value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if let Some(tx) = s.pending.lock().unwrap().remove(id) {
        let _ = tx.send((ok, value));
    }
    StatusCode::ACCEPTED
}

impl RuntimeApi {
    pub async fn start() -> RuntimeApi {
        let (sender, queue) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            queue: tokio::sync::Mutex::new(queue),
            pending: Mutex::default(),
            first_poll: Mutex::default(),
            posts: Mutex::default(),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(
                    |State(s): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes| async move {
                        finish(&s, &id, true, &body).await
                    },
                ),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(
                    |State(s): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes| async move {
                        finish(&s, &id, false, &body).await
                    },
                ),
            )
            .route(
                "/2018-06-01/runtime/init/error",
                post(|body: Bytes| async move {
                    panic!(
                        "bootstrap reported an init error: {}",
                        String::from_utf8_lossy(&body)
                    );
                    #[allow(unreachable_code)]
                    StatusCode::ACCEPTED
                }),
            )
            .route(
                "/{stage}/@connections/{id}",
                post(
                    |State(s): State<Arc<Shared>>,
                     Path((_stage, id)): Path<(String, String)>,
                     body: Bytes| async move {
                        let frame = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        s.posts.lock().unwrap().push((id, frame));
                        StatusCode::OK
                    },
                ),
            )
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        RuntimeApi {
            addr,
            shared,
            sender,
        }
    }

    /// Queues one event for whichever environment polls next; the receiver
    /// gets `(succeeded, answer)` when it has been handled.
    pub fn submit(&self, event: Value) -> oneshot::Receiver<(bool, Value)> {
        let id = format!("{:032x}", fastrand::u128(..));
        let (tx, rx) = oneshot::channel();
        self.shared.pending.lock().unwrap().insert(id.clone(), tx);
        self.sender.send((id, event)).unwrap();
        rx
    }

    /// Hands the bootstrap one event and waits for its answer: `Ok(response)` or `Err(error report)`.
    pub async fn invoke(&self, event: Value) -> Result<Value, Value> {
        let rx = self.submit(event);
        let (ok, value) = tokio::time::timeout(std::time::Duration::from_secs(30), rx)
            .await
            .expect("bootstrap answered within 30 s")
            .unwrap();
        if ok {
            Ok(value)
        } else {
            Err(value)
        }
    }

    pub fn first_poll(&self) -> Option<Instant> {
        *self.shared.first_poll.lock().unwrap()
    }

    /// Waits (10 s at most) for the function's first poll: the end of its init.
    pub async fn wait_first_poll(&self, function: &str) -> Instant {
        let started = Instant::now();
        loop {
            if let Some(at) = self.first_poll() {
                return at;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "{function} never polled"
            );
            tokio::time::sleep(std::time::Duration::from_micros(200)).await;
        }
    }

    /// Frames posted to `@connections` since the last call.
    pub fn take_posts(&self) -> Vec<(String, Value)> {
        std::mem::take(&mut self.shared.posts.lock().unwrap())
    }

    /// The environment Lambda gives a function, pointing at this Runtime API.
    pub fn lambda_env(&self, function: &str) -> Vec<(String, String)> {
        [
            ("AWS_LAMBDA_RUNTIME_API", self.addr.to_string()),
            ("AWS_LAMBDA_FUNCTION_NAME", function.to_owned()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".to_owned()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{function}"),
            ),
            (
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/11/23/[$LATEST]0123456789abcdef".to_owned(),
            ),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_DEFAULT_REGION", "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
            ("AWS_SESSION_TOKEN", "testing".to_owned()),
            ("_HANDLER", "bootstrap".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}
