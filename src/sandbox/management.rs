//! The local `@connections` management API, shaped like API Gateway's so the
//! real `aws-sdk-apigatewaymanagement` client (SigV4-signed) works against it.

use super::Sandbox;
use crate::clock::iso8601;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use wschat_lambdas::gateway::{Delivery, Gateway};
use wschat_lambdas::protocol::MAX_FRAME_BYTES;

/// An error the way API Gateway sends it: the type in `x-amzn-ErrorType`, a JSON message.
pub(super) fn aws_error(status: StatusCode, error_type: &str, message: &str) -> Response {
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
