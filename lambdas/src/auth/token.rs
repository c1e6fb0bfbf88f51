//! Token mode: HS256 JWTs signed with the stack's own secret, so an
//! application backend can mint them with any JWT library.
//!
//! Claims: `sub` (the username), `aud` (`wschat:{name}-{stage}`, so one
//! stack's token is refused by another even if secrets were shared), `iat`,
//! `exp`, and optionally `room`.

use super::{Refusal, SecretSource, Verified};
use crate::names::normalize_username;
use crate::protocol::validate_room;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::OnceCell;

pub const ALGORITHM: Algorithm = Algorithm::HS256;
/// How long a token minted without `--ttl` lasts.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);
/// The shortest and longest lifetimes a token may have: a token cannot be
/// revoked except by rotating the secret, so it does not live for years.
pub const MIN_TTL: Duration = Duration::from_secs(1);
pub const MAX_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// A lifetime between [`MIN_TTL`] and [`MAX_TTL`], or why not.
pub fn check_ttl(ttl: Duration) -> Result<Duration, String> {
    if (MIN_TTL..=MAX_TTL).contains(&ttl) {
        Ok(ttl)
    } else {
        Err("a token lives between 1s and 30d (tokens cannot be revoked one by one; --rotate-secret revokes all)".to_owned())
    }
}

/// The `aud` of a stack's tokens, from its `{name}-{stage}` prefix.
pub fn audience(stack_prefix: &str) -> String {
    format!("wschat:{stack_prefix}")
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub aud: String,
    pub iat: u64,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Signs a token for `user`; the name is normalised and checked as a
/// handshake would check it, so a token never names someone unreachable.
pub fn mint(
    secret: &[u8],
    audience: &str,
    user: &str,
    room: Option<&str>,
    ttl: Duration,
) -> Result<String, String> {
    let ttl = check_ttl(ttl)?;
    let sub = normalize_username(user).map_err(|e| e.message)?;
    if let Some(room) = room {
        validate_room(room).map_err(|e| e.message)?;
    }
    let iat = now();
    let claims = Claims {
        sub,
        aud: audience.to_owned(),
        iat,
        exp: iat + ttl.as_secs(),
        room: room.map(str::to_owned),
    };
    let key =
        EncodingKey::from_secret(secret).map_err(|e| format!("unusable signing secret: {e}"))?;
    jsonwebtoken::encode(&Header::new(ALGORITHM), &claims, &key)
        .map_err(|e| format!("could not sign the token: {e}"))
}

pub struct TokenVerifier {
    source: SecretSource,
    key: OnceCell<DecodingKey>,
    validation: Validation,
}

impl TokenVerifier {
    pub fn new(source: SecretSource, audience: String) -> Self {
        let mut validation = Validation::new(ALGORITHM);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "aud", "sub"]);
        validation.leeway = 5;
        TokenVerifier {
            source,
            key: OnceCell::new(),
            validation,
        }
    }

    /// The key, read once per container; a failed read is retried by the next handshake.
    async fn key(&self) -> Result<&DecodingKey, Refusal> {
        self.key
            .get_or_try_init(|| async {
                let secret = match &self.source {
                    SecretSource::Fixed(secret) => secret.clone(),
                    SecretSource::Ssm(ssm) => ssm.read().await?,
                };
                DecodingKey::from_secret(&secret).map_err(|e| format!("unusable token secret: {e}"))
            })
            .await
            .map_err(|e: String| {
                tracing::error!(error = %e, "token secret unavailable");
                Refusal::new(500, "the server could not check tokens")
            })
    }

    pub async fn verify(&self, token: &str) -> Result<Verified, Refusal> {
        let key = self.key().await?;
        let claims = jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map_err(|e| Refusal::unauthorized(format!("token refused: {e}")))?
            .claims;
        let username = normalize_username(&claims.sub)
            .map_err(|e| Refusal::unauthorized(format!("token refused: {}", e.message)))?;
        if let Some(room) = &claims.room {
            validate_room(room)
                .map_err(|e| Refusal::unauthorized(format!("token refused: {}", e.message)))?;
        }
        Ok(Verified {
            username,
            room: claims.room,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier(secret: &[u8], aud: &str) -> TokenVerifier {
        TokenVerifier::new(SecretSource::Fixed(secret.to_vec()), aud.to_owned())
    }

    #[tokio::test]
    async fn a_minted_token_names_its_user_and_room() {
        let token = mint(
            b"s3cret",
            "wschat:chat-dev",
            "ａｄａ",
            Some("ops"),
            DEFAULT_TTL,
        )
        .unwrap();
        let who = verifier(b"s3cret", "wschat:chat-dev")
            .verify(&token)
            .await
            .unwrap();
        assert_eq!(who.username, "ada");
        assert_eq!(who.room.as_deref(), Some("ops"));
    }

    #[tokio::test]
    async fn forged_other_stack_and_expired_tokens_are_refused() {
        let token = mint(b"s3cret", "wschat:chat-dev", "ada", None, DEFAULT_TTL).unwrap();
        for (secret, aud) in [
            (&b"other"[..], "wschat:chat-dev"),
            (b"s3cret", "wschat:chat-prod"),
        ] {
            assert_eq!(
                verifier(secret, aud)
                    .verify(&token)
                    .await
                    .unwrap_err()
                    .status,
                401
            );
        }
        let expired = Claims {
            sub: "ada".into(),
            aud: "wschat:chat-dev".into(),
            iat: 1,
            exp: 2,
            room: None,
        };
        let expired = jsonwebtoken::encode(
            &Header::new(ALGORITHM),
            &expired,
            &EncodingKey::from_secret(b"s3cret").unwrap(),
        )
        .unwrap();
        let refusal = verifier(b"s3cret", "wschat:chat-dev")
            .verify(&expired)
            .await
            .unwrap_err();
        assert!(refusal.reason.contains("Expired"), "{}", refusal.reason);
    }

    #[test]
    fn bad_names_get_no_token() {
        assert!(mint(b"s", "a", "\u{430}da", None, DEFAULT_TTL).is_err());
        assert!(mint(b"s", "a", "ada", Some("no spaces"), DEFAULT_TTL).is_err());
        for ttl in [0, 30 * 24 * 3600 + 1, u64::MAX, 1 << 63] {
            let refused = mint(b"s", "a", "ada", None, Duration::from_secs(ttl));
            assert!(refused.unwrap_err().contains("30d"), "{ttl}");
        }
        assert!(mint(b"s", "a", "ada", None, MAX_TTL).is_ok());
    }
}
