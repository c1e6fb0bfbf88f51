//! The stack's two tables, one contract: the connections table (on demand,
//! TTL on `ttl`, GSIs on room, room shard and username) and the messages
//! table (history and sanctions: `pk`/`sk`, TTL on `expiresAt`, a KEYS_ONLY
//! GSI on `id`). The chat's code reads and writes them
//! (`wschat_lambdas::dynamo`, `wschat_lambdas::dynamo_history`); this module
//! creates, converges and deletes them.

use super::{Change, Ctx, Leftover, Ownership, Resource, Stack};
use crate::aws::{checked, created, or_absent};
use crate::error::{CliError, Result};
use crate::progress::Task;
use crate::spec::{StackId, StackSpec};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndex,
    GlobalSecondaryIndexUpdate, IndexStatus, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TableDescription, TableStatus, Tag, TimeToLiveDescription,
    TimeToLiveSpecification, TimeToLiveStatus,
};
use aws_sdk_dynamodb::Client;
use serde::Serialize;
use std::collections::HashMap;
use std::time::Duration;
use wschat_lambdas::retry::{poll_until, Unsettled};
use wschat_lambdas::{dynamo, history};

const KIND: &str = "table";
/// How long a table may stay CREATING, UPDATING or DELETING.
const SETTLE_DEADLINE: Duration = Duration::from_secs(300);

/// Which of the stack's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Connections,
    Messages,
}

/// A global secondary index: its name, the attribute it is keyed on, and
/// whether it carries whole rows or only their keys.
type Index = (&'static str, &'static str, ProjectionType);

impl Table {
    pub const ALL: [Table; 2] = [Table::Connections, Table::Messages];

    pub fn name(self, id: &StackId) -> String {
        match self {
            Table::Connections => id.table(),
            Table::Messages => id.messages_table(),
        }
    }

    fn arn(self, spec: &StackSpec) -> String {
        match self {
            Table::Connections => spec.table_arn(),
            Table::Messages => spec.messages_table_arn(),
        }
    }

    /// The partition key, and the sort key if any.
    fn keys(self) -> (&'static str, Option<&'static str>) {
        match self {
            Table::Connections => (dynamo::KEY, None),
            Table::Messages => (history::KEY, Some(history::SORT)),
        }
    }

    fn indexes(self) -> Vec<Index> {
        match self {
            Table::Connections => dynamo::INDEXES
                .iter()
                .map(|(index, attribute)| (*index, *attribute, ProjectionType::All))
                .collect(),
            Table::Messages => vec![(history::ID_INDEX, history::ID, ProjectionType::KeysOnly)],
        }
    }

    fn ttl_attribute(self) -> &'static str {
        match self {
            Table::Connections => dynamo::TTL_ATTRIBUTE,
            Table::Messages => history::EXPIRES,
        }
    }
}

/// A string attribute as a key: its definition and its key schema.
fn string_key(name: &str, key_type: KeyType) -> (AttributeDefinition, KeySchemaElement) {
    let definition = AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build();
    let key = KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build();
    (
        definition.expect("name and type are set"),
        key.expect("name and type are set"),
    )
}

fn projection(kind: ProjectionType) -> Projection {
    Projection::builder().projection_type(kind).build()
}

/// Creates one of the tables (on demand, with its indexes) and turns on
/// its TTL. Deploy and `wschat dev --dynamodb-endpoint` make the same tables.
pub async fn create(
    client: &Client,
    which: Table,
    table: &str,
    tags: HashMap<String, String>,
) -> Result<()> {
    let (hash, range) = which.keys();
    let (definition, key) = string_key(hash, KeyType::Hash);
    let mut create = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(definition)
        .key_schema(key);
    if let Some(range) = range {
        let (definition, key) = string_key(range, KeyType::Range);
        create = create.attribute_definitions(definition).key_schema(key);
    }
    for (index, attribute, kind) in which.indexes() {
        let (definition, key) = string_key(attribute, KeyType::Hash);
        let index = GlobalSecondaryIndex::builder()
            .index_name(index)
            .key_schema(key)
            .projection(projection(kind))
            .build();
        create = create
            .attribute_definitions(definition)
            .global_secondary_indexes(index.expect("name and key schema are set"));
    }
    let mut tags: Vec<Tag> = tags
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
    let request = create.set_tags(Some(tags).filter(|t| !t.is_empty()));
    // Already there: a lost reply's retry, or a concurrent deploy; the caller waits for it either way.
    created(request.send().await, "DynamoDB CreateTable", table)?;
    Ok(())
}

/// Lets DynamoDB expire rows: connections whose `$disconnect` never ran,
/// messages past their retention.
pub async fn enable_ttl(client: &Client, which: Table, table: &str) -> Result<()> {
    let request = client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(which.ttl_attribute())
                .enabled(true)
                .build()
                .expect("name and flag are set"),
        );
    match request.send().await {
        // Another deploy of this stack got there first.
        Err(e)
            if e.as_service_error().is_some_and(|e| {
                e.meta().code() == Some("ValidationException")
                    && e.meta()
                        .message()
                        .is_some_and(|m| m.contains("already enabled"))
            }) => {}
        answer => {
            checked(answer, "DynamoDB UpdateTimeToLive", table)?;
        }
    }
    Ok(())
}

async fn current_tags(
    stack: &Stack,
    which: Table,
    table: &TableDescription,
) -> Result<HashMap<String, String>> {
    let arn = table
        .table_arn
        .clone()
        .unwrap_or_else(|| which.arn(&stack.spec));
    let request = stack
        .clients
        .dynamodb
        .list_tags_of_resource()
        .resource_arn(&arn);
    let out = checked(request.send().await, "DynamoDB ListTagsOfResource", &arn)?;
    Ok(out
        .tags
        .unwrap_or_default()
        .into_iter()
        .map(|t| (t.key, t.value))
        .collect())
}

/// The table as it is, or `None`.
pub async fn find(stack: &Stack, which: Table) -> Result<Option<TableDescription>> {
    let name = which.name(&stack.spec.id);
    let request = stack.clients.dynamodb.describe_table().table_name(&name);
    let out = or_absent(request.send().await, "DynamoDB DescribeTable", &name)?;
    Ok(out.and_then(|o| o.table))
}

/// Whether the table and every index accept writes.
fn settled(table: &TableDescription) -> bool {
    table.table_status == Some(TableStatus::Active)
        && table.global_secondary_indexes().iter().all(|i| {
            i.index_status
                .as_ref()
                .is_none_or(|s| *s == IndexStatus::Active)
        })
}

/// Polls until `done` holds for the table (or its absence). The SDK's table
/// waiters do not look at index status and poll no sooner than every 20 s,
/// which would add most of a minute to a deploy that adds an index.
async fn wait_until(
    ctx: &Ctx<'_>,
    which: Table,
    task: &Task,
    what: &str,
    done: impl Fn(Option<&TableDescription>) -> bool,
) -> Result<()> {
    let probe = || async {
        let table = find(ctx, which).await?;
        if done(table.as_ref()) {
            return Ok(Some(()));
        }
        let status = table
            .and_then(|t| t.table_status)
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default();
        task.set(format!("waiting for the table to be {what} ({status})"));
        Ok(None)
    };
    poll_until(Duration::from_secs(2), SETTLE_DEADLINE, probe)
        .await
        .map_err(|e| match e {
            Unsettled::Failed(e) => e,
            Unsettled::TimedOut => CliError::failed(format!(
                "table {} is not {what} after {} s",
                which.name(&ctx.spec.id),
                SETTLE_DEADLINE.as_secs()
            ))
            .with_hint("run the command again later: it continues where it stopped"),
        })
}

async fn wait_active(ctx: &Ctx<'_>, which: Table, task: &Task) -> Result<()> {
    wait_until(ctx, which, task, "ACTIVE", |t| t.is_some_and(settled)).await
}

/// What differs between a table as it is and as the chat needs it.
#[derive(Debug, Default, PartialEq)]
pub struct TableDiff {
    pub billing_mode: bool,
    /// Indexes to add: (index, attribute, projection).
    pub missing_indexes: Vec<Index>,
    pub ttl: bool,
}

impl TableDiff {
    pub fn between(
        which: Table,
        table: &TableDescription,
        ttl: Option<&TimeToLiveDescription>,
    ) -> TableDiff {
        let on_demand = table
            .billing_mode_summary
            .as_ref()
            .and_then(|b| b.billing_mode.as_ref())
            == Some(&BillingMode::PayPerRequest);
        let present: Vec<&str> = table
            .global_secondary_indexes()
            .iter()
            .filter_map(|i| i.index_name.as_deref())
            .collect();
        let ttl_on = ttl.is_some_and(|t| {
            matches!(
                t.time_to_live_status,
                Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
            ) && t.attribute_name.as_deref() == Some(which.ttl_attribute())
        });
        TableDiff {
            billing_mode: !on_demand,
            missing_indexes: which
                .indexes()
                .into_iter()
                .filter(|(index, ..)| !present.contains(index))
                .collect(),
            ttl: !ttl_on,
        }
    }

    pub fn fields(&self) -> Vec<String> {
        let mut fields = Vec::new();
        if self.billing_mode {
            fields.push("billing mode".to_owned());
        }
        fields.extend(
            self.missing_indexes
                .iter()
                .map(|(i, ..)| format!("index {i}")),
        );
        if self.ttl {
            fields.push("ttl".to_owned());
        }
        fields
    }
}

async fn update(ctx: &Ctx<'_>, which: Table, task: &Task, diff: &TableDiff) -> Result<()> {
    let name = which.name(&ctx.spec.id);
    let db = &ctx.clients.dynamodb;
    task.set("updating");
    if diff.billing_mode {
        let request = db
            .update_table()
            .table_name(&name)
            .billing_mode(BillingMode::PayPerRequest);
        checked(request.send().await, "DynamoDB UpdateTable", &name)?;
        wait_active(ctx, which, task).await?;
    }
    // DynamoDB adds one index per update.
    for (index, attribute, kind) in &diff.missing_indexes {
        let (definition, key) = string_key(attribute, KeyType::Hash);
        let create = CreateGlobalSecondaryIndexAction::builder()
            .index_name(*index)
            .key_schema(key)
            .projection(projection(kind.clone()))
            .build()
            .expect("name, keys and projection set");
        let request = db
            .update_table()
            .table_name(&name)
            .attribute_definitions(definition)
            .global_secondary_index_updates(
                GlobalSecondaryIndexUpdate::builder().create(create).build(),
            );
        checked(request.send().await, "DynamoDB UpdateTable", &name)?;
        wait_active(ctx, which, task).await?;
    }
    if diff.ttl {
        enable_ttl(db, which, &name).await?;
    }
    Ok(())
}

pub async fn ensure(ctx: &Ctx<'_>, which: Table) -> Result<Resource> {
    let name = which.name(&ctx.spec.id);
    let db = &ctx.clients.dynamodb;
    ctx.track(KIND, &name, async |task| {
        task.set("describing");
        let Some(mut table) = find(ctx, which).await? else {
            if !ctx.dry_run {
                task.set("creating");
                create(db, which, &name, ctx.spec.tags()).await?;
                wait_active(ctx, which, task).await?;
                enable_ttl(db, which, &name).await?;
            }
            return Ok(Change::Created);
        };
        // Still being created or updated (another deploy at work): DynamoDB
        // refuses changes until it settles, and its TTL may not be on yet.
        if !ctx.dry_run && !settled(&table) {
            wait_active(ctx, which, task).await?;
            table = find(ctx, which).await?.unwrap_or(table);
        }
        if !ctx.spec.owns(&current_tags(ctx, which, &table).await?) {
            return Ok(Change::Foreign);
        }
        let ttl = checked(
            db.describe_time_to_live().table_name(&name).send().await,
            "DynamoDB DescribeTimeToLive",
            &name,
        )?;
        let diff = TableDiff::between(which, &table, ttl.time_to_live_description.as_ref());
        if diff == TableDiff::default() {
            return Ok(Change::Unchanged);
        }
        if !ctx.dry_run {
            update(ctx, which, task, &diff).await?;
        }
        Ok(Change::Updated {
            fields: diff.fields(),
        })
    })
    .await
}

/// The stored connections and the largest room.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Census {
    pub connections: u64,
    /// The room with the most members, and how many.
    pub largest_room: Option<(String, u64)>,
}

/// Counts the rows and the members of each room: one scan reading only the
/// room (a scan costs the same read units whatever it projects), `None`
/// without a table.
pub async fn census(stack: &Stack) -> Result<Option<Census>> {
    let name = stack.spec.table();
    let mut rooms: HashMap<String, u64> = HashMap::new();
    let mut connections = 0u64;
    let mut start = None;
    loop {
        let request = stack
            .clients
            .dynamodb
            .scan()
            .table_name(&name)
            .projection_expression("#room")
            .expression_attribute_names("#room", "room")
            .set_exclusive_start_key(start);
        let out = or_absent(request.send().await, "DynamoDB Scan", &name)?;
        let Some(out) = out else { return Ok(None) };
        for item in out.items() {
            connections += 1;
            if let Some(room) = item.get("room").and_then(|r| r.as_s().ok()) {
                *rooms.entry(room.clone()).or_default() += 1;
            }
        }
        match out.last_evaluated_key.filter(|k| !k.is_empty()) {
            Some(key) => start = Some(key),
            None => break,
        }
    }
    let largest_room = rooms
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)));
    Ok(Some(Census {
        connections,
        largest_room,
    }))
}

/// Whose the table named like this stack's is.
async fn ownership(stack: &Stack, which: Table) -> Result<Ownership> {
    Ok(match find(stack, which).await? {
        None => Ownership::Absent,
        Some(table) if stack.spec.owns(&current_tags(stack, which, &table).await?) => {
            Ownership::Ours
        }
        Some(_) => Ownership::Foreign,
    })
}

/// Both tables, at once.
pub async fn delete(ctx: &Ctx<'_>) -> Result<Vec<Resource>> {
    futures_util::future::try_join_all(Table::ALL.map(|which| delete_one(ctx, which))).await
}

async fn delete_one(ctx: &Ctx<'_>, which: Table) -> Result<Resource> {
    let name = which.name(&ctx.spec.id);
    let removed = ctx.remove(KIND, &name, ownership(ctx, which), async |task| {
        let request = ctx.clients.dynamodb.delete_table().table_name(&name);
        or_absent(request.send().await, "DynamoDB DeleteTable", &name)?;
        wait_until(ctx, which, task, "gone", |t| t.is_none()).await
    });
    removed.await
}

/// The tables that are still there and this stack's.
pub async fn leftovers(stack: &Stack) -> Result<Vec<Leftover>> {
    let mut left = Vec::new();
    for which in Table::ALL {
        if ownership(stack, which).await? == Ownership::Ours {
            left.push(Leftover::new(KIND, which.name(&stack.spec.id)));
        }
    }
    Ok(left)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::{BillingModeSummary, GlobalSecondaryIndexDescription};

    fn table(billing: BillingMode, indexes: &[&str]) -> TableDescription {
        TableDescription::builder()
            .billing_mode_summary(BillingModeSummary::builder().billing_mode(billing).build())
            .set_global_secondary_indexes(Some(
                indexes
                    .iter()
                    .map(|i| {
                        GlobalSecondaryIndexDescription::builder()
                            .index_name(*i)
                            .build()
                    })
                    .collect(),
            ))
            .build()
    }

    fn ttl(status: TimeToLiveStatus, attribute: &str) -> TimeToLiveDescription {
        TimeToLiveDescription::builder()
            .time_to_live_status(status)
            .attribute_name(attribute)
            .build()
    }

    const ALL: [&str; 3] = ["room-index", "room-shard-index", "username-index"];

    #[test]
    fn a_table_as_deploy_makes_it_needs_nothing() {
        let on = ttl(TimeToLiveStatus::Enabled, "ttl");
        let diff = TableDiff::between(
            Table::Connections,
            &table(BillingMode::PayPerRequest, &ALL),
            Some(&on),
        );
        assert_eq!(diff, TableDiff::default());
        let expires = ttl(TimeToLiveStatus::Enabled, "expiresAt");
        let messages = table(BillingMode::PayPerRequest, &["id-index"]);
        let diff = TableDiff::between(Table::Messages, &messages, Some(&expires));
        assert_eq!(diff, TableDiff::default());
        let enabling = ttl(TimeToLiveStatus::Enabling, "ttl");
        let diff = TableDiff::between(
            Table::Connections,
            &table(BillingMode::PayPerRequest, &ALL),
            Some(&enabling),
        );
        assert!(diff.fields().is_empty(), "TTL on its way counts as on");
    }

    #[test]
    fn billing_each_index_and_ttl_are_differences() {
        let on = ttl(TimeToLiveStatus::Enabled, "ttl");
        let provisioned = TableDiff::between(
            Table::Connections,
            &table(BillingMode::Provisioned, &ALL),
            Some(&on),
        );
        assert_eq!(provisioned.fields(), ["billing mode"]);

        let no_username = TableDiff::between(
            Table::Connections,
            &table(
                BillingMode::PayPerRequest,
                &["room-index", "room-shard-index"],
            ),
            Some(&on),
        );
        assert_eq!(
            no_username.missing_indexes,
            [("username-index", "username", ProjectionType::All)]
        );
        assert_eq!(no_username.fields(), ["index username-index"]);
        let none = TableDiff::between(
            Table::Connections,
            &table(BillingMode::PayPerRequest, &[]),
            Some(&on),
        );
        assert_eq!(
            none.fields(),
            [
                "index room-index",
                "index room-shard-index",
                "index username-index"
            ]
        );

        for off in [
            None,
            Some(ttl(TimeToLiveStatus::Disabled, "ttl")),
            Some(ttl(TimeToLiveStatus::Enabled, "expires")),
        ] {
            let diff = TableDiff::between(
                Table::Connections,
                &table(BillingMode::PayPerRequest, &ALL),
                off.as_ref(),
            );
            assert_eq!(diff.fields(), ["ttl"], "{off:?}");
        }
    }

    #[test]
    fn a_table_is_settled_once_it_and_its_indexes_are_active() {
        let index = |status| {
            GlobalSecondaryIndexDescription::builder()
                .index_name("room-index")
                .index_status(status)
                .build()
        };
        let with = |table: TableStatus, idx: IndexStatus| {
            TableDescription::builder()
                .table_status(table)
                .global_secondary_indexes(index(idx))
                .build()
        };
        assert!(settled(&with(TableStatus::Active, IndexStatus::Active)));
        assert!(!settled(&with(TableStatus::Active, IndexStatus::Creating)));
        assert!(!settled(&with(TableStatus::Creating, IndexStatus::Active)));
        assert!(!settled(&with(TableStatus::Updating, IndexStatus::Active)));
    }
}
