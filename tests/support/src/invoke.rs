//! Lambda's Invoke, which moto serves only with Docker: the proxy answers it
//! as Lambda does. An `Event` invoke is accepted with 202 and runs later; a
//! `RequestResponse` invoke answers 200 with the function's result, or with
//! `X-Amz-Function-Error: Unhandled` and its error report when it failed.
//! It does so for the functions a test runs (their real `bootstrap` polling a
//! [`RuntimeApi`], registered with [`crate::proxy::Proxy::run_function`]).

use crate::runtime_api::RuntimeApi;
use axum::body::Body;
use axum::response::Response;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// How long a synchronous invoke may run: Lambda's 15 minutes would hang a
/// failing test, so a tenth of it.
const RUNS_AT_MOST: Duration = Duration::from_secs(90);

/// The function an invoke names, from `/2015-03-31/functions/{name}/invocations`.
pub fn function_of(path: &str) -> Option<String> {
    let name = path
        .strip_prefix("/2015-03-31/functions/")?
        .strip_suffix("/invocations")?;
    let name = crate::percent_decode(name);
    // A function may be named by its ARN (`...:function:NAME[:QUALIFIER]`).
    Some(match name.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest).to_owned(),
        None => name,
    })
}

/// Whether the caller does not wait for the result (`Event`; the default,
/// `RequestResponse`, waits).
pub fn asynchronous(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get("x-amz-invocation-type")
        .is_some_and(|v| v == "Event")
}

/// Hands the event to the function's environments, as Lambda does.
pub async fn run(function: Arc<RuntimeApi>, event: Value, asynchronous: bool) -> Response {
    let answer = function.submit(event);
    if asynchronous {
        // The environments run it; nobody waits for the result.
        tokio::spawn(async move { tokio::time::timeout(RUNS_AT_MOST, answer).await });
        return accepted();
    }
    let (ok, result) = match tokio::time::timeout(RUNS_AT_MOST, answer).await {
        Ok(Ok(answered)) => answered,
        _ => (false, serde_json::json!({"errorType": "Sandbox.Timedout"})),
    };
    let mut builder = Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("x-amz-executed-version", "$LATEST");
    if !ok {
        builder = builder.header("x-amz-function-error", "Unhandled");
    }
    builder
        .body(Body::from(result.to_string()))
        .expect("a valid response")
}

/// Lambda's answer to a synchronous invoke whose environment died under it.
pub fn crashed() -> Response {
    let report = serde_json::json!({
        "errorType": "Runtime.ExitError",
        "errorMessage": "Error: Runtime exited with error: signal: killed",
    });
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("x-amz-function-error", "Unhandled")
        .body(Body::from(report.to_string()))
        .expect("a valid response")
}

/// Lambda's answer to an `Event` invoke it queued.
pub fn accepted() -> Response {
    Response::builder()
        .status(202)
        .body(Body::empty())
        .expect("a valid response")
}
