//! `wschat broadcast`: an ops message to everyone, a room, or one user, through
//! the message Lambda's own fan-out (bounded, rate-limited, retried, pruning
//! 410s); on AWS, an audience larger than a room the message function
//! delivers by itself goes through the delivery function ([`super::handoff`]).

use super::{handoff, store_error, Backend, Target};
use crate::error::{CliError, Result};
use crate::progress::Progress;
use bytes::Bytes;
use serde::Serialize;
use std::fmt;
use std::time::Instant;
use wschat_lambdas::chat::DEFAULT_SHARD_THRESHOLD;
use wschat_lambdas::clock::now_ms;
use wschat_lambdas::delivery::{DeliveryJob, Part};
use wschat_lambdas::fanout::{self, FanoutOptions};
use wschat_lambdas::gateway::{Delivery, Gateway, GatewayError};
use wschat_lambdas::protocol::{new_message_id, ChatMessage, ServerFrame, MAX_FRAME_BYTES};
use wschat_lambdas::store::{list_all, ConnectionStore, Filter};

pub enum Audience {
    Everyone,
    Room(String),
    /// A username or a connection id.
    One(String),
}

pub struct BroadcastOptions {
    pub text: String,
    pub audience: Audience,
    pub from: String,
    pub concurrency: usize,
    pub rate: u32,
    pub dry_run: bool,
}

#[derive(Debug, Serialize)]
pub struct BroadcastReport {
    pub target: String,
    pub audience: String,
    pub dry_run: bool,
    pub recipients: usize,
    pub delivered: usize,
    pub pruned: usize,
    /// Answered 410 while still opening (their `$connect` had not returned); not pruned.
    pub connecting: usize,
    /// Not delivered: every attempt was answered with a failure.
    pub failed: usize,
    /// Sent, but no answer came: may or may not have been delivered.
    pub unknown: usize,
    pub bytes: usize,
    /// Invocations of the delivery function that carried it (0: posted from here).
    pub invocations: usize,
    pub elapsed_seconds: f64,
    pub posts_per_second: f64,
}

impl BroadcastReport {
    /// Every recipient is known to have it, or to be gone.
    pub fn ok(&self) -> bool {
        self.failed == 0 && self.unknown == 0
    }
}

impl fmt::Display for BroadcastReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dry_run {
            return write!(
                f,
                "would send {} bytes to {} recipient(s) ({}) on {}",
                self.bytes, self.recipients, self.audience, self.target
            );
        }
        write!(
            f,
            "broadcast to {} ({}) on {}: {} delivered, {} pruned (gone), {}{} failed{} in {:.2} s ({:.0} posts/s{})",
            self.recipients,
            self.audience,
            self.target,
            self.delivered,
            self.pruned,
            match self.connecting {
                0 => String::new(),
                n => format!("{n} still opening (kept), "),
            },
            self.failed,
            match self.unknown {
                0 => String::new(),
                n => format!(", {n} unknown (sent, no answer: may have arrived)"),
            },
            self.elapsed_seconds,
            self.posts_per_second,
            match self.invocations {
                0 => String::new(),
                n => format!(", through {n} delivery invocations"),
            }
        )
    }
}

/// Ticks the progress bar on every post; otherwise the gateway it wraps.
struct Counted<G> {
    inner: G,
    bar: Option<indicatif::ProgressBar>,
}

impl<G: Gateway> Gateway for Counted<G> {
    async fn post(&self, id: &str, data: Bytes) -> std::result::Result<Delivery, GatewayError> {
        let result = self.inner.post(id, data).await;
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
        result
    }

    async fn disconnect(&self, id: &str) -> std::result::Result<Delivery, GatewayError> {
        self.inner.disconnect(id).await
    }
}

/// The frame every client shows: a chat `message` from the `--from` label.
pub fn frame(options: &BroadcastOptions) -> Result<Bytes> {
    if options.text.trim().is_empty() {
        return Err(CliError::usage("the message is empty")
            .with_hint("pass the text, --file PATH, or - to read it from stdin"));
    }
    let ts = now_ms();
    let room = match &options.audience {
        Audience::Room(room) => room.clone(),
        _ => "*".to_owned(),
    };
    let to = match &options.audience {
        Audience::One(who) => Some(who.clone()),
        _ => None,
    };
    let frame = ServerFrame::Message(ChatMessage {
        id: new_message_id(ts),
        room,
        username: options.from.clone(),
        message: options.text.clone(),
        ts,
        to,
        ops: true,
    });
    let bytes = frame.to_payload();
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(CliError::usage(format!(
            "the message makes a {} byte frame; API Gateway delivers at most {MAX_FRAME_BYTES} bytes (128 KB)",
            bytes.len()
        )));
    }
    Ok(bytes)
}

async fn recipients(target: &Target, audience: &Audience) -> Result<Vec<String>> {
    let ids = match audience {
        Audience::Everyone => list_all(&target.store, &Filter::All).await,
        Audience::Room(room) => list_all(&target.store, &Filter::Room(room.clone())).await,
        Audience::One(who) => match target.store.get(who).await.map_err(store_error)? {
            Some(by_id) => Ok(vec![by_id]),
            None => list_all(&target.store, &Filter::Username(who.clone())).await,
        },
    }
    .map_err(store_error)?;
    let ids: Vec<String> = ids.into_iter().map(|c| c.connection_id).collect();
    match audience {
        Audience::Room(room) if ids.is_empty() => Err(CliError::failed(format!(
            "no one is connected in room '{room}'; nothing sent"
        ))
        .with_hint("see who is where with `wschat connections`")),
        Audience::One(who) if ids.is_empty() => Err(CliError::failed(format!(
            "no connection or user '{who}'; nothing sent"
        ))
        .with_hint("see who is connected with `wschat connections`")),
        _ => Ok(ids),
    }
}

pub async fn broadcast(
    target: &Target,
    options: BroadcastOptions,
    progress: &Progress,
) -> Result<BroadcastReport> {
    let payload = frame(&options)?;
    let ids = recipients(target, &options.audience).await?;
    let audience = match &options.audience {
        Audience::Everyone => "everyone".to_owned(),
        Audience::Room(room) => format!("room {room}"),
        Audience::One(who) => format!("to {who}"),
    };
    let mut report = BroadcastReport {
        target: target.label.clone(),
        audience,
        dry_run: options.dry_run,
        recipients: ids.len(),
        delivered: 0,
        pruned: 0,
        connecting: 0,
        failed: 0,
        unknown: 0,
        bytes: payload.len(),
        invocations: 0,
        elapsed_seconds: 0.0,
        posts_per_second: 0.0,
    };
    if options.dry_run {
        return Ok(report);
    }
    let started = Instant::now();
    let large = large_audience(&options.audience, ids.len());
    let result = match (&target.backend, large) {
        (Backend::Aws(stack), Some(parts)) => {
            report.invocations = parts.len();
            through_workers(target, stack, parts, &payload, &options, progress).await?
        }
        _ => post_from_here(target, ids, &payload, &options, progress).await,
    };
    report.elapsed_seconds = started.elapsed().as_secs_f64();
    report.delivered = result.delivered;
    report.pruned = result.pruned;
    report.connecting = result.connecting;
    report.failed = result.failed;
    report.unknown = result.unknown;
    report.posts_per_second = report.recipients as f64 / report.elapsed_seconds.max(1e-9);
    Ok(report)
}

/// The parts of an audience too large for this laptop's uplink: every shard
/// of a room, or segments of the whole table. One user's connections never are.
fn large_audience(audience: &Audience, recipients: usize) -> Option<Vec<Part>> {
    match audience {
        _ if recipients <= DEFAULT_SHARD_THRESHOLD => None,
        Audience::Everyone => Some(Part::all(None)),
        Audience::Room(room) => Some(Part::all(Some(room))),
        Audience::One(_) => None,
    }
}

/// One job per part to the delivery function, the workers' reports summed;
/// what no worker reported on is posted from here.
async fn through_workers(
    target: &Target,
    stack: &crate::stack::Stack,
    parts: Vec<Part>,
    payload: &Bytes,
    options: &BroadcastOptions,
    progress: &Progress,
) -> Result<fanout::FanoutReport> {
    let frame = String::from_utf8_lossy(payload).into_owned();
    let jobs = DeliveryJob::split(parts, &frame, &target.endpoint, options.rate);
    let bar = progress.counter("delivery invocations", jobs.len() as u64);
    let (mut total, failed) = handoff::deliver(stack, jobs, bar.as_ref()).await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    for (part, why) in failed {
        let note = format!("{why}; delivering it from here");
        progress.task(handoff::label(&part)).finish(note);
        let filter = part.filter().expect("a broadcast's parts are segments");
        let rows = list_all(&target.store, &filter).await;
        let ids = rows
            .map_err(store_error)?
            .into_iter()
            .map(|c| c.connection_id);
        total.add(&post_from_here(target, ids.collect(), payload, options, progress).await);
    }
    Ok(total)
}

/// Posts from this process, `--concurrency` at a time, paced to `--rate`.
async fn post_from_here(
    target: &Target,
    ids: Vec<String>,
    payload: &Bytes,
    options: &BroadcastOptions,
    progress: &Progress,
) -> fanout::FanoutReport {
    let gateway = Counted {
        inner: target.gateway.clone(),
        bar: progress.counter("broadcast", ids.len() as u64),
    };
    let fanout_options = FanoutOptions {
        concurrency: options.concurrency,
        rate: Some(options.rate),
        ..FanoutOptions::default()
    };
    let result = fanout::deliver(&target.store, &gateway, ids, payload, &fanout_options).await;
    if let Some(bar) = &gateway.bar {
        bar.finish_and_clear();
    }
    result
}
