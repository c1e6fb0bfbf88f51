//! One WebSocket connection through the local API Gateway: `$connect` decides
//! the handshake, each frame is routed and handled, `$disconnect` fires on every close.

use super::events::Origin;
use super::ids::new_id;
use super::registry::{touch, Live, Outbound};
use super::Sandbox;
use aws_smithy_types::base64::encode as base64;
use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use tokio::sync::{mpsc, Notify};
use tokio::time::{sleep_until, Instant};
use wschat_lambdas::chat::now_ms;
use wschat_lambdas::event::Identity;
use wschat_lambdas::protocol::{select_route, MAX_FRAME_BYTES};

/// API Gateway's WebSocket frame limit; messages are limited to [`MAX_FRAME_BYTES`].
pub const MAX_WS_FRAME_BYTES: usize = 32 * 1024;
const READ_BUFFER_BYTES: usize = 1024;

pub async fn upgrade(
    State(sandbox): State<Arc<Sandbox>>,
    Path(stage): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if stage != sandbox.stage {
        return (
            StatusCode::FORBIDDEN,
            format!("no stage '{stage}' here; the stage is '{}'", sandbox.stage),
        )
            .into_response();
    }
    let user_agent = headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let origin = Origin {
        connection_id: new_id(),
        connected_at: now_ms(),
        identity: Identity {
            source_ip: peer.ip().to_string(),
            user_agent: user_agent.clone(),
        },
    };
    let header_map = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    // Registered before `$connect` runs: the row it writes is visible to other
    // handlers at once, and a post to a connection missing from the registry
    // answers 410, which would prune that fresh row. Frames posted meanwhile are
    // queued for the socket.
    let (outbox, inbox) = mpsc::unbounded_channel();
    let live = Arc::new(Live {
        outbox,
        connected_at: origin.connected_at,
        last_active: AtomicI64::new(origin.connected_at),
        source_ip: origin.identity.source_ip.clone(),
        user_agent,
        kicked: Notify::new(),
    });
    sandbox
        .chat
        .gateway
        .insert(origin.connection_id.clone(), live.clone());
    let answer = sandbox
        .invoke(&sandbox.api().connect(&origin, header_map, query))
        .await;
    if !answer.is_success() {
        sandbox.chat.gateway.remove(&origin.connection_id);
        let status =
            StatusCode::from_u16(answer.status_code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (status, answer.body.unwrap_or_default()).into_response();
    }
    sandbox
        .open_sockets
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let on_fail = (sandbox.clone(), origin.clone());
    // tungstenite's 128 KiB default buffers per socket would cost ~1.5 GB at
    // 10,000 connections; chat frames are small and buffers grow when needed.
    ws.read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_frame_size(MAX_WS_FRAME_BYTES)
        .max_message_size(MAX_FRAME_BYTES)
        .on_failed_upgrade(move |_| {
            let (sandbox, origin) = on_fail;
            tokio::spawn(async move { sandbox.close(&origin, 1006, "Handshake failed").await });
        })
        .on_upgrade(move |socket| serve(sandbox, socket, origin, live, inbox))
}

/// Why a connection ended: the `disconnectStatusCode` and `disconnectReason` of `$disconnect`.
struct Ending {
    code: u16,
    reason: &'static str,
    /// Whether the server sends the close frame (else the client did, or vanished).
    server_closes: bool,
}

impl Ending {
    const fn server(code: u16, reason: &'static str) -> Self {
        Ending {
            code,
            reason,
            server_closes: true,
        }
    }
}

async fn serve(
    sandbox: Arc<Sandbox>,
    socket: WebSocket,
    origin: Origin,
    live: Arc<Live>,
    mut inbox: mpsc::UnboundedReceiver<Outbound>,
) {
    let (mut sink, mut stream) = socket.split();
    let (close_tx, mut close_rx) = mpsc::channel::<CloseFrame>(1);
    let writer = tokio::spawn(async move {
        loop {
            tokio::select! {
                biased;
                frame = inbox.recv() => {
                    let Some(frame) = frame else { break };
                    if sink.send(frame.into()).await.is_err() {
                        break;
                    }
                }
                close = close_rx.recv() => {
                    // Frames queued before the close still go out first.
                    while let Ok(frame) = inbox.try_recv() {
                        let _ = sink.send(frame.into()).await;
                    }
                    if let Some(close) = close {
                        let _ = sink.send(Message::Close(Some(close))).await;
                    }
                    break;
                }
            }
        }
        let _ = sink.close().await;
    });

    let limits = &sandbox.limits;
    let lifetime_end = Instant::now() + limits.max_lifetime;
    let mut shutdown = sandbox.shutdown.clone();
    let ending = loop {
        let idle_end = Instant::now() + limits.idle_timeout;
        let frame = tokio::select! {
            frame = stream.next() => frame,
            _ = sleep_until(idle_end) => break Ending::server(close_code::AWAY, "Going away: idle timeout"),
            _ = sleep_until(lifetime_end) => break Ending::server(close_code::AWAY, "Going away: connection lifetime exceeded"),
            _ = live.kicked.notified() => break Ending::server(close_code::NORMAL, "Closed by the @connections API"),
            _ = shutdown.wait_for(|stop| *stop) => break Ending::server(close_code::AWAY, "Going away: server shutting down"),
        };
        touch(&live);
        match frame {
            Some(Ok(Message::Text(text))) => {
                let route = select_route(&text);
                let event = sandbox
                    .api()
                    .message(&origin, route, text.to_string(), false);
                sandbox.invoke(&event).await;
            }
            Some(Ok(Message::Binary(bytes))) => {
                let event = sandbox
                    .api()
                    .message(&origin, "$default", base64(&bytes), true);
                sandbox.invoke(&event).await;
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(Message::Close(frame))) => {
                break match frame {
                    Some(f) => Ending {
                        code: f.code,
                        reason: "Client-side close frame",
                        server_closes: false,
                    },
                    None => Ending {
                        code: close_code::STATUS,
                        reason: "Client-side close frame status not set",
                        server_closes: false,
                    },
                };
            }
            Some(Err(e)) if is_too_big(&e) => {
                break Ending::server(close_code::SIZE, "Message too big")
            }
            Some(Err(_)) | None => {
                break Ending {
                    code: close_code::ABNORMAL,
                    reason: "Connection closed abnormally",
                    server_closes: false,
                }
            }
        }
    };
    if ending.server_closes {
        let _ = close_tx
            .send(CloseFrame {
                code: ending.code,
                reason: ending.reason.into(),
            })
            .await;
    }
    drop(close_tx);
    sandbox.close(&origin, ending.code, ending.reason).await;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), writer).await;
}

/// Over the frame or message limit: tungstenite reports a capacity error.
fn is_too_big(e: &axum::Error) -> bool {
    let source = std::error::Error::source(e);
    matches!(
        source.and_then(|s| s.downcast_ref::<tungstenite::Error>()),
        Some(tungstenite::Error::Capacity(_))
    )
}
