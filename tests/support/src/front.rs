//! The front of the tests' moto: every request checked against AWS's model
//! ([`crate::models`]) before moto sees it, and DynamoDB's item writes made
//! one at a time: DynamoDB applies each write (a conditional one included)
//! to an item atomically, moto's threaded server does not (two concurrent
//! `SET n = n + :one` could both read the same `n`). It runs on a thread of
//! its own, so it outlives each test's runtime, as the shared moto does.

use crate::models;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use http_body_util::BodyExt;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use std::sync::Arc;

struct Upstream {
    base: String,
    client: Client<HttpConnector, Body>,
    /// Held while moto applies a DynamoDB item write.
    item_writes: tokio::sync::Mutex<()>,
}

/// DynamoDB's operations that write one item.
fn writes_an_item(headers: &axum::http::HeaderMap) -> bool {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    ["PutItem", "UpdateItem", "DeleteItem"]
        .iter()
        .any(|op| target.strip_prefix("DynamoDB_20120810.") == Some(op))
}

/// Starts a checking front for the moto on `moto_port`; its address.
pub fn start(moto_port: u16) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let address = format!("http://{}", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("the front's runtime starts");
        runtime.block_on(async move {
            let upstream = Arc::new(Upstream {
                base: format!("http://127.0.0.1:{moto_port}"),
                client: Client::builder(TokioExecutor::new()).build_http(),
                item_writes: tokio::sync::Mutex::new(()),
            });
            let app = axum::Router::new().fallback(forward).with_state(upstream);
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    address
}

/// The signing name from the SigV4 credential scope.
fn signing_name(headers: &axum::http::HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or_default()
        .to_owned()
}

async fn forward(State(upstream): State<Arc<Upstream>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
        return crate::realism::connection_reset();
    };
    let service = signing_name(&parts.headers);
    let checked = models::check(&models::Request {
        signing_name: &service,
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
        body: &body,
    });
    if let Some(refusal) = models::refusal(&service, checked) {
        return refusal;
    }
    let uri = format!(
        "{}{}",
        upstream.base,
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut forwarded = axum::http::Request::builder()
        .method(parts.method.clone())
        .uri(uri);
    for (name, value) in &parts.headers {
        forwarded = forwarded.header(name, value);
    }
    // Moto has applied the write once its answer's head arrives.
    let _one_at_a_time = match writes_an_item(&parts.headers) {
        true => Some(upstream.item_writes.lock().await),
        false => None,
    };
    match upstream
        .client
        .request(forwarded.body(Body::from(body)).unwrap())
        .await
    {
        Ok(answer) => answer.map(Body::new),
        Err(e) => Response::builder()
            .status(502)
            .body(Body::from(e.to_string()))
            .unwrap(),
    }
}
