//! The alarms' SNS topic, when the stack owns one (`--alarm-email`): the
//! address subscribed to it, which confirms from the email AWS sends. A
//! stack whose alarms notify no one, or a topic of the user's
//! (`--alarm-topic`), has none, and a stack that had one has it deleted.

use super::{Change, Ctx, Leftover, Ownership, Resource, Stack};
use crate::aws::{checked, Answer, ServiceError};
use crate::error::{CliError, Result};
use aws_sdk_sns::types::Tag;
use std::collections::HashMap;

const KIND: &str = "alarm topic";
const EMAIL: &str = "email";

/// The topic as SNS has it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Topic {
    pub arn: String,
    pub tags: HashMap<String, String>,
    /// Email addresses subscribed (confirmed or not), each with its
    /// subscription's ARN (`PendingConfirmation` until confirmed).
    pub emails: Vec<(String, String)>,
}

impl Topic {
    /// Whether `address` is subscribed and has confirmed.
    pub fn confirmed(&self, address: &str) -> Option<bool> {
        self.emails
            .iter()
            .find(|(e, _)| e.eq_ignore_ascii_case(address))
            .map(|(_, arn)| arn.starts_with("arn:"))
    }
}

fn is_missing<E: ServiceError>(e: &E) -> bool {
    matches!(e.code(), Some("NotFound" | "NotFoundException"))
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

/// The topic at `arn`, its tags and email subscriptions, if it exists.
pub async fn find_at(stack: &Stack, arn: &str) -> Result<Option<Topic>> {
    let sns = &stack.clients.sns;
    let request = sns.get_topic_attributes().topic_arn(arn);
    if absent_if_missing(request.send().await, "SNS GetTopicAttributes", arn)?.is_none() {
        return Ok(None);
    }
    let request = sns.list_tags_for_resource().resource_arn(arn);
    let Some(tags) = absent_if_missing(request.send().await, "SNS ListTagsForResource", arn)?
    else {
        return Ok(None);
    };
    let mut emails = Vec::new();
    let mut pages = sns
        .list_subscriptions_by_topic()
        .topic_arn(arn)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let Some(page) = absent_if_missing(page, "SNS ListSubscriptionsByTopic", arn)? else {
            return Ok(None);
        };
        for s in page.subscriptions() {
            if s.protocol() == Some(EMAIL) {
                let endpoint = s.endpoint().unwrap_or_default().to_owned();
                emails.push((
                    endpoint,
                    s.subscription_arn().unwrap_or_default().to_owned(),
                ));
            }
        }
    }
    Ok(Some(Topic {
        arn: arn.to_owned(),
        tags: tags
            .tags()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect(),
        emails,
    }))
}

/// The stack's own topic, if it exists.
pub async fn find(stack: &Stack) -> Result<Option<Topic>> {
    find_at(stack, &stack.spec.alarm_topic_arn()).await
}

/// What differs between the topic and what the stack wants of it.
#[derive(Debug, Default, PartialEq)]
pub struct TopicDiff {
    /// The address to subscribe, when it is not subscribed yet.
    pub subscribe: Option<String>,
    /// Confirmed subscriptions of other addresses, to remove.
    pub unsubscribe: Vec<(String, String)>,
}

impl TopicDiff {
    pub fn between(topic: &Topic, wanted: &str) -> TopicDiff {
        let has = topic.confirmed(wanted).is_some();
        TopicDiff {
            subscribe: (!has).then(|| wanted.to_owned()),
            // A pending subscription cannot be removed (SNS drops it after
            // three days unconfirmed); a confirmed one of another address can.
            unsubscribe: topic
                .emails
                .iter()
                .filter(|(e, arn)| !e.eq_ignore_ascii_case(wanted) && arn.starts_with("arn:"))
                .cloned()
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == TopicDiff::default()
    }

    pub fn fields(&self) -> Vec<String> {
        let mut fields: Vec<String> = self
            .subscribe
            .iter()
            .map(|e| format!("subscribe {e}"))
            .collect();
        fields.extend(
            self.unsubscribe
                .iter()
                .map(|(e, _)| format!("unsubscribe {e}")),
        );
        fields
    }
}

async fn subscribe(ctx: &Ctx<'_>, arn: &str, address: &str) -> Result<()> {
    let request = ctx
        .clients
        .sns
        .subscribe()
        .topic_arn(arn)
        .protocol(EMAIL)
        .endpoint(address);
    checked(request.send().await, "SNS Subscribe", arn)?;
    Ok(())
}

/// The stack's topic as the settings want it: with `--alarm-email`, the
/// topic and the address's subscription; otherwise no topic of the stack's
/// (deleted if an earlier deploy made one), and a given topic checked to exist.
pub async fn ensure(ctx: &Ctx<'_>) -> Result<Option<Resource>> {
    let settings = &ctx.spec.settings;
    if let Some(given) = &settings.alarm_topic {
        if find_at(ctx, given).await?.is_none() {
            return Err(CliError::usage(format!(
                "the alarm topic {given} does not exist (or this account may not read it)"
            ))
            .with_hint("create it first, or use --alarm-email to have the stack make its own"));
        }
    }
    let Some(address) = settings.alarm_email.clone() else {
        return Ok(match ownership(ctx).await? {
            Ownership::Ours => delete(ctx).await?.pop(),
            _ => None,
        });
    };
    let name = ctx.spec.alarm_topic_name();
    let resource = ctx
        .track(KIND, &name, async |task| {
            let Some(topic) = find(ctx).await? else {
                if !ctx.dry_run {
                    task.set("creating");
                    let tags: Vec<Tag> = ctx
                        .spec
                        .tags()
                        .into_iter()
                        .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
                        .collect();
                    let request = ctx
                        .clients
                        .sns
                        .create_topic()
                        .name(&name)
                        .set_tags(Some(tags));
                    let created = checked(request.send().await, "SNS CreateTopic", &name)?;
                    let arn = created.topic_arn.unwrap_or_default();
                    subscribe(ctx, &arn, &address).await?;
                }
                return Ok(Change::Created);
            };
            if !ctx.spec.owns(&topic.tags) {
                return Ok(Change::Foreign);
            }
            let diff = TopicDiff::between(&topic, &address);
            if diff.is_empty() {
                return Ok(Change::Unchanged);
            }
            if !ctx.dry_run {
                if let Some(address) = &diff.subscribe {
                    subscribe(ctx, &topic.arn, address).await?;
                }
                for (address, arn) in &diff.unsubscribe {
                    let request = ctx.clients.sns.unsubscribe().subscription_arn(arn);
                    checked(request.send().await, "SNS Unsubscribe", address)?;
                }
            }
            Ok(Change::Updated {
                fields: diff.fields(),
            })
        })
        .await?;
    Ok(Some(resource))
}

async fn ownership(stack: &Stack) -> Result<Ownership> {
    Ok(Ownership::of(find(stack).await?, |t| {
        stack.spec.owns(&t.tags)
    }))
}

/// Deletes the stack's topic, and with it its subscriptions.
pub async fn delete(ctx: &Ctx<'_>) -> Result<Vec<Resource>> {
    let name = ctx.spec.alarm_topic_name();
    let arn = ctx.spec.alarm_topic_arn();
    let removed = ctx.remove(KIND, &name, ownership(ctx), async |_| {
        let request = ctx.clients.sns.delete_topic().topic_arn(&arn);
        absent_if_missing(request.send().await, "SNS DeleteTopic", &arn)?;
        Ok(())
    });
    Ok(vec![removed.await?])
}

/// The stack's topic, if it is still there and tagged as this stack's.
pub async fn leftovers(stack: &Stack) -> Result<Vec<Leftover>> {
    Ok(match ownership(stack).await? {
        Ownership::Ours => vec![Leftover::new(KIND, stack.spec.alarm_topic_name())],
        _ => vec![],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(emails: &[(&str, &str)]) -> Topic {
        Topic {
            emails: emails
                .iter()
                .map(|(e, a)| (e.to_string(), a.to_string()))
                .collect(),
            ..Topic::default()
        }
    }

    #[test]
    fn a_new_address_is_subscribed_and_only_confirmed_others_are_removed() {
        let pending = topic(&[("ops@example.com", "PendingConfirmation")]);
        assert!(TopicDiff::between(&pending, "OPS@example.com").is_empty());
        assert_eq!(pending.confirmed("ops@example.com"), Some(false));
        let moved = topic(&[
            ("old@example.com", "arn:aws:sns:eu-west-1:1:t:abc"),
            ("stale@example.com", "PendingConfirmation"),
        ]);
        let diff = TopicDiff::between(&moved, "new@example.com");
        assert_eq!(
            diff.fields(),
            ["subscribe new@example.com", "unsubscribe old@example.com"]
        );
    }
}
