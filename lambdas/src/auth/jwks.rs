//! Jwt mode: tokens from an existing identity provider (Cognito, Auth0, any
//! OIDC issuer), checked against the keys the issuer publishes.
//!
//! The keys come from the issuer's discovery document
//! (`{issuer}/.well-known/openid-configuration`, its `jwks_uri`) and are cached
//! per container; a token signed with a key id the cache does not know makes
//! one refetch (at most every [`REFETCH_AFTER`]), which is how key rotation
//! reaches warm containers.

use super::{JwtSettings, Refusal, Verified};
use crate::http::HttpClient;
use crate::names::normalize_username;
use http_body_util::Full;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// The signature algorithms accepted from an issuer.
pub const ALGORITHMS: [Algorithm; 2] = [Algorithm::RS256, Algorithm::ES256];
pub const REFETCH_AFTER: Duration = Duration::from_secs(60);
pub struct JwtVerifier {
    settings: JwtSettings,
    http: HttpClient,
    keys: Mutex<Option<(JwkSet, Instant)>>,
}

impl JwtVerifier {
    pub fn new(settings: JwtSettings) -> Self {
        JwtVerifier {
            settings,
            http: HttpClient::new(),
            keys: Mutex::new(None),
        }
    }

    async fn get_json(&self, url: &str) -> Result<serde_json::Value, String> {
        let request = hyper::Request::get(url)
            .body(Full::default())
            .map_err(|e| format!("{url}: {e}"))?;
        let answer = self.http.send(request).await?;
        if !(200..300).contains(&answer.status) {
            return Err(format!("{url} answered {}", answer.status));
        }
        serde_json::from_slice(&answer.body).map_err(|e| format!("{url} is not JSON: {e}"))
    }

    async fn fetch_keys(&self) -> Result<JwkSet, String> {
        let discovery = format!(
            "{}/.well-known/openid-configuration",
            self.settings.issuer.trim_end_matches('/')
        );
        let config = self.get_json(&discovery).await?;
        let jwks_uri = config["jwks_uri"]
            .as_str()
            .ok_or_else(|| format!("{discovery} has no jwks_uri"))?
            .to_owned();
        serde_json::from_value(self.get_json(&jwks_uri).await?)
            .map_err(|e| format!("{jwks_uri} is not a JWK set: {e}"))
    }

    /// The key for `kid`, from the cache or, when unknown and the cache is old enough, a refetch.
    async fn key(&self, kid: &str) -> Result<DecodingKey, Refusal> {
        let mut keys = self.keys.lock().await;
        let known = keys.as_ref().and_then(|(set, _)| set.find(kid).cloned());
        let jwk = match known {
            Some(jwk) => jwk,
            None => {
                let stale = keys
                    .as_ref()
                    .is_none_or(|(_, at)| at.elapsed() >= REFETCH_AFTER);
                if !stale {
                    return Err(Refusal::unauthorized(format!(
                        "token refused: the issuer has no key '{kid}'"
                    )));
                }
                let set = self.fetch_keys().await.map_err(|e| {
                    tracing::error!(error = %e, "could not fetch the issuer's keys");
                    Refusal::new(
                        500,
                        "the server could not fetch the identity provider's keys",
                    )
                })?;
                let found = set.find(kid).cloned();
                *keys = Some((set, Instant::now()));
                found.ok_or_else(|| {
                    Refusal::unauthorized(format!("token refused: the issuer has no key '{kid}'"))
                })?
            }
        };
        DecodingKey::from_jwk(&jwk)
            .map_err(|e| Refusal::unauthorized(format!("token refused: unusable key '{kid}': {e}")))
    }

    pub async fn verify(&self, token: &str) -> Result<Verified, Refusal> {
        let refused = |why: String| Refusal::unauthorized(format!("token refused: {why}"));
        let header = jsonwebtoken::decode_header(token).map_err(|e| refused(e.to_string()))?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(refused(format!(
                "algorithm {:?} is not accepted (RS256 or ES256)",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| refused("the token names no key (kid)".into()))?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        let claims = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token,
            &key,
            &validation,
        )
        .map_err(|e| refused(e.to_string()))?
        .claims;
        let claim = &self.settings.name_claim;
        let name = claims
            .get(claim)
            .and_then(|v| v.as_str())
            .ok_or_else(|| refused(format!("no '{claim}' claim to take the name from")))?;
        let username = normalize_username(name).map_err(|e| refused(e.message))?;
        Ok(Verified {
            username,
            room: None,
        })
    }
}
