//! `wschat status`: the deploy's dry run, worded as what is present, missing or drifted.

use super::{function, health, queue, table, AuthSummary, Change, Ctx, Endpoints, Located, Stack};
use crate::error::Result;
use crate::spec::{Settings, StackSpec};
use serde::Serialize;
use std::fmt;

#[derive(Debug, Serialize)]
pub struct StatusLine {
    pub kind: &'static str,
    pub name: String,
    /// `present`, `missing`, `drifted` or `foreign`.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<String>,
    /// For a drifted resource: why, when the last deploy recorded its settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// As the last deploy left it; the settings now say otherwise.
    Settings,
    /// Not as the last deploy left it: changed in the console, by another tool...
    Outside,
}

#[derive(Debug, Serialize)]
pub struct StatusReport {
    /// Every resource present and as the settings say.
    pub complete: bool,
    #[serde(flatten)]
    pub at: Located,
    pub resources: Vec<StatusLine>,
    #[serde(flatten)]
    pub endpoints: Endpoints,
    /// The custom domain: its certificate, records, mapping.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<super::domain::DomainReport>,
    /// Rows in the connections table, if it exists.
    pub connections: Option<u64>,
    /// The room with the most members, and what one message to it costs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub largest_room: Option<LargestRoom>,
    /// Delivery jobs Lambda gave up on, waiting for `wschat redrive`; `None` without the queue.
    pub dead_letters: Option<u64>,
    /// Who may connect, as the deployed connect function says.
    pub auth: Option<AuthSummary>,
    /// The stack's CloudWatch dashboard in the console.
    pub dashboard_url: String,
    /// How the chat did over the last `--since`.
    pub health: crate::health::Health,
    /// What the resources were compared with: the stack file, or the flags.
    pub compared_with: String,
}

/// API Gateway's price of a WebSocket message (per million, first billion,
/// most regions); a post to each member is one message per 32 KB.
pub const USD_PER_MILLION_MESSAGES: f64 = 1.0;

#[derive(Debug, Serialize)]
pub struct LargestRoom {
    pub room: String,
    pub members: u64,
    /// One message to every member: that many `@connections` messages.
    pub message_cost_usd: f64,
}

impl LargestRoom {
    fn of((room, members): (String, u64)) -> Self {
        LargestRoom {
            room,
            members,
            message_cost_usd: members as f64 * USD_PER_MILLION_MESSAGES / 1e6,
        }
    }
}

/// The settings a status compares the stack with.
pub struct Wanted<'a> {
    /// Where the stack's settings came from, for the report (e.g. the file's path).
    pub source: String,
    /// What the last deploy recorded, if it did: tells settings drift from outside changes.
    pub recorded: Option<&'a Settings>,
    /// The API's id, if it exists: its metrics are the stage's.
    pub api_id: Option<String>,
    /// The health section's window.
    pub since: std::time::Duration,
}

pub async fn status(stack: &Stack, wanted: Wanted<'_>) -> Result<StatusReport> {
    let quiet = &crate::progress::Progress::new(true, false);
    let describe = |stack| async move {
        let ctx = &Ctx {
            stack,
            progress: quiet,
            dry_run: true,
            no_wait: true,
        };
        super::deploy::reconcile(ctx, None, false).await
    };
    // Against the record too, when it differs from the settings: what differs
    // from it was changed outside wschat.
    let as_recorded = wanted
        .recorded
        .filter(|r| **r != stack.spec.settings)
        .map(|r| Stack {
            clients: stack.clients.clone(),
            spec: StackSpec {
                settings: r.clone(),
                ..stack.spec.clone()
            },
        });
    let against_record = async {
        match &as_recorded {
            Some(recorded) => describe(recorded).await.map(Some),
            None => Ok(None),
        }
    };
    let (reconciled, against_record, census, mut health, auth, queue) = tokio::try_join!(
        describe(stack),
        against_record,
        table::census(stack),
        async {
            let gathered = health::gather(stack, wanted.api_id.as_deref(), wanted.since).await;
            Ok(gathered.unwrap_or_else(|e| {
                let (message, hint) = e.parts();
                let why = hint.map_or(message.clone(), |h| format!("{message} ({h})"));
                crate::health::Health::unavailable(wanted.since.as_secs(), why)
            }))
        },
        function::deployed_auth(stack),
        queue::find(stack),
    )?;
    health.connections = census.as_ref().map_or(0, |c| c.connections);
    let outside = |kind: &str, name: &str| match (&against_record, wanted.recorded) {
        (Some(record), _) => record.resources.iter().any(|r| {
            r.kind == kind && r.name == name && matches!(r.change, Change::Updated { .. })
        }),
        // The settings are the record: every difference is from outside.
        (None, Some(_)) => true,
        (None, None) => false,
    };
    let resources: Vec<StatusLine> = reconciled
        .resources
        .into_iter()
        .map(|r| {
            let (state, differences) = match r.change {
                Change::Unchanged => ("present", vec![]),
                Change::Created => ("missing", vec![]),
                Change::Updated { fields } => ("drifted", fields),
                Change::Deleted => ("extra", vec![]),
                Change::Absent => ("missing", vec![]),
                Change::Foreign => ("foreign", vec![]),
            };
            let cause = match (state, wanted.recorded) {
                ("drifted", Some(_)) if outside(r.kind, &r.name) => Some(Cause::Outside),
                ("drifted", Some(_)) => Some(Cause::Settings),
                _ => None,
            };
            StatusLine {
                kind: r.kind,
                name: r.name,
                state,
                differences,
                cause,
            }
        })
        .collect();
    Ok(StatusReport {
        at: Located::of(&stack.spec),
        complete: resources.iter().all(|r| r.state == "present"),
        resources,
        // In a dry run the id is only known when the API exists.
        endpoints: Endpoints::of(
            &stack.spec,
            reconciled.api_id.as_deref(),
            reconciled.domain.as_ref(),
        ),
        domain: reconciled.domain,
        connections: census.as_ref().map(|c| c.connections),
        largest_room: census.and_then(|c| c.largest_room).map(LargestRoom::of),
        dead_letters: queue.as_ref().map(queue::Queue::depth),
        auth: auth.as_ref().map(AuthSummary::of),
        dashboard_url: stack.spec.dashboard_url(),
        health,
        compared_with: wanted.source,
    })
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = match self.complete {
            true => "complete and in spec",
            false => "NOT complete or not in spec",
        };
        writeln!(f, "{}: {verdict}", self.at)?;
        for r in &self.resources {
            let detail = if r.differences.is_empty() {
                String::new()
            } else {
                format!(" ({})", r.differences.join(", "))
            };
            let cause = match r.cause {
                Some(Cause::Settings) => format!(": differs from {}", self.compared_with),
                Some(Cause::Outside) => ": changed outside wschat since the last deploy".to_owned(),
                None => String::new(),
            };
            writeln!(
                f,
                "  {:<8} {:<13} {}{detail}{cause}",
                r.state, r.kind, r.name
            )?;
        }
        match &self.endpoints.websocket_url {
            Some(_) => self.endpoints.lines(f)?,
            None => writeln!(f, "\n  no API yet: run `wschat deploy`")?,
        }
        if let Some(domain) = &self.domain {
            write!(f, "{domain}")?;
        }
        if let Some(auth) = &self.auth {
            writeln!(f, "  auth          {auth}")?;
        }
        match self.connections {
            Some(n) => writeln!(f, "  connections   {n} stored")?,
            None => writeln!(f, "  connections   no table")?,
        }
        if let Some(largest) = &self.largest_room {
            writeln!(
                f,
                "  largest room  '{}', {} members: one message to it costs ${:.4} ({} @connections messages at ${USD_PER_MILLION_MESSAGES:.2} per million)",
                largest.room, largest.members, largest.message_cost_usd, largest.members
            )?;
        }
        if let Some(n @ 1..) = self.dead_letters {
            writeln!(
                f,
                "  dead letters  {n} failed deliveries waiting: `wschat redrive` sends them again"
            )?;
        }
        writeln!(f, "  dashboard     {}", self.dashboard_url)?;
        writeln!(f, "{}", self.health)
    }
}
