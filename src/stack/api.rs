//! The WebSocket API: the API itself, an AWS_PROXY integration per function,
//! a route per action, and the stage.

use super::{finish, is_not_found, Change, Ctx, Resource};
use crate::aws::aws_error;
use crate::error::Result;
use crate::spec::{Function, ROUTES};
use aws_sdk_apigatewayv2::types::{Api, IntegrationType, ProtocolType, RouteSettings};
use futures_util::future::try_join_all;
use std::collections::HashMap;

const API: &str = "websocket api";
const INTEGRATION: &str = "integration";
const ROUTE: &str = "route";
const STAGE: &str = "stage";
const ROUTE_SELECTION: &str = "$request.body.action";

/// The stack's API: found by name and tags, since API names are not unique.
pub async fn find(ctx: &Ctx<'_>) -> Result<Option<Api>> {
    let name = ctx.spec.api_name();
    let mut token = None;
    loop {
        let out = ctx
            .clients
            .apigw
            .get_apis()
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws_error("API Gateway GetApis", &name, e))?;
        if let Some(api) = out.items.unwrap_or_default().into_iter().find(|a| {
            a.name.as_deref() == Some(name.as_str())
                && ctx.spec.owns(&a.tags.clone().unwrap_or_default())
        }) {
            return Ok(Some(api));
        }
        match out.next_token {
            Some(next) => token = Some(next),
            None => return Ok(None),
        }
    }
}

/// Returns the report and the API's id (`None` only in a dry run that would create it).
pub async fn ensure_api(ctx: &Ctx<'_>) -> Result<(Resource, Option<String>)> {
    let name = ctx.spec.api_name();
    let task = ctx.progress.task(format!("{API} {name}"));
    let apigw = &ctx.clients.apigw;
    let Some(api) = find(ctx).await? else {
        if ctx.dry_run {
            return Ok((
                finish(ctx, &task, Resource::new(API, name, Change::Created)),
                None,
            ));
        }
        task.set("creating");
        let created = apigw
            .create_api()
            .name(&name)
            .protocol_type(ProtocolType::Websocket)
            .route_selection_expression(ROUTE_SELECTION)
            .description(format!("wschat stack {}", ctx.spec.prefix()))
            .set_tags(Some(ctx.spec.tags()))
            .send()
            .await
            .map_err(|e| aws_error("API Gateway CreateApi", &name, e))?;
        return Ok((
            finish(ctx, &task, Resource::new(API, name, Change::Created)),
            created.api_id,
        ));
    };
    let id = api.api_id.clone();
    if api.route_selection_expression.as_deref() == Some(ROUTE_SELECTION) {
        return Ok((
            finish(ctx, &task, Resource::new(API, name, Change::Unchanged)),
            id,
        ));
    }
    if !ctx.dry_run {
        apigw
            .update_api()
            .api_id(id.clone().unwrap_or_default())
            .route_selection_expression(ROUTE_SELECTION)
            .send()
            .await
            .map_err(|e| aws_error("API Gateway UpdateApi", &name, e))?;
    }
    let fields = vec!["route selection expression".to_owned()];
    Ok((
        finish(
            ctx,
            &task,
            Resource::new(API, name, Change::Updated { fields }),
        ),
        id,
    ))
}

/// Integrations by function; returns the reports and each function's integration id.
pub async fn ensure_integrations(
    ctx: &Ctx<'_>,
    api_id: Option<&str>,
    api_created: bool,
) -> Result<(Vec<Resource>, HashMap<Function, String>)> {
    let apigw = &ctx.clients.apigw;
    let existing: HashMap<String, String> = match api_id {
        Some(id) if !api_created => {
            let out = apigw
                .get_integrations()
                .api_id(id)
                .send()
                .await
                .map_err(|e| aws_error("API Gateway GetIntegrations", id, e))?;
            out.items
                .unwrap_or_default()
                .into_iter()
                .filter_map(|i| Some((i.integration_uri?, i.integration_id?)))
                .collect()
        }
        _ => HashMap::new(),
    };
    // Independent of each other: created concurrently.
    let ensured = try_join_all(Function::ALL.map(|function| {
        let existing = &existing;
        async move {
            let label = format!(
                "{} → {}",
                ctx.spec.api_name(),
                ctx.spec.function_name(function)
            );
            let task = ctx.progress.task(format!("{INTEGRATION} {label}"));
            let uri = ctx.spec.integration_uri(function);
            if let Some(id) = existing.get(&uri) {
                let report = finish(
                    ctx,
                    &task,
                    Resource::new(INTEGRATION, label, Change::Unchanged),
                );
                return Ok((report, function, Some(id.clone())));
            }
            let mut id = None;
            if let (Some(api_id), false) = (api_id, ctx.dry_run) {
                let out = ctx
                    .clients
                    .apigw
                    .create_integration()
                    .api_id(api_id)
                    .integration_type(IntegrationType::AwsProxy)
                    .integration_method("POST")
                    .integration_uri(&uri)
                    .send()
                    .await
                    .map_err(|e| aws_error("API Gateway CreateIntegration", &label, e))?;
                id = out.integration_id;
            }
            Ok::<_, crate::error::CliError>((
                finish(
                    ctx,
                    &task,
                    Resource::new(INTEGRATION, label, Change::Created),
                ),
                function,
                id,
            ))
        }
    }))
    .await?;
    let mut reports = Vec::new();
    let mut ids = HashMap::new();
    for (report, function, id) in ensured {
        reports.push(report);
        if let Some(id) = id {
            ids.insert(function, id);
        }
    }
    Ok((reports, ids))
}

/// One route: created, retargeted, or left alone.
async fn ensure_route(
    ctx: &Ctx<'_>,
    api_id: Option<&str>,
    key: &str,
    target: Option<String>,
    existing: Option<&(String, Option<String>)>,
) -> Result<Resource> {
    let apigw = &ctx.clients.apigw;
    let write = api_id.filter(|_| !ctx.dry_run);
    let change = match existing {
        Some((_, current)) if target.is_none() || *current == target => Change::Unchanged,
        Some((route_id, _)) => {
            if let Some(api_id) = write {
                apigw
                    .update_route()
                    .api_id(api_id)
                    .route_id(route_id)
                    .set_target(target)
                    .send()
                    .await
                    .map_err(|e| aws_error("API Gateway UpdateRoute", key, e))?;
            }
            Change::Updated {
                fields: vec!["target".into()],
            }
        }
        None => {
            if let Some(api_id) = write {
                apigw
                    .create_route()
                    .api_id(api_id)
                    .route_key(key)
                    .set_target(target)
                    .send()
                    .await
                    .map_err(|e| aws_error("API Gateway CreateRoute", key, e))?;
            }
            Change::Created
        }
    };
    Ok(Resource::new(ROUTE, key, change))
}

/// Every route of the protocol, each targeting its function's integration; routes wschat does not define are removed.
pub async fn ensure_routes(
    ctx: &Ctx<'_>,
    api_id: Option<&str>,
    integrations: &HashMap<Function, String>,
    api_created: bool,
) -> Result<Vec<Resource>> {
    let apigw = &ctx.clients.apigw;
    let existing: HashMap<String, (String, Option<String>)> = match api_id {
        Some(id) if !api_created => {
            let out = apigw
                .get_routes()
                .api_id(id)
                .send()
                .await
                .map_err(|e| aws_error("API Gateway GetRoutes", id, e))?;
            out.items
                .unwrap_or_default()
                .into_iter()
                .filter_map(|r| Some((r.route_key?, (r.route_id?, r.target))))
                .collect()
        }
        _ => HashMap::new(),
    };
    let task = ctx
        .progress
        .task(format!("{ROUTE}s {}", ctx.spec.api_name()));
    // Independent of each other: converged concurrently.
    let mut reports = try_join_all(ROUTES.map(|(key, function)| {
        let target = integrations
            .get(&function)
            .map(|id| format!("integrations/{id}"));
        ensure_route(ctx, api_id, key, target, existing.get(key))
    }))
    .await?;
    for (key, (route_id, _)) in &existing {
        if ROUTES.iter().any(|(k, _)| k == key) {
            continue;
        }
        if let (Some(api_id), false) = (api_id, ctx.dry_run) {
            apigw
                .delete_route()
                .api_id(api_id)
                .route_id(route_id)
                .send()
                .await
                .map_err(|e| aws_error("API Gateway DeleteRoute", key, e))?;
        }
        reports.push(Resource::new(ROUTE, key.clone(), Change::Deleted));
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

/// The stage, deployed automatically on every change, with default throttling.
pub async fn ensure_stage(
    ctx: &Ctx<'_>,
    api_id: Option<&str>,
    api_created: bool,
) -> Result<Resource> {
    let name = ctx.spec.stage.clone();
    let task = ctx.progress.task(format!("{STAGE} {name}"));
    let settings = &ctx.spec.settings;
    let throttling = RouteSettings::builder()
        .throttling_burst_limit(settings.throttle_burst)
        .throttling_rate_limit(settings.throttle_rate)
        .build();
    let apigw = &ctx.clients.apigw;
    let current = match api_id {
        Some(id) if !api_created => {
            match apigw.get_stage().api_id(id).stage_name(&name).send().await {
                Ok(stage) => Some(stage),
                Err(e) if e.as_service_error().is_some_and(is_not_found) => None,
                Err(e) => return Err(aws_error("API Gateway GetStage", &name, e)),
            }
        }
        _ => None,
    };
    let Some(current) = current else {
        if let (Some(api_id), false) = (api_id, ctx.dry_run) {
            apigw
                .create_stage()
                .api_id(api_id)
                .stage_name(&name)
                .auto_deploy(true)
                .default_route_settings(throttling)
                .set_tags(Some(ctx.spec.tags()))
                .send()
                .await
                .map_err(|e| aws_error("API Gateway CreateStage", &name, e))?;
        }
        return Ok(finish(
            ctx,
            &task,
            Resource::new(STAGE, name, Change::Created),
        ));
    };
    let mut fields = Vec::new();
    if current.auto_deploy != Some(true) {
        fields.push("auto deploy".to_owned());
    }
    let route = current
        .default_route_settings
        .clone()
        .unwrap_or_else(|| RouteSettings::builder().build());
    if route.throttling_rate_limit != Some(settings.throttle_rate)
        || route.throttling_burst_limit != Some(settings.throttle_burst)
    {
        fields.push(format!(
            "throttling {}/s burst {} → {}/s burst {}",
            route.throttling_rate_limit.unwrap_or(0.0),
            route.throttling_burst_limit.unwrap_or(0),
            settings.throttle_rate,
            settings.throttle_burst
        ));
    }
    if fields.is_empty() {
        return Ok(finish(
            ctx,
            &task,
            Resource::new(STAGE, name, Change::Unchanged),
        ));
    }
    if let (Some(api_id), false) = (api_id, ctx.dry_run) {
        apigw
            .update_stage()
            .api_id(api_id)
            .stage_name(&name)
            .auto_deploy(true)
            .default_route_settings(throttling)
            .send()
            .await
            .map_err(|e| aws_error("API Gateway UpdateStage", &name, e))?;
    }
    Ok(finish(
        ctx,
        &task,
        Resource::new(STAGE, name, Change::Updated { fields }),
    ))
}

/// Deleting the API deletes its integrations, routes and stage with it.
pub async fn delete(ctx: &Ctx<'_>) -> Result<Resource> {
    let name = ctx.spec.api_name();
    let task = ctx.progress.task(format!("{API} {name}"));
    let Some(api) = find(ctx).await? else {
        return Ok(finish(ctx, &task, Resource::new(API, name, Change::Absent)));
    };
    if !ctx.dry_run {
        let id = api.api_id.unwrap_or_default();
        match ctx.clients.apigw.delete_api().api_id(&id).send().await {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(is_not_found) => {}
            Err(e) => return Err(aws_error("API Gateway DeleteApi", &name, e)),
        }
    }
    Ok(finish(
        ctx,
        &task,
        Resource::new(API, name, Change::Deleted),
    ))
}
