//! The Lambda side: SDK clients built once per container, Lambda's log controls, the runtime loop.

use crate::auth::{self, ssm::SsmSecret, Auth, AuthSettings, SecretSource};
use crate::chat::{Chat, ChatConfig};
use crate::delivery::{DeliveryJob, Dispatch, DispatchError};
use crate::dynamo::DynamoStore;
use crate::dynamo_history::DynamoHistory;
use crate::event::WebSocketEvent;
use crate::gateway::{management_endpoint, ManagementGateway};
use crate::http::HttpClient;
use futures_util::future::BoxFuture;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// Runs one of the chat functions until the Runtime API goes away: API
/// Gateway's events for `connect`, `disconnect` and `message`, delivery jobs
/// ([`DeliveryJob`]) for `deliver`. Environment: `TABLE_NAME` (required),
/// `MESSAGES_TABLE` (history and sanctions; without it none are kept), the
/// `WSCHAT_*` tuning knobs of [`ChatConfig::from_env`], optionally
/// `WSCHAT_MANAGEMENT_ENDPOINT` (see [`management_endpoint`]), and on `connect` and `message` `WSCHAT_DELIVER_FUNCTION`
/// (where history catch-ups and a large room's shard jobs go), `WSCHAT_STACK` (the metrics'
/// dimension, see [`crate::telemetry`]). `WSCHAT_AUTH` and its companions
/// ([`AuthSettings::from_lookup`]) say who may connect. Logging follows
/// Lambda's own controls (`AWS_LAMBDA_LOG_LEVEL`, `AWS_LAMBDA_LOG_FORMAT`).
pub async fn run() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let table = std::env::var("TABLE_NAME")
        .map_err(|_| "TABLE_NAME is not set: the function needs its DynamoDB table")?;
    let sdk = Arc::new(aws_config::load_from_env().await);
    let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let store = DynamoStore::new(dynamodb.clone(), table);
    let history: Option<Arc<dyn crate::history::HistoryStore>> = std::env::var("MESSAGES_TABLE")
        .ok()
        .filter(|t| !t.is_empty())
        .map(|t| Arc::new(DynamoHistory::new(dynamodb, t)) as _);
    let config = ChatConfig::from_env();
    let auth = Arc::new(auth_from_env(&sdk)?);
    // Each event's metrics, in its log line; the stack's name is their dimension.
    let stack = std::env::var(crate::telemetry::ENV_STACK)
        .or_else(|_| std::env::var("AWS_LAMBDA_FUNCTION_NAME"))
        .unwrap_or_default();
    let telemetry: Arc<dyn crate::telemetry::Telemetry> =
        Arc::new(crate::telemetry::EmfStdout { stack });
    let deliver = std::env::var("WSCHAT_DELIVER_FUNCTION")
        .ok()
        .filter(|f| !f.is_empty());
    // The @connections endpoint is only known from the first event (its domain
    // and stage, or the job's); after that the same client serves every invocation.
    let chat: Arc<OnceCell<LambdaChat>> = Arc::new(OnceCell::new());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let (chat, sdk, store, config, auth, deliver, telemetry, region, history) = (
            chat.clone(),
            sdk.clone(),
            store.clone(),
            config.clone(),
            auth.clone(),
            deliver.clone(),
            telemetry.clone(),
            region.clone(),
            history.clone(),
        );
        async move {
            let (api_event, job) = match event.payload.get("delivery") {
                Some(_) => (
                    None,
                    Some(serde_json::from_value::<DeliveryJob>(event.payload)?),
                ),
                None => (
                    Some(serde_json::from_value::<WebSocketEvent>(event.payload)?),
                    None,
                ),
            };
            let endpoint = match (&api_event, &job) {
                (_, Some(job)) => job.endpoint.clone(),
                (Some(e), _) => management_endpoint(
                    &e.request_context,
                    &region,
                    std::env::var("WSCHAT_MANAGEMENT_ENDPOINT").ok().as_deref(),
                ),
                (None, None) => unreachable!("one or the other"),
            };
            let chat = chat
                .get_or_init(|| async {
                    let gateway = ManagementGateway::new(&sdk, &endpoint);
                    let mut chat = Chat::new(store, gateway, config)
                        .with_auth(auth)
                        .with_telemetry(telemetry);
                    if let Some(history) = history {
                        chat = chat.with_history(history);
                    }
                    if let Some(function) = deliver {
                        let dispatch = Arc::new(LambdaDispatch::new((*sdk).clone(), function));
                        chat = chat.with_dispatch(dispatch, endpoint);
                    }
                    chat
                })
                .await;
            match (api_event, job) {
                (Some(e), _) => Ok::<Value, Error>(serde_json::to_value(chat.handle(&e).await)?),
                (_, Some(job)) => {
                    let report = chat.run_job(&job).await?;
                    Ok(serde_json::to_value(report)?)
                }
                (None, None) => unreachable!("one or the other"),
            }
        }
    }))
    .await
}

type LambdaChat = Chat<DynamoStore, ManagementGateway>;

/// Hands shard jobs to the delivery function: one asynchronous `Invoke`
/// each (Lambda answers 202 and retries a failed one twice, then sends it to
/// the function's on-failure destination, the stack's dead-letter queue).
pub struct LambdaDispatch {
    sdk: aws_config::SdkConfig,
    http: HttpClient,
    function: String,
}

impl LambdaDispatch {
    pub fn new(sdk: aws_config::SdkConfig, function: String) -> Self {
        LambdaDispatch {
            sdk,
            http: HttpClient::new(),
            function,
        }
    }

    async fn invoke(&self, job: &DeliveryJob) -> Result<(), DispatchError> {
        let region = self.sdk.region().map(|r| r.to_string()).unwrap_or_default();
        let endpoint = crate::partition::endpoint(&self.sdk, "Lambda", "lambda", &region);
        let path = format!("/2015-03-31/functions/{}/invocations", self.function);
        let headers = [
            ("content-type", "application/json"),
            ("x-amz-invocation-type", "Event"),
        ];
        let body = serde_json::to_vec(job).map_err(|e| DispatchError(e.to_string()))?;
        let answer = crate::signed::post(
            &self.sdk, &self.http, "lambda", &endpoint, &path, &headers, body,
        )
        .await
        .map_err(DispatchError)?;
        match answer.status {
            202 => Ok(()),
            status => Err(DispatchError(format!(
                "Lambda Invoke of {} answered {status}: {}",
                self.function,
                crate::clip::clip_to(&String::from_utf8_lossy(&answer.body), 200)
            ))),
        }
    }
}

impl Dispatch for LambdaDispatch {
    fn dispatch(&self, jobs: Vec<DeliveryJob>) -> BoxFuture<'_, Vec<(DeliveryJob, DispatchError)>> {
        Box::pin(async move {
            let invokes = jobs.iter().map(|job| self.invoke(job));
            let answers = futures_util::future::join_all(invokes).await;
            jobs.into_iter()
                .zip(answers)
                .filter_map(|(job, answer)| answer.err().map(|e| (job, e)))
                .collect()
        })
    }
}

/// The connect function's gate, from the variables deploy set. Token mode's
/// secret is read lazily, on the first handshake, once per container.
fn auth_from_env(sdk: &aws_config::SdkConfig) -> Result<Auth, Error> {
    let env = |key: &str| std::env::var(key).ok().filter(|v| !v.is_empty());
    let settings = AuthSettings::from_lookup(env)?;
    let secret = env(auth::ENV_TOKEN_PARAMETER).map(|name| {
        let version = env(auth::ENV_TOKEN_VERSION);
        SecretSource::Ssm(Box::new(SsmSecret::new(
            sdk.clone(),
            &name,
            version.as_deref(),
        )))
    });
    let audience = env(auth::ENV_TOKEN_AUDIENCE).unwrap_or_default();
    Ok(Auth::new(&settings, audience, secret)?)
}
