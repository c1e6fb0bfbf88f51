//! `/{stage}/@wschat/...`: what the table and the log groups are on AWS, for
//! `wschat connections|broadcast|status|logs --local`. Not part of API Gateway.

use super::Sandbox;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use std::sync::Arc;
use wschat_lambdas::moderation;
use wschat_lambdas::store::{ConnectionStore, Filter};

#[derive(Deserialize)]
pub struct ListQuery {
    room: Option<String>,
    username: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

fn internal(e: impl std::fmt::Display) -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
}

pub async fn list(
    State(sandbox): State<Arc<Sandbox>>,
    Path(stage): Path<String>,
    Query(q): Query<ListQuery>,
) -> Response {
    if stage != sandbox.stage {
        return StatusCode::NOT_FOUND.into_response();
    }
    let filter = match (q.room, q.username) {
        (Some(room), _) => Filter::Room(room),
        (None, Some(name)) => Filter::Username(name),
        (None, None) => Filter::All,
    };
    match sandbox
        .chat
        .store
        .list(&filter, q.cursor, q.limit.unwrap_or(1000).min(1000))
        .await
    {
        Ok(page) => {
            Json(serde_json::json!({ "items": page.items, "next": page.next })).into_response()
        }
        Err(e) => internal(e),
    }
}

pub async fn get(
    State(sandbox): State<Arc<Sandbox>>,
    Path((stage, id)): Path<(String, String)>,
) -> Response {
    if stage != sandbox.stage {
        return StatusCode::NOT_FOUND.into_response();
    }
    match sandbox.chat.store.get(&id).await {
        Ok(Some(row)) => Json(row).into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => internal(e),
    }
}

pub async fn delete(
    State(sandbox): State<Arc<Sandbox>>,
    Path((stage, id)): Path<(String, String)>,
) -> Response {
    if stage != sandbox.stage {
        return StatusCode::NOT_FOUND.into_response();
    }
    match sandbox.chat.store.delete(&id).await {
        Ok(Some(row)) => Json(row).into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
pub struct LogQuery {
    /// Only lines after this sequence number.
    after: Option<u64>,
}

pub async fn logs(
    State(sandbox): State<Arc<Sandbox>>,
    Path(stage): Path<String>,
    Query(q): Query<LogQuery>,
) -> Response {
    if stage != sandbox.stage {
        return StatusCode::NOT_FOUND.into_response();
    }
    Json(sandbox.logs.since(q.after.unwrap_or(0))).into_response()
}

#[derive(Deserialize)]
pub struct HealthQuery {
    since_seconds: Option<u64>,
}

/// The functions' figures over the last `since_seconds` (15 minutes unless told).
pub async fn health(
    State(sandbox): State<Arc<Sandbox>>,
    Path(stage): Path<String>,
    Query(q): Query<HealthQuery>,
) -> Response {
    if stage != sandbox.stage {
        return StatusCode::NOT_FOUND.into_response();
    }
    let since = q
        .since_seconds
        .unwrap_or(crate::health::DEFAULT_SINCE.as_secs());
    Json(sandbox.metrics.figures(since)).into_response()
}

#[derive(Deserialize)]
pub struct TokenRequest {
    user: String,
    room: Option<String>,
    ttl_seconds: u64,
}

/// `wschat token --local`: the sandbox signs, so its secret never leaves it.
/// The lifetime is held to the limits of `wschat token --ttl`.
pub async fn token(
    State(sandbox): State<Arc<Sandbox>>,
    Path(stage): Path<String>,
    request: Result<Json<TokenRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if stage != sandbox.stage {
        return StatusCode::NOT_FOUND.into_response();
    }
    let request = match request {
        Ok(Json(request)) => request,
        Err(e) => return (
            StatusCode::BAD_REQUEST,
            format!("expected {{\"user\": NAME, \"room\": ROOM?, \"ttl_seconds\": N}} with a token lifetime between 1s and 30d: {}", wschat_lambdas::clip::clip(&e.body_text())),
        )
            .into_response(),
    };
    let Some((secret, audience)) = &sandbox.tokens else {
        return (
            StatusCode::CONFLICT,
            "this sandbox does not use tokens: start it with `wschat dev --auth token`",
        )
            .into_response();
    };
    let ttl = std::time::Duration::from_secs(request.ttl_seconds);
    match wschat_lambdas::auth::token::mint(
        secret,
        audience,
        &request.user,
        request.room.as_deref(),
        ttl,
    ) {
        Ok(token) => Json(serde_json::json!({ "token": token })).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

/// `wschat ban|unban|mute|unmute|bans|messages --local`: the same
/// moderation as on AWS, over the sandbox's own stores and connections.
pub async fn moderate(
    State(sandbox): State<Arc<Sandbox>>,
    Path(stage): Path<String>,
    request: Result<Json<moderation::Command>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if stage != sandbox.stage {
        return StatusCode::NOT_FOUND.into_response();
    }
    let command = match request {
        Ok(Json(command)) => command,
        Err(e) => {
            let why = wschat_lambdas::clip::clip(&e.body_text()).to_string();
            return (StatusCode::BAD_REQUEST, why).into_response();
        }
    };
    let chat = &sandbox.chat;
    let Some(history) = chat.history.as_deref() else {
        return (StatusCode::CONFLICT, "this sandbox keeps no history").into_response();
    };
    match moderation::run(&chat.store, history, &chat.gateway, &command).await {
        Ok(outcome) => Json(serde_json::json!({
            "outcome": outcome,
            "names_verified": chat.auth.verifies_names(),
        }))
        .into_response(),
        Err(e) => internal(e),
    }
}
