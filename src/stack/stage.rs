//! The API's stage: deployed automatically on every change, throttled as the
//! settings say. It lives and dies with its API.

use super::{Change, Ctx, Resource, Stack};
use crate::aws::{checked, created, or_absent};
use crate::error::Result;
use crate::spec::Settings;
use aws_sdk_apigatewayv2::operation::get_stage::GetStageOutput;
use aws_sdk_apigatewayv2::types::RouteSettings;

const KIND: &str = "stage";

/// The stack's stage on the API `api_id`, if it exists.
pub async fn find(stack: &Stack, api_id: &str) -> Result<Option<GetStageOutput>> {
    let name = &stack.spec.id.stage;
    let request = stack
        .clients
        .apigw
        .get_stage()
        .api_id(api_id)
        .stage_name(name);
    or_absent(request.send().await, "API Gateway GetStage", name)
}

fn throttling(settings: &Settings) -> RouteSettings {
    RouteSettings::builder()
        .throttling_burst_limit(settings.throttle_burst)
        .throttling_rate_limit(settings.throttle_rate)
        .build()
}

/// What differs in a stage: it deploys every change, and throttles as set.
#[derive(Debug, Default, PartialEq)]
pub struct StageDiff {
    pub auto_deploy: bool,
    /// The throttling now (rate, burst), when it is not as set.
    pub throttling: Option<(f64, i32)>,
    /// The throttling as set (rate, burst).
    wanted: (f64, i32),
}

impl StageDiff {
    pub fn between(current: &GetStageOutput, settings: &Settings) -> StageDiff {
        let route = current
            .default_route_settings
            .clone()
            .unwrap_or_else(|| RouteSettings::builder().build());
        let now = (
            route.throttling_rate_limit.unwrap_or(0.0),
            route.throttling_burst_limit.unwrap_or(0),
        );
        let set = route.throttling_rate_limit == Some(settings.throttle_rate)
            && route.throttling_burst_limit == Some(settings.throttle_burst);
        StageDiff {
            auto_deploy: current.auto_deploy != Some(true),
            throttling: (!set).then_some(now),
            wanted: (settings.throttle_rate, settings.throttle_burst),
        }
    }

    pub fn is_empty(&self) -> bool {
        !self.auto_deploy && self.throttling.is_none()
    }

    pub fn fields(&self) -> Vec<String> {
        let mut fields = Vec::new();
        if self.auto_deploy {
            fields.push("auto deploy".to_owned());
        }
        if let Some((rate, burst)) = self.throttling {
            let (wanted_rate, wanted_burst) = self.wanted;
            fields.push(format!(
                "throttling {rate}/s burst {burst} → {wanted_rate}/s burst {wanted_burst}"
            ));
        }
        fields
    }
}

/// The stage, deployed automatically on every change, with default throttling.
pub async fn ensure(ctx: &Ctx<'_>, api_id: Option<&str>, api_created: bool) -> Result<Resource> {
    let name = ctx.spec.id.stage.clone();
    let settings = &ctx.spec.settings;
    let apigw = &ctx.clients.apigw;
    let write = api_id.filter(|_| !ctx.dry_run);
    ctx.track(KIND, &name, async |_| {
        let current = match api_id {
            Some(id) if !api_created => find(ctx, id).await?,
            _ => None,
        };
        let Some(current) = current else {
            if let Some(api_id) = write {
                let request = apigw
                    .create_stage()
                    .api_id(api_id)
                    .stage_name(&name)
                    .auto_deploy(true)
                    .default_route_settings(throttling(settings))
                    .set_tags(Some(ctx.spec.tags()));
                created(request.send().await, "API Gateway CreateStage", &name)?;
            }
            return Ok(Change::Created);
        };
        let diff = StageDiff::between(&current, settings);
        if diff.is_empty() {
            return Ok(Change::Unchanged);
        }
        if let Some(api_id) = write {
            let request = apigw
                .update_stage()
                .api_id(api_id)
                .stage_name(&name)
                .auto_deploy(true)
                .default_route_settings(throttling(settings));
            checked(request.send().await, "API Gateway UpdateStage", &name)?;
        }
        Ok(Change::Updated {
            fields: diff.fields(),
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stage_deploys_automatically_and_throttles_as_set() {
        let settings = Settings::default();
        let stage = |auto: bool, rate: f64, burst: i32| {
            GetStageOutput::builder()
                .auto_deploy(auto)
                .default_route_settings(
                    RouteSettings::builder()
                        .throttling_rate_limit(rate)
                        .throttling_burst_limit(burst)
                        .build(),
                )
                .build()
        };
        assert!(StageDiff::between(&stage(true, 500.0, 1000), &settings).is_empty());
        assert_eq!(
            StageDiff::between(&stage(false, 500.0, 1000), &settings).fields(),
            ["auto deploy"]
        );
        assert_eq!(
            StageDiff::between(&stage(true, 100.0, 1000), &settings).fields(),
            ["throttling 100/s burst 1000 → 500/s burst 1000"]
        );
        assert_eq!(
            StageDiff::between(&stage(true, 500.0, 5), &settings).fields(),
            ["throttling 500/s burst 5 → 500/s burst 1000"]
        );
        assert_eq!(
            StageDiff::between(&GetStageOutput::builder().build(), &settings).fields(),
            ["auto deploy", "throttling 0/s burst 0 → 500/s burst 1000"]
        );
    }
}
