//! Operating a live stack: connections, broadcast, logs. Each works against
//! AWS (the stack's table and `@connections`) or a running `wschat dev` (`--local`).

pub mod broadcast;
pub mod connections;
pub mod handoff;
pub mod local;
pub mod logs;
pub mod moderation;
pub mod redrive;
pub mod token;

use crate::aws::AwsConfig;
use crate::error::{CliError, Result};
use crate::spec::{Settings, StackId};
use crate::stack::{self, Stack};
use local::HttpStore;
use std::time::Duration;
use wschat_lambdas::dynamo::DynamoStore;
use wschat_lambdas::gateway::ManagementGateway;
use wschat_lambdas::store::{ConnectionStore, EitherStore, Filter, StoreError};

pub use local::DEFAULT_LOCAL_URL;

pub type OpsStore = EitherStore<DynamoStore, HttpStore>;

/// Where an ops command acts.
pub struct Target {
    /// "wschat-dev in eu-west-1" or "wschat dev at http://127.0.0.1:8080".
    pub label: String,
    pub store: OpsStore,
    pub gateway: ManagementGateway,
    /// The stage's `@connections` endpoint, as delivery workers are told it.
    pub endpoint: String,
    pub backend: Backend,
}

/// What is behind a target beyond its connections and `@connections`.
#[allow(clippy::large_enum_variant)] // one per command run
pub enum Backend {
    /// The deployed stack (its logs are in CloudWatch).
    Aws(Stack),
    /// A running `wschat dev` (its logs are served by the sandbox).
    Local(HttpStore),
}

/// Where the command was told to act.
pub enum Place<'a> {
    Aws(&'a AwsConfig),
    /// A running `wschat dev`'s base URL, and how long one call to it may take.
    Local(&'a str, Duration),
}

/// The deployed stack, which must exist, or a running `wschat dev`.
pub async fn resolve(id: &StackId, place: Place<'_>) -> Result<Target> {
    match place {
        Place::Local(url, timeout) => resolve_local(id, url, timeout).await,
        Place::Aws(aws) => resolve_aws(id, aws).await,
    }
}

async fn resolve_local(id: &StackId, url: &str, timeout: Duration) -> Result<Target> {
    let credentials = crate::sandbox::credentials::load(url)?;
    let store = HttpStore::new(url, &id.stage, credentials.clone(), timeout);
    // Fail here, clearly, rather than on the first row.
    store
        .list(&Filter::All, None, 1)
        .await
        .map_err(store_error)?;
    // The sandbox verifies SigV4 against the credentials it wrote at start.
    let sdk = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new(crate::sandbox::credentials::REGION))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new(
                    credentials.access_key_id,
                    credentials.secret_access_key,
                    None,
                    None,
                    "wschat-dev",
                ),
            ),
        )
        .behavior_version(aws_config::BehaviorVersion::latest())
        .timeout_config(crate::aws::timeouts(timeout))
        .build();
    let endpoint = format!("{}/{}", url.trim_end_matches('/'), id.stage);
    Ok(Target {
        label: format!("wschat dev at {url}"),
        store: EitherStore::Right(store.clone()),
        gateway: ManagementGateway::new(&sdk, &endpoint),
        endpoint,
        backend: Backend::Local(store),
    })
}

async fn resolve_aws(id: &StackId, aws: &AwsConfig) -> Result<Target> {
    let stack = stack::open(id, aws, Settings::default()).await?;
    let spec = &stack.spec;
    let Some(api_id) = stack::api::find(&stack).await?.and_then(|a| a.api_id) else {
        return Err(CliError::failed(format!("no stack {} in {} (no API named {} with its tags)", spec.prefix(), spec.region, spec.api_name()))
            .with_hint("check --name, --stage and --region, or deploy it with `wschat deploy`; for the local sandbox add --local"));
    };
    let endpoint = match &aws.endpoint_url {
        Some(url) => format!("{}/{}", url.trim_end_matches('/'), spec.id.stage),
        None => spec.stage_url(&api_id),
    };
    Ok(Target {
        label: format!("{} in {}", spec.prefix(), spec.region),
        store: EitherStore::Left(DynamoStore::new(
            stack.clients.dynamodb.clone(),
            spec.table(),
        )),
        gateway: ManagementGateway::new(&stack.clients.sdk, &endpoint),
        endpoint,
        backend: Backend::Aws(stack),
    })
}

pub fn store_error(e: StoreError) -> CliError {
    CliError::failed(e.0)
}
