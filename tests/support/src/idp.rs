//! An OIDC identity provider on 127.0.0.1: a discovery document and a JWK
//! set with the public halves of the given keys, for jwt mode.

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::json;

/// Serves the keys (id, algorithm, private key); returns the issuer URL.
pub async fn identity_provider(keys: &[(&str, Algorithm, &EncodingKey)]) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let set = JwkSet {
        keys: keys
            .iter()
            .map(|(kid, alg, key)| {
                let mut jwk = Jwk::from_encoding_key(key, *alg).unwrap();
                jwk.common.key_id = Some((*kid).to_owned());
                jwk
            })
            .collect(),
    };
    let discovery = json!({"issuer": issuer, "jwks_uri": format!("{issuer}/keys")}).to_string();
    let keys = serde_json::to_string(&set).unwrap();
    let app = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            axum::routing::get(move || async move { discovery }),
        )
        .route("/keys", axum::routing::get(move || async move { keys }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    issuer
}
