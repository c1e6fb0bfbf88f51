//! The Lambda side: SDK clients built once per container, Lambda's log controls, the runtime loop.

use crate::auth::{self, ssm::SsmSecret, Auth, AuthSettings, SecretSource};
use crate::chat::{Chat, ChatConfig};
use crate::dynamo::DynamoStore;
use crate::event::{Response, WebSocketEvent};
use crate::gateway::{management_endpoint, ManagementGateway};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use std::sync::Arc;
use tokio::sync::OnceCell;

/// Runs one of the chat functions until the Runtime API goes away.
/// Environment: `TABLE_NAME` (required), the `WSCHAT_*` tuning knobs of
/// [`ChatConfig::from_env`], and optionally `WSCHAT_MANAGEMENT_ENDPOINT`.
/// `WSCHAT_AUTH` and its companions ([`AuthSettings::from_lookup`]) say who may connect.
/// Logging follows Lambda's own controls (`AWS_LAMBDA_LOG_LEVEL`, `AWS_LAMBDA_LOG_FORMAT`).
pub async fn run() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let table = std::env::var("TABLE_NAME")
        .map_err(|_| "TABLE_NAME is not set: the function needs its DynamoDB table")?;
    let sdk = Arc::new(aws_config::load_from_env().await);
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);
    let config = ChatConfig::from_env();
    let auth = Arc::new(auth_from_env(&sdk)?);
    // The @connections endpoint is only known from the first event (its domain
    // and stage); after that the same client serves every invocation.
    let chat: Arc<OnceCell<Chat<DynamoStore, ManagementGateway>>> = Arc::new(OnceCell::new());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<WebSocketEvent>| {
        let (chat, sdk, store, config, auth) = (
            chat.clone(),
            sdk.clone(),
            store.clone(),
            config.clone(),
            auth.clone(),
        );
        async move {
            let ctx = &event.payload.request_context;
            let chat = chat
                .get_or_init(|| async {
                    let endpoint = std::env::var("WSCHAT_MANAGEMENT_ENDPOINT")
                        .unwrap_or_else(|_| management_endpoint(&ctx.domain_name, &ctx.stage));
                    Chat::new(store, ManagementGateway::new(&sdk, &endpoint), config)
                        .with_auth(auth)
                })
                .await;
            Ok::<Response, Error>(chat.handle(&event.payload).await)
        }
    }))
    .await
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
