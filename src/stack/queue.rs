//! The dead-letter queue: where a delivery job lands once Lambda has given
//! up on it (its asynchronous invocation failed three times, or grew too
//! old), for `wschat status` to count and `wschat redrive` to send again.

use super::{Change, Ctx, Leftover, Ownership, Resource, Stack};
use crate::aws::{checked, Answer, ServiceError};
use crate::error::Result;
use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::operation::create_queue::CreateQueueError;
use aws_sdk_sqs::types::QueueAttributeName;
use std::collections::HashMap;
use std::time::Duration;
use wschat_lambdas::retry::{retry, Limits, Verdict};

const KIND: &str = "queue";
/// Fourteen days, SQS's longest: a failed delivery waits that long for a redrive.
pub const RETENTION_SECONDS: i32 = 1_209_600;
/// SQS refuses a new queue under a name deleted in the last 60 seconds.
const RECENTLY_DELETED_WAIT: Duration = Duration::from_secs(75);

/// The queue as SQS has it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Queue {
    pub url: String,
    pub attributes: HashMap<String, String>,
    pub tags: HashMap<String, String>,
}

impl Queue {
    /// Jobs waiting for a redrive (SQS's approximate count, visible and in flight).
    pub fn depth(&self) -> u64 {
        [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
        ]
        .iter()
        .filter_map(|key| self.attributes.get(*key)?.parse::<u64>().ok())
        .sum()
    }
}

/// SQS's "no such queue", in its JSON and its query-compatible words.
fn is_missing<E: ServiceError>(e: &E) -> bool {
    matches!(
        e.code(),
        Some("QueueDoesNotExist" | "AWS.SimpleQueueService.NonExistentQueue")
    )
}

fn absent_if_missing<T, E: ServiceError>(
    answer: Answer<T, E>,
    operation: &str,
    on: &str,
) -> Result<Option<T>> {
    match answer {
        Err(e) if e.as_service_error().is_some_and(is_missing) => Ok(None),
        answer => checked(answer, operation, on).map(Some),
    }
}

/// The queue named `name`, with its attributes and tags, if it exists.
pub async fn find_named(stack: &Stack, name: &str) -> Result<Option<Queue>> {
    let sqs = &stack.clients.sqs;
    let request = sqs.get_queue_url().queue_name(name);
    let Some(found) = absent_if_missing(request.send().await, "SQS GetQueueUrl", name)? else {
        return Ok(None);
    };
    let url = found.queue_url.unwrap_or_default();
    let request = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All);
    let Some(attributes) = absent_if_missing(request.send().await, "SQS GetQueueAttributes", name)?
    else {
        return Ok(None);
    };
    let request = sqs.list_queue_tags().queue_url(&url);
    let Some(tags) = absent_if_missing(request.send().await, "SQS ListQueueTags", name)? else {
        return Ok(None);
    };
    Ok(Some(Queue {
        url,
        attributes: attributes
            .attributes
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k.as_str().to_owned(), v))
            .collect(),
        tags: tags.tags.unwrap_or_default(),
    }))
}

/// The stack's dead-letter queue, if it exists.
pub async fn find(stack: &Stack) -> Result<Option<Queue>> {
    find_named(stack, &stack.spec.dead_letter_queue()).await
}

/// What differs between the queue and what the stack wants of it.
#[derive(Debug, Default, PartialEq)]
pub struct QueueDiff {
    /// The retention now, in seconds, when it is not the wanted one.
    pub retention: Option<i32>,
}

impl QueueDiff {
    pub fn between(queue: &Queue) -> QueueDiff {
        let now = queue
            .attributes
            .get("MessageRetentionPeriod")
            .and_then(|v| v.parse::<i32>().ok())
            .unwrap_or(0);
        QueueDiff {
            retention: (now != RETENTION_SECONDS).then_some(now),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == QueueDiff::default()
    }

    pub fn fields(&self) -> Vec<String> {
        self.retention
            .map(|now| format!("retention {now} s → {RETENTION_SECONDS} s"))
            .into_iter()
            .collect()
    }
}

fn wanted_attributes() -> HashMap<QueueAttributeName, String> {
    HashMap::from([(
        QueueAttributeName::MessageRetentionPeriod,
        RETENTION_SECONDS.to_string(),
    )])
}

/// Creates the queue; a name deleted less than a minute ago (a teardown
/// then a deploy) is waited out, as SQS asks.
async fn create(ctx: &Ctx<'_>, name: &str) -> Result<()> {
    let limits = Limits {
        attempts: None,
        within: Some(RECENTLY_DELETED_WAIT),
    };
    let attempt = |_| {
        ctx.clients
            .sqs
            .create_queue()
            .queue_name(name)
            .set_attributes(Some(wanted_attributes()))
            .set_tags(Some(ctx.spec.tags()))
            .send()
    };
    let judge = |e: &aws_sdk_sqs::error::SdkError<_, _>, _, _| {
        let code = e
            .as_service_error()
            .and_then(|e: &CreateQueueError| e.code());
        match code {
            Some("QueueDeletedRecently" | "AWS.SimpleQueueService.QueueDeletedRecently") => {
                Verdict::Retry(Duration::from_secs(5))
            }
            _ => Verdict::Stop,
        }
    };
    let answer = retry(limits, attempt, judge).await.map_err(|f| f.error);
    checked(answer, "SQS CreateQueue", name)?;
    Ok(())
}

pub async fn ensure(ctx: &Ctx<'_>) -> Result<Resource> {
    let name = ctx.spec.dead_letter_queue();
    ctx.track(KIND, &name, async |task| {
        let Some(queue) = find(ctx).await? else {
            if !ctx.dry_run {
                task.set("creating");
                create(ctx, &name).await?;
            }
            return Ok(Change::Created);
        };
        if !ctx.spec.owns(&queue.tags) {
            return Ok(Change::Foreign);
        }
        let diff = QueueDiff::between(&queue);
        if diff.is_empty() {
            return Ok(Change::Unchanged);
        }
        if !ctx.dry_run {
            let request = ctx
                .clients
                .sqs
                .set_queue_attributes()
                .queue_url(&queue.url)
                .set_attributes(Some(wanted_attributes()));
            checked(request.send().await, "SQS SetQueueAttributes", &name)?;
        }
        Ok(Change::Updated {
            fields: diff.fields(),
        })
    })
    .await
}

async fn ownership(stack: &Stack) -> Result<Ownership> {
    Ok(match find(stack).await? {
        None => Ownership::Absent,
        Some(queue) if stack.spec.owns(&queue.tags) => Ownership::Ours,
        Some(_) => Ownership::Foreign,
    })
}

/// Deletes the queue, and with it any failed delivery still in it.
pub async fn delete(ctx: &Ctx<'_>) -> Result<Vec<Resource>> {
    let name = ctx.spec.dead_letter_queue();
    let removed = ctx.remove(KIND, &name, ownership(ctx), async |_| {
        let Some(queue) = find(ctx).await? else {
            return Ok(());
        };
        let request = ctx.clients.sqs.delete_queue().queue_url(&queue.url);
        absent_if_missing(request.send().await, "SQS DeleteQueue", &name)?;
        Ok(())
    });
    Ok(vec![removed.await?])
}

/// Queues named with the stack's prefix and tagged as this stack's.
pub async fn leftovers(stack: &Stack) -> Result<Vec<Leftover>> {
    let prefix = format!("{}-", stack.spec.prefix());
    let mut found = Vec::new();
    let mut pages = stack
        .clients
        .sqs
        .list_queues()
        .queue_name_prefix(&prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = checked(page, "SQS ListQueues", &prefix)?;
        for url in page.queue_urls() {
            let name = url.rsplit('/').next().unwrap_or(url);
            if let Some(queue) = find_named(stack, name).await? {
                if stack.spec.owns(&queue.tags) {
                    found.push(Leftover::new(KIND, name));
                }
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(retention: &str) -> Queue {
        Queue {
            attributes: HashMap::from([
                ("MessageRetentionPeriod".to_owned(), retention.to_owned()),
                ("ApproximateNumberOfMessages".to_owned(), "3".to_owned()),
                (
                    "ApproximateNumberOfMessagesNotVisible".to_owned(),
                    "2".to_owned(),
                ),
            ]),
            ..Queue::default()
        }
    }

    #[test]
    fn retention_is_the_one_difference_and_depth_counts_in_flight_jobs_too() {
        assert!(QueueDiff::between(&queue("1209600")).is_empty());
        let short = QueueDiff::between(&queue("345600"));
        assert_eq!(short.fields(), ["retention 345600 s → 1209600 s"]);
        assert_eq!(queue("1209600").depth(), 5);
    }
}
