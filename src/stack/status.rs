//! `wschat status`: the deploy's dry run, worded as what is present, missing or drifted.

use super::{functions, table, Change, Ctx, Endpoints, Located, Stack};
use crate::error::Result;
use serde::Serialize;
use std::fmt;
use wschat_lambdas::auth::AuthSettings;

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
    /// Who may connect, as the deployed connect function says.
    pub auth: Option<AuthSummary>,
}

#[derive(Debug, Serialize)]
pub struct AuthSummary {
    pub mode: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_origins: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt_issuer: Option<String>,
}

impl AuthSummary {
    pub fn of(settings: &AuthSettings) -> Self {
        AuthSummary {
            mode: settings.mode.to_string(),
            allowed_origins: settings.allowed_origins.clone(),
            jwt_issuer: settings.jwt.as_ref().map(|j| j.issuer.clone()),
        }
    }
}

/// One line on who may connect, plain about open mode's unverified names.
impl fmt::Display for AuthSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.mode.as_str(), &self.jwt_issuer) {
            ("token", _) => write!(
                f,
                "token (names come from tokens this stack signs: `wschat token --user NAME`)"
            )?,
            ("jwt", Some(issuer)) => write!(f, "jwt (names come from tokens issued by {issuer})")?,
            _ => write!(
                f,
                "open (names are unverified display names: anyone can connect as anyone)"
            )?,
        }
        if !self.allowed_origins.is_empty() {
            write!(
                f,
                "; browsers only from {}",
                self.allowed_origins.join(", ")
            )?;
        }
        Ok(())
    }
}

pub async fn status(stack: &Stack) -> Result<StatusReport> {
    let quiet = crate::progress::Progress::new(true, false);
    let ctx = &Ctx {
        stack,
        progress: &quiet,
        dry_run: true,
    };
    let (reconciled, connections, auth) = tokio::try_join!(
        super::deploy::reconcile(ctx, None, false),
        table::count_connections(ctx.stack),
        functions::deployed_auth(ctx.stack),
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
        auth: auth.as_ref().map(AuthSummary::of),
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
        if let Some(auth) = &self.auth {
            writeln!(f, "  auth          {auth}")?;
        }
        match self.connections {
            Some(n) => writeln!(f, "  connections   {n} stored"),
            None => writeln!(f, "  connections   no table"),
        }
    }
}
