//! The stack on AWS: one module per resource (describe / ensure / delete),
//! the deploy and teardown drivers, and status.

pub mod api;
pub mod deploy;
pub mod functions;
pub mod logs;
pub mod package;
pub mod role;
pub mod status;
pub mod table;
pub mod teardown;

use crate::aws::{self, Clients};
use crate::cli::Global;
use crate::error::Result;
use crate::progress::Progress;
use crate::spec::StackSpec;
use crate::spec::{self, Settings};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde::Serialize;

/// Names are checked before any AWS call; then credentials, region and account.
pub async fn open(global: &Global, settings: Settings) -> Result<(Clients, StackSpec)> {
    spec::validate_name(&global.name)?;
    spec::validate_stage(&global.stage)?;
    let clients = aws::connect(global).await?;
    let account = aws::account_id(&clients).await?;
    let spec = StackSpec::new(
        &global.name,
        &global.stage,
        &clients.region,
        &account,
        settings,
    )?;
    Ok((clients, spec))
}

/// What one command run does to the stack.
pub struct Ctx<'a> {
    pub clients: &'a Clients,
    pub spec: &'a StackSpec,
    pub progress: &'a Progress,
    /// Describe only: report what would change, write nothing.
    pub dry_run: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    Unchanged,
    Created,
    Updated {
        fields: Vec<String>,
    },
    Deleted,
    /// Teardown found nothing to delete.
    Absent,
    /// Named like this stack's but tagged as another's (or untagged): never touched.
    Foreign,
}

#[derive(Debug, Clone, Serialize)]
pub struct Resource {
    pub kind: &'static str,
    pub name: String,
    #[serde(flatten)]
    pub change: Change,
}

impl Resource {
    pub fn new(kind: &'static str, name: impl Into<String>, change: Change) -> Resource {
        Resource {
            kind,
            name: name.into(),
            change,
        }
    }

    /// One aligned line of a deploy or teardown report.
    pub fn row(&self, dry_run: bool) -> String {
        format!(
            "  {:<13} {:<48} {}",
            self.kind,
            self.name,
            self.describe(dry_run)
        )
    }

    /// The words for a deploy (or its dry run) and for status.
    pub fn describe(&self, dry_run: bool) -> String {
        match (&self.change, dry_run) {
            (Change::Unchanged, _) => "unchanged".to_owned(),
            (Change::Created, false) => "created".to_owned(),
            (Change::Created, true) => "would create".to_owned(),
            (Change::Updated { fields }, false) => format!("updated: {}", fields.join(", ")),
            (Change::Updated { fields }, true) => format!("would update: {}", fields.join(", ")),
            (Change::Deleted, false) => "deleted".to_owned(),
            (Change::Deleted, true) => "would delete".to_owned(),
            (Change::Absent, _) => "absent".to_owned(),
            (Change::Foreign, _) => {
                "exists but is not tagged as this stack's: left alone".to_owned()
            }
        }
    }
}

/// The "does not exist" answers of the services wschat calls.
pub fn is_not_found<E: ProvideErrorMetadata>(e: &E) -> bool {
    matches!(
        e.code(),
        Some(
            "ResourceNotFoundException" | "NoSuchEntity" | "NotFoundException" | "ResourceNotFound"
        )
    )
}

/// Sorted, for stable comparisons and output.
pub fn sorted<T: Ord>(mut items: Vec<T>) -> Vec<T> {
    items.sort();
    items
}

/// A report task line per resource, finished with the resource's outcome.
pub fn finish(ctx: &Ctx<'_>, task: &crate::progress::Task, resource: Resource) -> Resource {
    task.finish(resource.describe(ctx.dry_run));
    resource
}
