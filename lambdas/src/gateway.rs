//! Talking back to clients: the `Gateway` trait and its implementation over
//! API Gateway's `@connections` management API.

use crate::event::RequestContext;
use crate::http::{Answer, HttpClient, SendError};
use crate::post_signer::PostSigner;
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_apigatewaymanagement::config::http::HttpResponse;
use aws_sdk_apigatewaymanagement::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_apigatewaymanagement::Client;
use bytes::Bytes;
use http_body_util::Full;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A post either reached the connection or found it gone (410): the caller prunes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    Gone,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// `LimitExceededException`: retry later.
    #[error("throttled by API Gateway (LimitExceededException)")]
    Throttled,
    /// A 5xx or a connection that could not be made: not delivered, worth another attempt.
    #[error("API Gateway did not answer: {0}")]
    Transient(String),
    /// Sent, and no answer came (a timeout, a connection cut mid-answer):
    /// the post may have been delivered. Worth another attempt.
    #[error("sent, no answer: {0}")]
    NoAnswer(String),
    #[error("payload too large for API Gateway (PayloadTooLargeException)")]
    PayloadTooLarge,
    #[error("forbidden by API Gateway: {0}")]
    Forbidden(String),
    #[error("{0}")]
    Other(String),
}

impl GatewayError {
    /// Whether another attempt may succeed: throttling and transient failures.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            GatewayError::Throttled | GatewayError::Transient(_) | GatewayError::NoAnswer(_)
        )
    }

    /// Whether the post may have reached the connection all the same.
    pub fn may_have_arrived(&self) -> bool {
        matches!(self, GatewayError::NoAnswer(_))
    }
}

/// Talking to connected clients: API Gateway's `@connections` on AWS, the
/// sandbox's sockets in `wschat dev`.
///
/// `Ok(Delivery::Gone)` means the connection no longer exists (410
/// GoneException): the caller deletes that connection's row, and only that
/// one. An `Err` leaves the row alone; [`GatewayError::is_retryable`] says
/// whether another attempt may succeed. Implementations do not retry.
pub trait Gateway: Send + Sync + 'static {
    /// Sends one frame (at most 128 KB) to one connection.
    fn post(
        &self,
        connection_id: &str,
        data: Bytes,
    ) -> impl Future<Output = Result<Delivery, GatewayError>> + Send;
    /// Closes the connection (API Gateway then fires `$disconnect`).
    fn disconnect(
        &self,
        connection_id: &str,
    ) -> impl Future<Output = Result<Delivery, GatewayError>> + Send;
}

/// Where a function posts to `@connections`: the API's own execute-api
/// endpoint, `https://{apiId}.execute-api.{region}.{partition's domain}/{stage}`,
/// built from the event's API id and stage and never from its `domainName`.
/// Once a custom domain is mapped, events carry that domain, which serves no
/// `@connections` (and a mapping key moves the stage's path): posting there
/// fails with 403s. A loopback domain is `wschat dev`, its own execute-api,
/// over plain HTTP. `template` (`WSCHAT_MANAGEMENT_ENDPOINT`) stands in for
/// the AWS URL where the endpoint is elsewhere (a private endpoint, a test),
/// with `{api_id}`, `{region}` and `{stage}` filled in.
pub fn management_endpoint(
    context: &RequestContext,
    region: &str,
    template: Option<&str>,
) -> String {
    let (api_id, stage) = (&context.api_id, &context.stage);
    if let Some(template) = template {
        return template
            .replace("{api_id}", api_id)
            .replace("{region}", region)
            .replace("{stage}", stage);
    }
    let domain = &context.domain_name;
    if ["127.", "localhost", "[::1]"]
        .iter()
        .any(|local| domain.starts_with(local))
    {
        return format!("http://{domain}/{stage}");
    }
    let suffix = crate::partition::dns_suffix(region);
    format!("https://{api_id}.execute-api.{region}.{suffix}/{stage}")
}

/// `@connections` on AWS (or anything that speaks it, as `wschat dev` does).
/// Posts are signed and sent here rather than through the SDK's client: the
/// SDK's orchestration costs a post about twice the CPU (measured beside it:
/// docs/benchmarks.md, "Rooms of any size"), and a delivery worker is
/// CPU-bound. The SDK's client serves the rare calls (`GetConnection`,
/// `DeleteConnection`).
#[derive(Clone)]
pub struct ManagementGateway {
    client: Client,
    sdk: aws_config::SdkConfig,
    endpoint: String,
    /// Where the endpoint's path starts (after `scheme://authority`).
    path_at: usize,
    host: String,
    http: HttpClient,
    /// The posts' signer, made again for a new day or shortly before its
    /// credentials expire.
    signer: Arc<std::sync::Mutex<Option<Arc<PostSigner>>>>,
    /// Held while the signer is made again: one credentials fetch at a time.
    refreshing: Arc<tokio::sync::Mutex<()>>,
}

/// How long one post may wait for its answer when the SDK configuration sets no limit.
const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// Credentials this close to their expiry are fetched again.
const REFRESH_BEFORE: Duration = Duration::from_secs(300);

impl ManagementGateway {
    /// A client for one API stage's `@connections` endpoint. The SDK does not
    /// retry: the fan-out is the one retry layer (see [`GatewayError::is_retryable`]),
    /// so a throttled burst is not retried by two layers at once.
    pub fn new(sdk: &aws_config::SdkConfig, endpoint: &str) -> Self {
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
            .endpoint_url(endpoint)
            .retry_config(aws_sdk_apigatewaymanagement::config::retry::RetryConfig::disabled())
            .build();
        // One attempt, as the SDK's client would make it.
        let limits = sdk.timeout_config();
        let timeout = limits
            .and_then(|t| t.read_timeout().or(t.operation_timeout()))
            .unwrap_or(POST_TIMEOUT);
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        let origin = endpoint.find("://").map_or(0, |at| at + 3);
        let path_at = endpoint[origin..]
            .find('/')
            .map_or(endpoint.len(), |at| origin + at);
        ManagementGateway {
            client: Client::from_conf(config),
            sdk: sdk.clone(),
            host: endpoint[origin..path_at].to_owned(),
            path_at,
            endpoint,
            http: HttpClient::with_timeout(timeout),
            signer: Arc::default(),
            refreshing: Arc::default(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The signer for `now`: the cached one while its day and credentials
    /// last. The posts that find it stale wait for one refresh.
    async fn signer(&self, now: SystemTime) -> Result<Arc<PostSigner>, GatewayError> {
        let cached = || {
            let signer = self.signer.lock().unwrap().clone();
            signer.filter(|s| s.valid_at(now, REFRESH_BEFORE))
        };
        if let Some(signer) = cached() {
            return Ok(signer);
        }
        let _refreshing = self.refreshing.lock().await;
        if let Some(signer) = cached() {
            return Ok(signer);
        }
        let provider = self
            .sdk
            .credentials_provider()
            .ok_or_else(|| GatewayError::Other("no AWS credentials to sign with".to_owned()))?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| GatewayError::Transient(format!("credentials: {e}")))?;
        let region = self.sdk.region().map(|r| r.to_string()).unwrap_or_default();
        let signer = Arc::new(PostSigner::new(&credentials, &region, "execute-api", now));
        *self.signer.lock().unwrap() = Some(signer.clone());
        Ok(signer)
    }
}

/// RFC 3986's unreserved characters stay; everything else in a path
/// segment is percent-encoded, as the SDK encodes a label (ids end in `=`).
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// What `@connections`' answer means by its status or its error code
/// (either decides); `None` when neither says: the caller decides.
fn answered(
    status: Option<u16>,
    code: Option<&str>,
    detail: &dyn Fn() -> String,
) -> Option<Result<Delivery, GatewayError>> {
    match (status, code) {
        (Some(410), _) | (_, Some("GoneException")) => Some(Ok(Delivery::Gone)),
        (Some(429), _) | (_, Some("LimitExceededException")) => Some(Err(GatewayError::Throttled)),
        (Some(413), _) | (_, Some("PayloadTooLargeException")) => {
            Some(Err(GatewayError::PayloadTooLarge))
        }
        (Some(403), _) | (_, Some("ForbiddenException")) => {
            Some(Err(GatewayError::Forbidden(detail())))
        }
        (Some(500..=599), _) => Some(Err(GatewayError::Transient(detail()))),
        _ => None,
    }
}

/// Maps a post's HTTP answer onto the outcomes the fan-out cares about, as
/// [`classify`] does for the SDK's errors.
fn outcome(answer: Result<Answer, SendError>) -> Result<Delivery, GatewayError> {
    let answer = match answer {
        Ok(answer) => answer,
        Err(e) if e.unsent => return Err(GatewayError::Transient(e.message)),
        Err(e) => return Err(GatewayError::NoAnswer(e.message)),
    };
    if (200..300).contains(&answer.status) {
        return Ok(Delivery::Delivered);
    }
    let said = || {
        let body = String::from_utf8_lossy(&answer.body);
        format!("{}: {}", answer.status, crate::clip::clip_to(&body, 200))
    };
    answered(Some(answer.status), None, &said).unwrap_or_else(|| Err(GatewayError::Other(said())))
}

/// Maps a management API failure onto the outcomes the fan-out cares about.
/// The HTTP status decides 410 even when the modelled error is missing.
pub fn classify<E>(e: &SdkError<E, HttpResponse>) -> Result<Delivery, GatewayError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = e.raw_response().map(|r| r.status().as_u16());
    let detail = || DisplayErrorContext(e).to_string();
    if let Some(outcome) = answered(status, e.code(), &detail) {
        return outcome;
    }
    match e {
        // Refused or timed out while connecting: nothing was sent.
        SdkError::DispatchFailure(f) if f.is_timeout() => Err(GatewayError::Transient(detail())),
        // Sent, or perhaps sent: the answer never came, or came cut off.
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            Err(GatewayError::NoAnswer(detail()))
        }
        _ => Err(GatewayError::Other(detail())),
    }
}

impl Gateway for ManagementGateway {
    async fn post(&self, connection_id: &str, data: Bytes) -> Result<Delivery, GatewayError> {
        let now = SystemTime::now();
        let signer = self.signer(now).await?;
        let id = utf8_percent_encode(connection_id, PATH_SEGMENT);
        let url = format!("{}/@connections/{id}", self.endpoint);
        let signature = signer.sign(&self.host, &url[self.path_at..], &data, now);
        let mut request = hyper::Request::post(url)
            .header("host", &self.host)
            .header("x-amz-date", signature.amz_date)
            .header("authorization", signature.authorization);
        if let Some(token) = signer.session_token() {
            request = request.header("x-amz-security-token", token);
        }
        let request = request
            .body(Full::new(data))
            .map_err(|e| GatewayError::Other(format!("could not build the post: {e}")))?;
        outcome(self.http.send(request).await)
    }

    async fn disconnect(&self, connection_id: &str) -> Result<Delivery, GatewayError> {
        match self
            .client
            .delete_connection()
            .connection_id(connection_id)
            .send()
            .await
        {
            Ok(_) => Ok(Delivery::Delivered),
            Err(e) => classify(&e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_id_is_one_encoded_path_segment() {
        let encoded = |id| utf8_percent_encode(id, PATH_SEGMENT).to_string();
        assert_eq!(encoded("R0oXAdfD0kwCH6w="), "R0oXAdfD0kwCH6w%3D");
        assert_eq!(encoded("a+b/c-d_e.f~g"), "a%2Bb%2Fc-d_e.f~g");
    }

    #[test]
    fn answers_map_onto_outcomes() {
        let answer = |status: u16| {
            Ok(Answer {
                status,
                headers: Default::default(),
                body: Bytes::from_static(b"{}"),
            })
        };
        assert_eq!(outcome(answer(200)), Ok(Delivery::Delivered));
        assert_eq!(outcome(answer(410)), Ok(Delivery::Gone));
        assert_eq!(outcome(answer(429)), Err(GatewayError::Throttled));
        assert_eq!(outcome(answer(413)), Err(GatewayError::PayloadTooLarge));
        assert!(matches!(
            outcome(answer(403)),
            Err(GatewayError::Forbidden(_))
        ));
        assert!(matches!(
            outcome(answer(503)),
            Err(GatewayError::Transient(_))
        ));
        assert!(matches!(outcome(answer(400)), Err(GatewayError::Other(_))));
        let unsent = SendError {
            message: "refused".into(),
            unsent: true,
        };
        assert!(matches!(
            outcome(Err(unsent)),
            Err(GatewayError::Transient(_))
        ));
        let cut = SendError {
            message: "cut".into(),
            unsent: false,
        };
        assert!(outcome(Err(cut)).unwrap_err().may_have_arrived());
    }

    #[test]
    fn posts_go_to_the_apis_execute_api_endpoint_whatever_domain_the_event_names() {
        let context = |domain: &str| RequestContext {
            domain_name: domain.into(),
            api_id: "abc123".into(),
            stage: "prod".into(),
            ..serde_json::from_value(serde_json::json!({
                "routeKey": "sendMessage", "eventType": "MESSAGE", "connectionId": "c="
            }))
            .unwrap()
        };
        let execute_api = "https://abc123.execute-api.eu-west-1.amazonaws.com/prod";
        for domain in [
            "abc123.execute-api.eu-west-1.amazonaws.com",
            "chat.example.com",
        ] {
            assert_eq!(
                management_endpoint(&context(domain), "eu-west-1", None),
                execute_api
            );
        }
        assert_eq!(
            management_endpoint(&context("chat.example.cn"), "cn-north-1", None),
            "https://abc123.execute-api.cn-north-1.amazonaws.com.cn/prod"
        );
        assert_eq!(
            management_endpoint(&context("127.0.0.1:4510"), "us-east-1", None),
            "http://127.0.0.1:4510/prod",
            "wschat dev is its own API"
        );
        let template = Some("http://127.0.0.1:9/{api_id}/{region}/{stage}");
        assert_eq!(
            management_endpoint(&context("chat.example.com"), "eu-west-1", template),
            "http://127.0.0.1:9/abc123/eu-west-1/prod"
        );
    }
}
