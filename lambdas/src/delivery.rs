//! Rooms of any size. A room's first page decides how a message reaches it:
//! up to [`ChatConfig::shard_threshold`](crate::ChatConfig) members, the
//! message's own invocation posts to each; above it, the delivery is split
//! into one job per shard of the room ([`crate::shard`]) and handed to
//! delivery workers (the `deliver` function on AWS, in-process invocations in
//! `wschat dev`). Each worker reads its shard's own partition and posts to
//! it, paced to its share of the account's `@connections` budget.
//!
//! A job retried (Lambda retries a failed asynchronous invocation twice) may
//! post some frames again: clients deduplicate by message id.

use crate::fanout::FanoutReport;
use crate::store::Filter;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

/// Which rows one job delivers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Part {
    /// One shard of a room.
    RoomShard { room: String, shard: u16 },
    /// One segment of every connection (a broadcast to everyone).
    Segment { segment: u16, of: u16 },
    /// A connection that has just opened: the job's frame (its room's
    /// history, or what it missed), then what its room stored `after` the
    /// frame's last message while it opened.
    CatchUp {
        connection_id: String,
        room: String,
        after: String,
    },
}

impl Part {
    /// The rows a fan-out part walks; a catch-up walks none.
    pub fn filter(&self) -> Option<Filter> {
        match self {
            Part::RoomShard { room, shard } => Some(Filter::RoomShard(room.clone(), *shard)),
            Part::Segment { segment, of } => Some(Filter::Segment(*segment, *of)),
            Part::CatchUp { .. } => None,
        }
    }

    /// Every shard of a room, or every segment of the table: the whole audience, once.
    pub fn all(room: Option<&str>) -> Vec<Part> {
        let shards = crate::shard::ROOM_SHARDS;
        (0..shards)
            .map(|n| match room {
                Some(room) => Part::RoomShard {
                    room: room.to_owned(),
                    shard: n,
                },
                None => Part::Segment {
                    segment: n,
                    of: shards,
                },
            })
            .collect()
    }
}

/// One worker's delivery: a frame to one part of an audience. It is also
/// the delivery function's event; `delivery` tells it apart from API
/// Gateway's events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryJob {
    pub delivery: Part,
    /// The frame, as every recipient gets it (at most 128 KB).
    pub frame: String,
    /// The stage's `@connections` endpoint.
    pub endpoint: String,
    /// Posts per second this worker may make: its share of `--connections-rate`.
    pub rate: u32,
}

impl DeliveryJob {
    /// One job per part of the audience, each paced to its share of `rate`.
    pub fn split(parts: Vec<Part>, frame: &str, endpoint: &str, rate: u32) -> Vec<DeliveryJob> {
        let share = (rate / parts.len().max(1) as u32).max(1);
        parts
            .into_iter()
            .map(|delivery| DeliveryJob {
                delivery,
                frame: frame.to_owned(),
                endpoint: endpoint.to_owned(),
                rate: share,
            })
            .collect()
    }
}

/// Why jobs could not be handed over.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("delivery hand-off failed: {0}")]
pub struct DispatchError(pub String);

/// Hands delivery jobs to workers, without waiting for their deliveries:
/// asynchronous `Invoke`s of the delivery function on AWS, spawned
/// in-process invocations in `wschat dev`. The jobs it could not hand over
/// come back, for the caller to deliver itself.
pub trait Dispatch: Send + Sync + 'static {
    fn dispatch(&self, jobs: Vec<DeliveryJob>) -> BoxFuture<'_, Vec<(DeliveryJob, DispatchError)>>;
}

/// What a delivery worker did, for its log line and for `wschat broadcast`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryReport {
    pub part: Option<Part>,
    #[serde(flatten)]
    pub fanout: FanoutReport,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_audience_splits_into_every_shard_and_shares_the_rate() {
        let jobs = DeliveryJob::split(Part::all(Some("lobby")), "{}", "http://x/dev", 5_000);
        assert_eq!(jobs.len(), crate::shard::ROOM_SHARDS as usize);
        assert!(jobs.iter().all(|j| j.rate == 312));
        let shards: std::collections::BTreeSet<_> = jobs
            .iter()
            .map(|j| j.delivery.filter().unwrap())
            .collect::<Vec<_>>()
            .into_iter()
            .map(|f| format!("{f:?}"))
            .collect();
        assert_eq!(shards.len(), jobs.len(), "each shard once");
        let json = serde_json::to_value(&jobs[3]).unwrap();
        assert_eq!(json["delivery"]["kind"], "room_shard");
        assert_eq!(json["delivery"]["shard"], 3);
        let back: DeliveryJob = serde_json::from_value(json).unwrap();
        assert_eq!(back, jobs[3]);
        let everyone = Part::all(None);
        assert_eq!(everyone[0], Part::Segment { segment: 0, of: 16 });
    }
}
