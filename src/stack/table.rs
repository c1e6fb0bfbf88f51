//! The connections table: on demand, TTL on `ttl`, GSIs on room and username.

use super::{finish, is_not_found, Change, Ctx, Resource};
use crate::aws::aws_error;
use crate::error::{CliError, Result};
use aws_sdk_dynamodb::types::{
    BillingMode, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndexUpdate, Projection,
    ProjectionType, Select, TableStatus, Tag, TimeToLiveStatus,
};
use std::collections::HashMap;
use std::time::Duration;
use wschat_lambdas::dynamo::{
    enable_ttl, hash_key, string_attr, ROOM_INDEX, TTL_ATTRIBUTE, USERNAME_INDEX,
};

const KIND: &str = "table";
const INDEXES: [(&str, &str); 2] = [(ROOM_INDEX, "room"), (USERNAME_INDEX, "username")];

fn tags(ctx: &Ctx<'_>) -> Vec<Tag> {
    let mut tags: Vec<Tag> = ctx
        .spec
        .tags()
        .into_iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .expect("key and value set")
        })
        .collect();
    tags.sort_by(|a, b| a.key.cmp(&b.key));
    tags
}

async fn current_tags(ctx: &Ctx<'_>, arn: &str) -> Result<HashMap<String, String>> {
    let name = ctx.spec.table();
    let out = ctx
        .clients
        .dynamodb
        .list_tags_of_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| aws_error("DynamoDB ListTagsOfResource", &name, e))?;
    Ok(out
        .tags
        .unwrap_or_default()
        .into_iter()
        .map(|t| (t.key, t.value))
        .collect())
}

/// The table as it is, or `None`.
async fn describe(ctx: &Ctx<'_>) -> Result<Option<aws_sdk_dynamodb::types::TableDescription>> {
    let name = ctx.spec.table();
    match ctx
        .clients
        .dynamodb
        .describe_table()
        .table_name(&name)
        .send()
        .await
    {
        Ok(out) => Ok(out.table),
        Err(e) if e.as_service_error().is_some_and(is_not_found) => Ok(None),
        Err(e) => Err(aws_error("DynamoDB DescribeTable", &name, e)),
    }
}

/// A new table accepts writes only once ACTIVE; poll rather than sleep a fixed time.
async fn wait_active(ctx: &Ctx<'_>, task: &crate::progress::Task) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        let table = describe(ctx).await?;
        let status = table.as_ref().and_then(|t| t.table_status.clone());
        let indexes_ready = table
            .as_ref()
            .map(|t| {
                t.global_secondary_indexes().iter().all(|i| {
                    i.index_status
                        .as_ref()
                        .is_none_or(|s| s.as_str() == "ACTIVE")
                })
            })
            .unwrap_or(false);
        if status == Some(TableStatus::Active) && indexes_ready {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(CliError::failed(format!(
                "table {} did not become ACTIVE within 5 minutes",
                ctx.spec.table()
            ))
            .with_hint("run deploy again: it continues where it stopped"));
        }
        task.set(format!(
            "waiting for the table to be ACTIVE ({})",
            status.map(|s| s.as_str().to_owned()).unwrap_or_default()
        ));
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

pub async fn ensure(ctx: &Ctx<'_>) -> Result<Resource> {
    let name = ctx.spec.table();
    let task = ctx.progress.task(format!("{KIND} {name}"));
    task.set("describing");
    let db = &ctx.clients.dynamodb;
    let Some(table) = describe(ctx).await? else {
        if !ctx.dry_run {
            task.set("creating");
            wschat_lambdas::dynamo::create_table(db, &name, tags(ctx))
                .await
                .map_err(|e| CliError::failed(format!("creating table {name}: {e}")))?;
            wait_active(ctx, &task).await?;
            enable_ttl(db, &name)
                .await
                .map_err(|e| CliError::failed(format!("enabling TTL on {name}: {e}")))?;
        }
        return Ok(finish(
            ctx,
            &task,
            Resource::new(KIND, name, Change::Created),
        ));
    };
    let arn = table
        .table_arn
        .clone()
        .unwrap_or_else(|| ctx.spec.table_arn());
    let current = current_tags(ctx, &arn).await?;
    if !ctx.spec.owns(&current) {
        return Ok(finish(
            ctx,
            &task,
            Resource::new(KIND, name, Change::Foreign),
        ));
    }
    let mut fields = Vec::new();
    let on_demand = table
        .billing_mode_summary
        .as_ref()
        .and_then(|b| b.billing_mode.clone())
        == Some(BillingMode::PayPerRequest);
    if !on_demand {
        fields.push("billing mode".to_owned());
    }
    let present: Vec<&str> = table
        .global_secondary_indexes()
        .iter()
        .filter_map(|i| i.index_name.as_deref())
        .collect();
    let missing: Vec<(&str, &str)> = INDEXES
        .into_iter()
        .filter(|(index, _)| !present.contains(index))
        .collect();
    fields.extend(missing.iter().map(|(index, _)| format!("index {index}")));
    let ttl = db
        .describe_time_to_live()
        .table_name(&name)
        .send()
        .await
        .map_err(|e| aws_error("DynamoDB DescribeTimeToLive", &name, e))?;
    let ttl = ttl.time_to_live_description;
    let ttl_on = ttl.as_ref().is_some_and(|t| {
        matches!(
            t.time_to_live_status,
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
        ) && t.attribute_name.as_deref() == Some(TTL_ATTRIBUTE)
    });
    if !ttl_on {
        fields.push("ttl".to_owned());
    }
    if fields.is_empty() {
        return Ok(finish(
            ctx,
            &task,
            Resource::new(KIND, name, Change::Unchanged),
        ));
    }
    if !ctx.dry_run {
        task.set("updating");
        if !on_demand {
            db.update_table()
                .table_name(&name)
                .billing_mode(BillingMode::PayPerRequest)
                .send()
                .await
                .map_err(|e| aws_error("DynamoDB UpdateTable", &name, e))?;
            wait_active(ctx, &task).await?;
        }
        // DynamoDB adds one index per update.
        for (index, attribute) in missing {
            let create = CreateGlobalSecondaryIndexAction::builder()
                .index_name(index)
                .key_schema(hash_key(attribute))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .expect("name, keys and projection set");
            db.update_table()
                .table_name(&name)
                .attribute_definitions(string_attr(attribute))
                .global_secondary_index_updates(
                    GlobalSecondaryIndexUpdate::builder().create(create).build(),
                )
                .send()
                .await
                .map_err(|e| aws_error("DynamoDB UpdateTable", &name, e))?;
            wait_active(ctx, &task).await?;
        }
        if !ttl_on {
            enable_ttl(db, &name)
                .await
                .map_err(|e| CliError::failed(format!("enabling TTL on {name}: {e}")))?;
        }
    }
    Ok(finish(
        ctx,
        &task,
        Resource::new(KIND, name, Change::Updated { fields }),
    ))
}

/// How many connections the table holds (a paginated COUNT scan), if it exists.
pub async fn count_connections(ctx: &Ctx<'_>) -> Result<Option<u64>> {
    let name = ctx.spec.table();
    let mut total = 0u64;
    let mut start = None;
    loop {
        let out = match ctx
            .clients
            .dynamodb
            .scan()
            .table_name(&name)
            .select(Select::Count)
            .set_exclusive_start_key(start)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(is_not_found) => return Ok(None),
            Err(e) => return Err(aws_error("DynamoDB Scan", &name, e)),
        };
        total += out.count.max(0) as u64;
        match out.last_evaluated_key.filter(|k| !k.is_empty()) {
            Some(key) => start = Some(key),
            None => return Ok(Some(total)),
        }
    }
}

pub async fn delete(ctx: &Ctx<'_>) -> Result<Resource> {
    let name = ctx.spec.table();
    let task = ctx.progress.task(format!("{KIND} {name}"));
    let Some(table) = describe(ctx).await? else {
        return Ok(finish(
            ctx,
            &task,
            Resource::new(KIND, name, Change::Absent),
        ));
    };
    let arn = table
        .table_arn
        .clone()
        .unwrap_or_else(|| ctx.spec.table_arn());
    if !ctx.spec.owns(&current_tags(ctx, &arn).await?) {
        return Ok(finish(
            ctx,
            &task,
            Resource::new(KIND, name, Change::Foreign),
        ));
    }
    if !ctx.dry_run {
        task.set("deleting");
        match ctx
            .clients
            .dynamodb
            .delete_table()
            .table_name(&name)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(is_not_found) => {}
            Err(e) => return Err(aws_error("DynamoDB DeleteTable", &name, e)),
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
        while describe(ctx).await?.is_some() {
            if tokio::time::Instant::now() > deadline {
                return Err(CliError::failed(format!(
                    "table {name} is still being deleted after 5 minutes"
                ))
                .with_hint("run teardown again later"));
            }
            task.set("waiting for the table to be gone");
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
    Ok(finish(
        ctx,
        &task,
        Resource::new(KIND, name, Change::Deleted),
    ))
}

/// Whether this stack's table exists (and is this stack's).
pub async fn owned(ctx: &Ctx<'_>) -> Result<bool> {
    match describe(ctx).await? {
        Some(table) => {
            let arn = table.table_arn.unwrap_or_else(|| ctx.spec.table_arn());
            Ok(ctx.spec.owns(&current_tags(ctx, &arn).await?))
        }
        None => Ok(false),
    }
}
