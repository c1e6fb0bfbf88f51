//! A CloudWatch log group per function, created before the function so that
//! it carries our tags and retention and teardown can remove it; and the
//! stage's access log group, with `--access-logs`.

use super::{Change, Ctx, Leftover, Ownership, Resource, Stack};
use crate::aws::{checked, created, or_absent};
use crate::error::Result;
use crate::spec::{Function, StackSpec, TAG_STACK};
use aws_sdk_cloudwatchlogs::types::LogGroup;
use std::collections::HashMap;

const KIND: &str = "log group";

/// The log group named `name`, if it exists.
pub async fn find(stack: &Stack, name: &str) -> Result<Option<LogGroup>> {
    let request = stack
        .clients
        .logs
        .describe_log_groups()
        .log_group_name_prefix(name);
    let out = checked(
        request.send().await,
        "CloudWatch Logs DescribeLogGroups",
        name,
    )?;
    Ok(out
        .log_groups
        .unwrap_or_default()
        .into_iter()
        .find(|g| g.log_group_name.as_deref() == Some(name)))
}

/// A log group's ARN as the tagging API wants it: without the trailing `:*`.
fn tagging_arn(group: &LogGroup) -> String {
    let arn = group.arn.as_deref().unwrap_or_default();
    arn.strip_suffix(":*").unwrap_or(arn).to_owned()
}

async fn tags(stack: &Stack, group: &LogGroup) -> Result<HashMap<String, String>> {
    let arn = tagging_arn(group);
    let request = stack
        .clients
        .logs
        .list_tags_for_resource()
        .resource_arn(&arn);
    let out = or_absent(
        request.send().await,
        "CloudWatch Logs ListTagsForResource",
        &arn,
    )?;
    Ok(out.and_then(|o| o.tags).unwrap_or_default())
}

/// The name is this stack's function's log group; Lambda creates it untagged
/// if a function ever ran before deploy made it, so an untagged one is adopted.
fn claimable(spec: &StackSpec, tags: &HashMap<String, String>) -> bool {
    spec.owns(tags) || !tags.contains_key(TAG_STACK)
}

/// What differs in a log group this stack may claim.
#[derive(Debug, PartialEq)]
pub struct LogGroupDiff {
    /// Current retention (`None`: never expire), when it is not the wanted one.
    pub retention: Option<Option<i32>>,
    /// Adopted untagged: our tags are to be added.
    pub tags: bool,
}

impl LogGroupDiff {
    pub fn between(
        group: &LogGroup,
        spec: &StackSpec,
        tags: &HashMap<String, String>,
    ) -> LogGroupDiff {
        let wanted = spec.settings.log_retention_days;
        LogGroupDiff {
            retention: (group.retention_in_days != Some(wanted)).then_some(group.retention_in_days),
            tags: !spec.owns(tags),
        }
    }

    pub fn fields(&self, wanted_days: i32) -> Vec<String> {
        let mut fields = Vec::new();
        if let Some(now) = self.retention {
            let now = now.map_or("never expire".to_owned(), |d| d.to_string());
            fields.push(format!("retention {now} → {wanted_days} days"));
        }
        if self.tags {
            fields.push("tags".to_owned());
        }
        fields
    }
}

async fn put_retention(ctx: &Ctx<'_>, name: &str) -> Result<()> {
    let request = ctx
        .clients
        .logs
        .put_retention_policy()
        .log_group_name(name)
        .retention_in_days(ctx.spec.settings.log_retention_days);
    checked(
        request.send().await,
        "CloudWatch Logs PutRetentionPolicy",
        name,
    )?;
    Ok(())
}

pub async fn ensure(ctx: &Ctx<'_>, function: Function) -> Result<Resource> {
    ensure_named(ctx, ctx.spec.log_group(function)).await
}

/// The access log group when the stage logs requests. Turning access logs
/// off keeps the group and what it holds (teardown removes it).
pub async fn ensure_access(ctx: &Ctx<'_>) -> Result<Option<Resource>> {
    if !ctx.spec.settings.access_logs {
        return Ok(None);
    }
    Ok(Some(ensure_named(ctx, ctx.spec.access_log_group()).await?))
}

async fn ensure_named(ctx: &Ctx<'_>, name: String) -> Result<Resource> {
    let logs = &ctx.clients.logs;
    ctx.track(KIND, &name, async |task| {
        let Some(group) = find(ctx, &name).await? else {
            if !ctx.dry_run {
                task.set("creating");
                let request = logs
                    .create_log_group()
                    .log_group_name(&name)
                    .set_tags(Some(ctx.spec.tags()));
                created(
                    request.send().await,
                    "CloudWatch Logs CreateLogGroup",
                    &name,
                )?;
                put_retention(ctx, &name).await?;
            }
            return Ok(Change::Created);
        };
        let current = tags(ctx, &group).await?;
        if !claimable(&ctx.spec, &current) {
            return Ok(Change::Foreign);
        }
        let diff = LogGroupDiff::between(&group, &ctx.spec, &current);
        let fields = diff.fields(ctx.spec.settings.log_retention_days);
        if fields.is_empty() {
            return Ok(Change::Unchanged);
        }
        if !ctx.dry_run {
            if diff.retention.is_some() {
                put_retention(ctx, &name).await?;
            }
            if diff.tags {
                let request = logs
                    .tag_resource()
                    .resource_arn(tagging_arn(&group))
                    .set_tags(Some(ctx.spec.tags()));
                checked(request.send().await, "CloudWatch Logs TagResource", &name)?;
            }
        }
        Ok(Change::Updated { fields })
    })
    .await
}

async fn ownership(stack: &Stack, name: &str) -> Result<Ownership> {
    Ok(match find(stack, name).await? {
        None => Ownership::Absent,
        Some(group) if claimable(&stack.spec, &tags(stack, &group).await?) => Ownership::Ours,
        Some(_) => Ownership::Foreign,
    })
}

pub async fn delete(ctx: &Ctx<'_>, function: Function) -> Result<Vec<Resource>> {
    delete_named(ctx, ctx.spec.log_group(function)).await
}

/// The access log group, whether or not the stage still logs to it.
pub async fn delete_access(ctx: &Ctx<'_>) -> Result<Vec<Resource>> {
    delete_named(ctx, ctx.spec.access_log_group()).await
}

async fn delete_named(ctx: &Ctx<'_>, name: String) -> Result<Vec<Resource>> {
    let removed = ctx.remove(KIND, &name, ownership(ctx, &name), async |_| {
        let request = ctx.clients.logs.delete_log_group().log_group_name(&name);
        or_absent(
            request.send().await,
            "CloudWatch Logs DeleteLogGroup",
            &name,
        )?;
        Ok(())
    });
    Ok(vec![removed.await?])
}

/// Log groups under `/aws/lambda/{name}-{stage}-`, and the access log
/// group, that this stack may claim and that still exist.
pub async fn leftovers(stack: &Stack) -> Result<Vec<Leftover>> {
    let mut found = with_prefix(stack, &format!("/aws/lambda/{}-", stack.spec.prefix())).await?;
    let access = stack.spec.access_log_group();
    found.extend(
        with_prefix(stack, &access)
            .await?
            .into_iter()
            .filter(|l| l.name == access),
    );
    Ok(found)
}

async fn with_prefix(stack: &Stack, prefix: &str) -> Result<Vec<Leftover>> {
    let mut found = Vec::new();
    let mut pages = stack
        .clients
        .logs
        .describe_log_groups()
        .log_group_name_prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = checked(page, "CloudWatch Logs DescribeLogGroups", prefix)?;
        for group in page.log_groups() {
            if claimable(&stack.spec, &tags(stack, group).await?) {
                let name = group.log_group_name.clone().unwrap_or_default();
                found.push(Leftover::new(KIND, name));
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::tests::spec;

    fn group(retention: Option<i32>) -> LogGroup {
        LogGroup::builder()
            .log_group_name("/aws/lambda/chat-prod-message")
            .set_retention_in_days(retention)
            .build()
    }

    #[test]
    fn retention_and_tags_are_each_a_difference() {
        let spec = spec();
        let ours = spec.tags();
        let same = LogGroupDiff::between(&group(Some(14)), &spec, &ours);
        assert!(same.fields(14).is_empty());

        let longer = LogGroupDiff::between(&group(Some(30)), &spec, &ours);
        assert_eq!(longer.fields(14), ["retention 30 → 14 days"]);
        let forever = LogGroupDiff::between(&group(None), &spec, &ours);
        assert_eq!(forever.fields(14), ["retention never expire → 14 days"]);

        let untagged = LogGroupDiff::between(&group(Some(14)), &spec, &HashMap::new());
        assert_eq!(untagged.fields(14), ["tags"]);
    }

    #[test]
    fn an_untagged_group_is_adopted_and_another_stacks_is_not() {
        let spec = spec();
        assert!(claimable(&spec, &HashMap::new()));
        assert!(claimable(&spec, &spec.tags()));
        let other = HashMap::from([(TAG_STACK.to_owned(), "other".to_owned())]);
        assert!(!claimable(&spec, &other));
    }
}
