//! `wschat connections`: list, count, check liveness, prune ghosts, kick.

use super::{store_error, Target};
use crate::clock::{age, iso8601};
use crate::error::{CliError, Result};
use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use std::fmt;
use wschat_lambdas::clock::now_ms;
use wschat_lambdas::gateway::{classify, Delivery, Gateway};
use wschat_lambdas::store::{Connection, ConnectionStore, Filter};

/// Concurrent `@connections` GETs for `--check`.
const CHECK_CONCURRENCY: usize = 32;

#[derive(Debug, Serialize)]
pub struct Row {
    pub connection_id: String,
    pub username: String,
    pub room: String,
    pub connected_at: String,
    pub age_seconds: i64,
    /// `alive`, `ghost` (410 from @connections) or `unchecked`.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_active_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    pub pruned: bool,
}

#[derive(Debug, Serialize)]
pub struct ConnectionsReport {
    pub target: String,
    pub room: Option<String>,
    pub count: usize,
    /// Empty with `--count`.
    pub connections: Vec<Row>,
    pub checked: bool,
    pub ghosts: usize,
    pub pruned: usize,
}

fn row(c: Connection) -> Row {
    Row {
        age_seconds: (now_ms() - c.connected_at) / 1000,
        connected_at: iso8601(c.connected_at),
        connection_id: c.connection_id,
        username: c.username,
        room: c.room,
        state: "unchecked",
        last_active_at: None,
        source_ip: None,
        pruned: false,
    }
}

/// Asks `@connections` about one row: alive (with its details) or a ghost.
async fn check(target: &Target, row: &mut Row) -> Result<()> {
    match target
        .gateway
        .client()
        .get_connection()
        .connection_id(&row.connection_id)
        .send()
        .await
    {
        Ok(info) => {
            row.state = "alive";
            row.last_active_at = info.last_active_at().map(|t| t.to_string());
            row.source_ip = info
                .identity()
                .and_then(|i| i.source_ip())
                .map(str::to_owned);
            Ok(())
        }
        Err(e) => match classify(&e) {
            // API Gateway answers 410 until `$connect` returns: a young row may be opening.
            Ok(Delivery::Gone)
                if row.age_seconds * 1000 < wschat_lambdas::store::CONNECTING_WINDOW_MS =>
            {
                row.state = "connecting";
                Ok(())
            }
            Ok(Delivery::Gone) => {
                row.state = "ghost";
                Ok(())
            }
            failure => Err(CliError::failed(format!(
                "@connections GET {} failed: {}",
                row.connection_id,
                failure.err().map(|e| e.to_string()).unwrap_or_default()
            ))),
        },
    }
}

pub struct ListOptions {
    pub room: Option<String>,
    pub count_only: bool,
    pub check: bool,
    pub prune: bool,
}

pub async fn list(target: &Target, options: ListOptions) -> Result<ConnectionsReport> {
    let filter = options.room.clone().map_or(Filter::All, Filter::Room);
    let rows = wschat_lambdas::store::list_all(&target.store, &filter)
        .await
        .map_err(store_error)?;
    let mut rows: Vec<Row> = rows.into_iter().map(row).collect();
    rows.sort_by(|a, b| {
        (&a.room, &a.username, &a.connection_id).cmp(&(&b.room, &b.username, &b.connection_id))
    });
    let checking = options.check || options.prune;
    if checking {
        let results: Vec<Result<()>> = stream::iter(rows.iter_mut())
            .map(|r| check(target, r))
            .buffer_unordered(CHECK_CONCURRENCY)
            .collect()
            .await;
        results.into_iter().collect::<Result<Vec<()>>>()?;
    }
    if options.prune {
        for r in rows.iter_mut().filter(|r| r.state == "ghost") {
            target
                .store
                .delete(&r.connection_id)
                .await
                .map_err(store_error)?;
            r.pruned = true;
        }
    }
    let ghosts = rows.iter().filter(|r| r.state == "ghost").count();
    let pruned = rows.iter().filter(|r| r.pruned).count();
    let count = rows.len();
    if options.count_only {
        rows.clear();
    }
    Ok(ConnectionsReport {
        target: target.label.clone(),
        room: options.room,
        count,
        connections: rows,
        checked: checking,
        ghosts,
        pruned,
    })
}

impl fmt::Display for ConnectionsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scope = self
            .room
            .as_ref()
            .map(|r| format!(" in room {r}"))
            .unwrap_or_default();
        writeln!(f, "{} connection(s){scope} on {}", self.count, self.target)?;
        if !self.connections.is_empty() {
            writeln!(
                f,
                "  {:<18} {:<20} {:<12} {:<8} {:<8} detail",
                "CONNECTION", "USERNAME", "ROOM", "AGE", "STATE"
            )?;
        }
        for r in &self.connections {
            let detail = match (&r.last_active_at, &r.source_ip) {
                (Some(at), ip) => format!("last active {at} from {}", ip.as_deref().unwrap_or("?")),
                _ if r.pruned => "pruned".to_owned(),
                _ => String::new(),
            };
            writeln!(
                f,
                "  {:<18} {:<20} {:<12} {:<8} {:<8} {detail}",
                r.connection_id,
                r.username,
                r.room,
                age(r.age_seconds),
                r.state
            )?;
        }
        if self.checked {
            write!(f, "{} ghost(s)", self.ghosts)?;
            if self.pruned > 0 {
                write!(f, ", {} pruned", self.pruned)?;
            } else if self.ghosts > 0 {
                write!(f, "; remove them with --prune")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

#[derive(Debug, Serialize)]
pub struct KickReport {
    pub target: String,
    pub connection_id: String,
    /// Whether a live socket was closed (else the connection was already gone).
    pub closed: bool,
    /// Whether kick removed the row of a connection that was already gone
    /// (a closed one's row is its `$disconnect`'s to remove).
    pub row_removed: bool,
}

impl fmt::Display for KickReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.closed, self.row_removed) {
            (true, _) => write!(
                f,
                "closed {} on {}; its $disconnect runs now",
                self.connection_id, self.target
            ),
            (false, true) => write!(
                f,
                "{} was already gone; removed its stale row",
                self.connection_id
            ),
            (false, false) => write!(f, "{} was already gone", self.connection_id),
        }
    }
}

/// Closes a connection through `@connections` DELETE, or removes the row of one already gone.
pub async fn kick(target: &Target, connection_id: &str) -> Result<KickReport> {
    let delivery = target
        .gateway
        .disconnect(connection_id)
        .await
        .map_err(|e| {
            CliError::failed(format!("@connections DELETE {connection_id} failed: {e}"))
        })?;
    let closed = delivery == Delivery::Delivered;
    // A closed connection's `$disconnect` removes its row and tells its room;
    // removing the row here first would leave the room never told. Only a
    // connection that was already gone has a stale row for kick to remove.
    let removed = !closed
        && target
            .store
            .delete(connection_id)
            .await
            .map_err(store_error)?
            .is_some();
    if !closed && !removed {
        return Err(
            CliError::failed(format!("no connection {connection_id} on {}", target.label))
                .with_hint("list the connections with `wschat connections`"),
        );
    }
    Ok(KickReport {
        target: target.label.clone(),
        connection_id: connection_id.to_owned(),
        closed,
        row_removed: removed,
    })
}
