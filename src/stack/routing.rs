//! What joins the API to the functions: an AWS_PROXY integration per function
//! and a route per action, each exactly once.
//!
//! Integrations have no name, so two deploys racing on a new API each make a
//! set (and moto, unlike API Gateway, also accepts a second route with a key
//! that exists). Every choice here is the lowest id, the same from any
//! machine, and [`settle`] ends each deploy by converging on it.

use super::{Change, Ctx, Resource};
use crate::aws::{all_pages, checked, created, or_absent, or_gone_or_busy};
use crate::error::{CliError, Result};
use crate::spec::{routes, Function, StackSpec};
use aws_sdk_apigatewayv2::types::IntegrationType;
use futures_util::future::try_join_all;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

const INTEGRATION: &str = "integration";
const ROUTE: &str = "route";

/// An integration as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct Integration {
    pub id: String,
    pub uri: String,
}

/// A route as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub id: String,
    pub key: String,
    pub target: Option<String>,
}

fn target_of(integration_id: &str) -> String {
    format!("integrations/{integration_id}")
}

async fn list_integrations(ctx: &Ctx<'_>, api_id: &str) -> Result<Vec<Integration>> {
    let apigw = &ctx.clients.apigw;
    let listed = all_pages(async |token| {
        let request = apigw
            .get_integrations()
            .api_id(api_id)
            .set_next_token(token);
        let out = checked(request.send().await, "API Gateway GetIntegrations", api_id)?;
        Ok((out.items.unwrap_or_default(), out.next_token))
    })
    .await?;
    Ok(listed
        .into_iter()
        .filter_map(|i| {
            Some(Integration {
                id: i.integration_id?,
                uri: i.integration_uri?,
            })
        })
        .collect())
}

async fn list_routes(ctx: &Ctx<'_>, api_id: &str) -> Result<Vec<Route>> {
    let apigw = &ctx.clients.apigw;
    let listed = all_pages(async |token| {
        let request = apigw.get_routes().api_id(api_id).set_next_token(token);
        let out = checked(request.send().await, "API Gateway GetRoutes", api_id)?;
        Ok((out.items.unwrap_or_default(), out.next_token))
    })
    .await?;
    Ok(listed
        .into_iter()
        .filter_map(|r| {
            Some(Route {
                id: r.route_id?,
                key: r.route_key?,
                target: r.target,
            })
        })
        .collect())
}

/// Per URI, the integration every deploy keeps: the lowest id.
fn chosen_integrations(listed: &[Integration]) -> HashMap<&str, &str> {
    let mut chosen: HashMap<&str, &str> = HashMap::new();
    for i in listed {
        let id = chosen.entry(&i.uri).or_insert(&i.id);
        if i.id.as_str() < *id {
            *id = &i.id;
        }
    }
    chosen
}

/// Per key, the route every deploy keeps: the lowest id.
fn chosen_routes(listed: &[Route]) -> BTreeMap<&str, &Route> {
    let mut chosen: BTreeMap<&str, &Route> = BTreeMap::new();
    for r in listed {
        let kept = chosen.entry(&r.key).or_insert(r);
        if r.id < kept.id {
            *kept = r;
        }
    }
    chosen
}

/// Integrations by function; returns the reports and each function's integration id.
pub async fn ensure_integrations(
    ctx: &Ctx<'_>,
    api_id: Option<&str>,
    api_created: bool,
) -> Result<(Vec<Resource>, HashMap<Function, String>)> {
    let listed = match api_id {
        Some(id) if !api_created => list_integrations(ctx, id).await?,
        _ => Vec::new(),
    };
    let existing = chosen_integrations(&listed);
    // Independent of each other: created concurrently.
    let ensured = try_join_all(Function::ROUTED.map(|function| {
        let existing = &existing;
        async move {
            let label = integration_label(&ctx.spec, function);
            let uri = ctx.spec.integration_uri(function);
            let mut id = existing.get(uri.as_str()).map(|id| id.to_string());
            let report = ctx
                .track(INTEGRATION, &label, async |_| {
                    if id.is_some() {
                        return Ok(Change::Unchanged);
                    }
                    if let (Some(api_id), false) = (api_id, ctx.dry_run) {
                        let request = ctx
                            .clients
                            .apigw
                            .create_integration()
                            .api_id(api_id)
                            .integration_type(IntegrationType::AwsProxy)
                            .integration_method("POST")
                            .integration_uri(&uri);
                        let out = checked(
                            request.send().await,
                            "API Gateway CreateIntegration",
                            &label,
                        )?;
                        id = out.integration_id;
                    }
                    Ok(Change::Created)
                })
                .await?;
            Ok::<_, crate::error::CliError>((report, id.map(|id| (function, id))))
        }
    }))
    .await?;
    let (reports, ids): (Vec<_>, Vec<_>) = ensured.into_iter().unzip();
    Ok((reports, ids.into_iter().flatten().collect()))
}

fn integration_label(spec: &StackSpec, function: Function) -> String {
    format!("{} → {}", spec.api_name(), spec.function_name(function))
}

/// What a route needs. A target of `None` (its integration is not made yet,
/// in a dry run) leaves an existing route alone.
pub fn route_change(existing: Option<&Route>, target: Option<&str>) -> Change {
    match existing {
        None => Change::Created,
        Some(route) if target.is_none() || route.target.as_deref() == target => Change::Unchanged,
        Some(_) => Change::Updated {
            fields: vec!["target".into()],
        },
    }
}

/// One route: created, retargeted, or left alone.
async fn ensure_route(
    ctx: &Ctx<'_>,
    api_id: Option<&str>,
    key: &str,
    target: Option<String>,
    existing: Option<&Route>,
) -> Result<Resource> {
    let apigw = &ctx.clients.apigw;
    let change = route_change(existing, target.as_deref());
    if let (Some(api_id), false) = (api_id, ctx.dry_run) {
        match (&change, existing) {
            (Change::Created, _) => {
                let request = apigw
                    .create_route()
                    .api_id(api_id)
                    .route_key(key)
                    .set_target(target);
                created(request.send().await, "API Gateway CreateRoute", key)?;
            }
            (Change::Updated { .. }, Some(route)) => {
                let request = apigw
                    .update_route()
                    .api_id(api_id)
                    .route_id(&route.id)
                    .set_target(target);
                checked(request.send().await, "API Gateway UpdateRoute", key)?;
            }
            _ => {}
        }
    }
    Ok(Resource::new(ROUTE, key, change))
}

/// Every route of the protocol, each targeting its function's integration; routes wschat does not define are removed.
pub async fn ensure_routes(
    ctx: &Ctx<'_>,
    api_id: Option<&str>,
    integrations: &HashMap<Function, String>,
    api_created: bool,
) -> Result<Vec<Resource>> {
    let listed = match api_id {
        Some(id) if !api_created => list_routes(ctx, id).await?,
        _ => Vec::new(),
    };
    let existing = chosen_routes(&listed);
    let task = ctx
        .progress
        .task(format!("{ROUTE}s {}", ctx.spec.api_name()));
    let routes = routes();
    // Independent of each other: converged concurrently.
    let mut reports = try_join_all(routes.iter().map(|(key, function)| {
        let target = integrations.get(function).map(|id| target_of(id));
        ensure_route(ctx, api_id, key, target, existing.get(key).copied())
    }))
    .await?;
    for route in listed
        .iter()
        .filter(|r| !routes.iter().any(|(k, _)| *k == r.key))
    {
        if let (Some(api_id), false) = (api_id, ctx.dry_run) {
            let request = ctx
                .clients
                .apigw
                .delete_route()
                .api_id(api_id)
                .route_id(&route.id);
            or_absent(request.send().await, "API Gateway DeleteRoute", &route.key)?;
        }
        reports.push(Resource::new(ROUTE, route.key.clone(), Change::Deleted));
    }
    let changed = reports
        .iter()
        .filter(|r| r.change != Change::Unchanged)
        .count();
    task.finish(if changed == 0 {
        "unchanged".to_owned()
    } else {
        format!("{changed} of {} changed", reports.len())
    });
    Ok(reports)
}

/// What it takes to leave one integration per function and one route per
/// key, every route on its function's integration.
#[derive(Debug, Default, PartialEq)]
pub struct Settlement {
    /// Kept routes to point at the kept integration: (route, new target).
    pub retarget: Vec<(Route, String)>,
    /// Second routes with a key that is already routed.
    pub extra_routes: Vec<Route>,
    /// Second integrations for a function that has one.
    pub extra_integrations: Vec<(Function, Integration)>,
}

impl Settlement {
    pub fn of(spec: &StackSpec, integrations: &[Integration], routes_now: &[Route]) -> Self {
        let kept = chosen_integrations(integrations);
        let kept_routes = chosen_routes(routes_now);
        let uri_of: HashMap<Function, String> = Function::ROUTED
            .map(|f| (f, spec.integration_uri(f)))
            .into();
        let mut plan = Settlement::default();
        for (key, function) in routes() {
            let (Some(route), Some(id)) =
                (kept_routes.get(key), kept.get(uri_of[&function].as_str()))
            else {
                continue;
            };
            let target = target_of(id);
            if route.target.as_deref() != Some(target.as_str()) {
                plan.retarget.push(((*route).clone(), target));
            }
        }
        plan.extra_routes = routes_now
            .iter()
            .filter(|r| {
                kept_routes
                    .get(r.key.as_str())
                    .is_some_and(|k| k.id != r.id)
            })
            .cloned()
            .collect();
        for i in integrations {
            let function = uri_of
                .iter()
                .find(|(_, uri)| **uri == i.uri)
                .map(|(f, _)| *f);
            if let Some(function) = function {
                if kept.get(i.uri.as_str()) != Some(&i.id.as_str()) {
                    plan.extra_integrations.push((function, i.clone()));
                }
            }
        }
        plan
    }

    pub fn is_settled(&self) -> bool {
        *self == Settlement::default()
    }

    /// The extras as deleted resources, by id.
    fn reports(&self, spec: &StackSpec) -> BTreeMap<String, Resource> {
        let routes = self.extra_routes.iter().map(|r| {
            let label = format!("{} ({})", r.key, r.id);
            (r.id.clone(), Resource::new(ROUTE, label, Change::Deleted))
        });
        let integrations = self.extra_integrations.iter().map(|(f, i)| {
            let label = format!("{} ({})", integration_label(spec, *f), i.id);
            (
                i.id.clone(),
                Resource::new(INTEGRATION, label, Change::Deleted),
            )
        });
        routes.chain(integrations).collect()
    }
}

/// Rounds of list-and-mend; each round's listing sees what the other deploy
/// wrote before it, so a deploy whose view was stale mends its own writes.
const SETTLE_ROUNDS: u32 = 5;
const SETTLE_PAUSE: Duration = Duration::from_millis(500);

/// Ends a deploy with one integration per function and one route per key,
/// and returns what it deleted. A dry run returns the extras it would delete
/// (status shows them as extra).
pub async fn settle(ctx: &Ctx<'_>, api_id: Option<&str>) -> Result<Vec<Resource>> {
    let Some(api_id) = api_id else {
        return Ok(Vec::new());
    };
    let mut removed = BTreeMap::new();
    for round in 0..=SETTLE_ROUNDS {
        let (integrations, routes_now) =
            tokio::try_join!(list_integrations(ctx, api_id), list_routes(ctx, api_id))?;
        let plan = Settlement::of(&ctx.spec, &integrations, &routes_now);
        if plan.is_settled() {
            break;
        }
        if ctx.dry_run {
            return Ok(plan.reports(&ctx.spec).into_values().collect());
        }
        if round == SETTLE_ROUNDS {
            return Err(CliError::failed(format!(
                "{}: integrations or routes were still duplicated after {SETTLE_ROUNDS} \
                 rounds of repair, so another deploy of this stack is still writing",
                ctx.spec.api_name()
            ))
            .with_hint("run `wschat deploy` again once the other deploy is done"));
        }
        removed.extend(plan.reports(&ctx.spec));
        apply(ctx, api_id, &plan).await?;
        tokio::time::sleep(SETTLE_PAUSE).await;
    }
    Ok(removed.into_values().collect())
}

/// Routes first, so no integration is deleted while a kept route uses it.
/// "In use" or "concurrent modification" (the other deploy is mid-write)
/// leaves the step to the next round.
async fn apply(ctx: &Ctx<'_>, api_id: &str, plan: &Settlement) -> Result<()> {
    let apigw = &ctx.clients.apigw;
    try_join_all(plan.retarget.iter().map(async |(route, target)| {
        let request = apigw
            .update_route()
            .api_id(api_id)
            .route_id(&route.id)
            .target(target);
        or_gone_or_busy(request.send().await, "API Gateway UpdateRoute", &route.key).map(drop)
    }))
    .await?;
    try_join_all(plan.extra_routes.iter().map(async |route| {
        let request = apigw.delete_route().api_id(api_id).route_id(&route.id);
        or_gone_or_busy(request.send().await, "API Gateway DeleteRoute", &route.key).map(drop)
    }))
    .await?;
    try_join_all(plan.extra_integrations.iter().map(async |(_, i)| {
        let request = apigw
            .delete_integration()
            .api_id(api_id)
            .integration_id(&i.id);
        or_gone_or_busy(request.send().await, "API Gateway DeleteIntegration", &i.id).map(drop)
    }))
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Settings, StackId};

    fn route(id: &str, key: &str, target: Option<&str>) -> Route {
        Route {
            id: id.into(),
            key: key.into(),
            target: target.map(Into::into),
        }
    }

    #[test]
    fn a_route_is_created_retargeted_or_kept() {
        let r1 = route("r1", "$connect", Some("integrations/a"));
        assert_eq!(route_change(None, Some("integrations/a")), Change::Created);
        assert_eq!(
            route_change(Some(&r1), Some("integrations/a")),
            Change::Unchanged
        );
        assert_eq!(
            route_change(Some(&r1), Some("integrations/b")),
            Change::Updated {
                fields: vec!["target".into()]
            }
        );
        assert_eq!(
            route_change(Some(&r1), None),
            Change::Unchanged,
            "a dry run that cannot know the new integration keeps the route"
        );
        let untargeted = route("r2", "$connect", None);
        assert!(matches!(
            route_change(Some(&untargeted), Some("integrations/a")),
            Change::Updated { .. }
        ));
    }

    #[test]
    fn two_deploys_worth_of_integrations_and_routes_settle_on_the_lowest_ids() {
        let id = StackId::new("race", "dev").unwrap();
        let spec = StackSpec::new(&id, "us-east-1", "123456789012", Settings::default());
        let mut integrations = Vec::new();
        for (n, f) in Function::ROUTED.into_iter().enumerate() {
            for side in ["a", "b"] {
                integrations.push(Integration {
                    id: format!("{side}{n}"),
                    uri: spec.integration_uri(f),
                });
            }
        }
        let foreign = Integration {
            id: "0".into(),
            uri: "arn:aws:apigateway:us-east-1:lambda:path/other".into(),
        };
        integrations.push(foreign.clone());
        let mut listed = Vec::new();
        for (i, (key, f)) in routes().into_iter().enumerate() {
            let n = Function::ROUTED.iter().position(|g| *g == f).unwrap();
            // Deploy a's route points at a's integration, b's at b's.
            listed.push(route(
                &format!("a{i}"),
                key,
                Some(&format!("integrations/a{n}")),
            ));
            listed.push(route(
                &format!("b{i}"),
                key,
                Some(&format!("integrations/b{n}")),
            ));
        }
        let plan = Settlement::of(&spec, &integrations, &listed);
        assert!(
            plan.retarget.is_empty(),
            "a's routes already use a's integrations"
        );
        assert_eq!(plan.extra_routes.len(), routes().len());
        assert!(plan.extra_routes.iter().all(|r| r.id.starts_with('b')));
        assert_eq!(plan.extra_integrations.len(), Function::ROUTED.len());
        assert!(plan
            .extra_integrations
            .iter()
            .all(|(_, i)| i.id.starts_with('b')));
        assert!(
            !plan.extra_integrations.iter().any(|(_, i)| *i == foreign),
            "an integration wschat did not make is not its to delete"
        );

        // After b's extras are gone, with a kept route moved by the other deploy.
        integrations.retain(|i| !i.id.starts_with('b'));
        listed.retain(|r| r.id.starts_with('a'));
        listed[0].target = Some("integrations/b9".into());
        let plan = Settlement::of(&spec, &integrations, &listed);
        assert_eq!(plan.retarget.len(), 1);
        assert_eq!(plan.retarget[0].1, "integrations/a0");
        assert!(plan.extra_routes.is_empty() && plan.extra_integrations.is_empty());
        listed[0].target = Some("integrations/a0".into());
        assert!(Settlement::of(&spec, &integrations, &listed).is_settled());
    }
}
