//! The route handlers and the delivery worker, generic over where connections live and how frames go out.

use crate::auth::Auth;
use crate::clock::now_ms;
use crate::delivery::{DeliveryJob, DeliveryReport, Dispatch, Part};
use crate::event::{EventType, Response, WebSocketEvent};
use crate::fanout::{self, FanoutOptions, FanoutReport};
use crate::gateway::{Delivery, Gateway};
use crate::history::{Conversation, HistoryStore, Range, Read, SanctionKind};
use crate::protocol::{
    self, Action, ChatMessage, HistoryPage, Presence, ProtocolError, RoomNotice, ServerFrame,
    MAX_FRAME_BYTES,
};
use crate::rate::Rate;
use crate::retry::{retry, Backoff, Failed, Limits, Verdict};
use crate::store::{list_all, Connection, ConnectionStore, Filter, StoreError};
use crate::telemetry::{Discard, Metric, Record, Telemetry};
use std::sync::Arc;
use std::time::Instant;

/// Rooms larger than this get no join/leave notices: announcing every arrival
/// to 10,000 members costs O(n²) posts for no one's benefit.
pub const DEFAULT_NOTICE_LIMIT: usize = 200;
/// `who` lists at most this many names; the frame says when it was cut.
pub const MAX_PRESENCE_NAMES: usize = 500;

/// Rooms with more members than this are delivered by shard workers.
pub const DEFAULT_SHARD_THRESHOLD: usize = 1_000;
/// `@connections` posts per second the shard workers of one message share:
/// half the account's default 10,000 requests/s, the rest left to its other traffic.
pub const DEFAULT_CONNECTIONS_RATE: u32 = 5_000;
/// Messages per second one connection may send: a chat's pace, with room
/// for a burst, while one client flooding a large room stays bounded.
pub const DEFAULT_MAX_MESSAGE_RATE: f64 = 10.0;

#[derive(Debug, Clone)]
pub struct ChatConfig {
    pub max_text_bytes: usize,
    pub notice_limit: usize,
    pub fanout: FanoutOptions,
    /// A room with more members than this is delivered by shard workers (at
    /// most 1,000, a DynamoDB page; 0: never).
    pub shard_threshold: usize,
    /// Posts per second one message's shard workers may make together.
    pub connections_rate: u32,
    /// Each connection's message bucket; `None`: no limit.
    pub message_rate: Option<Rate>,
    /// Members a room may have; 0: no limit.
    pub max_room_size: usize,
    /// How long messages are kept, in seconds; 0: no history.
    pub history_ttl_seconds: i64,
    /// Stored messages a client gets on joining a room; 0: none.
    pub history_on_join: usize,
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig {
            max_text_bytes: protocol::DEFAULT_MAX_TEXT_BYTES,
            notice_limit: DEFAULT_NOTICE_LIMIT,
            fanout: FanoutOptions::default(),
            shard_threshold: DEFAULT_SHARD_THRESHOLD,
            connections_rate: DEFAULT_CONNECTIONS_RATE,
            message_rate: Rate::per_second(DEFAULT_MAX_MESSAGE_RATE),
            max_room_size: 0,
            history_ttl_seconds: crate::history::DEFAULT_TTL_SECONDS,
            history_on_join: crate::history::DEFAULT_ON_JOIN,
        }
    }
}

impl ChatConfig {
    /// Reads `WSCHAT_MAX_TEXT_BYTES`, `WSCHAT_NOTICE_LIMIT`, `WSCHAT_FANOUT_CONCURRENCY`,
    /// `WSCHAT_SHARD_THRESHOLD`, `WSCHAT_CONNECTIONS_RATE`,
    /// `WSCHAT_MAX_MESSAGE_RATE`, `WSCHAT_MAX_ROOM_SIZE`, `WSCHAT_HISTORY_TTL`
    /// (seconds) and `WSCHAT_HISTORY_ON_JOIN`; unset or
    /// unparsable values keep their defaults.
    pub fn from_env() -> Self {
        let read = |key: &str| {
            std::env::var(key)
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
        };
        let mut config = ChatConfig::default();
        if let Some(v) = read("WSCHAT_MAX_TEXT_BYTES") {
            config.max_text_bytes = v.min(MAX_FRAME_BYTES / 2);
        }
        if let Some(v) = read("WSCHAT_NOTICE_LIMIT") {
            config.notice_limit = v;
        }
        if let Some(v) = read("WSCHAT_FANOUT_CONCURRENCY") {
            config.fanout.concurrency = v.max(1);
        }
        if let Some(v) = read("WSCHAT_SHARD_THRESHOLD") {
            config.shard_threshold = v.min(1_000);
        }
        if let Some(v) = read("WSCHAT_CONNECTIONS_RATE") {
            config.connections_rate = u32::try_from(v).unwrap_or(u32::MAX).max(1);
        }
        if let Some(v) = std::env::var("WSCHAT_MAX_MESSAGE_RATE")
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
        {
            config.message_rate = Rate::per_second(v);
        }
        if let Some(v) = read("WSCHAT_MAX_ROOM_SIZE") {
            config.max_room_size = v;
        }
        if let Some(v) = read("WSCHAT_HISTORY_TTL") {
            config.history_ttl_seconds = i64::try_from(v).unwrap_or(i64::MAX);
        }
        if let Some(v) = read("WSCHAT_HISTORY_ON_JOIN") {
            config.history_on_join = v.min(crate::history::MAX_CATCH_UP);
        }
        config
    }
}

pub struct Chat<S, G> {
    pub store: S,
    pub gateway: G,
    pub config: ChatConfig,
    /// Who may connect, and as whom; open unless [`with_auth`](Chat::with_auth) says otherwise.
    pub auth: Arc<Auth>,
    /// Where a large room's shard jobs go, and the `@connections` endpoint
    /// they carry; without one, this invocation delivers the shards itself.
    pub dispatch: Option<(Arc<dyn Dispatch>, String)>,
    /// Where each handled event's record goes (see [`crate::telemetry`]).
    pub telemetry: Arc<dyn Telemetry>,
    /// Stored messages and sanctions; without, nothing is kept or enforced.
    pub history: Option<Arc<dyn HistoryStore>>,
}

/// What an action did beyond answering: a message's delivery.
#[derive(Default)]
struct Acted {
    message: Option<Sent>,
}

struct Sent {
    room: Option<String>,
    fanout: FanoutReport,
    fanout_ms: f64,
    shards: usize,
}

impl<S: ConnectionStore, G: Gateway> Chat<S, G> {
    pub fn new(store: S, gateway: G, config: ChatConfig) -> Self {
        Chat {
            store,
            gateway,
            config,
            auth: Arc::default(),
            dispatch: None,
            telemetry: Arc::new(Discard),
            history: None,
        }
    }

    pub fn with_history(mut self, history: Arc<dyn HistoryStore>) -> Self {
        self.history = Some(history);
        self
    }

    /// The history store, when messages are kept.
    fn kept(&self) -> Option<&dyn HistoryStore> {
        let on = self.config.history_ttl_seconds > 0;
        self.history.as_deref().filter(|_| on)
    }

    pub fn with_telemetry(mut self, telemetry: Arc<dyn Telemetry>) -> Self {
        self.telemetry = telemetry;
        self
    }

    /// Large rooms' shards go to `dispatch`'s workers, which post through `endpoint`.
    pub fn with_dispatch(mut self, dispatch: Arc<dyn Dispatch>, endpoint: String) -> Self {
        self.dispatch = Some((dispatch, endpoint));
        self
    }

    pub fn with_auth(mut self, auth: impl Into<Arc<Auth>>) -> Self {
        self.auth = auth.into();
        self
    }

    /// Handles one API Gateway event, as one Lambda invocation does.
    ///
    /// The answer's status is what API Gateway acts on: on `$connect` a
    /// non-2xx rejects the handshake with that status. A client's mistake in
    /// a message is never a 5xx: it gets an error frame on its own connection
    /// and a 200; only a failing store answers 500. Frames go out through the
    /// [`Gateway`]; a 410 from it prunes that connection's row.
    /// Each event's [`Record`] goes to the chat's telemetry.
    pub async fn handle(&self, event: &WebSocketEvent) -> Response {
        let started = Instant::now();
        let (response, mut record) = match event.request_context.event_type {
            EventType::Connect => self.connect(event).await,
            EventType::Message => self.message(event).await,
            EventType::Disconnect => self.disconnect(event).await,
        };
        record.status = response.status_code;
        record.duration_ms = started.elapsed().as_secs_f64() * 1e3;
        self.telemetry.record(&record);
        response
    }

    /// `$connect`: authenticate, check bans, store the row, tell the room,
    /// hand over its history. A non-2xx here (400 bad name, 401 no valid
    /// token, 403 origin not allowed, banned or room full) makes
    /// API Gateway refuse the handshake with that status.
    async fn connect(&self, event: &WebSocketEvent) -> (Response, Record) {
        let ctx = &event.request_context;
        let mut record = Record::new("connect", &ctx.route_key);
        let admitted = self
            .auth
            .admit(
                event.headers.as_ref(),
                event.query_string_parameters.as_ref(),
            )
            .await;
        let params = match admitted {
            Ok(p) => p,
            Err(refusal) => {
                tracing::info!(connection_id = %ctx.connection_id, status = refusal.status, reason = %refusal.reason, "handshake refused");
                record.outcome = "refused";
                record.count(match refusal.status {
                    401 | 403 => Metric::AuthRefusals,
                    _ => Metric::ClientErrors,
                });
                return (Response::status(refusal.status, refusal.reason), record);
            }
        };
        let muted_until = match self.sanctions_on(&params.username).await {
            Ok(Ok(muted_until)) => muted_until,
            Ok(Err(banned)) => {
                tracing::info!(connection_id = %ctx.connection_id, username = %params.username, "handshake refused: banned");
                record.outcome = "refused";
                record.code = Some("banned");
                record.count(Metric::AuthRefusals);
                return (Response::status(403, banned), record);
            }
            Err(e) => {
                tracing::error!(connection_id = %ctx.connection_id, error = %e, "connect failed");
                return failed(record, "could not register the connection");
            }
        };
        match self.is_full(&params.room).await {
            Ok(false) => {}
            Ok(true) => {
                let refusal = room_full(&params.room, self.config.max_room_size);
                tracing::info!(connection_id = %ctx.connection_id, room = %params.room, "handshake refused: the room is full");
                record.outcome = "refused";
                record.code = Some(refusal.code);
                record.room = Some(params.room);
                record.count(Metric::ClientErrors);
                return (Response::status(403, refusal.message), record);
            }
            Err(e) => {
                tracing::error!(connection_id = %ctx.connection_id, error = %e, "connect failed");
                return failed(record, "could not register the connection");
            }
        }
        let connected_at = if ctx.connected_at > 0 {
            ctx.connected_at
        } else {
            now_ms()
        };
        let mut row = Connection::new(
            &ctx.connection_id,
            &params.username,
            &params.room,
            connected_at,
        );
        row.muted_until = muted_until;
        record.room = Some(row.room.clone());
        if let Err(e) = self.store.put(&row).await {
            tracing::error!(connection_id = %ctx.connection_id, error = %e, "connect failed");
            return failed(record, "could not register the connection");
        }
        tracing::info!(connection_id = %ctx.connection_id, username = %row.username, room = %row.room, "connected");
        // The new connection cannot receive until $connect returns; posting to it
        // now would answer 410 and prune the row we just wrote.
        let notice = ServerFrame::Join(RoomNotice {
            room: row.room.clone(),
            username: row.username,
            ts: now_ms(),
        });
        self.notify_room(&row.room, &notice, Some(&ctx.connection_id))
            .await;
        self.hand_over_catch_up(&ctx.connection_id, &row.room, params.since)
            .await;
        record.count(Metric::Connects);
        (Response::ok(), record)
    }

    /// The operators' word on a name at `$connect`: until when it is muted
    /// (0: not), or, when banned, the refusal's words.
    async fn sanctions_on(&self, username: &str) -> Result<Result<i64, String>, StoreError> {
        let Some(history) = &self.history else {
            return Ok(Ok(0));
        };
        let now = now_ms();
        let mut muted_until = 0;
        for sanction in history.sanctions(Some(username)).await? {
            if !sanction.active(now) {
                continue;
            }
            match sanction.kind {
                SanctionKind::Ban => {
                    return Ok(Err(sanction_words("banned from this chat", &sanction, now)))
                }
                SanctionKind::Mute => muted_until = sanction.until.unwrap_or(i64::MAX),
            }
        }
        Ok(Ok(muted_until))
    }

    /// `$disconnect`: drop the row, tell the room. Best effort, like API Gateway's own delivery of it.
    async fn disconnect(&self, event: &WebSocketEvent) -> (Response, Record) {
        let id = &event.request_context.connection_id;
        let mut record = Record::new("disconnect", &event.request_context.route_key);
        match self.store.delete(id).await {
            Ok(Some(row)) => {
                tracing::info!(connection_id = %id, username = %row.username, "disconnected");
                record.room = Some(row.room.clone());
                record.count(Metric::Disconnects);
                let notice = ServerFrame::Leave(RoomNotice {
                    room: row.room.clone(),
                    username: row.username,
                    ts: now_ms(),
                });
                self.notify_room(&row.room, &notice, None).await;
                (Response::ok(), record)
            }
            Ok(None) => (Response::ok(), record),
            Err(e) => {
                tracing::error!(connection_id = %id, error = %e, "disconnect failed");
                failed(record, "could not remove the connection")
            }
        }
    }

    /// Every routed action and `$default`. Client mistakes get an error frame and a 200.
    async fn message(&self, event: &WebSocketEvent) -> (Response, Record) {
        let ctx = &event.request_context;
        let mut record = Record::new("message", &ctx.route_key);
        let body = event.body.as_deref().unwrap_or("");
        let action = if event.is_base64_encoded {
            Err(ProtocolError::new(
                "binary_frame",
                "binary frames are not supported; send JSON text",
            ))
        } else {
            protocol::parse_action(&ctx.route_key, body, self.config.max_text_bytes)
        };
        let result = match action {
            Ok(action) => self.act(&ctx.connection_id, action).await,
            Err(e) => Ok(Err(e)),
        };
        match result {
            Ok(Ok(acted)) => {
                if let Some(sent) = acted.message {
                    record.room = sent.room;
                    record.shards = sent.shards;
                    record.count(Metric::Messages);
                    record.fanned_out(&sent.fanout, sent.fanout_ms);
                }
                (Response::ok(), record)
            }
            Ok(Err(mistake)) => {
                tracing::info!(connection_id = %ctx.connection_id, code = mistake.code, "client error");
                record.outcome = "client_error";
                record.code = Some(mistake.code);
                record.count(Metric::ClientErrors);
                self.send_to(&ctx.connection_id, &ServerFrame::error(&mistake))
                    .await;
                (Response::ok(), record)
            }
            Err(e) => {
                tracing::error!(connection_id = %ctx.connection_id, error = %e, "message failed");
                let frame = ServerFrame::error(&ProtocolError::new(
                    "internal",
                    "the server could not handle that; try again",
                ));
                self.send_to(&ctx.connection_id, &frame).await;
                failed(record, "internal error")
            }
        }
    }

    async fn act(
        &self,
        sender_id: &str,
        action: Action,
    ) -> Result<Result<Acted, ProtocolError>, StoreError> {
        let Some(mut sender) = self.store.get(sender_id).await? else {
            return Ok(Err(ProtocolError::new(
                "not_connected",
                "this connection is not registered; reconnect",
            )));
        };
        let now = now_ms();
        if sender.is_muted(now) && matches!(action, Action::SendMessage { .. }) {
            return Ok(Err(ProtocolError::new(
                "muted",
                format!(
                    "an operator muted you{}; your messages are not sent",
                    remaining(sender.muted_until, now)
                ),
            )));
        }
        // Typing notices have their own pace; they spend nothing of the bucket.
        if let Action::Typing = action {
            if !sender.is_muted(now) && self.store.typing(sender_id, now).await? {
                self.typing(&sender).await;
            }
            return Ok(Ok(Acted::default()));
        }
        if let Some(rate) = &self.config.message_rate {
            match self.store.spend(sender_id, rate, now).await? {
                Some(full_at) => sender.full_at = full_at,
                None => {
                    return Ok(Err(ProtocolError::new(
                        "rate_limited",
                        format!(
                            "this connection may send {:.1} messages a second (bursts of {}); slow down",
                            1000.0 / rate.interval_ms as f64,
                            rate.burst
                        ),
                    )))
                }
            }
        }
        match action {
            Action::SendMessage { text, to, room } => {
                let sent = self.send_message(&sender, text, to, room).await?;
                Ok(sent.map(|sent| Acted {
                    message: Some(sent),
                }))
            }
            Action::Join { room } => Ok(self.join(sender, room).await?.map(|()| Acted::default())),
            Action::Who => self.who(&sender).await.map(|()| Ok(Acted::default())),
            Action::History {
                room,
                with,
                before,
                after,
                limit,
            } => {
                let range = match (&before, &after) {
                    (Some(id), _) => Range::Before(id),
                    (_, Some(id)) => Range::After(id),
                    _ => Range::Latest,
                };
                let page = self.history_page(&sender, room, with, range, limit).await?;
                Ok(page.map(|()| Acted::default()))
            }
            Action::Typing => unreachable!("answered above"),
        }
    }

    /// A `history` action: one page of a room's history, or of the sender's
    /// direct conversation `with` someone (only where names are verified).
    async fn history_page(
        &self,
        sender: &Connection,
        room: Option<String>,
        with: Option<String>,
        range: Range<'_>,
        limit: usize,
    ) -> Result<Result<(), ProtocolError>, StoreError> {
        let Some(history) = self.kept() else {
            return Ok(Err(ProtocolError::new(
                "history_off",
                "this chat keeps no history (it was deployed with --history-ttl 0)",
            )));
        };
        let (conversation, room, with) = match with {
            Some(_) if !self.auth.verifies_names() => {
                return Ok(Err(ProtocolError::new(
                    "dm_history_unavailable",
                    "direct messages are kept and served only where names are verified (--auth token or jwt): here anyone may claim any name",
                )))
            }
            Some(other) => (
                Conversation::direct(&sender.username, &other),
                None,
                Some(other),
            ),
            None => {
                let room = room.unwrap_or_else(|| sender.room.clone());
                (Conversation::Room(room.clone()), Some(room), None)
            }
        };
        let read = history.read(&conversation, range, limit, now_ms()).await?;
        let page = HistoryPage {
            room,
            with,
            reason: "page".to_owned(),
            messages: read.messages,
            more: read.more,
        };
        let newest_first = matches!(range, Range::After(_));
        self.send_to(&sender.connection_id, &history_frame(page, newest_first))
            .await;
        Ok(Ok(()))
    }

    /// Stores a sent message, when history is kept: room messages always,
    /// direct ones only where names are verified (kept under claimed names
    /// they could be served to whoever claims one later). A failed write is
    /// logged; the message is delivered all the same.
    async fn remember(&self, message: &ChatMessage) {
        let Some(history) = self.kept() else { return };
        if message.to.is_some() && !self.auth.verifies_names() {
            return;
        }
        let expires_at = message.ts / 1000 + self.config.history_ttl_seconds;
        if let Err(e) = history.append(message, expires_at).await {
            tracing::warn!(id = %message.id, error = %e, "the message was delivered but not stored in history");
        }
    }

    /// After `$connect`: the room's recent history, or with `since` what the
    /// client missed, read now and handed to a worker that posts it once the
    /// connection can receive. A newcomer to a quiet room costs no hand-over;
    /// a resuming client always hears how much it missed.
    async fn hand_over_catch_up(&self, connection_id: &str, room: &str, since: Option<String>) {
        let Some(history) = self.kept() else { return };
        if since.is_none() && self.config.history_on_join == 0 {
            return;
        }
        let Some((dispatch, endpoint)) = &self.dispatch else {
            tracing::warn!(
                connection_id,
                "no delivery worker to send the history through"
            );
            return;
        };
        let conversation = Conversation::Room(room.to_owned());
        let (range, limit, reason) = match &since {
            Some(id) => (Range::After(id), crate::history::MAX_CATCH_UP, "resume"),
            None => (Range::Latest, self.config.history_on_join, "join"),
        };
        let read = match history.read(&conversation, range, limit, now_ms()).await {
            Ok(read) => read,
            Err(e) => {
                tracing::warn!(connection_id, error = %e, "could not read the history to send");
                return;
            }
        };
        if since.is_none() && read.messages.is_empty() {
            return;
        }
        // What is stored after this, until the connection opens, reaches it
        // from the worker's second read, not live.
        let after = match (read.messages.last(), &since) {
            (Some(last), _) => last.id.clone(),
            (None, since) => since.clone().unwrap_or_default(),
        };
        let job = DeliveryJob {
            delivery: Part::CatchUp {
                connection_id: connection_id.to_owned(),
                room: room.to_owned(),
                after,
            },
            frame: room_history(room, reason, read).to_json(),
            endpoint: endpoint.clone(),
            rate: self.config.connections_rate,
        };
        for (_, e) in dispatch.dispatch(vec![job]).await {
            tracing::warn!(connection_id, error = %e, "could not hand over the history");
        }
    }

    /// A catch-up job: its frame, posted once the connection can receive
    /// (API Gateway answers 410 until its `$connect` has returned), then
    /// whatever was stored `after` the frame's last message meanwhile, so
    /// nothing falls between history and live traffic.
    async fn catch_up(
        &self,
        connection_id: &str,
        room: &str,
        after: &str,
        frame: &bytes::Bytes,
    ) -> Result<FanoutReport, StoreError> {
        let mut report = FanoutReport::default();
        if !self.post_when_open(connection_id, frame).await? {
            report.failed += 1;
            return Ok(report);
        }
        report.delivered += 1;
        let Some(history) = self.kept() else {
            return Ok(report);
        };
        let conversation = Conversation::Room(room.to_owned());
        let limit = crate::history::MAX_CATCH_UP;
        let later = history
            .read(&conversation, Range::After(after), limit, now_ms())
            .await?;
        if !later.messages.is_empty() {
            self.send_to(connection_id, &room_history(room, "resume", later))
                .await;
            report.delivered += 1;
        }
        Ok(report)
    }

    /// Posts to a connection that may still be opening: a 410 is tried
    /// again while its row stays, for up to [`CATCH_UP_WAIT`]. Whether it arrived.
    async fn post_when_open(
        &self,
        connection_id: &str,
        payload: &bytes::Bytes,
    ) -> Result<bool, StoreError> {
        let limits = Limits {
            attempts: None,
            within: Some(CATCH_UP_WAIT),
        };
        let attempt = |_| async {
            match self.gateway.post(connection_id, payload.clone()).await {
                Ok(Delivery::Delivered) => Ok(()),
                // 410 until its `$connect` returns; for good once its row is gone.
                Ok(Delivery::Gone) => match self.store.get(connection_id).await {
                    Ok(Some(_)) => Err(NotSent::Opening),
                    Ok(None) => Err(NotSent::Left),
                    Err(e) => Err(NotSent::Store(e)),
                },
                Err(e) => Err(NotSent::Gateway(e)),
            }
        };
        let judge = |why: &NotSent, attempt, _| match why {
            NotSent::Opening => Verdict::Retry(CATCH_UP_BACKOFF.delay(attempt)),
            NotSent::Gateway(e) if e.is_retryable() => {
                Verdict::Retry(CATCH_UP_BACKOFF.delay(attempt))
            }
            _ => Verdict::Stop,
        };
        match retry(limits, attempt, judge).await {
            Ok(()) => Ok(true),
            Err(Failed {
                error: NotSent::Store(e),
                ..
            }) => Err(e),
            Err(failed) => {
                tracing::warn!(connection_id, why = ?failed.error, attempts = failed.attempts, "the history was not sent");
                Ok(false)
            }
        }
    }

    /// Tells the sender's room (when small) that it is typing.
    async fn typing(&self, sender: &Connection) {
        let notice = ServerFrame::Typing(RoomNotice {
            room: sender.room.clone(),
            username: sender.username.clone(),
            ts: now_ms(),
        });
        self.notify_room(&sender.room, &notice, Some(&sender.connection_id))
            .await;
    }

    async fn send_message(
        &self,
        sender: &Connection,
        text: String,
        to: Option<String>,
        room: Option<String>,
    ) -> Result<Result<Sent, ProtocolError>, StoreError> {
        let ts = now_ms();
        let room = room.unwrap_or_else(|| sender.room.clone());
        let message = ChatMessage {
            id: protocol::new_message_id(ts),
            room: room.clone(),
            username: sender.username.clone(),
            message: text,
            ts,
            to: to.clone(),
            ops: false,
        };
        let payload = ServerFrame::Message(message.clone()).to_payload();
        if payload.len() > MAX_FRAME_BYTES {
            return Ok(Err(ProtocolError::new(
                "frame_too_large",
                "the message would exceed API Gateway's 128 KB limit",
            )));
        }
        let started = Instant::now();
        let direct = to.is_some();
        let recipients = match to {
            Some(recipient) => {
                let mut ids: Vec<String> =
                    list_all(&self.store, &Filter::Username(recipient.clone()))
                        .await?
                        .into_iter()
                        .map(|c| c.connection_id)
                        .collect();
                if ids.is_empty() {
                    return Ok(Err(ProtocolError::new(
                        "unknown_recipient",
                        format!("no one named '{recipient}' is connected"),
                    )));
                }
                if !ids.contains(&sender.connection_id) {
                    ids.push(sender.connection_id.clone());
                }
                Some(ids)
            }
            None => None,
        };
        let delivery = async {
            match recipients {
                Some(ids) => Ok((self.deliver(ids, &payload).await, 0)),
                None => {
                    let (mut report, shards) = self.deliver_to_room(&room, &payload).await?;
                    if room != sender.room {
                        let echo = [sender.connection_id.clone()];
                        report.delivered += self.deliver(echo, &payload).await.delivered;
                    }
                    Ok::<_, StoreError>((report, shards))
                }
            }
        };
        // Stored beside the delivery, not before it: history adds no wait.
        let ((), delivered) = tokio::join!(self.remember(&message), delivery);
        let (report, shards) = delivered?;
        log_report(&sender.connection_id, &report);
        Ok(Ok(Sent {
            // A direct message's parties stay out of the logs.
            room: (!direct).then_some(room),
            fanout: report,
            fanout_ms: started.elapsed().as_secs_f64() * 1e3,
            shards,
        }))
    }

    /// A small room (its first page is the whole of it) gets the frame from
    /// here; a larger one through its shards' workers. A threshold of 0
    /// turns sharding off: this invocation walks the whole room. Returns
    /// what this invocation delivered and how many shards it handed over.
    async fn deliver_to_room(
        &self,
        room: &str,
        payload: &bytes::Bytes,
    ) -> Result<(FanoutReport, usize), StoreError> {
        let threshold = self.config.shard_threshold;
        let whole_room = Filter::Room(room.to_owned());
        if threshold == 0 {
            let options = &self.config.fanout;
            let report =
                fanout::deliver_to(&self.store, &self.gateway, &whole_room, payload, options)
                    .await?;
            return Ok((report, 0));
        }
        let mut first = self.store.list(&whole_room, None, threshold).await?;
        // DynamoDB hands back a key whenever a page is full, even the last:
        // one more row decides whether the room is larger.
        let larger = match first.next.take() {
            Some(next) => !self
                .store
                .list(&whole_room, Some(next), 1)
                .await?
                .items
                .is_empty(),
            None => false,
        };
        if !larger {
            let ids = first.items.into_iter().map(|c| c.connection_id);
            return Ok((self.deliver(ids, payload).await, 0));
        }
        let frame = String::from_utf8_lossy(payload).into_owned();
        let endpoint = self.dispatch.as_ref().map_or("", |(_, e)| e.as_str());
        let jobs = DeliveryJob::split(
            Part::all(Some(room)),
            &frame,
            endpoint,
            self.config.connections_rate,
        );
        tracing::info!(
            room,
            shards = jobs.len(),
            "a large room: delivered by shards"
        );
        let all = jobs.len();
        let here: Vec<DeliveryJob> = match &self.dispatch {
            Some((dispatch, _)) => {
                let failed = dispatch.dispatch(jobs).await;
                for (_, e) in &failed {
                    tracing::warn!(error = %e, "delivering the shard from this invocation");
                }
                failed.into_iter().map(|(job, _)| job).collect()
            }
            None => jobs,
        };
        // What was not handed over is delivered from here, every shard at once.
        let mut report = FanoutReport::default();
        let inline = here.iter().map(|job| self.deliver_job(job));
        for done in futures_util::future::join_all(inline).await {
            report.add(&done?.fanout);
        }
        Ok((report, all - here.len()))
    }

    /// A delivery function's invocation: [`deliver_job`](Chat::deliver_job),
    /// with its record (a shard delivered from the message function is
    /// counted in the message's record instead).
    pub async fn run_job(&self, job: &DeliveryJob) -> Result<DeliveryReport, StoreError> {
        let started = Instant::now();
        let mut record = Record::new("deliver", "deliver");
        record.room = match &job.delivery {
            Part::RoomShard { room, .. } | Part::CatchUp { room, .. } => Some(room.clone()),
            Part::Segment { .. } => None,
        };
        let done = self.deliver_job(job).await;
        let elapsed = started.elapsed().as_secs_f64() * 1e3;
        match &done {
            Ok(report) => record.fanned_out(&report.fanout, elapsed),
            Err(_) => record.fail(),
        }
        record.duration_ms = elapsed;
        self.telemetry.record(&record);
        done
    }

    /// A delivery worker's job: the frame to every row of its part, paced to its rate.
    pub async fn deliver_job(&self, job: &DeliveryJob) -> Result<DeliveryReport, StoreError> {
        // Enough posts in flight to keep the job's rate at up to 50 ms a post
        // (in-region posts take a few tens): each is a connection of its own.
        let in_flight = (job.rate as usize / 20).clamp(self.config.fanout.concurrency, 1024);
        let options = FanoutOptions {
            rate: Some(job.rate),
            concurrency: in_flight,
            ..self.config.fanout.clone()
        };
        let payload = bytes::Bytes::copy_from_slice(job.frame.as_bytes());
        let fanout = match &job.delivery {
            Part::CatchUp {
                connection_id,
                room,
                after,
            } => self.catch_up(connection_id, room, after, &payload).await?,
            Part::RoomShard { .. } | Part::Segment { .. } => {
                let filter = job.delivery.filter().expect("a fan-out part");
                fanout::deliver_to(&self.store, &self.gateway, &filter, &payload, &options).await?
            }
        };
        tracing::info!(
            part = ?job.delivery,
            delivered = fanout.delivered,
            pruned = fanout.pruned,
            failed = fanout.failed,
            unknown = fanout.unknown,
            "shard delivered"
        );
        Ok(DeliveryReport {
            part: Some(job.delivery.clone()),
            fanout,
        })
    }

    async fn join(
        &self,
        mut sender: Connection,
        room: String,
    ) -> Result<Result<(), ProtocolError>, StoreError> {
        if sender.room != room && self.is_full(&room).await? {
            return Ok(Err(room_full(&room, self.config.max_room_size)));
        }
        let old_room = std::mem::replace(&mut sender.room, room.clone());
        if old_room != room {
            self.store.put(&sender).await?;
            let ts = now_ms();
            let leave = ServerFrame::Leave(RoomNotice {
                room: old_room.clone(),
                username: sender.username.clone(),
                ts,
            });
            self.notify_room(&old_room, &leave, None).await;
        }
        let join = ServerFrame::Join(RoomNotice {
            room: room.clone(),
            username: sender.username.clone(),
            ts: now_ms(),
        });
        // The joiner always hears its own join: that is its acknowledgement.
        if !self.notify_room(&room, &join, None).await {
            self.send_to(&sender.connection_id, &join).await;
        }
        if let (Some(history), 1..) = (self.kept(), self.config.history_on_join) {
            let conversation = Conversation::Room(room.clone());
            let limit = self.config.history_on_join;
            let read = history
                .read(&conversation, Range::Latest, limit, now_ms())
                .await?;
            if read.messages.is_empty() {
                return Ok(Ok(()));
            }
            self.send_to(&sender.connection_id, &room_history(&room, "join", read))
                .await;
        }
        Ok(Ok(()))
    }

    /// Whether `room` has its ceiling's worth of members already. Counting
    /// reads up to that many rows, so a ceiling costs reads on every join.
    async fn is_full(&self, room: &str) -> Result<bool, StoreError> {
        let ceiling = self.config.max_room_size;
        if ceiling == 0 {
            return Ok(false);
        }
        let mut members = 0;
        let mut cursor = None;
        loop {
            let page = self
                .store
                .list(&Filter::Room(room.to_owned()), cursor, 1000)
                .await?;
            members += page.items.len();
            match page.next {
                Some(next) if members < ceiling => cursor = Some(next),
                _ => return Ok(members >= ceiling),
            }
        }
    }

    async fn who(&self, sender: &Connection) -> Result<(), StoreError> {
        let mut users = Vec::new();
        let mut count = 0;
        let mut cursor = None;
        loop {
            let page = self
                .store
                .list(&Filter::Room(sender.room.clone()), cursor, 1000)
                .await?;
            count += page.items.len();
            let room_left = MAX_PRESENCE_NAMES.saturating_sub(users.len());
            users.extend(page.items.into_iter().take(room_left).map(|c| c.username));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        users.sort();
        let frame = ServerFrame::Presence(Presence {
            room: sender.room.clone(),
            truncated: users.len() < count,
            users,
            count,
        });
        self.send_to(&sender.connection_id, &frame).await;
        Ok(())
    }

    /// One payload to these connections, through the fan-out with the chat's settings.
    async fn deliver(
        &self,
        ids: impl IntoIterator<Item = String>,
        payload: &bytes::Bytes,
    ) -> FanoutReport {
        fanout::deliver(
            &self.store,
            &self.gateway,
            ids,
            payload,
            &self.config.fanout,
        )
        .await
    }

    async fn send_to(&self, connection_id: &str, frame: &ServerFrame) {
        let payload = frame.to_payload();
        self.deliver([connection_id.to_owned()], &payload).await;
    }

    /// Tells a small room about an arrival or departure. Returns whether it did.
    async fn notify_room(&self, room: &str, frame: &ServerFrame, except: Option<&str>) -> bool {
        let page = match self
            .store
            .list(
                &Filter::Room(room.to_owned()),
                None,
                self.config.notice_limit,
            )
            .await
        {
            Ok(page) if page.next.is_none() => page,
            Ok(_) => return false,
            Err(e) => {
                tracing::warn!(room, error = %e, "could not list the room for a notice");
                return false;
            }
        };
        let ids = page
            .items
            .into_iter()
            .map(|c| c.connection_id)
            .filter(|id| Some(id.as_str()) != except);
        let payload = frame.to_payload();
        self.deliver(ids, &payload).await;
        true
    }
}

/// A 5xx answer: the event failed, and counts as an error.
fn failed(mut record: Record, reason: &str) -> (Response, Record) {
    record.fail();
    (Response::status(500, reason), record)
}

fn room_full(room: &str, ceiling: usize) -> ProtocolError {
    ProtocolError::new(
        "room_full",
        format!(
            "room '{}' has its {ceiling} members; try another room",
            crate::clip::clip_to(room, 64)
        ),
    )
}

/// How long a catch-up waits for its connection to open, and how often it looks.
const CATCH_UP_WAIT: std::time::Duration = std::time::Duration::from_secs(15);
const CATCH_UP_BACKOFF: Backoff = Backoff::new(
    std::time::Duration::from_millis(20),
    std::time::Duration::from_millis(500),
);

/// Why a catch-up's frame has not arrived.
#[derive(Debug)]
enum NotSent {
    /// 410 while the row stays: its `$connect` has not returned.
    Opening,
    /// 410 and the row is gone: the client left.
    Left,
    Gateway(crate::gateway::GatewayError),
    Store(StoreError),
}

/// A history page as one frame under API Gateway's 128 KB: when the
/// messages would not fit, those farthest from the reader's side go
/// (the oldest, or for a page going forward the newest) and `more` says so.
fn history_frame(mut page: HistoryPage, newest_first_to_go: bool) -> ServerFrame {
    let size = |m: &ChatMessage| serde_json::to_string(m).map_or(0, |j| j.len() + 1);
    let mut total: usize = 512 + page.messages.iter().map(size).sum::<usize>();
    while total > MAX_FRAME_BYTES && !page.messages.is_empty() {
        let gone = if newest_first_to_go {
            page.messages.pop()
        } else {
            Some(page.messages.remove(0))
        };
        total -= gone.as_ref().map_or(0, size);
        page.more = true;
    }
    ServerFrame::History(page)
}

/// A room's history frame: `join` pages keep the newest messages when cut,
/// `resume` pages the oldest (the client pages on from there).
fn room_history(room: &str, reason: &str, read: Read) -> ServerFrame {
    let page = HistoryPage {
        room: Some(room.to_owned()),
        with: None,
        reason: reason.to_owned(),
        messages: read.messages,
        more: read.more,
    };
    history_frame(page, reason == "resume")
}

/// ` for another 12 minutes`, or ` until an operator lifts it`.
fn remaining(until_ms: i64, now_ms: i64) -> String {
    if until_ms == i64::MAX {
        return " until an operator lifts it".to_owned();
    }
    let minutes = ((until_ms - now_ms).max(0) + 59_999) / 60_000;
    format!(
        " for another {minutes} minute{}",
        if minutes == 1 { "" } else { "s" }
    )
}

fn sanction_words(what: &str, sanction: &crate::history::Sanction, now_ms: i64) -> String {
    let mut words = format!(
        "{} is {what}{}",
        sanction.username,
        remaining(sanction.until.unwrap_or(i64::MAX), now_ms)
    );
    if let Some(reason) = &sanction.reason {
        words.push_str(&format!(": {}", crate::clip::clip_to(reason, 200)));
    }
    words
}

fn log_report(sender: &str, report: &FanoutReport) {
    tracing::info!(
        connection_id = sender,
        delivered = report.delivered,
        pruned = report.pruned,
        failed = report.failed,
        unknown = report.unknown,
        "fan-out done"
    );
}
