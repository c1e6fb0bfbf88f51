//! `wschat teardown`: delete everything of this stack concurrently where the
//! order allows, then scan every service for anything left.

use super::{
    alarms, api, dashboard, domain, function, logs, policy, queue, role, secret, table, topic,
    Change, Ctx, Leftover, Located, Resource, Stack,
};
use crate::error::Result;
use crate::spec::Function;
use futures_util::future::try_join_all;
use serde::Serialize;
use std::fmt;

#[derive(Debug, Serialize)]
pub struct TeardownReport {
    #[serde(flatten)]
    pub at: Located,
    pub dry_run: bool,
    pub resources: Vec<Resource>,
    /// Failed deliveries that were waiting in the dead-letter queue, deleted with it.
    pub dead_letters: u64,
    /// What still exists after the deletes (empty on success).
    pub leftovers: Vec<String>,
    /// API Gateway's account-wide logging role, when wschat set it: an
    /// account setting teardown leaves as it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_logging_role: Option<String>,
    pub elapsed_seconds: f64,
}

impl TeardownReport {
    pub fn clean(&self) -> bool {
        self.leftovers.is_empty()
    }
}

pub async fn teardown(ctx: &Ctx<'_>) -> Result<Vec<Resource>> {
    // The custom domain first, while the API's id tells its mapping apart
    // (a domain name that maps other APIs too refuses the whole teardown
    // before anything is deleted); the domain the last deploy recorded may
    // be someone else's, with only the mapping the stack's.
    let (api_id, recorded) = api::applied_tags(ctx).await?;
    let recorded_domain = recorded
        .as_ref()
        .and_then(|tags| tags.get(&format!("{}domain", crate::spec::TAG_APPLIED)));
    let mut removed = domain::delete(
        ctx,
        api_id.as_deref(),
        recorded_domain.map(String::as_str),
        true,
    )
    .await?;
    // Then the API, and its stage, integrations and routes with it, so
    // nothing invokes the functions while they go (each function takes its
    // permission with it); the role's own policy before the role.
    removed.extend(api::delete(ctx).await?);
    let (fns, log_groups, table, role, secret, queue, monitoring) = tokio::try_join!(
        try_join_all(Function::ALL.map(|f| function::delete(ctx, f))),
        async {
            let mut groups = try_join_all(Function::ALL.map(|f| logs::delete(ctx, f))).await?;
            groups.push(logs::delete_access(ctx).await?);
            Ok(groups)
        },
        table::delete(ctx),
        async {
            let mut removed = policy::delete(ctx).await?;
            removed.extend(role::delete(ctx).await?);
            Ok(removed)
        },
        secret::delete(ctx),
        queue::delete(ctx),
        async {
            let (mut removed, dashboard) =
                tokio::try_join!(alarms::delete(ctx), dashboard::delete(ctx))?;
            removed.extend(dashboard);
            removed.extend(topic::delete(ctx).await?);
            Ok(removed)
        },
    )?;
    removed.extend(fns.into_iter().flatten());
    removed.extend(log_groups.into_iter().flatten());
    removed.extend(table);
    removed.extend(role);
    removed.extend(secret);
    removed.extend(queue);
    removed.extend(monitoring);
    Ok(removed)
}

/// Everything of this stack's names and tags that still exists: the join of
/// every resource module's leftovers, each found by listing its service (a
/// stage, routes and permissions go with their API or function).
pub async fn leftovers(stack: &Stack) -> Result<Vec<Leftover>> {
    let found = tokio::try_join!(
        api::leftovers(stack),
        function::leftovers(stack),
        logs::leftovers(stack),
        table::leftovers(stack),
        policy::leftovers(stack),
        role::leftovers(stack),
        secret::leftovers(stack),
        queue::leftovers(stack),
        alarms::leftovers(stack),
        dashboard::leftovers(stack),
        topic::leftovers(stack),
        domain::leftovers(stack),
    )?;
    let (apis, fns, groups, table, policy, role, secret, queue, alarms, dashboard, topic, domain) =
        found;
    Ok([
        fns, groups, secret, queue, apis, policy, role, table, alarms, dashboard, topic, domain,
    ]
    .concat())
}

impl fmt::Display for TeardownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.dry_run {
            "would tear down"
        } else {
            "tore down"
        };
        writeln!(f, "{verb} {} ({:.1} s)", self.at, self.elapsed_seconds)?;
        for r in &self.resources {
            writeln!(f, "{}", r.row(self.dry_run))?;
        }
        let foreign = self
            .resources
            .iter()
            .filter(|r| r.change == Change::Foreign)
            .count();
        if foreign > 0 {
            writeln!(f, "  {foreign} resource(s) with this stack's names are not tagged as its own and were left alone")?;
        }
        if self.dead_letters > 0 {
            let went = if self.dry_run { "would go" } else { "went" };
            let n = self.dead_letters;
            let what = if n == 1 { "delivery" } else { "deliveries" };
            writeln!(
                f,
                "  {n} failed {what} waiting in the dead-letter queue {went} with it"
            )?;
        }
        if let Some(role) = &self.account_logging_role {
            writeln!(
                f,
                "  API Gateway's account-wide CloudWatch Logs role ({role}) stays: an account setting, not this stack's"
            )?;
        }
        if self.dry_run {
            Ok(())
        } else if self.leftovers.is_empty() {
            writeln!(f, "  nothing of {} is left", self.at.stack)
        } else {
            writeln!(f, "  STILL PRESENT:")?;
            for l in &self.leftovers {
                writeln!(f, "    {l}")?;
            }
            writeln!(
                f,
                "  run `wschat teardown` again; if they stay, delete them in the console"
            )
        }
    }
}
