//! The chat's health over a recent window: what `wschat status` shows under
//! `health`. The figures are the functions' metrics (see
//! [`wschat_lambdas::telemetry`]): summed from CloudWatch for a deployed
//! stack, from the sandbox's own points for `wschat dev`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use wschat_lambdas::telemetry::Metric;

/// The window `status` looks back over unless told otherwise.
pub const DEFAULT_SINCE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Two percentiles of a duration, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `samples`; `None` when there are none.
    pub fn of(samples: &mut [f64]) -> Option<Percentiles> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let index = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1;
            samples[index]
        };
        Some(Percentiles {
            p50: rank(0.50),
            p99: rank(0.99),
        })
    }
}

/// What the functions counted in the window, and how long fan-outs took.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// The window, in seconds.
    pub since_seconds: u64,
    /// Each counted metric's sum over the window (by its CloudWatch name); absent is 0.
    pub counts: BTreeMap<String, f64>,
    /// Fan-out duration over the window.
    pub fanout_ms: Option<Percentiles>,
}

impl Figures {
    /// Sums and percentiles of `(metric, value)` points.
    pub fn of(since_seconds: u64, points: impl IntoIterator<Item = (Metric, f64)>) -> Figures {
        let mut counts = BTreeMap::new();
        let mut durations = Vec::new();
        for (metric, value) in points {
            if metric.is_count() {
                *counts.entry(metric.name().to_owned()).or_insert(0.0) += value;
            } else {
                durations.push(value);
            }
        }
        Figures {
            since_seconds,
            counts,
            fanout_ms: Percentiles::of(&mut durations),
        }
    }

    pub fn count(&self, metric: Metric) -> f64 {
        self.counts.get(metric.name()).copied().unwrap_or(0.0)
    }

    /// `metric`'s rate per minute over the window.
    pub fn per_minute(&self, metric: Metric) -> f64 {
        let minutes = (self.since_seconds as f64 / 60.0).max(1.0 / 60.0);
        self.count(metric) / minutes
    }
}

/// `status`'s health section. The parts after `figures` are a deployed
/// stack's only: API Gateway's and Lambda's own metrics, the alarms, quotas.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    /// Connections stored now.
    pub connections: u64,
    #[serde(flatten)]
    pub figures: Figures,
    pub connects_per_minute: f64,
    pub messages_per_minute: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<Gateway>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub functions: Option<Functions>,
    /// The stack's alarms in ALARM now (a deployed stack only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarms_firing: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub quotas: Vec<Quota>,
    /// Why the figures could not be read (say, no cloudwatch:GetMetricData):
    /// the rest of `status` stands without them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

/// API Gateway's view of the stage over the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Gateway {
    pub connects: f64,
    pub messages: f64,
    /// 4xx: refused handshakes, throttled or malformed requests.
    pub client_errors: f64,
    pub integration_errors: f64,
    pub execution_errors: f64,
    pub integration_latency_ms: Option<Percentiles>,
}

/// Lambda's view of the stack's functions over the window, all four summed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Functions {
    pub errors: f64,
    pub throttles: f64,
}

/// One of the account's quotas against the window's peak use of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quota {
    pub name: String,
    /// The account's quota; `None` when Service Quotas could not be read.
    pub quota: Option<f64>,
    /// The highest use in any minute of the window.
    pub peak: f64,
}

impl Quota {
    /// The share of the quota the peak used, in percent.
    pub fn used_percent(&self) -> Option<f64> {
        self.quota
            .filter(|q| *q > 0.0)
            .map(|q| round2(100.0 * self.peak / q))
    }
}

impl Health {
    pub fn new(connections: u64, figures: Figures) -> Health {
        Health {
            connections,
            connects_per_minute: round2(figures.per_minute(Metric::Connects)),
            messages_per_minute: round2(figures.per_minute(Metric::Messages)),
            figures,
            gateway: None,
            functions: None,
            alarms_firing: None,
            quotas: Vec::new(),
            unavailable: None,
        }
    }

    /// No figures, and why.
    pub fn unavailable(since_seconds: u64, why: String) -> Health {
        Health {
            unavailable: Some(why),
            ..Health::new(
                0,
                Figures {
                    since_seconds,
                    ..Figures::default()
                },
            )
        }
    }

    /// Whether any alarm is firing: `status`'s exit code says so.
    pub fn alarming(&self) -> bool {
        self.alarms_firing.as_ref().is_some_and(|a| !a.is_empty())
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// A window's length as people say it: `15m`, `2h`, `45s`.
pub fn window(seconds: u64) -> String {
    match seconds {
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = |m| self.figures.count(m);
        let since = window(self.figures.since_seconds);
        if let Some(why) = &self.unavailable {
            return write!(f, "  health        last {since}: unavailable: {why}");
        }
        writeln!(f, "  health        last {since}")?;
        writeln!(
            f,
            "    connections   {} now; {} connects ({}/min), {} disconnects, {} refused at $connect",
            self.connections,
            n(Metric::Connects),
            self.connects_per_minute,
            n(Metric::Disconnects),
            n(Metric::AuthRefusals),
        )?;
        writeln!(
            f,
            "    messages      {} ({}/min); {} deliveries, {} pruned, {} failed",
            n(Metric::Messages),
            self.messages_per_minute,
            n(Metric::Deliveries),
            n(Metric::Pruned),
            n(Metric::FailedDeliveries),
        )?;
        write!(
            f,
            "    errors        {} client, {} function",
            n(Metric::ClientErrors),
            n(Metric::Errors)
        )?;
        if let Some(p) = self.figures.fanout_ms {
            write!(
                f,
                "\n    fan-out       p50 {:.1} ms, p99 {:.1} ms",
                p.p50, p.p99
            )?;
        }
        if let Some(g) = &self.gateway {
            write!(
                f,
                "\n    api gateway   {} connects, {} messages; {} client errors, {} integration errors, {} execution errors",
                g.connects, g.messages, g.client_errors, g.integration_errors, g.execution_errors
            )?;
            if let Some(p) = g.integration_latency_ms {
                write!(f, "; integration p50 {:.0} ms, p99 {:.0} ms", p.p50, p.p99)?;
            }
        }
        if let Some(fns) = &self.functions {
            write!(
                f,
                "\n    functions     {} errors, {} throttles",
                fns.errors, fns.throttles
            )?;
        }
        for q in &self.quotas {
            let share = match (q.quota, q.used_percent()) {
                (Some(quota), Some(used)) => format!("peak {} of {quota} ({used}%)", q.peak),
                _ => format!(
                    "peak {} (quota unknown: servicequotas:GetServiceQuota)",
                    q.peak
                ),
            };
            write!(f, "\n    quota         {}: {share}", q.name)?;
        }
        match &self.alarms_firing {
            Some(firing) if !firing.is_empty() => {
                write!(f, "\n    ALARM         {}", firing.join(", "))
            }
            Some(_) => write!(f, "\n    alarms        none firing"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_summed_and_durations_read_by_nearest_rank() {
        let mut points = vec![(Metric::Messages, 1.0), (Metric::Deliveries, 3.0)];
        points.extend((1..=100).map(|ms| (Metric::FanoutDuration, ms as f64)));
        points.push((Metric::Messages, 1.0));
        let figures = Figures::of(120, points);
        assert_eq!(figures.count(Metric::Messages), 2.0);
        assert_eq!(figures.count(Metric::Deliveries), 3.0);
        assert_eq!(figures.count(Metric::Errors), 0.0);
        assert_eq!(figures.per_minute(Metric::Messages), 1.0);
        assert_eq!(
            figures.fanout_ms,
            Some(Percentiles {
                p50: 50.0,
                p99: 99.0
            })
        );
        assert_eq!(Percentiles::of(&mut []), None);
        assert_eq!(window(900), "15m");
        assert_eq!(window(7200), "2h");
        assert_eq!(window(45), "45s");
        let none = Health::unavailable(900, "AccessDenied".into());
        assert_eq!(
            none.to_string(),
            "  health        last 15m: unavailable: AccessDenied"
        );
        assert!(!none.alarming());
    }
}
