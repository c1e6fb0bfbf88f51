//! `wschat deploy`: walk the dependency graph, converging each resource,
//! running independent ones concurrently.

use super::package::Packages;
use super::{
    api, functions, logs, role, routing, secret, table, Change, Ctx, Endpoints, Located, Resource,
};
use crate::error::Result;
use crate::spec::Function;
use futures_util::future::try_join_all;
use serde::Serialize;
use std::fmt;

/// Every resource's outcome and the API's id (`None` only when a dry run would create it).
pub struct Reconciled {
    pub resources: Vec<Resource>,
    pub api_id: Option<String>,
}

/// The dependency graph:
///
/// ```text
/// table ─┐  log groups ─┐  role ──┬─ policy (needs the API id)
///        │  secret ─────┼─────────┴─ functions ── permissions (need the API id)
/// api ───┴─ integrations ── routes ── settle ── stage
/// ```
///
/// Function ARNs are derived from the account, so the API side never waits for IAM.
/// What this run has just created (or would create) has no children to describe.
/// `packages` is `None` for status, which does not compare code.
pub async fn reconcile(
    ctx: &Ctx<'_>,
    packages: Option<&Packages>,
    rotate_secret: bool,
) -> Result<Reconciled> {
    let (table, log_groups, role, (api, api_id), (secret, secret_version)) = tokio::try_join!(
        table::ensure(ctx),
        try_join_all(Function::ALL.map(|f| logs::ensure(ctx, f))),
        role::ensure_role(ctx),
        api::ensure_api(ctx),
        secret::ensure(ctx, rotate_secret),
    )?;
    let duplicates = api::remove_duplicates(ctx).await?;
    let role_created = role.change == Change::Created;
    let api_created = api.change == Change::Created;
    let id = api_id.as_deref();

    let lambda_side = async {
        let (policy, fns) = tokio::try_join!(
            role::ensure_policy(ctx, id, role_created),
            try_join_all(Function::ALL.map(|f| functions::ensure(
                ctx,
                f,
                packages.map(|p| &p[&f]),
                secret_version,
            ))),
        )?;
        let permissions =
            try_join_all(Function::ALL.iter().zip(&fns).map(|(f, r)| {
                functions::ensure_permission(ctx, *f, id, r.change == Change::Created)
            }))
            .await?;
        Ok::<_, crate::error::CliError>((policy, fns, permissions))
    };
    let api_side = async {
        let (integrations, ids) = routing::ensure_integrations(ctx, id, api_created).await?;
        let mut routes = routing::ensure_routes(ctx, id, &ids, api_created).await?;
        // A deploy racing this one may have made its own set.
        let extras = routing::settle(ctx, id).await?;
        routes.extend(extras);
        // Last, so the stage's first automatic deployment carries every route.
        let stage = api::ensure_stage(ctx, id, api_created).await?;
        Ok((integrations, routes, stage))
    };
    let ((policy, fns, permissions), (integrations, routes, stage)) =
        tokio::try_join!(lambda_side, api_side)?;

    let mut resources = vec![table];
    resources.extend(secret);
    resources.extend(log_groups);
    resources.extend([role, policy]);
    resources.extend(fns);
    resources.extend(permissions);
    resources.push(api);
    resources.extend(duplicates);
    resources.extend(integrations);
    resources.extend(routes);
    resources.push(stage);
    Ok(Reconciled { resources, api_id })
}

#[derive(Debug, Serialize)]
pub struct DeployReport {
    #[serde(flatten)]
    pub at: Located,
    pub dry_run: bool,
    pub resources: Vec<Resource>,
    #[serde(flatten)]
    pub endpoints: Endpoints,
    /// Where the ready web client was written.
    pub web_client: Option<String>,
    /// Who may connect, as deployed.
    pub auth: super::status::AuthSummary,
    pub elapsed_seconds: f64,
}

impl fmt::Display for DeployReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let changed: Vec<&Resource> = self
            .resources
            .iter()
            .filter(|r| r.change != Change::Unchanged)
            .collect();
        let verb = if self.dry_run { "plan for" } else { "deployed" };
        writeln!(f, "{verb} {} ({:.1} s)", self.at, self.elapsed_seconds)?;
        if changed.is_empty() {
            writeln!(
                f,
                "  every resource is unchanged ({} checked)",
                self.resources.len()
            )?;
        } else {
            for r in &changed {
                writeln!(f, "{}", r.row(self.dry_run))?;
            }
            writeln!(f, "  {} unchanged", self.resources.len() - changed.len())?;
        }
        if let Endpoints {
            websocket_url: Some(ws),
            connections_url: Some(connections),
        } = &self.endpoints
        {
            writeln!(f, "\n  WebSocket     {ws}")?;
            writeln!(f, "  @connections  {connections}")?;
            writeln!(f, "  try it        npx wscat -c '{ws}?username=ada'")?;
        }
        if let Some(page) = &self.web_client {
            writeln!(f, "  web client    {page} (open it in a browser)")?;
        }
        writeln!(f, "  auth          {}", self.auth)?;
        Ok(())
    }
}
