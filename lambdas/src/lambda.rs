//! The Lambda side: SDK clients built once per container, Lambda's log controls, the runtime loop.

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
/// Logging follows Lambda's own controls (`AWS_LAMBDA_LOG_LEVEL`, `AWS_LAMBDA_LOG_FORMAT`).
pub async fn run() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let table = std::env::var("TABLE_NAME")
        .map_err(|_| "TABLE_NAME is not set: the function needs its DynamoDB table")?;
    let sdk = Arc::new(aws_config::load_from_env().await);
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);
    let config = ChatConfig::from_env();
    // The @connections endpoint is only known from the first event (its domain
    // and stage); after that the same client serves every invocation.
    let chat: Arc<OnceCell<Chat<DynamoStore, ManagementGateway>>> = Arc::new(OnceCell::new());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<WebSocketEvent>| {
        let (chat, sdk, store, config) = (chat.clone(), sdk.clone(), store.clone(), config.clone());
        async move {
            let ctx = &event.payload.request_context;
            let chat = chat
                .get_or_init(|| async {
                    let endpoint = std::env::var("WSCHAT_MANAGEMENT_ENDPOINT")
                        .unwrap_or_else(|_| management_endpoint(&ctx.domain_name, &ctx.stage));
                    Chat::new(store, ManagementGateway::new(&sdk, &endpoint), config)
                })
                .await;
            Ok::<Response, Error>(chat.handle(&event.payload).await)
        }
    }))
    .await
}
