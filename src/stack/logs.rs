//! A CloudWatch log group per function, created before the function so that
//! it carries our tags and retention and teardown can remove it.

use super::{finish, is_not_found, Change, Ctx, Resource};
use crate::aws::aws_error;
use crate::error::Result;
use crate::spec::Function;
use aws_sdk_cloudwatchlogs::types::LogGroup;
use std::collections::HashMap;

const KIND: &str = "log group";

pub async fn describe(ctx: &Ctx<'_>, name: &str) -> Result<Option<LogGroup>> {
    let out = ctx
        .clients
        .logs
        .describe_log_groups()
        .log_group_name_prefix(name)
        .send()
        .await
        .map_err(|e| aws_error("CloudWatch Logs DescribeLogGroups", name, e))?;
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

async fn tags(ctx: &Ctx<'_>, group: &LogGroup) -> Result<HashMap<String, String>> {
    let arn = tagging_arn(group);
    match ctx
        .clients
        .logs
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
    {
        Ok(out) => Ok(out.tags.unwrap_or_default()),
        Err(e) if e.as_service_error().is_some_and(is_not_found) => Ok(HashMap::new()),
        Err(e) => Err(aws_error("CloudWatch Logs ListTagsForResource", &arn, e)),
    }
}

/// The name is this stack's function's log group; Lambda creates it untagged
/// if a function ever ran before deploy made it, so an untagged one is adopted.
fn claimable(ctx: &Ctx<'_>, tags: &HashMap<String, String>) -> bool {
    ctx.spec.owns(tags) || !tags.contains_key(crate::spec::TAG_STACK)
}

pub async fn ensure(ctx: &Ctx<'_>, function: Function) -> Result<Resource> {
    let name = ctx.spec.log_group(function);
    let task = ctx.progress.task(format!("{KIND} {name}"));
    let logs = &ctx.clients.logs;
    let retention = ctx.spec.settings.log_retention_days;
    let put_retention = || async {
        logs.put_retention_policy()
            .log_group_name(&name)
            .retention_in_days(retention)
            .send()
            .await
            .map_err(|e| aws_error("CloudWatch Logs PutRetentionPolicy", &name, e))
    };
    let Some(group) = describe(ctx, &name).await? else {
        if !ctx.dry_run {
            task.set("creating");
            logs.create_log_group()
                .log_group_name(&name)
                .set_tags(Some(ctx.spec.tags()))
                .send()
                .await
                .map_err(|e| aws_error("CloudWatch Logs CreateLogGroup", &name, e))?;
            put_retention().await?;
        }
        return Ok(finish(
            ctx,
            &task,
            Resource::new(KIND, name, Change::Created),
        ));
    };
    let current = tags(ctx, &group).await?;
    if !claimable(ctx, &current) {
        return Ok(finish(
            ctx,
            &task,
            Resource::new(KIND, name, Change::Foreign),
        ));
    }
    let mut fields = Vec::new();
    if group.retention_in_days != Some(retention) {
        fields.push(format!(
            "retention {} → {retention} days",
            group
                .retention_in_days
                .map_or("never expire".into(), |d| d.to_string())
        ));
    }
    let tagged = ctx.spec.owns(&current);
    if !tagged {
        fields.push("tags".to_owned());
    }
    if fields.is_empty() {
        return Ok(finish(
            ctx,
            &task,
            Resource::new(KIND, name, Change::Unchanged),
        ));
    }
    if !ctx.dry_run {
        if group.retention_in_days != Some(retention) {
            put_retention().await?;
        }
        if !tagged {
            logs.tag_resource()
                .resource_arn(tagging_arn(&group))
                .set_tags(Some(ctx.spec.tags()))
                .send()
                .await
                .map_err(|e| aws_error("CloudWatch Logs TagResource", &name, e))?;
        }
    }
    Ok(finish(
        ctx,
        &task,
        Resource::new(KIND, name, Change::Updated { fields }),
    ))
}

pub async fn delete(ctx: &Ctx<'_>, function: Function) -> Result<Resource> {
    let name = ctx.spec.log_group(function);
    let task = ctx.progress.task(format!("{KIND} {name}"));
    let Some(group) = describe(ctx, &name).await? else {
        return Ok(finish(
            ctx,
            &task,
            Resource::new(KIND, name, Change::Absent),
        ));
    };
    if !claimable(ctx, &tags(ctx, &group).await?) {
        return Ok(finish(
            ctx,
            &task,
            Resource::new(KIND, name, Change::Foreign),
        ));
    }
    if !ctx.dry_run {
        match ctx
            .clients
            .logs
            .delete_log_group()
            .log_group_name(&name)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(is_not_found) => {}
            Err(e) => return Err(aws_error("CloudWatch Logs DeleteLogGroup", &name, e)),
        }
    }
    Ok(finish(
        ctx,
        &task,
        Resource::new(KIND, name, Change::Deleted),
    ))
}

/// Log groups under `/aws/lambda/{name}-{stage}-` that this stack may claim and that still exist.
pub async fn leftovers(ctx: &Ctx<'_>) -> Result<Vec<String>> {
    let prefix = format!("/aws/lambda/{}-", ctx.spec.prefix());
    let mut found = Vec::new();
    let mut pages = ctx
        .clients
        .logs
        .describe_log_groups()
        .log_group_name_prefix(&prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error("CloudWatch Logs DescribeLogGroups", &prefix, e))?;
        for group in page.log_groups() {
            if claimable(ctx, &tags(ctx, group).await?) {
                found.push(format!(
                    "log group {}",
                    group.log_group_name.as_deref().unwrap_or_default()
                ));
            }
        }
    }
    Ok(found)
}
