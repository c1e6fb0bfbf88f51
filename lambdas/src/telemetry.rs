//! One structured line per handled event, with its metrics inside in
//! CloudWatch's Embedded Metric Format: CloudWatch Logs turns the line into
//! metric data points as it ingests it, so the metrics cost no API call and
//! no latency on the message path. `wschat dev` writes the same lines and
//! keeps the same figures for `wschat status --local`.
//!
//! A line names the function, the route, the room, the outcome, the duration
//! and the fan-out's counts; never a message's text, a token or a header.

use crate::fanout::FanoutReport;
use serde_json::{json, Map, Value};

/// The metrics' CloudWatch namespace; each point has the stack's name as its one dimension.
pub const NAMESPACE: &str = "wschat";
/// The dimension every metric carries: the stack's `{name}-{stage}`.
pub const DIMENSION: &str = "Stack";
/// The functions read their stack's name from this variable.
pub const ENV_STACK: &str = "WSCHAT_STACK";

/// What the functions count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    /// Handshakes admitted.
    Connects,
    /// Handshakes refused for want of a valid token, or from an origin not allowed.
    AuthRefusals,
    Disconnects,
    /// Chat messages accepted (to a room or to a user).
    Messages,
    /// Frames refused with an error frame: malformed, rate-limited, room full...
    ClientErrors,
    /// Events the function could not handle (it answered 5xx), and delivery jobs that failed.
    Errors,
    /// Posts to `@connections` that the gateway accepted.
    Deliveries,
    /// Connections found gone (410) and removed.
    Pruned,
    /// Posts refused, or sent with no answer: not known to have arrived.
    FailedDeliveries,
    /// How long one fan-out took, in milliseconds.
    FanoutDuration,
}

impl Metric {
    pub const ALL: [Metric; 10] = [
        Metric::Connects,
        Metric::AuthRefusals,
        Metric::Disconnects,
        Metric::Messages,
        Metric::ClientErrors,
        Metric::Errors,
        Metric::Deliveries,
        Metric::Pruned,
        Metric::FailedDeliveries,
        Metric::FanoutDuration,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::Connects => "Connects",
            Metric::AuthRefusals => "AuthRefusals",
            Metric::Disconnects => "Disconnects",
            Metric::Messages => "Messages",
            Metric::ClientErrors => "ClientErrors",
            Metric::Errors => "Errors",
            Metric::Deliveries => "Deliveries",
            Metric::Pruned => "Pruned",
            Metric::FailedDeliveries => "FailedDeliveries",
            Metric::FanoutDuration => "FanoutDuration",
        }
    }

    /// CloudWatch's unit for it.
    pub fn unit(self) -> &'static str {
        match self {
            Metric::FanoutDuration => "Milliseconds",
            _ => "Count",
        }
    }

    /// A count is summed over a period; a duration is read by percentiles.
    pub fn is_count(self) -> bool {
        self.unit() == "Count"
    }
}

/// One handled event: what happened, how long it took, and what it counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// `connect`, `disconnect`, `message` or `deliver`: the function that handled it.
    pub function: &'static str,
    /// The route key (`$connect`, `sendmessage`...), or `deliver` for a delivery job.
    pub route: String,
    pub room: Option<String>,
    /// `ok`, `refused`, `client_error` or `error`.
    pub outcome: &'static str,
    /// The status the function answered (a delivery job: 200, or 500 when it failed).
    pub status: u16,
    /// A client error's code (`rate_limited`...).
    pub code: Option<&'static str>,
    pub duration_ms: f64,
    pub fanout: Option<FanoutReport>,
    /// Shard jobs this event handed to the delivery function.
    pub shards: usize,
    pub metrics: Vec<(Metric, f64)>,
}

impl Record {
    pub fn new(function: &'static str, route: &str) -> Self {
        Record {
            function,
            route: route.to_owned(),
            room: None,
            outcome: "ok",
            status: 200,
            code: None,
            duration_ms: 0.0,
            fanout: None,
            shards: 0,
            metrics: Vec::new(),
        }
    }

    /// The event failed (a 5xx, or a delivery job that could not finish): an error.
    pub fn fail(&mut self) {
        self.outcome = "error";
        self.status = 500;
        self.count(Metric::Errors);
    }

    pub fn count(&mut self, metric: Metric) {
        self.metrics.push((metric, 1.0));
    }

    /// The fan-out's counts, into the line and its metrics.
    pub fn fanned_out(&mut self, report: &FanoutReport, duration_ms: f64) {
        let undelivered = report.failed + report.unknown;
        for (metric, n) in [
            (Metric::Deliveries, report.delivered),
            (Metric::Pruned, report.pruned),
            (Metric::FailedDeliveries, undelivered),
        ] {
            if n > 0 {
                self.metrics.push((metric, n as f64));
            }
        }
        self.metrics.push((Metric::FanoutDuration, duration_ms));
        self.fanout = Some(report.clone());
    }

    /// The value of `metric` in this record, if it counts it.
    pub fn value(&self, metric: Metric) -> Option<f64> {
        self.metrics
            .iter()
            .filter(|(m, _)| *m == metric)
            .map(|(_, v)| *v)
            .reduce(|a, b| a + b)
    }

    /// The line: its fields, and EMF's `_aws` member naming the metrics it carries.
    pub fn to_line(&self, stack: &str, timestamp_ms: i64) -> String {
        let mut line = Map::new();
        let mut names: Vec<Metric> = self.metrics.iter().map(|(m, _)| *m).collect();
        names.sort();
        names.dedup();
        let declared: Vec<Value> = names
            .iter()
            .map(|m| json!({ "Name": m.name(), "Unit": m.unit() }))
            .collect();
        line.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [[DIMENSION]],
                    "Metrics": declared,
                }],
            }),
        );
        line.insert(DIMENSION.into(), stack.into());
        line.insert("event".into(), "handled".into());
        line.insert("function".into(), self.function.into());
        line.insert("route".into(), self.route.as_str().into());
        if let Some(room) = &self.room {
            line.insert("room".into(), room.as_str().into());
        }
        line.insert("outcome".into(), self.outcome.into());
        line.insert("status".into(), self.status.into());
        if let Some(code) = self.code {
            line.insert("code".into(), code.into());
        }
        line.insert("duration_ms".into(), round(self.duration_ms).into());
        if let Some(f) = &self.fanout {
            for (key, n) in [
                ("delivered", f.delivered),
                ("pruned", f.pruned),
                ("failed", f.failed),
                ("unknown", f.unknown),
            ] {
                line.insert(key.into(), n.into());
            }
        }
        if self.shards > 0 {
            line.insert("shards".into(), self.shards.into());
        }
        for m in names {
            let value = self.value(m).unwrap_or_default();
            line.insert(m.name().into(), round(value).into());
        }
        Value::Object(line).to_string()
    }
}

/// Three decimals: a microsecond is enough for a duration, and counts stay whole.
fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Where records go.
pub trait Telemetry: Send + Sync {
    fn record(&self, record: &Record);
}

/// Records go nowhere: tests and tools that run the handlers for other reasons.
pub struct Discard;

impl Telemetry for Discard {
    fn record(&self, _: &Record) {}
}

/// A Lambda function's: one line on stdout, which Lambda sends to the
/// function's log group, where CloudWatch extracts the metrics.
pub struct EmfStdout {
    pub stack: String,
}

impl Telemetry for EmfStdout {
    fn record(&self, record: &Record) {
        use std::io::Write;
        let line = record.to_line(&self.stack, crate::clock::now_ms());
        // One write of the whole line: lines from concurrent events never interleave.
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_declares_exactly_the_metrics_it_carries_and_no_text() {
        let mut record = Record::new("message", "sendmessage");
        record.room = Some("lobby".into());
        record.count(Metric::Messages);
        let report = FanoutReport {
            delivered: 4,
            pruned: 1,
            failed: 1,
            unknown: 1,
            ..FanoutReport::default()
        };
        record.fanned_out(&report, 12.34567);
        let line: Value =
            serde_json::from_str(&record.to_line("chat-dev", 1_700_000_000_000)).unwrap();
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "wschat");
        assert_eq!(directive["Dimensions"], json!([["Stack"]]));
        let declared: Vec<&str> = directive["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(
            declared,
            [
                "Messages",
                "Deliveries",
                "Pruned",
                "FailedDeliveries",
                "FanoutDuration"
            ]
        );
        // Every declared metric is a member of the line, as EMF requires.
        for name in declared {
            assert!(line[name].is_number(), "{name} in {line}");
        }
        assert_eq!(line["Stack"], "chat-dev");
        assert_eq!(line["_aws"]["Timestamp"], 1_700_000_000_000_i64);
        assert_eq!(line["Deliveries"], 4.0);
        assert_eq!(line["FailedDeliveries"], 2.0);
        assert_eq!(line["FanoutDuration"], 12.346);
        assert_eq!(line["room"], "lobby");
        assert_eq!(line["delivered"], 4);
        assert!(line.get("message").is_none() && line.get("text").is_none());
    }
}
