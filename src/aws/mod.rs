//! Where the AWS calls go (region, profile, endpoint), the service clients,
//! and turning SDK errors into advice; [`trace`] logs each call with `-vv`.

pub mod json;
pub mod trace;

use crate::error::{CliError, Result};
use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::ProvideCredentials;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How to reach AWS: each `None` falls back to the SDK's standard chain
/// (environment, profile, SSO).
#[derive(Debug, Clone)]
pub struct AwsConfig {
    pub region: Option<String>,
    pub profile: Option<String>,
    /// Every call goes here instead (a local emulator); also `AWS_ENDPOINT_URL`.
    pub endpoint_url: Option<String>,
    /// The longest one AWS call may take, retries included.
    pub timeout: Duration,
}

/// How long a single call (with its retries) may take unless `--request-timeout` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Connect, answer and whole-call limits from one figure. A stalled attempt
/// (no answer: a lost reply, a dead endpoint) is cut after
/// [`attempt_timeout`], leaving room for retries, and nothing takes longer
/// than `timeout` in all. Uploads get longer attempts and a longer whole
/// call ([`upload_timeouts`]).
pub fn timeouts(timeout: Duration) -> TimeoutConfig {
    limits(timeout, attempt_timeout(timeout), timeout)
}

/// For a call whose answer comes only when its work is done (a synchronous
/// Lambda invoke): one attempt may take the whole `runs`.
pub fn run_timeouts(runs: Duration) -> TimeoutConfig {
    limits(runs, runs, runs)
}

fn limits(timeout: Duration, attempt: Duration, whole: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .read_timeout(attempt)
        .operation_timeout(whole)
        .build()
}

/// How long one attempt waits for an answer: a quarter of the call's time,
/// at most 3 s (a control-plane answer that has not started by then is
/// lost), so that a default call fits ten attempts through a bad link.
pub fn attempt_timeout(timeout: Duration) -> Duration {
    (timeout / 4).clamp(Duration::from_millis(500), Duration::from_secs(3))
}

/// For calls that upload a function's code: the wait for an answer includes
/// the upload (3 MB), so an attempt may take half the timeout, for a slow
/// uplink. The whole call may take twice the timeout so that it still fits
/// four attempts: with only two, two lost replies in a row failed the deploy.
pub fn upload_timeouts(timeout: Duration) -> TimeoutConfig {
    limits(timeout, timeout / 2, timeout * 2)
}

/// Control-plane calls retry 5xx, throttling, connection errors and timeouts
/// with jittered exponential backoff, as many times as fit in the timeout.
pub fn retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(10)
        .with_initial_backoff(Duration::from_millis(200))
        .with_max_backoff(Duration::from_secs(4))
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
    pub sqs: aws_sdk_sqs::Client,
    pub sns: aws_sdk_sns::Client,
    /// How long one call may take, retries included (`--request-timeout`).
    pub timeout: Duration,
    pub region: String,
}

const NO_CREDENTIALS_HINT: &str =
    "run `aws configure`, or set AWS_PROFILE (or --profile) to a configured profile \
(`aws sso login` first for SSO), or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. \
No AWS account? `wschat dev` runs the whole chat locally.";

/// Why credentials could not be loaded, on one line: the innermost cause's
/// first line (an expired SSO token, a profile that is not there), never the
/// providers' debug structures. `-v` adds the whole chain.
fn credentials_failure(e: &aws_credential_types::provider::error::CredentialsError) -> CliError {
    use aws_credential_types::provider::error::CredentialsError;
    let mut cause: &dyn std::error::Error = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    let why = cause.to_string();
    let why = why.lines().next().unwrap_or_default();
    let message = match e {
        CredentialsError::CredentialsNotLoaded(_) => "no AWS credentials found".to_owned(),
        CredentialsError::ProviderTimedOut(_) => {
            "no AWS credentials: their provider did not answer in time".to_owned()
        }
        _ => format!(
            "no usable AWS credentials: {}",
            wschat_lambdas::clip::clip_to(why, 200)
        ),
    };
    let mut message = message;
    if VERBOSE.load(Ordering::Relaxed) {
        let raw = aws_smithy_types::error::display::DisplayErrorContext(e);
        message.push_str(&format!("\n  detail: {raw}"));
    }
    CliError::failed(message).with_hint(NO_CREDENTIALS_HINT)
}

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
    loader = loader
        .timeout_config(timeouts(config.timeout))
        .retry_config(retries());
    let sdk = loader.load().await;
    let region = sdk.region().map(|r| r.to_string()).ok_or_else(|| {
        CliError::failed("no AWS region is configured")
            .with_hint("pass --region (e.g. --region eu-west-1), set AWS_REGION, or set a region in your profile. No AWS account? `wschat dev` runs the chat locally.")
    })?;
    // --region and wschat.toml's were checked as they were read; this is the
    // environment's or the profile's.
    crate::layers::check::region(&region).map_err(|why| {
        CliError::usage(format!("the region from AWS_REGION or the profile: {why}")).with_hint(
            "fix AWS_REGION (or AWS_DEFAULT_REGION, or the profile's region), or pass --region",
        )
    })?;
    let provider = sdk.credentials_provider().ok_or_else(|| {
        CliError::failed("no AWS credentials found").with_hint(NO_CREDENTIALS_HINT)
    })?;
    provider
        .provide_credentials()
        .await
        .map_err(|e| credentials_failure(&e))?;
    // Each client logs its calls for `-vv` (a no-op unless a subscriber listens).
    macro_rules! client {
        ($sdk_crate:ident) => {
            $sdk_crate::Client::from_conf(
                $sdk_crate::config::Builder::from(&sdk)
                    .interceptor(trace::CallLog)
                    .build(),
            )
        };
    }
    Ok(Clients {
        dynamodb: client!(aws_sdk_dynamodb),
        iam: client!(aws_sdk_iam),
        lambda: client!(aws_sdk_lambda),
        apigw: client!(aws_sdk_apigatewayv2),
        logs: client!(aws_sdk_cloudwatchlogs),
        sts: client!(aws_sdk_sts),
        sqs: client!(aws_sdk_sqs),
        sns: client!(aws_sdk_sns),
        timeout: config.timeout,
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

static VERBOSE: AtomicBool = AtomicBool::new(false);

/// With `-v`, AWS errors carry the raw response after their one line.
pub fn set_verbose(on: bool) {
    VERBOSE.store(on, Ordering::Relaxed);
}

pub const UNREACHABLE_HINT: &str =
    "could not reach AWS: check the network, --region and --endpoint-url (or raise --request-timeout)";

/// What to do about a service's error, chosen by its code.
pub fn hint_for_code(code: &str) -> Option<&'static str> {
    Some(match code {
        "ExpiredToken" | "ExpiredTokenException" | "RequestExpired" | "TokenRefreshRequired" => {
            "your credentials have expired: refresh them (e.g. `aws sso login`) and run the command again"
        }
        "UnrecognizedClientException" | "InvalidClientTokenId" | "SignatureDoesNotMatch"
        | "InvalidSignatureException" => {
            "AWS does not accept these credentials: check AWS_PROFILE / --profile or the access keys"
        }
        "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" | "AuthorizationError" => {
            "the credentials lack a permission this command needs; the message above names it"
        }
        "Throttling" | "ThrottlingException" | "TooManyRequestsException" | "RequestLimitExceeded"
        | "ProvisionedThroughputExceededException" => {
            "AWS kept throttling after every retry: wait a minute and run the command again (it continues where it stopped)"
        }
        _ => return None,
    })
}

/// An AWS failure on one line: operation, resource, the service's error code
/// and message; the hint follows from the failure's kind, never from its text.
/// An answer with no AWS error in it (a web server, a proxy's error page)
/// says its HTTP status and how it begins. The raw response is added only with `-v`.
pub fn aws_error<E: ServiceError>(
    operation: &str,
    resource: &str,
    e: &SdkError<E, HttpResponse>,
) -> CliError {
    let (summary, hint) = match e {
        SdkError::ServiceError(context) => {
            let err = context.err();
            let status = context.raw().status().as_u16();
            match (err.code(), err.message()) {
                (Some(code), Some(message)) => (format!("{code}: {message}"), hint_for_code(code)),
                (Some(code), None) => (
                    format!("{code} (HTTP {status}, no message)"),
                    hint_for_code(code),
                ),
                (None, _) => (
                    format!(
                        "HTTP {status} with no AWS error in it: {}",
                        beginning(context.raw().body().bytes())
                    ),
                    Some(NOT_AWS_HINT),
                ),
            }
        }
        SdkError::TimeoutError(_) => (
            "no answer within the timeout".to_owned(),
            Some(UNREACHABLE_HINT),
        ),
        SdkError::DispatchFailure(failure) => {
            let what = if failure.is_timeout() {
                "timed out connecting"
            } else if failure.is_io() {
                "could not connect"
            } else {
                "the request could not be sent"
            };
            (what.to_owned(), Some(UNREACHABLE_HINT))
        }
        SdkError::ResponseError(context) => (
            format!(
                "the answer (HTTP {}) could not be read: {}",
                context.raw().status().as_u16(),
                beginning(context.raw().body().bytes())
            ),
            Some(NOT_AWS_HINT),
        ),
        _ => ("the request could not be built".to_owned(), None),
    };
    let mut message = format!("{operation} on {resource} failed: {summary}");
    if VERBOSE.load(Ordering::Relaxed) {
        let raw = aws_smithy_types::error::display::DisplayErrorContext(e);
        message.push_str(&format!("\n  detail: {raw}"));
    }
    let err = CliError::failed(message);
    match hint {
        Some(hint) => err.with_hint(hint),
        None => err,
    }
}

const NOT_AWS_HINT: &str = "the endpoint did not answer as AWS does: check --endpoint-url (and AWS_ENDPOINT_URL) and --region";

/// How an answer's body begins, on one short line.
fn beginning(body: Option<&[u8]>) -> String {
    let text = String::from_utf8_lossy(body.unwrap_or_default());
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match text.as_str() {
        "" => "an empty body".to_owned(),
        text => format!("'{}'", wschat_lambdas::clip::clip_to(text, 80)),
    }
}

/// An SDK call's answer.
pub type Answer<T, E> = std::result::Result<T, SdkError<E, HttpResponse>>;

/// What every service's modelled error is.
pub trait ServiceError: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static {}

impl<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static> ServiceError for E {}

/// An AWS call's answer, or its failure as advice naming the operation and the resource.
pub fn checked<T, E: ServiceError>(answer: Answer<T, E>, operation: &str, on: &str) -> Result<T> {
    answer.map_err(|e| aws_error(operation, on, &e))
}

/// The answer as [`checked`] has it, but with the service errors `expected`
/// picks out as `Ok(None)`: each caller's one expected failure is one line.
macro_rules! expecting {
    ($(#[$doc:meta])* $name:ident, $expected:expr) => {
        $(#[$doc])*
        pub fn $name<T, E: ServiceError>(answer: Answer<T, E>, op: &str, on: &str) -> Result<Option<T>> {
            none_if(answer, op, on, $expected)
        }
    };
}

expecting!(
    /// The service's "no such resource" as `Ok(None)`: each describe (and
    /// each delete, where absent counts as done) is one line.
    or_absent,
    is_not_found
);

expecting!(
    /// A write whose target is gone (done already) or busy (API Gateway's
    /// ConflictException: in use, or another writer mid-change) as `Ok(None)`,
    /// for a caller that looks again before it tries again.
    or_gone_or_busy,
    |e: &E| is_not_found(e) || e.code() == Some("ConflictException")
);

expecting!(
    /// A create's answer, with "already exists" as `Ok(None)`: the SDK retries a
    /// create whose reply was lost, and the retry meets what the first attempt
    /// made. The caller goes on with the resource it finds under its name.
    created,
    is_already_exists
);

/// The "does not exist" answers of the services wschat calls.
fn is_not_found<E: ProvideErrorMetadata>(e: &E) -> bool {
    matches!(
        e.code(),
        Some(
            "ResourceNotFoundException" | "NoSuchEntity" | "NotFoundException" | "ResourceNotFound"
        )
    )
}

/// A failure another attempt may not meet: no answer, a cut-off answer, a
/// 5xx, or throttling.
pub fn is_transient<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    match e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(context) => {
            let code = context.err().code().unwrap_or_default();
            let status = context.raw().status().as_u16();
            status >= 500
                || status == 429
                || code.contains("Throttl")
                || code == "TooManyRequestsException"
        }
        _ => false,
    }
}

/// "Already exists", in each service's words.
fn is_already_exists<E: ProvideErrorMetadata>(e: &E) -> bool {
    matches!(
        e.code(),
        Some(
            "ResourceAlreadyExistsException"
                | "EntityAlreadyExists"
                | "ResourceInUseException"
                | "ResourceConflictException"
                | "ConflictException"
        )
    )
}

/// Every item of a listing API Gateway pages with a `NextToken` (its SDK
/// has no paginators): `page` fetches one page and the next page's token.
pub async fn all_pages<T, Fut>(mut page: impl FnMut(Option<String>) -> Fut) -> Result<Vec<T>>
where
    Fut: std::future::Future<Output = Result<(Vec<T>, Option<String>)>>,
{
    let mut items = Vec::new();
    let mut token = None;
    loop {
        let (found, next) = page(token).await?;
        items.extend(found);
        match next {
            Some(next) => token = Some(next),
            None => return Ok(items),
        }
    }
}

/// The answer, with the service errors `expected` picks out as `Ok(None)`.
fn none_if<T, E: ServiceError>(
    answer: Answer<T, E>,
    operation: &str,
    resource: &str,
    expected: fn(&E) -> bool,
) -> Result<Option<T>> {
    match answer {
        Ok(out) => Ok(Some(out)),
        Err(e) if e.as_service_error().is_some_and(expected) => Ok(None),
        Err(e) => Err(aws_error(operation, resource, &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_lambda::operation::get_function::GetFunctionError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn service(code: &str, message: &str, status: u16) -> SdkError<GetFunctionError, HttpResponse> {
        let meta = ErrorMetadata::builder().code(code).message(message).build();
        let raw = HttpResponse::new(
            StatusCode::try_from(status).unwrap(),
            SdkBody::from("a long raw body"),
        );
        SdkError::service_error(GetFunctionError::generic(meta), raw)
    }

    #[test]
    fn an_aws_error_is_one_line_with_a_hint_chosen_by_its_kind() {
        let err = aws_error(
            "Lambda GetFunction",
            "chat-dev-connect",
            &service(
                "AccessDeniedException",
                "not allowed: lambda:GetFunction",
                403,
            ),
        );
        let report = err.report();
        assert!(report.starts_with(
            "error: Lambda GetFunction on chat-dev-connect failed: AccessDeniedException: not allowed: lambda:GetFunction\n  hint: the credentials lack a permission"
        ), "{report}");
        assert!(
            !report.contains("raw body"),
            "the raw response only with -v"
        );

        // A message that mentions connections is not a network failure.
        let conflict = aws_error(
            "Lambda GetFunction",
            "f",
            &service("ResourceConflictException", "connection ids differ", 409),
        );
        assert!(!conflict.report().contains("hint"), "{}", conflict.report());

        // Not AWS at all: an HTML error page.
        let html = SdkError::service_error(
            GetFunctionError::generic(ErrorMetadata::builder().build()),
            HttpResponse::new(
                StatusCode::try_from(500).unwrap(),
                SdkBody::from("<html>\n<title>500 Internal Server Error</title></html>"),
            ),
        );
        let report = aws_error("Lambda GetFunction", "f", &html).report();
        assert!(
            report.contains("HTTP 500 with no AWS error in it: '<html> <title>500")
                && report.contains("--endpoint-url"),
            "{report}"
        );

        let timeout: SdkError<GetFunctionError, HttpResponse> = SdkError::timeout_error("slow");
        let report = aws_error("Lambda GetFunction", "f", &timeout).report();
        assert!(
            report.contains("no answer within the timeout")
                && report.contains("could not reach AWS"),
            "{report}"
        );
    }

    #[test]
    fn transient_failures_are_told_apart_from_final_ones() {
        assert!(is_transient(&service("InternalFailure", "", 500)));
        assert!(is_transient(&service("TooManyRequestsException", "", 429)));
        assert!(is_transient(&service("ThrottlingException", "", 400)));
        assert!(!is_transient(&service("AccessDeniedException", "", 403)));
        assert!(is_transient(
            &SdkError::<GetFunctionError, HttpResponse>::timeout_error("slow")
        ));
    }
}
