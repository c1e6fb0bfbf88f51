//! The stack on AWS: one module per resource, the deploy and teardown
//! drivers, and status.
//!
//! # One contract per resource
//!
//! Every resource module (`table`, `logs`, `role`, `policy`, `secret`,
//! `queue`, `function`, `invoke_config`, `permission`, `api`, `stage`,
//! `routing`, `topic`, `alarms`, `dashboard`; `domain`'s `certificate`,
//! `dns`, `gateway`) has the same parts, named the same way (`domain` splits
//! `ensure` in two, `prepare` and `finish`, around the stage's creation):
//!
//! - `find(stack, …) -> Result<Option<Found>>`: the resource as AWS has it,
//!   typed; absent is `None`, never an error (through [`crate::aws::or_absent`]).
//! - `XDiff::between(&found, &wanted) -> XDiff`: pure; what differs, with
//!   `is_empty()` and `fields()` (the report's words). Unit-tested beside it.
//! - `ensure(ctx, …) -> Result<Resource>`: find, then create, update only
//!   what the diff names, or nothing; a dry run stops before any write; a
//!   resource named like ours but tagged as another stack's is
//!   [`Change::Foreign`] and never touched.
//! - `delete(ctx, …) -> Result<Vec<Resource>>`: what it removed; absent is done.
//! - `leftovers(stack) -> Result<Vec<Leftover>>`: what of this stack's names
//!   and tags still exists; teardown's check is the join of every module's.
//!
//! A resource that lives and dies with its parent (the stage, integrations
//! and routes with the API; a function's permission and invoke config with
//! the function) has
//! no `delete` or `leftovers` of its own: its parent's stand for it.
//!
//! Waiting is [`wschat_lambdas::retry`]'s: `retry` for calls that may fail
//! for a while (IAM propagation, throttling, 409s), `poll_until` for a state.
//!
//! ## Adding a resource
//!
//! 1. The spec: its name, tags and policies in `spec/` (named from the stack's
//!    prefix, tagged `wschat:stack` / `wschat:stage`), and the CLI's own
//!    permissions where the README lists them.
//! 2. `stack/x.rs` with the five parts above.
//! 3. The deploy graph (`deploy.rs`): what it waits for, and what waits for it.
//! 4. Teardown (`teardown.rs`): its place in the order, and its leftovers in
//!    [`teardown::leftovers`].
//! 5. Status (`status.rs`) words its dry run; nothing more to do there.
//! 6. Tests: unit tests on the diff; the e2e deploy test checks it with the
//!    module's own `find` (`tests/e2e/checks.rs`), a redeploy writes nothing,
//!    teardown leaves nothing.
//! 7. The realism layer (`tests/support/src/realism.rs`): what AWS does with
//!    it that moto does not (eventual consistency, states, throttling).

pub mod account;
pub mod alarms;
pub mod api;
pub mod dashboard;
pub mod deploy;
pub mod domain;
pub mod function;
pub mod health;
pub mod invoke_config;
pub mod logs;
pub mod permission;
pub mod policy;
pub mod queue;
pub mod role;
pub mod routing;
pub mod secret;
pub mod stage;
pub mod status;
pub mod table;
pub mod teardown;
pub mod topic;
pub mod waits;

use crate::aws::{self, AwsConfig, Clients};
use crate::error::Result;
use crate::progress::{Progress, Task};
use crate::spec::{Settings, StackId, StackSpec};
use serde::Serialize;
use std::fmt;
use wschat_lambdas::auth::AuthSettings;

/// A stack located in one account and region: enough to look anything of it up.
pub struct Stack {
    pub clients: Clients,
    pub spec: StackSpec,
}

/// Credentials, region and account, then the spec. The id was validated when
/// it was made, so a bad name never costs an AWS call.
pub async fn open(id: &StackId, aws: &AwsConfig, settings: Settings) -> Result<Stack> {
    let clients = aws::connect(aws).await?;
    let account = aws::account_id(&clients).await?;
    let spec = StackSpec::new(id, &clients.region, &account, settings);
    Ok(Stack { clients, spec })
}

/// What one command run does to the stack: the stack, how to show progress,
/// and whether to write. Lookups that need none of that take a [`Stack`].
pub struct Ctx<'a> {
    pub stack: &'a Stack,
    pub progress: &'a Progress,
    /// Describe only: report what would change, write nothing.
    pub dry_run: bool,
    /// Return instead of waiting for what only the world outside can do (a
    /// certificate's DNS validation at the user's DNS provider).
    pub no_wait: bool,
}

/// A run's context reads as the stack it acts on (`ctx.spec`, `ctx.clients`).
impl std::ops::Deref for Ctx<'_> {
    type Target = Stack;

    fn deref(&self) -> &Stack {
        self.stack
    }
}

/// Which stack a report is about.
#[derive(Debug, Serialize)]
pub struct Located {
    /// `{name}-{stage}`.
    pub stack: String,
    pub region: String,
}

impl Located {
    pub fn of(spec: &StackSpec) -> Located {
        Located {
            stack: spec.prefix(),
            region: spec.region.clone(),
        }
    }
}

impl std::fmt::Display for Located {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} in {}", self.stack, self.region)
    }
}

/// Where clients connect; `None` while the API does not exist.
#[derive(Debug, Serialize)]
pub struct Endpoints {
    /// The custom domain's URL once it is live, else the execute-api URL.
    pub websocket_url: Option<String>,
    /// The API's own URL, which keeps working beside a custom domain.
    pub execute_api_url: Option<String>,
    pub connections_url: Option<String>,
}

impl Endpoints {
    pub fn of(
        spec: &StackSpec,
        api_id: Option<&str>,
        domain: Option<&domain::DomainReport>,
    ) -> Endpoints {
        let execute_api_url = api_id.map(|id| spec.websocket_url(id));
        let custom = domain.filter(|d| d.live).map(|d| d.url.clone());
        Endpoints {
            websocket_url: custom.or(execute_api_url.clone()),
            execute_api_url,
            connections_url: api_id.map(|id| spec.connections_url(id)),
        }
    }

    /// The lines of a report: the URL clients use, the API's own beside a
    /// custom domain, `@connections`.
    pub fn lines(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (Some(ws), Some(connections)) = (&self.websocket_url, &self.connections_url) else {
            return Ok(());
        };
        writeln!(f, "\n  WebSocket     {ws}")?;
        if let Some(own) = self.execute_api_url.as_ref().filter(|own| *own != ws) {
            writeln!(f, "  execute-api   {own}")?;
        }
        writeln!(f, "  @connections  {connections}")
    }
}

/// Who may connect, for deploy's and status's reports.
#[derive(Debug, Serialize)]
pub struct AuthSummary {
    pub mode: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_origins: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt_issuer: Option<String>,
}

impl AuthSummary {
    pub fn of(settings: &AuthSettings) -> Self {
        AuthSummary {
            mode: settings.mode.to_string(),
            allowed_origins: settings.allowed_origins.clone(),
            jwt_issuer: settings.jwt.as_ref().map(|j| j.issuer.clone()),
        }
    }
}

/// One line on who may connect, plain about open mode's unverified names.
impl fmt::Display for AuthSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.mode.as_str(), &self.jwt_issuer) {
            ("token", _) => write!(
                f,
                "token (names come from tokens this stack signs: `wschat token --user NAME`)"
            )?,
            ("jwt", Some(issuer)) => write!(f, "jwt (names come from tokens issued by {issuer})")?,
            _ => write!(
                f,
                "open (names are unverified display names: anyone can connect as anyone)"
            )?,
        }
        if !self.allowed_origins.is_empty() {
            write!(
                f,
                "; browsers only from {}",
                self.allowed_origins.join(", ")
            )?;
        }
        Ok(())
    }
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

impl Ctx<'_> {
    /// One resource's step of the run: a progress line labelled `{kind} {name}`
    /// while `work` converges it, finished with the change it reports.
    pub async fn track(
        &self,
        kind: &'static str,
        name: impl Into<String>,
        work: impl AsyncFnOnce(&Task) -> Result<Change>,
    ) -> Result<Resource> {
        let name = name.into();
        let task = self.progress.task(format!("{kind} {name}"));
        let resource = Resource::new(kind, name, work(&task).await?);
        task.finish(resource.describe(self.dry_run));
        Ok(resource)
    }

    /// Teardown's shape for every resource: absent is done, another stack's is
    /// left alone, ours is deleted (`delete` treats "already gone" as done).
    pub async fn remove(
        &self,
        kind: &'static str,
        name: impl Into<String>,
        ownership: impl std::future::Future<Output = Result<Ownership>>,
        delete: impl AsyncFnOnce(&Task) -> Result<()>,
    ) -> Result<Resource> {
        self.track(kind, name, async |task| match ownership.await? {
            Ownership::Absent => Ok(Change::Absent),
            Ownership::Foreign => Ok(Change::Foreign),
            Ownership::Ours => {
                if !self.dry_run {
                    task.set("deleting");
                    delete(task).await?;
                }
                Ok(Change::Deleted)
            }
        })
        .await
    }
}

/// Something of this stack's names and tags that still exists after a teardown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    pub kind: &'static str,
    pub name: String,
}

impl Leftover {
    pub fn new(kind: &'static str, name: impl Into<String>) -> Self {
        Leftover {
            kind,
            name: name.into(),
        }
    }
}

impl fmt::Display for Leftover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.name)
    }
}

/// Whose a resource with this stack's name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    Absent,
    /// Named like ours, tagged as another stack's (or untagged).
    Foreign,
    Ours,
}

impl Ownership {
    /// From a lookup: `None` when absent, else whether the tags say it is ours.
    pub fn of<T>(found: Option<T>, ours: impl FnOnce(&T) -> bool) -> Ownership {
        match found {
            None => Ownership::Absent,
            Some(it) if ours(&it) => Ownership::Ours,
            Some(_) => Ownership::Foreign,
        }
    }
}
