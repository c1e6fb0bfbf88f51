//! `wschat redrive`: hands the delivery jobs Lambda gave up on (its
//! on-failure records in the dead-letter queue) back to the delivery
//! function. A job is deleted from the queue only once Lambda has accepted
//! it again; one that fails again comes back to the queue.

use crate::aws::checked;
use crate::error::{CliError, Result};
use crate::spec::Function;
use crate::stack::{queue, Located, Stack};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use serde::Serialize;
use serde_json::Value;
use std::fmt;

/// Receives at a time: SQS's most.
const BATCH: i32 = 10;
/// Long enough for the invoke and the delete; a job not deleted by then is
/// visible again for the next redrive.
const VISIBILITY_S: i32 = 120;

#[derive(Debug, Serialize)]
pub struct RedriveReport {
    #[serde(flatten)]
    pub at: Located,
    pub dry_run: bool,
    /// Jobs in the queue before.
    pub waiting: u64,
    /// Handed back to the delivery function and removed from the queue.
    pub redriven: usize,
    /// Records that hold no delivery job; left in the queue.
    pub unreadable: usize,
    /// Jobs Lambda did not accept now; left in the queue.
    pub refused: usize,
}

impl RedriveReport {
    pub fn ok(&self) -> bool {
        self.unreadable == 0 && self.refused == 0
    }
}

impl fmt::Display for RedriveReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dry_run {
            return write!(
                f,
                "{}: {} failed deliveries waiting; `wschat redrive` sends them again",
                self.at, self.waiting
            );
        }
        write!(
            f,
            "{}: {} of {} failed deliveries handed back to the delivery function",
            self.at, self.redriven, self.waiting
        )?;
        if self.unreadable > 0 {
            write!(
                f,
                "; {} unreadable records left in the queue",
                self.unreadable
            )?;
        }
        if self.refused > 0 {
            write!(
                f,
                "; {} not accepted by Lambda, left for the next redrive",
                self.refused
            )?;
        }
        Ok(())
    }
}

/// The delivery job inside one of Lambda's on-failure records.
pub fn job_of(record: &str) -> Option<Value> {
    let record: Value = serde_json::from_str(record).ok()?;
    let job = record.get("requestPayload")?;
    job.get("delivery").is_some().then(|| job.clone())
}

/// Redrives up to `max` jobs (all of them when `None`).
pub async fn redrive(stack: &Stack, dry_run: bool, max: Option<usize>) -> Result<RedriveReport> {
    let name = stack.spec.dead_letter_queue();
    let found = queue::find(stack).await?.ok_or_else(|| {
        CliError::failed(format!(
            "no dead-letter queue {name} in {}",
            stack.spec.region
        ))
        .with_hint("deploy the stack with `wschat deploy`; it creates the queue")
    })?;
    let mut report = RedriveReport {
        at: Located::of(&stack.spec),
        dry_run,
        waiting: found.depth(),
        redriven: 0,
        unreadable: 0,
        refused: 0,
    };
    if dry_run {
        return Ok(report);
    }
    let sqs = &stack.clients.sqs;
    let limit = max.unwrap_or(usize::MAX);
    // Each receive hides what it got, so the loop ends when nothing visible is left.
    while report.redriven + report.unreadable + report.refused < limit {
        let left = limit - (report.redriven + report.unreadable + report.refused);
        let request = sqs
            .receive_message()
            .queue_url(&found.url)
            .max_number_of_messages(BATCH.min(left.try_into().unwrap_or(BATCH)))
            .visibility_timeout(VISIBILITY_S)
            .wait_time_seconds(1);
        let received = checked(request.send().await, "SQS ReceiveMessage", &name)?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for message in messages {
            let Some(job) = message.body.as_deref().and_then(job_of) else {
                report.unreadable += 1;
                continue;
            };
            if !hand_back(stack, &job).await? {
                report.refused += 1;
                continue;
            }
            let request = sqs
                .delete_message()
                .queue_url(&found.url)
                .receipt_handle(message.receipt_handle.unwrap_or_default());
            checked(request.send().await, "SQS DeleteMessage", &name)?;
            report.redriven += 1;
        }
    }
    Ok(report)
}

/// One asynchronous invoke of the delivery function: whether Lambda took it (202).
async fn hand_back(stack: &Stack, job: &Value) -> Result<bool> {
    let function = stack.spec.function_name(Function::Deliver);
    let request = stack
        .clients
        .lambda
        .invoke()
        .function_name(&function)
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(job.to_string()));
    let answer = checked(request.send().await, "Lambda Invoke", &function)?;
    Ok(answer.status_code == 202)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_job_is_the_records_request_payload() {
        let record = r#"{"version":"1.0","requestContext":{"condition":"RetriesExhausted","approximateInvokeCount":3},
            "requestPayload":{"delivery":{"kind":"room_shard","room":"big","shard":3},"frame":"{}","endpoint":"https://x/dev","rate":312},
            "responseContext":{"statusCode":200,"functionError":"Unhandled"}}"#;
        let job = job_of(record).unwrap();
        assert_eq!(job["delivery"]["shard"], 3);
        assert_eq!(job_of(r#"{"requestPayload":{"requestContext":{}}}"#), None);
        assert_eq!(job_of("not json"), None);
    }
}
