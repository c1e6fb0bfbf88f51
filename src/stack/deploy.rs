//! `wschat deploy`: walk the dependency graph, converging each resource,
//! running independent ones concurrently.

use super::{
    alarms, api, dashboard, domain, function, invoke_config, logs, permission, policy, queue, role,
    routing, secret, stage, table, topic, waits, Change, Ctx, Endpoints, Located, Resource,
};
use crate::build::package::Packages;
use crate::error::Result;
use crate::spec::Function;
use futures_util::future::{try_join_all, FutureExt};
use serde::Serialize;
use std::fmt;

/// Every resource's outcome and the API's id (`None` only when a dry run would create it).
pub struct Reconciled {
    pub resources: Vec<Resource>,
    pub api_id: Option<String>,
    /// The custom domain, when the settings have one.
    pub domain: Option<domain::DomainReport>,
}

/// The dependency graph:
///
/// ```text
/// tables   log groups    secret ─┐
/// role ──────────────────────────┴─ functions ── permissions ─┐
///    └────────────────────────────── policy ──────────────────┤ (need the API id)
/// api ── integrations ── routes ─┬─ stage                     │
///   │                            └─ settle (a racing deploy's extras)
///   └── duplicates deleted       ─────────────────────────────┤
/// alarm topic ── alarms, dashboard ───────────────────────────┤
/// certificate ── its validation ── (stage) domain name, records, mapping
/// ```
///
/// Each resource waits only for what it needs: functions for the role (and
/// the secret's version), not for the API or the table; the table's and log
/// groups' waits run alongside everything. Function ARNs are derived from the
/// account, so the API side never waits for IAM. What this run has just
/// created (or would create) has no children to describe.
/// `packages` is `None` for status, which does not compare code.
///
/// Deploys of one stack may race: each that made an API keeps the oldest
/// (the survivor) and deletes the others, so a deploy may find, after its
/// writes (or in the middle of them), that it wrote against an API another
/// deploy removed. It then converges again on the survivor, so that it
/// reports success only for a stack that works.
pub async fn reconcile(
    ctx: &Ctx<'_>,
    packages: Option<&Packages>,
    rotate_secret: bool,
) -> Result<Reconciled> {
    let mut earlier: Vec<Resource> = Vec::new();
    for round in 1..=CONVERGE_ROUNDS {
        let used = std::sync::OnceLock::new();
        // The secret is rotated once, in the first round.
        let result = reconcile_once(ctx, packages, rotate_secret && round == 1, &used).await;
        if ctx.dry_run {
            return result;
        }
        let survivor = match api::find(ctx).await {
            Ok(api) => api.and_then(|a| a.api_id),
            Err(e) => return result.and(Err(e)),
        };
        let lost = matches!((used.get(), &survivor), (Some(ours), Some(kept)) if ours != kept);
        match result {
            Ok(reconciled) if !lost => {
                return Ok(Reconciled {
                    resources: merge(&earlier, reconciled.resources),
                    ..reconciled
                })
            }
            Err(e) if !lost => return Err(e),
            Ok(reconciled) => earlier = merge(&earlier, reconciled.resources),
            Err(_) => {}
        }
        if round < CONVERGE_ROUNDS {
            let task = ctx.progress.task("websocket api");
            task.finish(format!(
                "another deploy of this stack kept its API {}: converging on it",
                survivor.as_deref().unwrap_or_default()
            ));
        }
    }
    Err(crate::error::CliError::failed(format!(
        "other deploys of {} kept replacing its API; this deploy stopped after {CONVERGE_ROUNDS} rounds",
        ctx.spec.prefix()
    ))
    .with_hint("let the other deploys finish, then run `wschat deploy` again (or `wschat status` to see the stack)"))
}

/// Rounds of [`reconcile`] before it gives up on a stack whose API keeps changing.
const CONVERGE_ROUNDS: u32 = 3;

/// The last round's resources, each with the change an earlier round made
/// to it when the last found nothing left to do.
fn merge(earlier: &[Resource], last: Vec<Resource>) -> Vec<Resource> {
    last.into_iter()
        .map(|r| {
            match earlier
                .iter()
                .find(|e| e.kind == r.kind && e.name == r.name)
            {
                Some(e) if r.change == Change::Unchanged => e.clone(),
                _ => r,
            }
        })
        .collect()
}

/// One pass over the graph; `used` is set to the API id it works against.
async fn reconcile_once(
    ctx: &Ctx<'_>,
    packages: Option<&Packages>,
    rotate_secret: bool,
    used: &std::sync::OnceLock<String>,
) -> Result<Reconciled> {
    // The API's id, once known, for the policy and the permissions.
    let (api_known, api_id) = tokio::sync::oneshot::channel::<Option<String>>();
    let api_id = api_id.shared();
    let api_id = || {
        let api_id = api_id.clone();
        async move {
            match api_id.await {
                Ok(id) => id,
                // The API side failed: its error ends the deploy, not this.
                Err(_) => std::future::pending().await,
            }
        }
    };
    // The domain the last deploy applied: a stack without one now removes its mapping there.
    let (recorded_known, recorded_domain) = tokio::sync::oneshot::channel::<Option<String>>();
    let api_side = async {
        let ensured = api::ensure(ctx).await?;
        if let Some(id) = &ensured.id {
            let _ = used.set(id.clone());
        }
        let _ = api_known.send(ensured.id.clone());
        let recorded = format!("{}domain", crate::spec::TAG_APPLIED);
        let _ = recorded_known.send(ensured.tags.get(&recorded).cloned());
        let resources = api_tree(ctx, ensured.report, ensured.id.as_deref(), ensured.extras);
        Ok::<_, crate::error::CliError>((resources.await?, ensured.id, ensured.tags))
    };
    let (
        table,
        log_groups,
        access_log,
        (api_resources, api_id, api_tags),
        lambda_resources,
        monitoring,
        custom_domain,
    ) = tokio::try_join!(
        try_join_all(table::Table::ALL.map(|t| table::ensure(ctx, t))),
        try_join_all(Function::ALL.map(|f| logs::ensure(ctx, f))),
        logs::ensure_access(ctx),
        api_side,
        lambda_side(ctx, packages, rotate_secret, &api_id),
        monitoring(ctx, &api_id),
        custom_domain(ctx, &api_id, recorded_domain),
    )?;
    // The mapping needs the stage, which the API side has made by now.
    let (domain_resources, domain) = match custom_domain {
        Ok(prepared) => {
            let (resources, report) = domain::finish(ctx, prepared, api_id.as_deref()).await?;
            (resources, Some(report))
        }
        Err(removed) => (removed, None),
    };
    // Last, so the record says what is applied, not what a failed deploy meant to apply.
    if let (false, Some(id)) = (ctx.dry_run, &api_id) {
        api::record_settings(ctx, id, &api_tags).await?;
    }
    let mut resources = table;
    resources.extend(log_groups);
    resources.extend(access_log);
    resources.extend(lambda_resources);
    resources.extend(api_resources);
    resources.extend(monitoring);
    resources.extend(domain_resources);
    Ok(Reconciled {
        resources,
        api_id,
        domain,
    })
}

/// The alarm topic (or a given topic checked), then the alarms and the
/// dashboard, which name the API by its id.
async fn monitoring<Fut>(ctx: &Ctx<'_>, api_id: impl Fn() -> Fut) -> Result<Vec<Resource>>
where
    Fut: std::future::Future<Output = Option<String>>,
{
    let topic = topic::ensure(ctx).await?;
    // A dry run of a stack without an API: every alarm and the dashboard would be created.
    let id = api_id().await.unwrap_or_default();
    let (alarms, dashboard) =
        tokio::try_join!(alarms::ensure(ctx, &id), dashboard::ensure(ctx, &id))?;
    let mut resources: Vec<Resource> = topic.into_iter().collect();
    resources.extend([alarms, dashboard]);
    Ok(resources)
}

/// With a domain in the settings, its certificate and validation
/// ([`domain::prepare`]); without, what an earlier deploy made of one (and
/// its mapping on the `recorded` domain), removed: the `Err` side.
async fn custom_domain<Fut>(
    ctx: &Ctx<'_>,
    api_id: impl Fn() -> Fut,
    recorded: tokio::sync::oneshot::Receiver<Option<String>>,
) -> Result<std::result::Result<domain::Prepared, Vec<Resource>>>
where
    Fut: std::future::Future<Output = Option<String>>,
{
    if let Some(prepared) = domain::prepare(ctx).await? {
        return Ok(Ok(prepared));
    }
    let id = api_id().await;
    let recorded = recorded.await.ok().flatten();
    Ok(Err(domain::delete(
        ctx,
        id.as_deref(),
        recorded.as_deref(),
        false,
    )
    .await?))
}

/// Under the API `id`: integrations, routes and the stage; its duplicates
/// (`extras`) deleted alongside. Returns every report, the API's first.
async fn api_tree(
    ctx: &Ctx<'_>,
    api: Resource,
    id: Option<&str>,
    extras: Vec<aws_sdk_apigatewayv2::types::Api>,
) -> Result<Vec<Resource>> {
    let created = api.change == Change::Created;
    let tree = async {
        let (integrations, ids) = routing::ensure_integrations(ctx, id, created).await?;
        let mut routes = routing::ensure_routes(ctx, id, &ids, created).await?;
        // The stage after the routes, so its first automatic deployment
        // carries every one; what `settle` mends deploys automatically too.
        let (stage, settled) =
            tokio::try_join!(stage::ensure(ctx, id, created), routing::settle(ctx, id))?;
        routes.extend(settled);
        Ok::<_, crate::error::CliError>((integrations, routes, stage))
    };
    let ((integrations, routes, stage), duplicates) =
        tokio::try_join!(tree, api::remove_duplicates(ctx, extras))?;
    let mut resources = vec![api];
    resources.extend(duplicates);
    resources.extend(integrations);
    resources.extend(routes);
    resources.push(stage);
    Ok(resources)
}

/// The secret, the role and its policy, the functions and their permissions;
/// `api_id` resolves to the API's id once the API side knows it.
async fn lambda_side<Fut>(
    ctx: &Ctx<'_>,
    packages: Option<&Packages>,
    rotate_secret: bool,
    api_id: impl Fn() -> Fut,
) -> Result<Vec<Resource>>
where
    Fut: std::future::Future<Output = Option<String>>,
{
    let (role, (secret, secret_version), queue) = tokio::try_join!(
        role::ensure(ctx),
        secret::ensure(ctx, rotate_secret),
        queue::ensure(ctx)
    )?;
    let role_created = role.change == Change::Created;
    let policy = async {
        let id = api_id().await;
        policy::ensure(ctx, id.as_deref(), role_created).await
    };
    let gate = waits::RoleGate::new(role_created);
    let functions = try_join_all(
        Function::ALL
            .map(|f| function::ensure(ctx, f, packages.map(|p| &p[&f]), secret_version, &gate)),
    );
    let (policy, fns) = tokio::try_join!(policy, functions)?;
    // Lambda checks that the role may send to the queue it is given.
    let invoke_config = invoke_config::ensure(ctx).await?;
    let id = api_id().await;
    let permissions = try_join_all(
        Function::ALL
            .iter()
            .zip(&fns)
            .filter(|(f, _)| Function::ROUTED.contains(f))
            .map(|(f, r)| permission::ensure(ctx, *f, id.as_deref(), r.change == Change::Created)),
    )
    .await?;
    let mut resources: Vec<Resource> = secret.into_iter().collect();
    resources.extend([role, policy, queue]);
    resources.extend(fns);
    resources.push(invoke_config);
    resources.extend(permissions);
    Ok(resources)
}

#[derive(Debug, Serialize)]
pub struct DeployReport {
    #[serde(flatten)]
    pub at: Located,
    pub dry_run: bool,
    pub resources: Vec<Resource>,
    #[serde(flatten)]
    pub endpoints: Endpoints,
    /// The custom domain: its certificate, records and mapping.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<domain::DomainReport>,
    /// Where the ready web client was written.
    pub web_client: Option<String>,
    /// Who may connect, as deployed.
    pub auth: super::AuthSummary,
    /// False for a dry run with nothing to build from: the functions' code was not compared.
    pub code_compared: bool,
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
        self.endpoints.lines(f)?;
        if let Some(ws) = &self.endpoints.websocket_url {
            writeln!(f, "  try it        npx wscat -c '{ws}?username=ada'")?;
        }
        if let Some(domain) = &self.domain {
            write!(f, "{domain}")?;
        }
        if let Some(page) = &self.web_client {
            writeln!(f, "  web client    {page} (open it in a browser)")?;
        }
        writeln!(f, "  auth          {}", self.auth)?;
        if !self.code_compared {
            writeln!(
                f,
                "  code          not compared: no lambdas/ here to build (run from the repository, or pass --prebuilt DIR)"
            )?;
        }
        Ok(())
    }
}
