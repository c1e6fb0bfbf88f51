//! A deployed stack's health over a window: every series from one
//! `GetMetricData` call (the chat's EMF metrics, API Gateway's, Lambda's),
//! the alarms in ALARM, and the account's quotas from Service Quotas, all
//! at once so that `status` spends one round trip more, not five.

use super::Stack;
use crate::aws::json;
use crate::error::Result;
use crate::health::{Figures, Functions, Gateway, Health, Percentiles, Quota};
use crate::spec::Function;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;
use wschat_lambdas::json_api::{CLOUDWATCH, SERVICE_QUOTAS};
use wschat_lambdas::telemetry::{self, Metric};

/// Service Quotas' codes: API Gateway's account-wide request rate, Lambda's concurrency.
const API_RATE_QUOTA: (&str, &str) = ("apigateway", "L-8A5B8E43");
const LAMBDA_CONCURRENCY_QUOTA: (&str, &str) = ("lambda", "L-B99A9384");

/// One series of the call: its id, the metric, the statistic and the period.
struct Series {
    id: String,
    namespace: &'static str,
    metric: String,
    dimensions: Vec<(&'static str, String)>,
    stat: &'static str,
    period_s: u64,
}

impl Series {
    fn query(&self) -> Value {
        let dimensions: Vec<Value> = self
            .dimensions
            .iter()
            .map(|(k, v)| json!({ "Name": k, "Value": v }))
            .collect();
        json!({
            "Id": self.id,
            "MetricStat": {
                "Metric": { "Namespace": self.namespace, "MetricName": self.metric, "Dimensions": dimensions },
                "Period": self.period_s,
                "Stat": self.stat,
            },
            "ReturnData": true,
        })
    }
}

/// Every series `status` shows, over a window of `window_s` seconds (a multiple of 60).
fn series(stack: &Stack, api_id: Option<&str>, window_s: u64) -> Vec<Series> {
    let spec = &stack.spec;
    let whole = |id: String, namespace, metric: &str, dimensions, stat| Series {
        id,
        namespace,
        metric: metric.to_owned(),
        dimensions,
        stat,
        period_s: window_s,
    };
    let chat = vec![(telemetry::DIMENSION, spec.prefix())];
    let mut all: Vec<Series> = Metric::ALL
        .iter()
        .filter(|m| m.is_count())
        .map(|m| {
            let id = format!("chat_{}", m.name().to_lowercase());
            whole(id, telemetry::NAMESPACE, m.name(), chat.clone(), "Sum")
        })
        .collect();
    for stat in ["p50", "p99"] {
        let fanout = Metric::FanoutDuration.name();
        all.push(whole(
            format!("fanout_{stat}"),
            telemetry::NAMESPACE,
            fanout,
            chat.clone(),
            stat,
        ));
    }
    if let Some(id) = api_id {
        let api = vec![("ApiId", id.to_owned()), ("Stage", spec.id.stage.clone())];
        for metric in [
            "ConnectCount",
            "MessageCount",
            "ClientError",
            "IntegrationError",
            "ExecutionError",
        ] {
            all.push(whole(
                format!("api_{}", metric.to_lowercase()),
                "AWS/ApiGateway",
                metric,
                api.clone(),
                "Sum",
            ));
        }
        for stat in ["p50", "p99"] {
            all.push(whole(
                format!("latency_{stat}"),
                "AWS/ApiGateway",
                "IntegrationLatency",
                api.clone(),
                stat,
            ));
        }
        // Per minute, for the peak: requests are what the account's rate quota counts.
        for metric in ["ConnectCount", "MessageCount"] {
            all.push(Series {
                period_s: 60,
                ..whole(
                    format!("peak_{}", metric.to_lowercase()),
                    "AWS/ApiGateway",
                    metric,
                    api.clone(),
                    "Sum",
                )
            });
        }
    }
    for f in Function::ALL {
        let function = vec![("FunctionName", spec.function_name(f))];
        for metric in ["Errors", "Throttles"] {
            let id = format!("fn_{}_{}", f.name(), metric.to_lowercase());
            all.push(whole(id, "AWS/Lambda", metric, function.clone(), "Sum"));
        }
    }
    all.push(Series {
        period_s: 60,
        ..whole(
            "peak_concurrency".into(),
            "AWS/Lambda",
            "ConcurrentExecutions",
            vec![],
            "Maximum",
        )
    });
    all
}

/// Each series' values by id, from as many pages as the answer has.
async fn metric_data(
    stack: &Stack,
    queries: &[Value],
    window_s: u64,
) -> Result<HashMap<String, Vec<f64>>> {
    // Up to this second, the current one included.
    let end = wschat_lambdas::clock::now_ms() / 1000 + 1;
    let mut input = json!({
        "MetricDataQueries": queries,
        "StartTime": end - window_s as i64,
        "EndTime": end,
        "ScanBy": "TimestampDescending",
    });
    let mut values: HashMap<String, Vec<f64>> = HashMap::new();
    let on = stack.spec.prefix();
    loop {
        let page = json::checked(&stack.clients, &CLOUDWATCH, "GetMetricData", &input, &on).await?;
        for result in page["MetricDataResults"].as_array().into_iter().flatten() {
            let id = result["Id"].as_str().unwrap_or_default().to_owned();
            let found = result["Values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_f64);
            values.entry(id).or_default().extend(found);
        }
        match page["NextToken"].as_str() {
            Some(token) if !token.is_empty() => input["NextToken"] = token.into(),
            _ => return Ok(values),
        }
    }
}

/// The account's value of a quota; `None` when it cannot be read (no
/// permission, or a partition without Service Quotas): health goes on without it.
async fn quota(stack: &Stack, (service, code): (&str, &str)) -> Option<f64> {
    let input = json!({ "ServiceCode": service, "QuotaCode": code });
    let on = format!("{service} {code}");
    let answer = json::call(
        &stack.clients,
        &SERVICE_QUOTAS,
        "GetServiceQuota",
        &input,
        &on,
    )
    .await;
    answer.ok()?.ok()?["Quota"]["Value"].as_f64()
}

/// The stack's alarms in ALARM: one DescribeAlarms, no tags read (status
/// lists the alarms, and whose they are, above).
async fn firing(stack: &Stack) -> Result<Vec<String>> {
    let prefix = format!("{}-", stack.spec.prefix());
    let input = json!({ "AlarmNamePrefix": prefix, "StateValue": "ALARM", "AlarmTypes": ["MetricAlarm"], "MaxRecords": 100 });
    let page = json::checked(
        &stack.clients,
        &CLOUDWATCH,
        "DescribeAlarms",
        &input,
        &prefix,
    )
    .await?;
    let wanted: Vec<String> = super::alarms::wanted(&stack.spec, "")
        .into_iter()
        .map(|a| a.name)
        .collect();
    let mut names: Vec<String> = page["MetricAlarms"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["StateValue"] == "ALARM")
        .filter_map(|a| a["AlarmName"].as_str().map(str::to_owned))
        .filter(|n| wanted.contains(n))
        .collect();
    names.sort();
    Ok(names)
}

/// The window CloudWatch is asked about: whole minutes, at least one.
fn window_seconds(since: Duration) -> u64 {
    since.as_secs().div_ceil(60).max(1) * 60
}

/// The health section; its `connections` are the caller's to fill (from the table).
pub async fn gather(stack: &Stack, api_id: Option<&str>, since: Duration) -> Result<Health> {
    let window_s = window_seconds(since);
    let series = series(stack, api_id, window_s);
    let queries: Vec<Value> = series.iter().map(Series::query).collect();
    let (values, firing, api_quota, lambda_quota) = tokio::join!(
        metric_data(stack, &queries, window_s),
        firing(stack),
        quota(stack, API_RATE_QUOTA),
        quota(stack, LAMBDA_CONCURRENCY_QUOTA),
    );
    let values = values?;
    // Folded from +0.0: an empty sum of f64 is -0.0.
    let sum = |id: &str| {
        values
            .get(id)
            .map_or(0.0, |v| v.iter().fold(0.0, |a, b| a + b))
    };
    let max = |id: &str| {
        values
            .get(id)
            .and_then(|v| v.iter().copied().reduce(f64::max))
    };
    let percentiles = |prefix: &str| {
        Some(Percentiles {
            p50: max(&format!("{prefix}_p50"))?,
            p99: max(&format!("{prefix}_p99"))?,
        })
    };
    let counts = Metric::ALL
        .iter()
        .filter(|m| m.is_count())
        .map(|m| {
            (
                m.name().to_owned(),
                sum(&format!("chat_{}", m.name().to_lowercase())),
            )
        })
        .filter(|(_, v)| *v > 0.0)
        .collect();
    let figures = Figures {
        since_seconds: window_s,
        counts,
        fanout_ms: percentiles("fanout"),
    };
    let mut health = Health::new(0, figures);
    health.gateway = api_id.map(|_| Gateway {
        connects: sum("api_connectcount"),
        messages: sum("api_messagecount"),
        client_errors: sum("api_clienterror"),
        integration_errors: sum("api_integrationerror"),
        execution_errors: sum("api_executionerror"),
        integration_latency_ms: percentiles("latency"),
    });
    let of_functions = |metric: &str| -> f64 {
        Function::ALL
            .iter()
            .map(|f| sum(&format!("fn_{}_{metric}", f.name())))
            .fold(0.0, |a, b| a + b)
    };
    health.functions = Some(Functions {
        errors: of_functions("errors"),
        throttles: of_functions("throttles"),
    });
    // Requests per second in the busiest minute: connects and messages both count.
    let per_minute = |id: &str| values.get(id).cloned().unwrap_or_default();
    let (connects, messages) = (
        per_minute("peak_connectcount"),
        per_minute("peak_messagecount"),
    );
    let busiest = (0..connects.len().max(messages.len()))
        .map(|i| connects.get(i).unwrap_or(&0.0) + messages.get(i).unwrap_or(&0.0))
        .fold(0.0, f64::max);
    health.quotas = vec![
        Quota {
            name: "API Gateway requests per second".into(),
            quota: api_quota,
            peak: (busiest / 60.0 * 100.0).round() / 100.0,
        },
        Quota {
            name: "Lambda concurrent executions".into(),
            quota: lambda_quota,
            peak: max("peak_concurrency").unwrap_or(0.0),
        },
    ];
    health.alarms_firing = Some(firing?);
    Ok(health)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_whole_minutes() {
        assert_eq!(window_seconds(Duration::from_secs(900)), 900);
        assert_eq!(window_seconds(Duration::from_secs(61)), 120);
        assert_eq!(window_seconds(Duration::from_secs(1)), 60);
    }
}
