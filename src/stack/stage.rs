//! The API's stage: deployed automatically on every change, throttled as the
//! settings say. It lives and dies with its API.

use super::{Change, Ctx, Resource, Stack};
use crate::aws::{checked, created, or_absent};
use crate::error::Result;
use crate::spec::Settings;
use crate::spec::StackSpec;
use aws_sdk_apigatewayv2::operation::get_stage::GetStageOutput;
use aws_sdk_apigatewayv2::types::{AccessLogSettings, RouteSettings};

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

/// One JSON line per request, with the WebSocket `$context` variables an
/// operator reads first (never a message's body).
pub const ACCESS_LOG_FORMAT: &str = r#"{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","requestTime":"$context.requestTimeEpoch","eventType":"$context.eventType","routeKey":"$context.routeKey","connectionId":"$context.connectionId","status":"$context.status","integrationStatus":"$context.integrationStatus","integrationLatency":"$context.integrationLatency","error":"$context.error.message","integrationError":"$context.integrationErrorMessage"}"#;

/// Where and how the stage logs each request, when it does.
fn access_logs(spec: &StackSpec) -> Option<AccessLogSettings> {
    spec.settings.access_logs.then(|| {
        AccessLogSettings::builder()
            .destination_arn(spec.access_log_group_arn())
            .format(ACCESS_LOG_FORMAT)
            .build()
    })
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
    /// Access logging differs: `Some(true)` to turn on (or correct), `Some(false)` to turn off.
    pub access_logs: Option<bool>,
}

impl StageDiff {
    pub fn between(current: &GetStageOutput, spec: &StackSpec) -> StageDiff {
        let settings = &spec.settings;
        let now = current
            .access_log_settings
            .as_ref()
            .filter(|a| a.destination_arn.is_some());
        let wanted = access_logs(spec);
        let same = match (now, &wanted) {
            (None, None) => true,
            (Some(a), Some(w)) => a.destination_arn == w.destination_arn && a.format == w.format,
            _ => false,
        };
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
            access_logs: (!same).then_some(wanted.is_some()),
        }
    }

    pub fn is_empty(&self) -> bool {
        !self.auto_deploy && self.throttling.is_none() && self.access_logs.is_none()
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
        match self.access_logs {
            Some(true) => fields.push("access logs on".to_owned()),
            Some(false) => fields.push("access logs off".to_owned()),
            None => {}
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
                    .set_access_log_settings(access_logs(&ctx.spec))
                    .set_tags(Some(ctx.spec.tags()));
                created(request.send().await, "API Gateway CreateStage", &name)?;
            }
            return Ok(Change::Created);
        };
        let diff = StageDiff::between(&current, &ctx.spec);
        if diff.is_empty() {
            return Ok(Change::Unchanged);
        }
        if let Some(api_id) = write {
            let request = apigw
                .update_stage()
                .api_id(api_id)
                .stage_name(&name)
                .auto_deploy(true)
                .default_route_settings(throttling(settings))
                .set_access_log_settings(access_logs(&ctx.spec));
            checked(request.send().await, "API Gateway UpdateStage", &name)?;
            if diff.access_logs == Some(false) {
                let request = apigw
                    .delete_access_log_settings()
                    .api_id(api_id)
                    .stage_name(&name);
                checked(
                    request.send().await,
                    "API Gateway DeleteAccessLogSettings",
                    &name,
                )?;
            }
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
        let settings = crate::spec::tests::spec();
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
        let mut logging = crate::spec::tests::spec();
        logging.settings.access_logs = true;
        let diff = StageDiff::between(&stage(true, 500.0, 1000), &logging);
        assert_eq!(diff.fields(), ["access logs on"]);
        let logged = GetStageOutput::builder()
            .auto_deploy(true)
            .default_route_settings(throttling(&logging.settings))
            .set_access_log_settings(access_logs(&logging))
            .build();
        assert!(StageDiff::between(&logged, &logging).is_empty());
        assert_eq!(
            StageDiff::between(&logged, &settings).fields(),
            ["access logs off"]
        );
    }
}
