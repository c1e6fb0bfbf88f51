//! `wschat teardown`: delete everything of this stack concurrently where the
//! order allows, then scan every service for anything left.

use super::{
    api, functions, logs, role, secret, table, Change, Ctx, Located, Ownership, Resource, Stack,
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
    /// What still exists after the deletes (empty on success).
    pub leftovers: Vec<String>,
    pub elapsed_seconds: f64,
}

impl TeardownReport {
    pub fn clean(&self) -> bool {
        self.leftovers.is_empty()
    }
}

pub async fn teardown(ctx: &Ctx<'_>) -> Result<Vec<Resource>> {
    // The API goes first with its routes, so nothing invokes the functions while they go.
    let apis = api::delete(ctx).await?;
    let (fns, log_groups, table, roles, secret) = tokio::try_join!(
        try_join_all(Function::ALL.map(|f| functions::delete(ctx, f))),
        try_join_all(Function::ALL.map(|f| logs::delete(ctx, f))),
        table::delete(ctx),
        role::delete(ctx),
        secret::delete(ctx),
    )?;
    let mut resources = apis;
    resources.extend(fns);
    resources.extend(log_groups);
    resources.push(table);
    resources.extend(roles);
    resources.push(secret);
    Ok(resources)
}

/// Everything of this name and tags that still exists, by listing each service.
pub async fn leftovers(stack: &Stack) -> Result<Vec<String>> {
    let spec = &stack.spec;
    let (fns, groups, apis, role, table, secret) = tokio::try_join!(
        functions::leftovers(stack),
        logs::leftovers(stack),
        api::find_all(stack),
        role::ownership(stack),
        table::ownership(stack),
        secret::leftovers(stack),
    )?;
    let mut found = fns;
    found.extend(groups);
    found.extend(secret);
    for api in apis {
        let id = api.api_id.unwrap_or_default();
        found.push(format!("websocket api {} ({id})", spec.api_name()));
    }
    if role == Ownership::Ours {
        found.push(format!("iam role {}", spec.role()));
    }
    if table == Ownership::Ours {
        found.push(format!("table {}", spec.table()));
    }
    Ok(found)
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
