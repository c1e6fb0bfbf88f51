//! `wschat token`: a connection token for a stack in token mode. On AWS the
//! CLI signs with the secret it reads from SSM; a sandbox signs its own.

use super::{store_error, Backend, Target};
use crate::error::{CliError, Result};
use crate::stack::secret;
use std::time::Duration;
use wschat_lambdas::auth::token;

pub async fn mint(
    target: &Target,
    user: &str,
    room: Option<&str>,
    ttl: Duration,
) -> Result<String> {
    match &target.backend {
        Backend::Local(store) => store.mint_token(user, room, ttl).await.map_err(store_error),
        Backend::Aws(stack) => {
            let secret = secret::read(stack).await?;
            token::mint(secret.as_bytes(), &stack.spec.token_audience(), user, room, ttl)
                .map_err(|e| CliError::usage(e).with_hint("names follow docs/protocol.md; rooms are 1-32 ASCII letters, digits, '_' or '-'"))
        }
    }
}
