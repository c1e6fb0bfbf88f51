//! The stack's CloudWatch dashboard, named `{name}-{stage}`: the chat's own
//! metrics (messages, deliveries, failures, fan-out latency), API Gateway's
//! traffic, errors and latency, the functions' errors and throttles, the
//! table's throttling and the dead-letter queue. Dashboards carry no tags
//! CloudWatch lists with them, so the first widget says whose it is: a
//! dashboard under our name without that line is someone else's.

use super::{Change, Ctx, Leftover, Ownership, Resource, Stack};
use crate::aws::json;
use crate::error::Result;
use crate::spec::{Function, StackSpec};
use serde_json::{json, Value};
use wschat_lambdas::json_api::CLOUDWATCH;
use wschat_lambdas::telemetry::{self, Metric};

const KIND: &str = "dashboard";

/// The first widget's text: who manages the dashboard.
fn marker(spec: &StackSpec) -> String {
    format!(
        "## wschat {}\nManaged by `wschat deploy`: edits here are undone by the next deploy.",
        spec.prefix()
    )
}

/// The dashboard's body as the stack wants it.
pub fn body(spec: &StackSpec, api_id: &str) -> Value {
    let region = spec.region.as_str();
    let stack = spec.prefix();
    let chat = |metric: Metric| {
        json!([
            telemetry::NAMESPACE,
            metric.name(),
            telemetry::DIMENSION,
            stack
        ])
    };
    let api = |metric: &str| {
        json!([
            "AWS/ApiGateway",
            metric,
            "ApiId",
            api_id,
            "Stage",
            spec.id.stage
        ])
    };
    let lambda = |metric: &str| -> Vec<Value> {
        Function::ALL
            .iter()
            .map(|f| json!(["AWS/Lambda", metric, "FunctionName", spec.function_name(*f)]))
            .collect()
    };
    let table = |metric: &str| json!(["AWS/DynamoDB", metric, "TableName", spec.table()]);
    let graph = |title: &str, metrics: Vec<Value>, stat: &str, (x, y): (u32, u32)| {
        json!({
            "type": "metric", "x": x, "y": y, "width": 12, "height": 6,
            "properties": {
                "title": title, "region": region, "stat": stat, "period": 60,
                "view": "timeSeries", "metrics": metrics,
            },
        })
    };
    let latency = |title: &str, metric: Value, (x, y): (u32, u32)| {
        let mut p50 = metric.clone();
        let mut p99 = metric;
        for (m, stat) in [(&mut p50, "p50"), (&mut p99, "p99")] {
            if let Some(array) = m.as_array_mut() {
                array.push(json!({ "stat": stat, "label": stat }));
            }
        }
        graph(title, vec![p50, p99], "p50", (x, y))
    };
    json!({
        "widgets": [
            { "type": "text", "x": 0, "y": 0, "width": 24, "height": 2,
              "properties": { "markdown": marker(spec) } },
            graph("Messages and deliveries", vec![chat(Metric::Messages), chat(Metric::Deliveries)], "Sum", (0, 2)),
            graph("Failed deliveries, pruned connections, errors", vec![chat(Metric::FailedDeliveries), chat(Metric::Pruned), chat(Metric::Errors), chat(Metric::ClientErrors)], "Sum", (12, 2)),
            latency("Fan-out duration (ms)", chat(Metric::FanoutDuration), (0, 8)),
            graph("Connects, refusals, disconnects", vec![api("ConnectCount"), chat(Metric::AuthRefusals), chat(Metric::Disconnects)], "Sum", (12, 8)),
            graph("API Gateway messages and errors", vec![api("MessageCount"), api("ClientError"), api("IntegrationError"), api("ExecutionError")], "Sum", (0, 14)),
            latency("API Gateway integration latency (ms)", api("IntegrationLatency"), (12, 14)),
            graph("Function errors", lambda("Errors"), "Sum", (0, 20)),
            graph("Function throttles", lambda("Throttles"), "Sum", (12, 20)),
            graph("Table throttling", vec![table("ReadThrottleEvents"), table("WriteThrottleEvents")], "Sum", (0, 26)),
            graph("Dead letters waiting", vec![json!(["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", spec.dead_letter_queue()])], "Maximum", (12, 26)),
        ]
    })
}

/// The dashboard's body as CloudWatch has it, if it exists.
pub async fn find(stack: &Stack) -> Result<Option<Value>> {
    let name = stack.spec.dashboard();
    let input = json!({ "DashboardName": name });
    let answer = json::call(&stack.clients, &CLOUDWATCH, "GetDashboard", &input, &name).await?;
    match answer {
        Ok(found) => Ok(Some(
            found["DashboardBody"]
                .as_str()
                .and_then(|b| serde_json::from_str(b).ok())
                .unwrap_or_default(),
        )),
        Err(e) if e.code == "ResourceNotFound" || e.code == "ResourceNotFoundException" => Ok(None),
        Err(e) => Err(json::failed(&CLOUDWATCH, "GetDashboard", &name, &e)),
    }
}

/// Whether a dashboard's body carries this stack's marker.
fn is_ours(spec: &StackSpec, body: &Value) -> bool {
    body["widgets"][0]["properties"]["markdown"] == marker(spec).as_str()
}

async fn put(ctx: &Ctx<'_>, body: &Value) -> Result<()> {
    let name = ctx.spec.dashboard();
    let input = json!({ "DashboardName": name, "DashboardBody": body.to_string() });
    json::checked(&ctx.clients, &CLOUDWATCH, "PutDashboard", &input, &name).await?;
    Ok(())
}

pub async fn ensure(ctx: &Ctx<'_>, api_id: &str) -> Result<Resource> {
    let name = ctx.spec.dashboard();
    ctx.track(KIND, &name, async |task| {
        let wanted = body(&ctx.spec, api_id);
        let Some(found) = find(ctx).await? else {
            if !ctx.dry_run {
                task.set("creating");
                put(ctx, &wanted).await?;
            }
            return Ok(Change::Created);
        };
        if !is_ours(&ctx.spec, &found) {
            return Ok(Change::Foreign);
        }
        if found == wanted {
            return Ok(Change::Unchanged);
        }
        if !ctx.dry_run {
            put(ctx, &wanted).await?;
        }
        Ok(Change::Updated {
            fields: vec!["widgets".to_owned()],
        })
    })
    .await
}

async fn ownership(stack: &Stack) -> Result<Ownership> {
    Ok(Ownership::of(find(stack).await?, |body| {
        is_ours(&stack.spec, body)
    }))
}

pub async fn delete(ctx: &Ctx<'_>) -> Result<Vec<Resource>> {
    let name = ctx.spec.dashboard();
    let removed = ctx.remove(KIND, &name, ownership(ctx), async |_| {
        let input = json!({ "DashboardNames": [name] });
        match json::call(&ctx.clients, &CLOUDWATCH, "DeleteDashboards", &input, &name).await? {
            Ok(_) => Ok(()),
            Err(e)
                if e.code.starts_with("ResourceNotFound") || e.code == "DashboardNotFoundError" =>
            {
                Ok(())
            }
            Err(e) => Err(json::failed(&CLOUDWATCH, "DeleteDashboards", &name, &e)),
        }
    });
    Ok(vec![removed.await?])
}

pub async fn leftovers(stack: &Stack) -> Result<Vec<Leftover>> {
    Ok(match ownership(stack).await? {
        Ownership::Ours => vec![Leftover::new(KIND, stack.spec.dashboard())],
        _ => vec![],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::tests::spec;

    #[test]
    fn the_body_says_whose_it_is_and_graphs_the_stacks_own_resources() {
        let spec = spec();
        let body = body(&spec, "abc123");
        assert!(is_ours(&spec, &body));
        let text = body.to_string();
        for name in [
            "chat-prod-message",
            "chat-prod-connections",
            "chat-prod-deliver-failed",
            "abc123",
        ] {
            assert!(text.contains(name), "{name}");
        }
        let other = crate::spec::StackSpec::new(
            &crate::spec::StackId::new("chat", "dev").unwrap(),
            "eu-west-1",
            "1",
            crate::spec::Settings::default(),
        );
        assert!(!is_ours(&other, &body));
        assert!(spec
            .dashboard_url()
            .ends_with("#dashboards/dashboard/chat-prod"));
    }
}
