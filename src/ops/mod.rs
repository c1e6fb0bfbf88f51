//! Operating a live stack: connections, broadcast, logs. Each works against
//! AWS (the stack's table and `@connections`) or a running `wschat dev` (`--local`).

pub mod broadcast;
pub mod connections;
pub mod local;
pub mod logs;

use crate::aws::Clients;
use crate::cli::Global;
use crate::error::{CliError, Result};
use crate::spec::{self, Settings, StackSpec};
use local::HttpStore;
use wschat_lambdas::dynamo::DynamoStore;
use wschat_lambdas::gateway::ManagementGateway;
use wschat_lambdas::store::{ConnectionStore, EitherStore, Filter, StoreError};

pub const DEFAULT_LOCAL_URL: &str = "http://127.0.0.1:8080";

pub type OpsStore = EitherStore<DynamoStore, HttpStore>;

/// Where an ops command acts.
pub struct Target {
    /// "wschat-dev in eu-west-1" or "wschat dev at http://127.0.0.1:8080".
    pub label: String,
    pub store: OpsStore,
    pub gateway: ManagementGateway,
    /// The AWS side, when not `--local`.
    pub aws: Option<(Clients, StackSpec)>,
    pub local: Option<HttpStore>,
}

/// `--local [URL]`: a running `wschat dev`. Otherwise the deployed stack, which must exist.
pub async fn resolve(global: &Global, local: Option<&str>) -> Result<Target> {
    if let Some(url) = local {
        spec::validate_stage(&global.stage)?;
        let store = HttpStore::new(url, &global.stage);
        // Fail here, clearly, rather than on the first row.
        store
            .list(&Filter::All, None, 1)
            .await
            .map_err(|e| CliError::failed(e.0))?;
        // The sandbox accepts any SigV4 signature; these keys only let the SDK sign.
        let sdk = aws_config::SdkConfig::builder()
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(
                    aws_credential_types::Credentials::new(
                        "wschat-dev",
                        "wschat-dev",
                        None,
                        None,
                        "wschat-dev",
                    ),
                ),
            )
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let endpoint = format!("{}/{}", url.trim_end_matches('/'), global.stage);
        return Ok(Target {
            label: format!("wschat dev at {url}"),
            store: EitherStore::Right(store.clone()),
            gateway: ManagementGateway::new(&sdk, &endpoint),
            aws: None,
            local: Some(store),
        });
    }
    let (clients, spec) = crate::stack::open(global, Settings::default()).await?;
    let progress = crate::progress::Progress::new(true, false);
    let ctx = crate::stack::Ctx {
        clients: &clients,
        spec: &spec,
        progress: &progress,
        dry_run: true,
    };
    let api = crate::stack::api::find(&ctx).await?;
    let Some(api_id) = api.and_then(|a| a.api_id) else {
        return Err(CliError::failed(format!("no stack {} in {} (no API named {} with its tags)", spec.prefix(), spec.region, spec.api_name()))
            .with_hint("check --name, --stage and --region, or deploy it with `wschat deploy`; for the local sandbox add --local"));
    };
    let endpoint = match &global.endpoint_url {
        Some(url) => format!("{}/{}", url.trim_end_matches('/'), spec.stage),
        None => spec.stage_url(&api_id),
    };
    Ok(Target {
        label: format!("{} in {}", spec.prefix(), spec.region),
        store: EitherStore::Left(DynamoStore::new(clients.dynamodb.clone(), spec.table())),
        gateway: ManagementGateway::new(&clients.sdk, &endpoint),
        aws: Some((clients, spec)),
        local: None,
    })
}

pub fn store_error(e: StoreError) -> CliError {
    CliError::failed(e.0)
}
