//! The sandbox's metrics: each handled event's record written to the logs
//! as the Lambdas write it (EMF inside), and its points kept for
//! `wschat status --local`, as CloudWatch keeps a deployed stack's.

use super::logbuffer::LogBuffer;
use crate::health::Figures;
use std::collections::VecDeque;
use std::sync::Mutex;
use wschat_lambdas::clock::now_ms;
use wschat_lambdas::telemetry::{Metric, Record, Telemetry};

/// Points kept; beyond it the oldest go (about 5 MB at 24 bytes a point).
const CAPACITY: usize = 200_000;

/// Timestamped metric points, newest last.
#[derive(Default)]
pub struct MetricLog {
    points: Mutex<VecDeque<(i64, Metric, f64)>>,
}

impl MetricLog {
    fn add(&self, at_ms: i64, record: &Record) {
        let mut points = self.points.lock().unwrap();
        for &(metric, value) in &record.metrics {
            points.push_back((at_ms, metric, value));
        }
        while points.len() > CAPACITY {
            points.pop_front();
        }
    }

    /// The figures of the last `since_seconds`.
    pub fn figures(&self, since_seconds: u64) -> Figures {
        let from = now_ms() - (since_seconds as i64).saturating_mul(1000);
        let points = self.points.lock().unwrap();
        let window = points.iter().filter(|(at, _, _)| *at >= from);
        Figures::of(since_seconds, window.map(|&(_, m, v)| (m, v)))
    }
}

/// Where the sandbox's handlers send their records.
pub struct SandboxTelemetry {
    /// The stack's `{name}-{stage}`, as a deployed function names it.
    pub stack: String,
    pub logs: LogBuffer,
    pub metrics: std::sync::Arc<MetricLog>,
}

impl Telemetry for SandboxTelemetry {
    fn record(&self, record: &Record) {
        let at = now_ms();
        self.logs
            .push_from(record.function, &record.to_line(&self.stack, at));
        self.metrics.add(at, record);
    }
}
