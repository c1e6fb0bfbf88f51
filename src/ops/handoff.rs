//! A large broadcast on AWS goes where a large room's message goes: to the
//! stack's delivery function, one synchronous invoke per part of the
//! audience (a room's shards, or segments of the whole table), so the laptop
//! makes 16 calls instead of a post per recipient over its uplink. The
//! totals are the sum of the workers' own reports; a part whose invoke
//! failed is delivered from here instead, so nothing is silently skipped
//! (a worker that failed half-way may have posted some frames already:
//! clients show a message id once).

use crate::aws::checked;
use crate::error::{CliError, Result};
use crate::spec::Function;
use crate::stack::function::DELIVER_TIMEOUT_S;
use crate::stack::Stack;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use futures_util::future::join_all;
use std::time::Duration;
use wschat_lambdas::delivery::{DeliveryJob, DeliveryReport, Part};
use wschat_lambdas::fanout::FanoutReport;

/// Runs one job per part through the delivery function and waits for each
/// worker's report. `bar` ticks once per part reported.
pub async fn deliver(
    stack: &Stack,
    jobs: Vec<DeliveryJob>,
    bar: Option<&indicatif::ProgressBar>,
) -> (FanoutReport, Vec<(Part, CliError)>) {
    let function = stack.spec.function_name(Function::Deliver);
    let answers = join_all(jobs.iter().map(|job| async {
        let answer = invoke(stack, &function, job).await;
        if let Some(bar) = bar {
            bar.inc(1);
        }
        answer
    }))
    .await;
    let mut total = FanoutReport::default();
    let mut failed = Vec::new();
    for (job, answer) in jobs.into_iter().zip(answers) {
        match answer {
            Ok(report) => total.add(&report.fanout),
            Err(e) => failed.push((job.delivery, e)),
        }
    }
    (total, failed)
}

/// One worker's delivery, waited for: its report, or why there is none.
async fn invoke(stack: &Stack, function: &str, job: &DeliveryJob) -> Result<DeliveryReport> {
    // The worker may run up to the function's timeout; the answer comes after.
    let runs = Duration::from_secs(DELIVER_TIMEOUT_S as u64 + 30);
    let waiting =
        aws_sdk_lambda::config::Builder::default().timeout_config(crate::aws::run_timeouts(runs));
    let payload = serde_json::to_vec(job).expect("a job serialises");
    let request = stack
        .clients
        .lambda
        .invoke()
        .function_name(function)
        .invocation_type(InvocationType::RequestResponse)
        .payload(Blob::new(payload))
        .customize()
        .config_override(waiting);
    let answer = checked(request.send().await, "Lambda Invoke", function)?;
    let body = answer.payload.map(Blob::into_inner).unwrap_or_default();
    if let Some(kind) = answer.function_error {
        return Err(CliError::failed(format!(
            "{function} failed ({kind}): {}",
            String::from_utf8_lossy(&body)
        )));
    }
    serde_json::from_slice(&body).map_err(|e| {
        CliError::failed(format!(
            "{function} answered something that is not a delivery report ({e}): {}",
            String::from_utf8_lossy(&body)
        ))
    })
}

/// "room lobby, shard 3" or "segment 3 of 16".
pub fn label(part: &Part) -> String {
    match part {
        Part::RoomShard { room, shard } => format!("room {room}, shard {shard}"),
        Part::Segment { segment, of } => format!("segment {segment} of {of}"),
        Part::CatchUp { connection_id, .. } => format!("history for {connection_id}"),
    }
}
