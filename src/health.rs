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

/// `status`'s health section.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    /// Connections stored now.
    pub connections: u64,
    #[serde(flatten)]
    pub figures: Figures,
    pub connects_per_minute: f64,
    pub messages_per_minute: f64,
}

impl Health {
    pub fn new(connections: u64, figures: Figures) -> Health {
        Health {
            connections,
            connects_per_minute: round2(figures.per_minute(Metric::Connects)),
            messages_per_minute: round2(figures.per_minute(Metric::Messages)),
            figures,
        }
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
        writeln!(
            f,
            "  health        last {}",
            window(self.figures.since_seconds)
        )?;
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
        Ok(())
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
    }
}
