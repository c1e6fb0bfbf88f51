//! The WebSocket API itself (its stage: [`super::stage`]; integrations and
//! routes: [`super::routing`]).

use super::{Change, Ctx, Leftover, Resource, Stack};
use crate::aws::{all_pages, aws_error, checked, is_transient, or_absent};
use crate::error::Result;
use crate::spec::TAG_APPLIED;
use aws_config::retry::RetryConfig;
use aws_sdk_apigatewayv2::types::{Api, ProtocolType};
use futures_util::future::try_join_all;
use std::collections::HashMap;
use std::time::Duration;
use wschat_lambdas::retry::{retry, Backoff, Limits, Verdict};

const API: &str = "websocket api";
const ROUTE_SELECTION: &str = "$request.body.action";

/// Every API with this stack's name and tags (names are not unique), the
/// survivor first: the oldest, ties broken by id, so that every machine, and
/// each of two deploys racing, picks the same one.
pub async fn find_all(stack: &Stack) -> Result<Vec<Api>> {
    let name = stack.spec.api_name();
    let mut found = all_pages(async |token| {
        let request = stack.clients.apigw.get_apis().set_next_token(token);
        let out = checked(request.send().await, "API Gateway GetApis", &name)?;
        Ok((out.items.unwrap_or_default(), out.next_token))
    })
    .await?;
    found.retain(|a| {
        a.name.as_deref() == Some(name.as_str())
            && stack.spec.owns(&a.tags.clone().unwrap_or_default())
    });
    found.sort_by(survivor_order);
    Ok(found)
}

fn survivor_order(a: &Api, b: &Api) -> std::cmp::Ordering {
    let created = |api: &Api| api.created_date.map(|d| (d.secs(), d.subsec_nanos()));
    created(a)
        .cmp(&created(b))
        .then_with(|| a.api_id.cmp(&b.api_id))
}

/// The stack's API: the survivor, if there is any.
pub async fn find(stack: &Stack) -> Result<Option<Api>> {
    Ok(find_all(stack).await?.into_iter().next())
}

/// CreateApi has no idempotency token: a create whose reply was lost may
/// have landed, and blindly retrying it makes a second API. So the SDK does
/// not retry it; this loop looks for the API before every new attempt.
async fn create_api(ctx: &Ctx<'_>) -> Result<Option<String>> {
    let name = ctx.spec.api_name();
    let attempt = |n: u32| {
        let name = &name;
        async move {
            // A transient failure may have been a create that landed.
            if n > 1 {
                if let Some(api) = find(ctx).await.map_err(|e| (e, false))? {
                    return Ok(api.api_id);
                }
            }
            let request = ctx
                .clients
                .apigw
                .create_api()
                .name(name)
                .protocol_type(ProtocolType::Websocket)
                .route_selection_expression(ROUTE_SELECTION)
                .description(format!("wschat stack {}", ctx.spec.prefix()))
                .set_tags(Some(
                    ctx.spec
                        .tags()
                        .into_iter()
                        .chain(ctx.spec.applied_tags())
                        .collect(),
                ))
                .customize()
                .config_override(
                    aws_sdk_apigatewayv2::config::Builder::default()
                        .retry_config(RetryConfig::disabled()),
                );
            match request.send().await {
                Ok(created) => Ok(created.api_id),
                Err(e) => Err((
                    aws_error("API Gateway CreateApi", name, &e),
                    is_transient(&e),
                )),
            }
        }
    };
    let limits = Limits {
        attempts: Some(CREATE_ATTEMPTS),
        within: None,
    };
    retry(limits, attempt, |(_, transient), n, _| {
        if *transient {
            Verdict::Retry(CREATE_BACKOFF.delay(n))
        } else {
            Verdict::Stop
        }
    })
    .await
    .map_err(|failed| failed.error.0)
}

const CREATE_ATTEMPTS: u32 = 8;
const CREATE_BACKOFF: Backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));

/// What differs between the API and the one the chat needs.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ApiDiff {
    pub route_selection: bool,
}

impl ApiDiff {
    pub fn between(api: &Api) -> ApiDiff {
        ApiDiff {
            route_selection: api.route_selection_expression.as_deref() != Some(ROUTE_SELECTION),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == ApiDiff::default()
    }

    pub fn fields(&self) -> Vec<String> {
        self.route_selection
            .then(|| "route selection expression".to_owned())
            .into_iter()
            .collect()
    }
}

/// The API as converged: its report, its id (`None` only in a dry run that
/// would create it), its tags as found, and the stack's other APIs, for
/// [`remove_duplicates`].
pub struct Ensured {
    pub report: Resource,
    pub id: Option<String>,
    pub tags: HashMap<String, String>,
    pub extras: Vec<Api>,
}

pub async fn ensure(ctx: &Ctx<'_>) -> Result<Ensured> {
    let name = ctx.spec.api_name();
    let apigw = &ctx.clients.apigw;
    let mut id = None;
    let mut tags = HashMap::new();
    let mut extras = Vec::new();
    let report = ctx
        .track(API, &name, async |task| {
            let mut found = find_all(ctx).await?.into_iter();
            let Some(api) = found.next() else {
                if !ctx.dry_run {
                    task.set("creating");
                    id = create_api(ctx).await?;
                    // Another deploy may have created one at the same time: both
                    // keep the survivor (the loser's is deleted), and whoever
                    // did not make it goes on as with an existing API.
                    let mut now = find_all(ctx).await?.into_iter();
                    let survivor = now.next().and_then(|a| a.api_id);
                    extras = now.collect();
                    if survivor.is_some() && survivor != id {
                        id = survivor;
                        return Ok(Change::Unchanged);
                    }
                    tags = ctx.spec.applied_tags();
                }
                return Ok(Change::Created);
            };
            extras = found.collect();
            id = api.api_id.clone();
            tags = api.tags.clone().unwrap_or_default();
            let diff = ApiDiff::between(&api);
            if diff.is_empty() {
                return Ok(Change::Unchanged);
            }
            if !ctx.dry_run {
                let request = apigw
                    .update_api()
                    .set_api_id(api.api_id)
                    .route_selection_expression(ROUTE_SELECTION);
                checked(request.send().await, "API Gateway UpdateApi", &name)?;
            }
            Ok(Change::Updated {
                fields: diff.fields(),
            })
        })
        .await?;
    Ok(Ensured {
        report,
        id,
        tags,
        extras,
    })
}

/// The API's id and the settings the last deploy applied, from its tags
/// (`None`: no API, or one deployed before wschat recorded them).
pub async fn applied_tags(
    stack: &Stack,
) -> Result<(Option<String>, Option<HashMap<String, String>>)> {
    let api = find(stack).await?;
    let id = api.as_ref().and_then(|a| a.api_id.clone());
    let applied: HashMap<String, String> = api
        .and_then(|a| a.tags)
        .unwrap_or_default()
        .into_iter()
        .filter(|(key, _)| key.starts_with(TAG_APPLIED))
        .collect();
    Ok((id, (!applied.is_empty()).then_some(applied)))
}

/// After a deploy: records on the API the settings it applied, writing only
/// when they differ from what the API already carries.
pub async fn record_settings(
    ctx: &Ctx<'_>,
    api_id: &str,
    current: &HashMap<String, String>,
) -> Result<()> {
    let wanted = ctx.spec.applied_tags();
    let changed: HashMap<String, String> = wanted
        .iter()
        .filter(|(key, value)| current.get(*key) != Some(*value))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let stale: Vec<String> = current
        .keys()
        .filter(|key| key.starts_with(TAG_APPLIED) && !wanted.contains_key(*key))
        .cloned()
        .collect();
    let arn = format!(
        "arn:{}:apigateway:{}::/apis/{api_id}",
        ctx.spec.partition, ctx.spec.region
    );
    let name = ctx.spec.api_name();
    if !changed.is_empty() {
        let request = ctx
            .clients
            .apigw
            .tag_resource()
            .resource_arn(&arn)
            .set_tags(Some(changed));
        checked(request.send().await, "API Gateway TagResource", &name)?;
    }
    if !stale.is_empty() {
        let request = ctx
            .clients
            .apigw
            .untag_resource()
            .resource_arn(&arn)
            .set_tag_keys(Some(stale));
        checked(request.send().await, "API Gateway UntagResource", &name)?;
    }
    Ok(())
}

/// Deleting the API deletes its integrations, routes and stage with it.
/// `find` only returns an API tagged as this stack's, so none is ever foreign.
/// APIs of this stack beyond the survivor (a lost reply, two deploys at
/// once): deleted by deploy, reported by status as extra.
pub async fn remove_duplicates(ctx: &Ctx<'_>, extras: Vec<Api>) -> Result<Vec<Resource>> {
    try_join_all(extras.into_iter().map(|api| delete_one(ctx, api))).await
}

async fn delete_one(ctx: &Ctx<'_>, api: Api) -> Result<Resource> {
    let id = api.api_id.unwrap_or_default();
    let label = format!("{} ({id})", ctx.spec.api_name());
    let ours = std::future::ready(Ok(super::Ownership::Ours));
    ctx.remove(API, &label, ours, async |_| {
        or_absent(
            ctx.clients.apigw.delete_api().api_id(&id).send().await,
            "API Gateway DeleteApi",
            &label,
        )?;
        Ok(())
    })
    .await
}

/// Every API of this stack, duplicates included, in one pass. Deleting an
/// API deletes its integrations, routes and stage with it.
pub async fn delete(ctx: &Ctx<'_>) -> Result<Vec<Resource>> {
    let all = find_all(ctx).await?;
    if all.is_empty() {
        let absent = std::future::ready(Ok(super::Ownership::Absent));
        let name = ctx.spec.api_name();
        return Ok(vec![
            ctx.remove(API, &name, absent, async |_| Ok(())).await?,
        ]);
    }
    try_join_all(all.into_iter().map(|api| delete_one(ctx, api))).await
}

/// Every API of this stack that still exists.
pub async fn leftovers(stack: &Stack) -> Result<Vec<Leftover>> {
    Ok(find_all(stack)
        .await?
        .into_iter()
        .map(|api| {
            let id = api.api_id.unwrap_or_default();
            Leftover::new(API, format!("{} ({id})", stack.spec.api_name()))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_differs_by_its_route_selection() {
        let api = |expression: &str| {
            Api::builder()
                .name("chat-dev")
                .protocol_type(ProtocolType::Websocket)
                .route_selection_expression(expression)
                .build()
        };
        assert!(ApiDiff::between(&api(ROUTE_SELECTION)).is_empty());
        assert_eq!(
            ApiDiff::between(&api("$request.body.type")).fields(),
            ["route selection expression"]
        );
    }
}
