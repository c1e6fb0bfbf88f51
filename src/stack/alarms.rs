//! The alarms on what breaks a chat: API Gateway's integration and execution
//! errors, each function's errors and throttles, the table's throttled reads
//! and writes, the chat's own failed events and deliveries (its EMF metrics,
//! [`wschat_lambdas::telemetry`]), and the dead-letter queue's depth. They
//! notify the alarm topic when there is one (`--alarm-email`,
//! `--alarm-topic`), on alarm and on recovery.
//!
//! One resource in the report, `{prefix}-*`: every alarm is put with the
//! same call whether it is new or changed, so their diffs are listed per alarm.

use super::{Change, Ctx, Leftover, Resource, Stack};
use crate::aws::json;
use crate::error::Result;
use crate::spec::{Function, StackSpec};
use futures_util::future::try_join_all;
use serde_json::{json, Value};
use std::collections::HashMap;
use wschat_lambdas::json_api::CLOUDWATCH;
use wschat_lambdas::telemetry::{self, Metric};

const KIND: &str = "alarms";

/// One alarm as the stack wants it, or as CloudWatch has it.
#[derive(Debug, Clone, PartialEq)]
pub struct Alarm {
    pub name: String,
    pub description: String,
    pub namespace: String,
    pub metric: String,
    /// `Sum` for counts, `Maximum` for a depth.
    pub statistic: String,
    /// One set: the metric itself. Several: the sum of the metric over each
    /// (metric math), so one alarm covers, say, all four functions.
    pub dimensions: Vec<Vec<(String, String)>>,
    pub period_s: i64,
    pub evaluation_periods: i64,
    pub threshold: f64,
    /// Alarm and recovery both notify these.
    pub actions: Vec<String>,
}

/// Every alarm evaluates five minutes at a time, and no data is no trouble.
const PERIOD_S: i64 = 300;
const COMPARISON: &str = "GreaterThanOrEqualToThreshold";
const MISSING_DATA: &str = "notBreaching";

impl Alarm {
    fn new(
        spec: &StackSpec,
        what: &str,
        description: &str,
        (namespace, metric): (&str, &str),
        dimensions: &[&[(&str, String)]],
        threshold: f64,
    ) -> Alarm {
        Alarm {
            name: spec.alarm_name(what),
            description: format!("wschat {}: {description}", spec.prefix()),
            namespace: namespace.to_owned(),
            metric: metric.to_owned(),
            statistic: "Sum".to_owned(),
            dimensions: dimensions
                .iter()
                .map(|set| {
                    let mut set: Vec<(String, String)> = set
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), v.clone()))
                        .collect();
                    set.sort();
                    set
                })
                .collect(),
            period_s: PERIOD_S,
            evaluation_periods: 1,
            threshold,
            actions: spec.alarm_actions().into_iter().collect(),
        }
    }

    /// The alarm as DescribeAlarms answers it.
    fn from_described(a: &Value) -> Alarm {
        let text = |key: &str| a[key].as_str().unwrap_or_default().to_owned();
        let dimensions = |list: &Value| {
            let mut set: Vec<(String, String)> = list
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| {
                    let part = |key: &str| d[key].as_str().unwrap_or_default().to_owned();
                    (part("Name"), part("Value"))
                })
                .collect();
            set.sort();
            set
        };
        // A metric math alarm: its series are the queries with a MetricStat.
        let stats: Vec<&Value> = a["Metrics"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| &m["MetricStat"])
            .filter(|m| m.is_object())
            .collect();
        let of = |m: &Value, key: &str| m[key].as_str().unwrap_or_default().to_owned();
        let (namespace, metric, statistic, period_s, sets) = match stats.first() {
            Some(first) => (
                of(&first["Metric"], "Namespace"),
                of(&first["Metric"], "MetricName"),
                of(first, "Stat"),
                first["Period"].as_i64().unwrap_or_default(),
                stats
                    .iter()
                    .map(|m| dimensions(&m["Metric"]["Dimensions"]))
                    .collect(),
            ),
            None => (
                text("Namespace"),
                text("MetricName"),
                text("Statistic"),
                a["Period"].as_i64().unwrap_or_default(),
                vec![dimensions(&a["Dimensions"])],
            ),
        };
        Alarm {
            name: text("AlarmName"),
            description: text("AlarmDescription"),
            namespace,
            metric,
            statistic,
            dimensions: sets,
            period_s,
            evaluation_periods: a["EvaluationPeriods"].as_i64().unwrap_or_default(),
            threshold: a["Threshold"].as_f64().unwrap_or_default(),
            actions: a["AlarmActions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        }
    }

    fn put_input(&self, spec: &StackSpec) -> Value {
        let dimensions = |set: &[(String, String)]| -> Vec<Value> {
            set.iter()
                .map(|(k, v)| json!({ "Name": k, "Value": v }))
                .collect()
        };
        let tags: Vec<Value> = spec
            .tags()
            .into_iter()
            .map(|(k, v)| json!({ "Key": k, "Value": v }))
            .collect();
        let mut input = json!({
            "AlarmName": self.name,
            "AlarmDescription": self.description,
            "EvaluationPeriods": self.evaluation_periods,
            "Threshold": self.threshold,
            "ComparisonOperator": COMPARISON,
            "TreatMissingData": MISSING_DATA,
            "ActionsEnabled": true,
            "AlarmActions": self.actions,
            "OKActions": self.actions,
            // CloudWatch applies tags when it creates the alarm, and ignores them on an update.
            "Tags": tags,
        });
        match self.dimensions.as_slice() {
            [one] => {
                input["Namespace"] = self.namespace.as_str().into();
                input["MetricName"] = self.metric.as_str().into();
                input["Statistic"] = self.statistic.as_str().into();
                input["Dimensions"] = dimensions(one).into();
                input["Period"] = self.period_s.into();
            }
            sets => {
                let mut queries: Vec<Value> = sets
                    .iter()
                    .enumerate()
                    .map(|(i, set)| {
                        let metric = json!({
                            "Namespace": self.namespace,
                            "MetricName": self.metric,
                            "Dimensions": dimensions(set),
                        });
                        json!({
                            "Id": format!("m{i}"),
                            "MetricStat": { "Metric": metric, "Period": self.period_s, "Stat": self.statistic },
                            "ReturnData": false,
                        })
                    })
                    .collect();
                let sum: Vec<String> = (0..sets.len()).map(|i| format!("m{i}")).collect();
                queries.push(json!({
                    "Id": "total",
                    "Expression": sum.join("+"),
                    "Label": self.metric,
                    "ReturnData": true,
                }));
                input["Metrics"] = queries.into();
            }
        }
        input
    }

    /// What differs from `wanted`, in the report's words.
    fn differences(&self, wanted: &Alarm) -> Vec<String> {
        let mut fields = Vec::new();
        let mut differ = |what: &str, now: String, then: String| {
            if now != then {
                fields.push(format!("{what} {now} → {then}"));
            }
        };
        differ("metric", self.metric_id(), wanted.metric_id());
        differ(
            "statistic",
            self.statistic.clone(),
            wanted.statistic.clone(),
        );
        differ(
            "period",
            self.period_s.to_string(),
            wanted.period_s.to_string(),
        );
        differ(
            "evaluation periods",
            self.evaluation_periods.to_string(),
            wanted.evaluation_periods.to_string(),
        );
        differ(
            "threshold",
            self.threshold.to_string(),
            wanted.threshold.to_string(),
        );
        differ(
            "description",
            self.description.clone(),
            wanted.description.clone(),
        );
        differ(
            "actions",
            format!("{:?}", self.actions),
            format!("{:?}", wanted.actions),
        );
        fields
    }

    fn metric_id(&self) -> String {
        let sets: Vec<String> = self
            .dimensions
            .iter()
            .map(|set| {
                let dims: Vec<String> = set.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("[{}]", dims.join(","))
            })
            .collect();
        format!("{}/{}{}", self.namespace, self.metric, sets.join("+"))
    }
}

/// The alarms the stack wants; the API's need its id.
pub fn wanted(spec: &StackSpec, api_id: &str) -> Vec<Alarm> {
    let api = [
        ("ApiId", api_id.to_owned()),
        ("Stage", spec.id.stage.clone()),
    ];
    let stack = [(telemetry::DIMENSION, spec.prefix())];
    let table = [("TableName", spec.table())];
    let mut alarms = vec![
        Alarm::new(
            spec,
            "api-integration-errors",
            "API Gateway could not invoke a function, or it failed (5 or more in 5 minutes)",
            ("AWS/ApiGateway", "IntegrationError"),
            &[&api],
            5.0,
        ),
        Alarm::new(
            spec,
            "api-execution-errors",
            "API Gateway failed to handle requests (5 or more in 5 minutes)",
            ("AWS/ApiGateway", "ExecutionError"),
            &[&api],
            5.0,
        ),
    ];
    // All four functions in one alarm each for errors and throttles (a sum
    // by metric math): one page per kind of trouble; the dashboard shows which.
    let functions: Vec<[(&str, String); 1]> = Function::ALL
        .iter()
        .map(|f| [("FunctionName", spec.function_name(*f))])
        .collect();
    let functions: Vec<&[(&str, String)]> = functions.iter().map(|f| f.as_slice()).collect();
    alarms.extend([
        Alarm::new(
            spec,
            "function-errors",
            "a function failed (an error or a timeout): the dashboard shows which",
            ("AWS/Lambda", "Errors"),
            &functions,
            1.0,
        ),
        Alarm::new(
            spec,
            "function-throttles",
            "Lambda throttled a function: raise the account's concurrency",
            ("AWS/Lambda", "Throttles"),
            &functions,
            1.0,
        ),
    ]);
    alarms.extend([
        Alarm::new(
            spec,
            "table-read-throttles",
            "DynamoDB throttled reads of the connections table",
            ("AWS/DynamoDB", "ReadThrottleEvents"),
            &[&table],
            1.0,
        ),
        Alarm::new(
            spec,
            "table-write-throttles",
            "DynamoDB throttled writes to the connections table",
            ("AWS/DynamoDB", "WriteThrottleEvents"),
            &[&table],
            1.0,
        ),
        Alarm::new(
            spec,
            "chat-errors",
            "the chat answered an event with a server error, or a delivery job failed",
            (telemetry::NAMESPACE, Metric::Errors.name()),
            &[&stack],
            1.0,
        ),
        Alarm::new(
            spec,
            "fanout-failures",
            "posts to @connections failed or went unanswered (10 or more in 5 minutes)",
            (telemetry::NAMESPACE, Metric::FailedDeliveries.name()),
            &[&stack],
            10.0,
        ),
        Alarm {
            statistic: "Maximum".to_owned(),
            ..Alarm::new(
                spec,
                "dead-letters",
                "large-room deliveries wait in the dead-letter queue: `wschat redrive`",
                ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
                &[&[("QueueName", spec.dead_letter_queue())]],
                1.0,
            )
        },
    ]);
    alarms
}

/// One alarm found under the stack's prefix, with its tags.
#[derive(Debug, Clone)]
pub struct Found {
    pub alarm: Alarm,
    pub arn: String,
    pub tags: HashMap<String, String>,
}

async fn call(stack: &Stack, operation: &str, input: &Value) -> Result<Value> {
    let on = format!("{}-*", stack.spec.prefix());
    json::checked(&stack.clients, &CLOUDWATCH, operation, input, &on).await
}

/// Every metric alarm named `{prefix}-…`, with its tags.
pub async fn find(stack: &Stack) -> Result<Vec<Found>> {
    let prefix = format!("{}-", stack.spec.prefix());
    let mut described = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut input =
            json!({ "AlarmNamePrefix": prefix, "AlarmTypes": ["MetricAlarm"], "MaxRecords": 100 });
        if let Some(token) = &next {
            input["NextToken"] = token.as_str().into();
        }
        let page = call(stack, "DescribeAlarms", &input).await?;
        described.extend(page["MetricAlarms"].as_array().cloned().unwrap_or_default());
        match page["NextToken"].as_str() {
            Some(token) if !token.is_empty() => next = Some(token.to_owned()),
            _ => break,
        }
    }
    let tagged = described.iter().map(|a| async move {
        let arn = a["AlarmArn"].as_str().unwrap_or_default().to_owned();
        let tags = call(stack, "ListTagsForResource", &json!({ "ResourceARN": arn })).await?;
        let tags = tags["Tags"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                let part = |key: &str| t[key].as_str().unwrap_or_default().to_owned();
                (part("Key"), part("Value"))
            })
            .collect();
        Ok::<_, crate::error::CliError>(Found {
            alarm: Alarm::from_described(a),
            arn,
            tags,
        })
    });
    try_join_all(tagged).await
}

/// What a deploy does to the alarms: each to put (with why) and each to delete.
#[derive(Debug, Default, PartialEq)]
pub struct AlarmsDiff {
    pub put: Vec<(Alarm, Vec<String>)>,
    pub delete: Vec<String>,
    /// Named like ours, tagged as another stack's: left alone.
    pub foreign: Vec<String>,
}

impl AlarmsDiff {
    pub fn between(found: &[Found], wanted: &[Alarm], spec: &StackSpec) -> AlarmsDiff {
        let mut diff = AlarmsDiff::default();
        for w in wanted {
            match found.iter().find(|f| f.alarm.name == w.name) {
                None => diff.put.push((w.clone(), vec!["created".to_owned()])),
                Some(f) if !spec.owns(&f.tags) => diff.foreign.push(w.name.clone()),
                Some(f) => {
                    let fields = f.alarm.differences(w);
                    if !fields.is_empty() {
                        diff.put.push((w.clone(), fields));
                    }
                }
            }
        }
        diff.delete = found
            .iter()
            .filter(|f| spec.owns(&f.tags) && !wanted.iter().any(|w| w.name == f.alarm.name))
            .map(|f| f.alarm.name.clone())
            .collect();
        diff
    }

    /// Per alarm, by its name after the stack's prefix.
    pub fn fields(&self, spec: &StackSpec) -> Vec<String> {
        let short = |name: &str| {
            name.strip_prefix(&format!("{}-", spec.prefix()))
                .unwrap_or(name)
                .to_owned()
        };
        let mut fields: Vec<String> = self
            .put
            .iter()
            .map(|(a, why)| format!("{}: {}", short(&a.name), why.join(", ")))
            .collect();
        fields.extend(self.delete.iter().map(|n| format!("{}: deleted", short(n))));
        fields.extend(
            self.foreign
                .iter()
                .map(|n| format!("{}: another stack's, left alone", short(n))),
        );
        fields
    }
}

/// Puts what is missing or differs and deletes ours that are no longer wanted.
pub async fn ensure(ctx: &Ctx<'_>, api_id: &str) -> Result<Resource> {
    let name = format!("{}-*", ctx.spec.prefix());
    ctx.track(KIND, &name, async |task| {
        let found = find(ctx).await?;
        let wanted = wanted(&ctx.spec, api_id);
        let diff = AlarmsDiff::between(&found, &wanted, &ctx.spec);
        let ours = found.iter().filter(|f| ctx.spec.owns(&f.tags)).count();
        if diff.put.is_empty() && diff.delete.is_empty() {
            return Ok(Change::Unchanged);
        }
        if !ctx.dry_run {
            task.set("putting");
            let inputs: Vec<Value> = diff
                .put
                .iter()
                .map(|(a, _)| a.put_input(&ctx.spec))
                .collect();
            try_join_all(
                inputs
                    .iter()
                    .map(|input| call(ctx, "PutMetricAlarm", input)),
            )
            .await?;
            delete_named(ctx, &diff.delete).await?;
        }
        if ours == 0 && diff.foreign.is_empty() {
            return Ok(Change::Created);
        }
        Ok(Change::Updated {
            fields: diff.fields(&ctx.spec),
        })
    })
    .await
}

/// DeleteAlarms takes up to 100 names a call.
async fn delete_named(stack: &Stack, names: &[String]) -> Result<()> {
    for chunk in names.chunks(100) {
        call(stack, "DeleteAlarms", &json!({ "AlarmNames": chunk })).await?;
    }
    Ok(())
}

/// Deletes every alarm tagged as this stack's.
pub async fn delete(ctx: &Ctx<'_>) -> Result<Vec<Resource>> {
    let name = format!("{}-*", ctx.spec.prefix());
    let resource = ctx
        .track(KIND, &name, async |task| {
            let ours: Vec<String> = find(ctx)
                .await?
                .into_iter()
                .filter(|f| ctx.spec.owns(&f.tags))
                .map(|f| f.alarm.name)
                .collect();
            if ours.is_empty() {
                return Ok(Change::Absent);
            }
            if !ctx.dry_run {
                task.set("deleting");
                delete_named(ctx, &ours).await?;
            }
            Ok(Change::Deleted)
        })
        .await?;
    Ok(vec![resource])
}

/// Alarms still tagged as this stack's.
pub async fn leftovers(stack: &Stack) -> Result<Vec<Leftover>> {
    Ok(find(stack)
        .await?
        .into_iter()
        .filter(|f| stack.spec.owns(&f.tags))
        .map(|f| Leftover::new("alarm", f.alarm.name))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::tests::spec;

    fn found(alarm: Alarm, tags: HashMap<String, String>) -> Found {
        Found {
            arn: format!("arn:aws:cloudwatch:eu-west-1:1:alarm:{}", alarm.name),
            alarm,
            tags,
        }
    }

    #[test]
    fn each_alarm_is_put_when_missing_or_changed_and_extras_of_ours_go() {
        let spec = spec();
        let wanted = wanted(&spec, "abc123");
        assert_eq!(wanted.len(), 9);
        assert!(wanted.iter().all(|a| a.name.starts_with("chat-prod-")));
        let ours = spec.tags();
        let mut all: Vec<Found> = wanted
            .iter()
            .map(|a| found(a.clone(), ours.clone()))
            .collect();
        assert_eq!(
            AlarmsDiff::between(&all, &wanted, &spec),
            AlarmsDiff::default()
        );
        // Read back as DescribeAlarms answers it: the same alarm.
        let described = wanted[0].put_input(&spec);
        let mut back = Alarm::from_described(&described);
        back.actions = wanted[0].actions.clone();
        assert_eq!(back, wanted[0]);
        // And a metric math alarm: the four functions' errors, summed.
        let summed = &wanted[2];
        assert_eq!(summed.dimensions.len(), 4);
        let described = summed.put_input(&spec);
        assert_eq!(described["Metrics"][4]["Expression"], "m0+m1+m2+m3");
        let mut back = Alarm::from_described(&described);
        back.actions = summed.actions.clone();
        assert_eq!(&back, summed);

        all[0].alarm.threshold = 50.0;
        all.push(found(
            Alarm {
                name: "chat-prod-retired".into(),
                ..wanted[1].clone()
            },
            ours,
        ));
        all[2].tags = HashMap::new();
        all.remove(3);
        let diff = AlarmsDiff::between(&all, &wanted, &spec);
        assert_eq!(
            diff.fields(&spec),
            [
                "api-integration-errors: threshold 50 → 5",
                "function-throttles: created",
                "retired: deleted",
                "function-errors: another stack's, left alone",
            ]
        );
    }
}
