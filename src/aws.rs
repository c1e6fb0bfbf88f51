//! Where the AWS calls go (region, profile, endpoint), the service clients,
//! and turning SDK errors into advice.

use crate::error::{CliError, Result};
use aws_config::meta::region::RegionProviderChain;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::ProvideCredentials;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// How to reach AWS: each `None` falls back to the SDK's standard chain
/// (environment, profile, SSO).
#[derive(Debug, Clone, Default)]
pub struct AwsConfig {
    pub region: Option<String>,
    pub profile: Option<String>,
    /// Every call goes here instead (a local emulator); also `AWS_ENDPOINT_URL`.
    pub endpoint_url: Option<String>,
}

/// Every client a command may need, built once from one `SdkConfig`.
#[derive(Clone)]
pub struct Clients {
    pub sdk: SdkConfig,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub iam: aws_sdk_iam::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub apigw: aws_sdk_apigatewayv2::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub sts: aws_sdk_sts::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub region: String,
}

const NO_CREDENTIALS_HINT: &str = "set AWS_PROFILE (or --profile) to a configured profile, run `aws sso login` for SSO, \
or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. No AWS account? `wschat dev` runs the whole chat locally.";

/// Loads region and credentials the standard way (flags, environment, profiles, SSO)
/// and fails early, before any service call, when either is missing.
pub async fn connect(config: &AwsConfig) -> Result<Clients> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(profile) = &config.profile {
        loader = loader.profile_name(profile);
    }
    let region_chain = RegionProviderChain::first_try(config.region.clone().map(Region::new))
        .or_default_provider();
    loader = loader.region(region_chain);
    if let Some(url) = &config.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let sdk = loader.load().await;
    let region = sdk.region().map(|r| r.to_string()).ok_or_else(|| {
        CliError::failed("no AWS region is configured")
            .with_hint("pass --region (e.g. --region eu-west-1), set AWS_REGION, or set a region in your profile. No AWS account? `wschat dev` runs the chat locally.")
    })?;
    let provider = sdk.credentials_provider().ok_or_else(|| {
        CliError::failed("no AWS credentials found").with_hint(NO_CREDENTIALS_HINT)
    })?;
    provider.provide_credentials().await.map_err(|e| {
        CliError::failed(format!(
            "no usable AWS credentials: {}",
            aws_smithy_types::error::display::DisplayErrorContext(e)
        ))
        .with_hint(NO_CREDENTIALS_HINT)
    })?;
    Ok(Clients {
        dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
        iam: aws_sdk_iam::Client::new(&sdk),
        lambda: aws_sdk_lambda::Client::new(&sdk),
        apigw: aws_sdk_apigatewayv2::Client::new(&sdk),
        logs: aws_sdk_cloudwatchlogs::Client::new(&sdk),
        sts: aws_sdk_sts::Client::new(&sdk),
        ssm: aws_sdk_ssm::Client::new(&sdk),
        region,
        sdk,
    })
}

/// The account the credentials belong to (and a check that they work).
pub async fn account_id(clients: &Clients) -> Result<String> {
    let me = checked(
        clients.sts.get_caller_identity().send().await,
        "STS GetCallerIdentity",
        "your credentials",
    )?;
    me.account
        .ok_or_else(|| CliError::failed("STS did not say which account the credentials belong to"))
}

/// An AWS failure naming the operation and the resource, with the service's own words.
pub fn aws_error(
    operation: &str,
    resource: &str,
    e: impl std::error::Error + Send + Sync + 'static,
) -> CliError {
    let detail = aws_smithy_types::error::display::DisplayErrorContext(&e).to_string();
    let mut err = CliError::failed(format!("{operation} on {resource} failed: {detail}"));
    if detail.contains("ExpiredToken") || detail.contains("expired") {
        err = err.with_hint("your credentials have expired: refresh them (e.g. `aws sso login`) and run the command again");
    } else if detail.contains("AccessDenied") || detail.contains("not authorized") {
        err = err.with_hint(
            "the credentials lack a permission this command needs; the message above names it",
        );
    } else if detail.contains("dispatch failure") || detail.contains("connection") {
        err = err.with_hint("could not reach AWS: check the network, --region and --endpoint-url");
    }
    err
}

/// An AWS call's answer, or its failure as advice naming the operation and the resource.
pub fn checked<T, E, R>(
    answer: std::result::Result<T, SdkError<E, R>>,
    operation: &str,
    resource: &str,
) -> Result<T>
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    answer.map_err(|e| aws_error(operation, resource, e))
}

/// As [`checked`], with the service's "no such resource" as `Ok(None)`: each
/// describe (and each delete, where absent counts as done) is one line.
pub fn or_absent<T, E, R>(
    answer: std::result::Result<T, SdkError<E, R>>,
    operation: &str,
    resource: &str,
) -> Result<Option<T>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match answer {
        Ok(out) => Ok(Some(out)),
        Err(e) if e.as_service_error().is_some_and(is_not_found) => Ok(None),
        Err(e) => Err(aws_error(operation, resource, e)),
    }
}

/// The "does not exist" answers of the services wschat calls.
fn is_not_found<E: ProvideErrorMetadata>(e: &E) -> bool {
    matches!(
        e.code(),
        Some(
            "ResourceNotFoundException"
                | "NoSuchEntity"
                | "NotFoundException"
                | "ResourceNotFound"
                | "ParameterNotFound"
        )
    )
}
