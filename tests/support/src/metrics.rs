//! What CloudWatch and Service Quotas answer that moto cannot, played by
//! the proxy:
//!
//! - `GetMetricData` with percentile statistics (`p50`, `p99`): moto answers
//!   them with a 500. The proxy keeps every `PutMetricData` point it forwards
//!   (the tests' own, and those [`emf`] extracts from the functions' log lines,
//!   as CloudWatch Logs does) and answers every `GetMetricData` from them:
//!   Sum, Average, Minimum, Maximum, SampleCount and pNN, per period.
//! - `GetServiceQuota` for API Gateway's request rate and Lambda's
//!   concurrency: moto's Service Quotas knows neither service; the proxy
//!   answers with AWS's default values.
//! - [`emf`]: a function's stdout line in Embedded Metric Format, turned into
//!   the `PutMetricData` input CloudWatch's extraction amounts to.

use axum::body::Body;
use axum::response::Response;
use serde_json::{json, Value};

/// One data point as it was put.
#[derive(Debug, Clone)]
struct Point {
    namespace: String,
    metric: String,
    /// Sorted `(name, value)`.
    dimensions: Vec<(String, String)>,
    /// Epoch seconds.
    at: f64,
    value: f64,
}

/// The points the proxy has forwarded.
#[derive(Default)]
pub struct MetricStore {
    points: Vec<Point>,
}

fn dimensions(list: &Value) -> Vec<(String, String)> {
    let mut dims: Vec<(String, String)> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            let part = |key: &str| d[key].as_str().unwrap_or_default().to_owned();
            (part("Name"), part("Value"))
        })
        .collect();
    dims.sort();
    dims
}

fn now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

impl MetricStore {
    /// Keeps the points of a `PutMetricData` (JSON 1.0) input.
    pub fn put(&mut self, input: &Value) {
        let namespace = input["Namespace"].as_str().unwrap_or_default();
        for datum in input["MetricData"].as_array().into_iter().flatten() {
            let at = datum["Timestamp"].as_f64().unwrap_or_else(now_s);
            let values: Vec<f64> = match datum["Value"].as_f64() {
                Some(v) => vec![v],
                None => datum["Values"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_f64)
                    .collect(),
            };
            for value in values {
                self.points.push(Point {
                    namespace: namespace.to_owned(),
                    metric: datum["MetricName"].as_str().unwrap_or_default().to_owned(),
                    dimensions: dimensions(&datum["Dimensions"]),
                    at,
                    value,
                });
            }
        }
    }

    /// The answer to a `GetMetricData` input, in CloudWatch's JSON.
    pub fn get(&self, input: &Value) -> Value {
        let start = input["StartTime"].as_f64().unwrap_or(0.0);
        let end = input["EndTime"].as_f64().unwrap_or_else(now_s);
        let results: Vec<Value> = input["MetricDataQueries"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|query| {
                let stat = &query["MetricStat"];
                let metric = &stat["Metric"];
                let period = stat["Period"].as_f64().unwrap_or(60.0).max(1.0);
                let wanted = dimensions(&metric["Dimensions"]);
                let mut buckets: std::collections::BTreeMap<i64, Vec<f64>> = Default::default();
                for p in self.points.iter().filter(|p| {
                    p.namespace == metric["Namespace"].as_str().unwrap_or_default()
                        && p.metric == metric["MetricName"].as_str().unwrap_or_default()
                        && p.dimensions == wanted
                        && p.at >= start
                        && p.at < end
                }) {
                    let bucket = ((p.at - start) / period).floor() as i64;
                    buckets.entry(bucket).or_default().push(p.value);
                }
                let statistic = stat["Stat"].as_str().unwrap_or("Sum");
                // Newest first, as CloudWatch's default TimestampDescending.
                let (timestamps, values): (Vec<i64>, Vec<f64>) = buckets
                    .into_iter()
                    .rev()
                    .filter_map(|(bucket, mut values)| {
                        let at = (start + bucket as f64 * period) as i64;
                        Some((at, statistic_of(statistic, &mut values)?))
                    })
                    .unzip();
                json!({
                    "Id": query["Id"],
                    "Label": format!("{} {statistic}", metric["MetricName"].as_str().unwrap_or_default()),
                    "Timestamps": timestamps,
                    "Values": values,
                    "StatusCode": "Complete",
                })
            })
            .collect();
        json!({ "MetricDataResults": results, "Messages": [] })
    }
}

/// A statistic of one period's values; `None` for one CloudWatch does not have.
fn statistic_of(statistic: &str, values: &mut [f64]) -> Option<f64> {
    let n = values.len() as f64;
    match statistic {
        "Sum" => Some(values.iter().sum()),
        "SampleCount" => Some(n),
        "Average" => Some(values.iter().sum::<f64>() / n),
        "Minimum" => values.iter().copied().reduce(f64::min),
        "Maximum" => values.iter().copied().reduce(f64::max),
        p => {
            let share: f64 = p.strip_prefix('p')?.parse().ok()?;
            values.sort_by(f64::total_cmp);
            let rank = ((share / 100.0 * n).ceil() as usize).clamp(1, values.len());
            Some(values[rank - 1])
        }
    }
}

/// What the proxy answers itself, for requests moto cannot answer as AWS would.
pub fn answer(
    store: &MetricStore,
    service: &str,
    operation: &str,
    body: &[u8],
) -> Option<Response> {
    let input: Value = serde_json::from_slice(body).unwrap_or_default();
    let (content_type, answer) = match (service, operation) {
        ("monitoring", "GetMetricData") => ("application/x-amz-json-1.0", store.get(&input)),
        ("servicequotas", "GetServiceQuota") => {
            let service = input["ServiceCode"].as_str().unwrap_or_default();
            let code = input["QuotaCode"].as_str().unwrap_or_default();
            let (name, value) = match (service, code) {
                ("apigateway", "L-8A5B8E43") => ("Throttle rate", 10_000.0),
                ("lambda", "L-B99A9384") => ("Concurrent executions", 1_000.0),
                _ => return None,
            };
            let quota = json!({ "Quota": {
                "ServiceCode": service, "QuotaCode": code, "QuotaName": name,
                "Value": value, "Unit": "None", "Adjustable": true, "GlobalQuota": false,
            }});
            ("application/x-amz-json-1.1", quota)
        }
        _ => return None,
    };
    Some(
        Response::builder()
            .status(200)
            .header("content-type", content_type)
            .body(Body::from(answer.to_string()))
            .expect("a valid response"),
    )
}

/// The `PutMetricData` input CloudWatch makes of an EMF log line (`None`
/// for any other line): each directive's metrics, with the line's value of
/// each dimension and metric, at the line's timestamp.
pub fn emf(line: &str) -> Option<Vec<Value>> {
    let line: Value = serde_json::from_str(line).ok()?;
    let aws = line.get("_aws")?;
    let at = aws["Timestamp"].as_f64()? / 1000.0;
    let mut inputs = Vec::new();
    for directive in aws["CloudWatchMetrics"].as_array()? {
        for set in directive["Dimensions"].as_array().into_iter().flatten() {
            let dims: Vec<Value> = set
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| {
                    let name = d.as_str()?;
                    Some(json!({ "Name": name, "Value": line[name].as_str()? }))
                })
                .collect();
            let data: Vec<Value> = directive["Metrics"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| {
                    let name = m["Name"].as_str()?;
                    Some(json!({
                        "MetricName": name,
                        "Dimensions": dims,
                        "Timestamp": at,
                        "Value": line[name].as_f64()?,
                        "Unit": m["Unit"].as_str().unwrap_or("None"),
                    }))
                })
                .collect();
            inputs.push(json!({ "Namespace": directive["Namespace"], "MetricData": data }));
        }
    }
    Some(inputs)
}
