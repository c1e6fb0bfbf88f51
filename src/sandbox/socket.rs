//! One WebSocket connection through the local API Gateway: `$connect` decides
//! the handshake, each frame is its own invocation, `$disconnect` fires on every close.

use super::events::{Origin, Pairs};
use super::ids::new_id;
use super::listener::RawHead;
use super::registry::{Live, Outlet};
use super::{Invocation, Sandbox};
use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::time::{sleep, sleep_until, Instant};
use tungstenite::error::ProtocolError;
use wschat_lambdas::clock::now_ms;
use wschat_lambdas::event::Identity;
use wschat_lambdas::protocol::{select_route, MAX_FRAME_BYTES};

/// API Gateway's WebSocket frame limit; messages are limited to [`MAX_FRAME_BYTES`].
pub const MAX_WS_FRAME_BYTES: usize = 32 * 1024;
const READ_BUFFER_BYTES: usize = 1024;
/// Frames of one connection being handled at once; past it the sandbox stops
/// reading that socket until one finishes (AWS would run more Lambdas, then
/// throttle). Every connection's together are held to [`super::MAX_INVOCATIONS`].
const MAX_IN_FLIGHT: usize = 32;
/// How long a closing socket may take to write its last frames.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The headers as the client sent them: from the raw head when it is this
/// request's, else hyper's lower-cased names.
fn client_headers(raw: Option<Extension<RawHead>>, headers: &HeaderMap) -> Pairs {
    let matches = |raw: &RawHead| {
        raw.0.len() == headers.len()
            && raw.0.iter().all(|(name, value)| {
                headers
                    .get_all(name.as_str())
                    .iter()
                    .any(|v| v.as_bytes() == value.as_bytes())
            })
    };
    match raw {
        Some(Extension(raw)) if matches(&raw) => raw.0.as_ref().clone(),
        _ => headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
    }
}

pub async fn upgrade(
    State(sandbox): State<Arc<Sandbox>>,
    Path(stage): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    raw: Option<Extension<RawHead>>,
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
    let event = sandbox
        .api()
        .connect(&origin, client_headers(raw, &headers), query);
    // `$connect` runs in a task of its own: hyper drops this handler when the
    // client leaves mid-handshake, and the invocation must still finish and,
    // if it admitted the connection, be followed by its `$disconnect`.
    let connect = tokio::spawn(admit(sandbox.clone(), origin, event, user_agent));
    let admitted = match connect.await {
        Ok(Ok(admitted)) => admitted,
        Ok(Err(refusal)) => return refusal,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    // Whichever of the two callbacks runs takes the connection; if neither
    // does (the client is gone), dropping it runs `$disconnect`.
    let admitted = Arc::new(std::sync::Mutex::new(Some(admitted)));
    let on_fail = admitted.clone();
    // tungstenite's 128 KiB default buffers per socket would cost ~1.5 GB at
    // 10,000 connections; chat frames are small and buffers grow when needed.
    ws.read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_frame_size(MAX_WS_FRAME_BYTES)
        .max_message_size(MAX_FRAME_BYTES)
        .on_failed_upgrade(move |_| drop(on_fail.lock().unwrap().take()))
        .on_upgrade(move |socket| async move {
            let taken = admitted.lock().unwrap().take();
            if let Some(admitted) = taken {
                serve(socket, admitted).await;
            }
        })
}

/// Runs `$connect`; when it succeeds, registers the connection (until then
/// API Gateway answers 410 to posts for its id). The refusal otherwise.
async fn admit(
    sandbox: Arc<Sandbox>,
    origin: Origin,
    event: wschat_lambdas::WebSocketEvent,
    user_agent: Option<String>,
) -> Result<Admitted, Response> {
    match sandbox.invoke(event).await {
        (Invocation::Answered(answer), _) if answer.is_success() => {}
        (Invocation::Answered(answer), _) => {
            let status = StatusCode::from_u16(answer.status_code)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return Err((status, answer.body.unwrap_or_default()).into_response());
        }
        (failed, request_id) => {
            let body = failed.gateway_error(&origin.connection_id, &request_id);
            return Err(
                (StatusCode::INTERNAL_SERVER_ERROR, body.unwrap_or_default()).into_response(),
            );
        }
    }
    // Frames posted from here on wait for the socket.
    let (outbox, inbox) = mpsc::unbounded_channel();
    let live = Arc::new(Live::new(
        outbox,
        sandbox.outbound_limit,
        sandbox.chat.gateway.budget(),
        origin.connected_at,
        origin.identity.source_ip.clone(),
        user_agent,
    ));
    sandbox
        .chat
        .gateway
        .insert(origin.connection_id.clone(), live.clone());
    sandbox.open_sockets.fetch_add(1, Ordering::SeqCst);
    Ok(Admitted {
        sandbox,
        origin,
        inbox: Some(Outlet::new(inbox, live.clone())),
        live,
    })
}

/// A connection `$connect` admitted, until its socket is served. Dropped
/// before that (the client closed before the 101 reached it), it runs the
/// `$disconnect` every admitted connection gets.
struct Admitted {
    sandbox: Arc<Sandbox>,
    origin: Origin,
    live: Arc<Live>,
    /// Taken by [`serve`], which then owns the connection's end.
    inbox: Option<Outlet>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if self.inbox.is_some() {
            let (sandbox, origin) = (self.sandbox.clone(), self.origin.clone());
            tokio::spawn(async move {
                sandbox
                    .close(&origin, close_code::ABNORMAL, ABNORMAL_REASON)
                    .await
            });
        }
    }
}

/// The reasons API Gateway gives in `$disconnect` (where AWS documents none,
/// the sandbox's choice; see docs/fidelity.md).
const GOING_AWAY: &str = "Going away";
const NORMAL_REASON: &str = "Connection Closed Normally";
const NO_STATUS_REASON: &str = "Client-side close frame status not set";
const ABNORMAL_REASON: &str = "Connection Closed Abnormally";

/// Why a connection ended: the `disconnectStatusCode` and `disconnectReason` of `$disconnect`.
struct Ending {
    code: u16,
    reason: String,
    /// The close frame the server sends, if it sends one.
    frame: bool,
    /// The socket cannot take more bytes: do not wait to flush anything.
    abandon: bool,
}

impl Ending {
    fn server(code: u16, reason: &str) -> Self {
        Ending {
            code,
            reason: reason.to_owned(),
            frame: true,
            abandon: false,
        }
    }

    fn client(code: u16, reason: &str) -> Self {
        Ending {
            code,
            reason: reason.to_owned(),
            frame: false,
            abandon: false,
        }
    }

    /// The client's close frame: API Gateway's words for the common codes.
    fn client_frame(frame: Option<CloseFrame>) -> Self {
        match frame {
            None => Ending::client(close_code::STATUS, NO_STATUS_REASON),
            Some(f) if f.code == close_code::NORMAL => Ending::client(f.code, NORMAL_REASON),
            Some(f) if f.code == close_code::AWAY => Ending::client(f.code, GOING_AWAY),
            Some(f) => Ending::client(f.code, &f.reason),
        }
    }

    /// Cut off for what it holds: its queue or its share of every queue.
    fn overflowed(origin: &Origin, live: &Live) -> Self {
        tracing::warn!(connection_id = %origin.connection_id, limit = live.queue_limit, "client is not reading: disconnected");
        Ending {
            abandon: true,
            ..Ending::server(
                close_code::POLICY,
                "Client is not reading: outbound buffer full",
            )
        }
    }

    /// A read error: too big (1009), invalid UTF-8 (1007), a protocol
    /// violation (1002, RFC 6455 §7.4.1), or the client vanished (1006).
    fn read_error(e: &axum::Error) -> Self {
        let source = std::error::Error::source(e);
        match source.and_then(|s| s.downcast_ref::<tungstenite::Error>()) {
            Some(tungstenite::Error::Capacity(_)) => {
                Ending::server(close_code::SIZE, "Message too big")
            }
            Some(tungstenite::Error::Utf8(_)) => {
                Ending::server(close_code::INVALID, "Invalid frame payload data")
            }
            Some(tungstenite::Error::Protocol(p))
                if !matches!(p, ProtocolError::ResetWithoutClosingHandshake) =>
            {
                Ending::server(close_code::PROTOCOL, "Protocol error")
            }
            _ => Ending::client(close_code::ABNORMAL, ABNORMAL_REASON),
        }
    }
}

/// Serves an admitted connection until it ends, then runs its `$disconnect`.
async fn serve(socket: WebSocket, mut admitted: Admitted) {
    let outlet = admitted.inbox.take().expect("served once");
    let (sandbox, origin, live) = (
        admitted.sandbox.clone(),
        admitted.origin.clone(),
        admitted.live.clone(),
    );
    drop(admitted);
    let (sink, stream) = socket.split();
    let (close_tx, close_rx) = mpsc::channel::<CloseFrame>(1);
    let mut writer = tokio::spawn(write(sink, outlet, close_rx));
    live.set_writer(writer.abort_handle());
    let ending = read(&sandbox, &origin, &live, stream).await;
    if ending.frame && !ending.abandon {
        let _ = close_tx.try_send(CloseFrame {
            code: ending.code,
            reason: ending.reason.clone().into(),
        });
    }
    drop(close_tx);
    sandbox.close(&origin, ending.code, &ending.reason).await;
    if !ending.abandon {
        let _ = tokio::time::timeout(CLOSE_GRACE, &mut writer).await;
    }
    // A client that stopped reading would hold the writer, its queue and the
    // descriptor until TCP gave up, minutes later.
    writer.abort();
}

type Sink = futures_util::stream::SplitSink<WebSocket, Message>;
type Stream = futures_util::stream::SplitStream<WebSocket>;

/// Writes what is posted to the connection, in order; on the close, what was
/// queued before it, then the close frame.
async fn write(mut sink: Sink, mut outlet: Outlet, mut close_rx: mpsc::Receiver<CloseFrame>) {
    loop {
        tokio::select! {
            biased;
            frame = outlet.inbox.recv() => {
                let Some(frame) = frame else { break };
                let len = frame.len();
                if sink.send(frame.into()).await.is_err() {
                    break;
                }
                outlet.sent(len);
            }
            close = close_rx.recv() => {
                while let Ok(frame) = outlet.inbox.try_recv() {
                    let len = frame.len();
                    let _ = sink.send(frame.into()).await;
                    outlet.sent(len);
                }
                if let Some(close) = close {
                    let _ = sink.send(Message::Close(Some(close))).await;
                }
                break;
            }
        }
    }
    let _ = sink.close().await;
}

/// Reads the client's frames, each its own invocation, until the connection
/// ends: the client's close or error, the idle timeout, the lifetime, a
/// kick, a cut for what it holds, or Ctrl-C.
async fn read(sandbox: &Arc<Sandbox>, origin: &Origin, live: &Live, mut stream: Stream) -> Ending {
    let limits = &sandbox.limits;
    let per_connection = if sandbox.serial_frames {
        1
    } else {
        MAX_IN_FLIGHT
    };
    let in_flight = Arc::new(Semaphore::new(per_connection));
    let lifetime_end = Instant::now() + limits.max_lifetime;
    // Data frames either way keep a connection alive; pings and pongs do not.
    let idle_left = || {
        let since = now_ms() - live.last_data.load(Ordering::Relaxed);
        limits
            .idle_timeout
            .saturating_sub(Duration::from_millis(since.max(0) as u64))
    };
    let mut shutdown = sandbox.shutdown.clone();
    loop {
        let frame = tokio::select! {
            frame = stream.next() => frame,
            () = sleep(idle_left()) => {
                if idle_left().is_zero() {
                    tracing::info!(connection_id = %origin.connection_id, "idle timeout");
                    return Ending::server(close_code::AWAY, GOING_AWAY);
                }
                continue;
            }
            () = sleep_until(lifetime_end) => {
                tracing::info!(connection_id = %origin.connection_id, "connection lifetime reached");
                return Ending::server(close_code::AWAY, GOING_AWAY);
            }
            ending = interrupted(live, &mut shutdown, origin) => return ending,
        };
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            // API Gateway: "If a client app sends a binary frame, API Gateway
            // rejects it and disconnects the client with code 1003."
            Some(Ok(Message::Binary(_))) => {
                return Ending::server(close_code::UNSUPPORTED, "Binary frames are not supported")
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Close(frame))) => return Ending::client_frame(frame),
            Some(Err(e)) => return Ending::read_error(&e),
            None => return Ending::client(close_code::ABNORMAL, ABNORMAL_REASON),
        };
        live.received_data();
        let event = sandbox
            .api()
            .message(origin, select_route(&text), text.to_string());
        // A permit of this connection's, then one of the sandbox's; a kick, a
        // cut or Ctrl-C while waiting for them ends the connection.
        let permits = async {
            let own = in_flight.clone().acquire_owned().await;
            (own, sandbox.invocations.clone().acquire_owned().await)
        };
        let permits = tokio::select! {
            permits = permits => permits,
            ending = interrupted(live, &mut shutdown, origin) => return ending,
        };
        let sandbox = sandbox.clone();
        tokio::spawn(async move {
            let _permits = permits;
            sandbox.invoke_for_client(event).await;
        });
    }
}

/// What ends a connection from the server's side at any moment: a kick
/// (`DELETE @connections`), a cut for what it holds, or the sandbox stopping.
async fn interrupted(live: &Live, shutdown: &mut watch::Receiver<bool>, origin: &Origin) -> Ending {
    tokio::select! {
        () = live.kicked.notified() => Ending::server(close_code::NORMAL, NORMAL_REASON),
        () = live.overflowed.notified() => Ending::overflowed(origin, live),
        _ = shutdown.wait_for(|stop| *stop) => Ending::server(close_code::AWAY, GOING_AWAY),
    }
}

impl Invocation {
    /// The frame API Gateway sends the client when an invocation fails.
    pub fn gateway_error(&self, connection_id: &str, request_id: &str) -> Option<String> {
        let message = match self {
            Invocation::Answered(_) => return None,
            Invocation::Failed => "Internal server error",
            Invocation::TimedOut => "Endpoint request timed out",
        };
        let frame = serde_json::json!({
            "message": message,
            "connectionId": connection_id,
            "requestId": request_id,
        });
        Some(frame.to_string())
    }
}
