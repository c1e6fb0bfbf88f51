//! `wschat status`: the deploy's dry run, worded as what is present, missing or drifted.

use super::{table, Change, Ctx, Endpoints, Located, Stack};
use crate::error::Result;
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
    /// Rows in the connections table, if it exists.
    pub connections: Option<u64>,
}

pub async fn status(stack: &Stack) -> Result<StatusReport> {
    let quiet = crate::progress::Progress::new(true, false);
    let ctx = &Ctx {
        stack,
        progress: &quiet,
        dry_run: true,
    };
    let (reconciled, connections) = tokio::try_join!(
        super::deploy::reconcile(ctx, None),
        table::count_connections(ctx.stack)
    )?;
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
            StatusLine {
                kind: r.kind,
                name: r.name,
                state,
                differences,
            }
        })
        .collect();
    Ok(StatusReport {
        at: Located::of(&stack.spec),
        complete: resources.iter().all(|r| r.state == "present"),
        resources,
        // In a dry run the id is only known when the API exists.
        endpoints: Endpoints::of(&stack.spec, reconciled.api_id.as_deref()),
        connections,
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
            writeln!(f, "  {:<8} {:<13} {}{detail}", r.state, r.kind, r.name)?;
        }
        match (
            &self.endpoints.websocket_url,
            &self.endpoints.connections_url,
        ) {
            (Some(ws), Some(connections)) => {
                writeln!(f, "\n  WebSocket     {ws}")?;
                writeln!(f, "  @connections  {connections}")?;
            }
            _ => writeln!(f, "\n  no API yet: run `wschat deploy`")?,
        }
        match self.connections {
            Some(n) => writeln!(f, "  connections   {n} stored"),
            None => writeln!(f, "  connections   no table"),
        }
    }
}
