//! Calls to AWS's JSON-protocol services ([`wschat_lambdas::json_api`]:
//! SSM, CloudWatch, Service Quotas, ACM, Route 53) with the control plane's retries, all
//! within the call's timeout, failures worded as every AWS error is.

use super::{hint_for_code, Clients, UNREACHABLE_HINT};
use crate::error::{CliError, Result};
use serde_json::Value;
use wschat_lambdas::json_api::{ApiError, JsonApi, Service};
use wschat_lambdas::retry::{retry, Backoff, Limits, Verdict};

const ATTEMPTS: u32 = 8;
const RETRY: Backoff = Backoff::new(
    std::time::Duration::from_millis(200),
    std::time::Duration::from_secs(5),
);

/// `service`'s client for these clients' account, region and endpoint.
pub fn client(clients: &Clients, service: &'static Service) -> JsonApi {
    JsonApi::new(clients.sdk.clone(), service, clients.timeout / 4)
}

/// One call, retried while the failure is transient; the service's own
/// error (a code the caller may expect, such as "not found") as `Ok(Err(_))`,
/// no answer within the timeout as a [`CliError`].
pub async fn call(
    clients: &Clients,
    service: &'static Service,
    operation: &str,
    input: &Value,
    on: &str,
) -> Result<std::result::Result<Value, ApiError>> {
    let api = client(clients, service);
    retried(clients, service, operation, on, || {
        api.call(operation, input)
    })
    .await
}

/// As [`call`], for a REST-JSON API: `method` on `path`, with `input` as the body.
pub async fn rest(
    clients: &Clients,
    service: &'static Service,
    (method, path): (&str, &str),
    input: Option<&Value>,
    on: &str,
) -> Result<std::result::Result<Value, ApiError>> {
    let api = client(clients, service);
    let operation = format!("{method} {path}");
    retried(clients, service, &operation, on, || {
        api.rest(method, path, input)
    })
    .await
}

/// As [`rest`], for a REST-XML API (Route 53): the answer's text.
pub async fn rest_xml(
    clients: &Clients,
    service: &'static Service,
    (method, path): (&str, &str),
    input: Option<&str>,
    on: &str,
) -> Result<std::result::Result<String, ApiError>> {
    let api = client(clients, service);
    let operation = format!("{method} {path}");
    retried(clients, service, &operation, on, || {
        api.rest_xml(method, path, input)
    })
    .await
}

async fn retried<T, F: std::future::Future<Output = std::result::Result<T, ApiError>>>(
    clients: &Clients,
    service: &'static Service,
    operation: &str,
    on: &str,
    attempt: impl Fn() -> F,
) -> Result<std::result::Result<T, ApiError>> {
    let limits = Limits {
        attempts: Some(ATTEMPTS),
        within: Some(clients.timeout),
    };
    let attempts = retry(
        limits,
        |_| attempt(),
        |e: &ApiError, attempt, _| {
            if e.is_transient() {
                Verdict::Retry(RETRY.delay(attempt))
            } else {
                Verdict::Stop
            }
        },
    );
    // An attempt that hangs is cut by the whole call's timeout.
    tokio::time::timeout(clients.timeout, async {
        attempts.await.map_err(|failed| failed.error)
    })
    .await
    .map_err(|_| {
        let none = ApiError {
            status: 0,
            code: "NoAnswer".into(),
            message: "no answer within the timeout".into(),
        };
        failed(service, operation, on, &none)
    })
}

/// As [`call`], with every service error a [`CliError`].
pub async fn checked(
    clients: &Clients,
    service: &'static Service,
    operation: &str,
    input: &Value,
    on: &str,
) -> Result<Value> {
    call(clients, service, operation, input, on)
        .await?
        .map_err(|e| failed(service, operation, on, &e))
}

/// The failure on one line, with what to do about it where we know.
pub fn failed(service: &Service, operation: &str, on: &str, e: &ApiError) -> CliError {
    let err = CliError::failed(format!("{} {operation} on {on} failed: {e}", service.id));
    match (e.code.as_str(), hint_for_code(&e.code)) {
        ("NoAnswer", _) => err.with_hint(UNREACHABLE_HINT),
        (_, Some(hint)) => err.with_hint(hint),
        _ => err,
    }
}
