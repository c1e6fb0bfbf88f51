//! The local `@connections` management API, shaped like API Gateway's so the
//! real `aws-sdk-apigatewaymanagement` client (SigV4-signed) works against it.

use super::Sandbox;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use wschat_lambdas::gateway::{Delivery, Gateway};
use wschat_lambdas::protocol::MAX_FRAME_BYTES;

/// An error the way API Gateway sends it: the type in `x-amzn-ErrorType`, a JSON message.
fn aws_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-amzn-ErrorType",
        HeaderValue::from_str(error_type).expect("error types are ASCII"),
    );
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    (
        status,
        headers,
        serde_json::json!({ "message": message }).to_string(),
    )
        .into_response()
}

fn gone() -> Response {
    aws_error(
        StatusCode::GONE,
        "GoneException",
        "the connection is gone or never existed",
    )
}

fn check_stage(sandbox: &Sandbox, stage: &str) -> Option<Response> {
    (stage != sandbox.stage)
        .then(|| aws_error(StatusCode::FORBIDDEN, "ForbiddenException", "Forbidden"))
}

fn iso8601(epoch_ms: i64) -> String {
    // Civil-from-days (Howard Hinnant), to avoid a date crate for one format.
    let secs = epoch_ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        epoch_ms.rem_euclid(1000)
    )
}

pub async fn post(
    State(sandbox): State<Arc<Sandbox>>,
    Path((stage, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if let Some(denied) = check_stage(&sandbox, &stage) {
        return denied;
    }
    if body.len() > MAX_FRAME_BYTES {
        return aws_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLargeException",
            "the payload exceeds 128 KB",
        );
    }
    match sandbox.chat.gateway.post(&id, body).await {
        Ok(Delivery::Delivered) => StatusCode::OK.into_response(),
        _ => gone(),
    }
}

pub async fn get(
    State(sandbox): State<Arc<Sandbox>>,
    Path((stage, id)): Path<(String, String)>,
) -> Response {
    if let Some(denied) = check_stage(&sandbox, &stage) {
        return denied;
    }
    let Some(live) = sandbox.chat.gateway.get(&id) else {
        return gone();
    };
    // The wire names are camelCase; the SDK exposes them as ConnectedAt, Identity, LastActiveAt.
    let mut identity = serde_json::json!({ "sourceIp": live.source_ip });
    if let Some(agent) = &live.user_agent {
        identity["userAgent"] = agent.clone().into();
    }
    let body = serde_json::json!({
        "connectedAt": iso8601(live.connected_at),
        "identity": identity,
        "lastActiveAt": iso8601(live.last_active.load(Ordering::Relaxed)),
    });
    ([("content-type", "application/json")], body.to_string()).into_response()
}

pub async fn delete(
    State(sandbox): State<Arc<Sandbox>>,
    Path((stage, id)): Path<(String, String)>,
) -> Response {
    if let Some(denied) = check_stage(&sandbox, &stage) {
        return denied;
    }
    match sandbox.chat.gateway.disconnect(&id).await {
        Ok(Delivery::Delivered) => StatusCode::NO_CONTENT.into_response(),
        _ => gone(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_iso8601() {
        assert_eq!(super::iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            super::iso8601(1_795_426_812_345),
            "2026-11-23T09:40:12.345Z"
        );
        assert_eq!(super::iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
