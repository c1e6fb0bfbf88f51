//! Who may connect, and under which name: the `$connect` check that runs in
//! the connect function on AWS and in `wschat dev` alike.
//!
//! - [`AuthMode::Open`]: the name is whatever the query says (a display name).
//! - [`AuthMode::Token`]: an HS256 JWT the stack signs itself ([`token`]); the
//!   name is the token's `sub`.
//! - [`AuthMode::Jwt`]: a JWT from an existing identity provider, checked
//!   against its published keys ([`jwks`]).
//!
//! In every mode an allowlist of web origins may refuse browser handshakes.

pub mod jwks;
pub mod ssm;
pub mod token;

use crate::protocol::{ConnectParams, ProtocolError};
use std::collections::HashMap;
use std::fmt;

/// How a stack authenticates connections; deploy records it in the connect
/// function's environment, `wschat dev` takes the same flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    #[default]
    Open,
    Token,
    Jwt,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Open => "open",
            AuthMode::Token => "token",
            AuthMode::Jwt => "jwt",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(AuthMode::Open),
            "token" => Some(AuthMode::Token),
            "jwt" => Some(AuthMode::Jwt),
            _ => None,
        }
    }
}

impl fmt::Display for AuthMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An identity provider's coordinates for [`AuthMode::Jwt`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtSettings {
    pub issuer: String,
    pub audience: String,
    /// The claim that holds the username.
    pub name_claim: String,
}

pub const DEFAULT_NAME_CLAIM: &str = "sub";

/// Everything `$connect` needs to decide who is connecting.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthSettings {
    pub mode: AuthMode,
    /// Empty: any origin. Else a handshake with an `Origin` header not listed gets 403.
    pub allowed_origins: Vec<String>,
    /// Set in jwt mode.
    pub jwt: Option<JwtSettings>,
}

pub const ENV_MODE: &str = "WSCHAT_AUTH";
const ENV_ORIGINS: &str = "WSCHAT_ALLOWED_ORIGINS";
const ENV_JWT_ISSUER: &str = "WSCHAT_JWT_ISSUER";
const ENV_JWT_AUDIENCE: &str = "WSCHAT_JWT_AUDIENCE";
const ENV_JWT_NAME_CLAIM: &str = "WSCHAT_JWT_NAME_CLAIM";
/// Token mode, on AWS: the stack's token audience, and where its secret is.
pub const ENV_TOKEN_AUDIENCE: &str = "WSCHAT_TOKEN_AUDIENCE";
pub const ENV_TOKEN_PARAMETER: &str = "WSCHAT_TOKEN_PARAMETER";
pub const ENV_TOKEN_VERSION: &str = "WSCHAT_TOKEN_PARAMETER_VERSION";

impl AuthSettings {
    /// The connect function's environment variables for these settings.
    /// Open mode without an allowlist adds nothing, so older stacks do not drift.
    pub fn to_env(&self) -> Vec<(String, String)> {
        let mut env = Vec::new();
        if self.mode != AuthMode::Open {
            env.push((ENV_MODE.to_owned(), self.mode.to_string()));
        }
        if !self.allowed_origins.is_empty() {
            env.push((ENV_ORIGINS.to_owned(), self.allowed_origins.join(",")));
        }
        if let Some(jwt) = &self.jwt {
            env.push((ENV_JWT_ISSUER.to_owned(), jwt.issuer.clone()));
            env.push((ENV_JWT_AUDIENCE.to_owned(), jwt.audience.clone()));
            env.push((ENV_JWT_NAME_CLAIM.to_owned(), jwt.name_claim.clone()));
        }
        env
    }

    /// The inverse of [`to_env`](Self::to_env), from any lookup (the process
    /// environment, or a deployed function's variables).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mode = match get(ENV_MODE) {
            None => AuthMode::Open,
            Some(v) => AuthMode::parse(&v)
                .ok_or_else(|| format!("{ENV_MODE}={v} is not open, token or jwt"))?,
        };
        let allowed_origins = get(ENV_ORIGINS)
            .map(|v| {
                v.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let jwt = match mode {
            AuthMode::Jwt => Some(JwtSettings {
                issuer: get(ENV_JWT_ISSUER).ok_or(format!("jwt mode needs {ENV_JWT_ISSUER}"))?,
                audience: get(ENV_JWT_AUDIENCE)
                    .ok_or(format!("jwt mode needs {ENV_JWT_AUDIENCE}"))?,
                name_claim: get(ENV_JWT_NAME_CLAIM)
                    .unwrap_or_else(|| DEFAULT_NAME_CLAIM.to_owned()),
            }),
            _ => None,
        };
        Ok(AuthSettings {
            mode,
            allowed_origins,
            jwt,
        })
    }
}

/// A refused handshake: the HTTP status API Gateway answers with, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub reason: String,
}

/// A refusal's reason is sent to the client and logged: whatever client text
/// it quotes, it stays short.
const MAX_REASON: usize = 384;

impl Refusal {
    fn new(status: u16, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Refusal {
            status,
            reason: crate::clip::clip_to(&reason, MAX_REASON).into_owned(),
        }
    }

    pub fn unauthorized(reason: impl Into<String>) -> Self {
        Refusal::new(401, reason)
    }

    fn bad_request(e: &ProtocolError) -> Self {
        Refusal::new(400, e.to_string())
    }
}

/// Where token mode's signing secret comes from.
pub enum SecretSource {
    /// `wschat dev`: made at start, held in memory.
    Fixed(Vec<u8>),
    /// The Lambda function: an SSM SecureString, read once per container.
    Ssm(Box<ssm::SsmSecret>),
}

enum Verifier {
    Open,
    Token(Box<token::TokenVerifier>),
    Jwt(Box<jwks::JwtVerifier>),
}

/// The `$connect` gate built from [`AuthSettings`].
pub struct Auth {
    verifier: Verifier,
    allowed_origins: Vec<String>,
    /// `wschat dev`'s port: the page it serves may connect from any address it was loaded from.
    own_page_port: Option<u16>,
}

impl Default for Auth {
    fn default() -> Self {
        Auth {
            verifier: Verifier::Open,
            allowed_origins: Vec::new(),
            own_page_port: None,
        }
    }
}

impl Auth {
    /// `audience` is the stack's own token audience ([`token::audience`]);
    /// `secret` is used in token mode only.
    pub fn new(
        settings: &AuthSettings,
        audience: String,
        secret: Option<SecretSource>,
    ) -> Result<Self, String> {
        let verifier = match settings.mode {
            AuthMode::Open => Verifier::Open,
            AuthMode::Token => {
                let secret = secret.ok_or("token mode needs its signing secret")?;
                Verifier::Token(Box::new(token::TokenVerifier::new(secret, audience)))
            }
            AuthMode::Jwt => {
                let jwt = settings
                    .jwt
                    .clone()
                    .ok_or("jwt mode needs an issuer and an audience")?;
                Verifier::Jwt(Box::new(jwks::JwtVerifier::new(jwt)))
            }
        };
        Ok(Auth {
            verifier,
            allowed_origins: settings.allowed_origins.clone(),
            own_page_port: None,
        })
    }

    /// `wschat dev` on `port` serves its own page: that page may connect,
    /// loaded from whichever of the machine's addresses (the handshake's own
    /// `Host`, or any loopback address on this port), and no other origin
    /// may unless listed.
    pub fn serving_its_own_page(mut self, port: u16) -> Self {
        self.own_page_port = Some(port);
        self
    }

    fn admits_origin(&self, origin: &str, host: Option<&str>) -> bool {
        if self.allowed_origins.iter().any(|o| o == origin) {
            return true;
        }
        let Some(port) = self.own_page_port else {
            return self.allowed_origins.is_empty();
        };
        let Some(authority) = origin.strip_prefix("http://") else {
            return false;
        };
        if host.is_some_and(|h| h.eq_ignore_ascii_case(authority)) {
            return true;
        }
        let (name, given) = match authority.rsplit_once(':') {
            Some((name, p)) if !authority.starts_with('[') || name.ends_with(']') => {
                (name, p.parse::<u16>().ok())
            }
            _ => (authority, Some(80)),
        };
        let name = name.trim_start_matches('[').trim_end_matches(']');
        let loopback = name.eq_ignore_ascii_case("localhost")
            || name
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        loopback && given == Some(port)
    }

    /// Whether names are verified (token or jwt), not merely claimed.
    pub fn verifies_names(&self) -> bool {
        !matches!(self.verifier, Verifier::Open)
    }

    /// Decides a handshake from its headers and query: the name and room to
    /// register, or the status to refuse it with.
    pub async fn admit(
        &self,
        headers: Option<&HashMap<String, String>>,
        query: Option<&HashMap<String, String>>,
    ) -> Result<ConnectParams, Refusal> {
        if let Some(origin) = header(headers, "origin") {
            if !self.admits_origin(origin, header(headers, "host")) {
                return Err(Refusal::new(
                    403,
                    format!(
                        "origin {} is not allowed to connect",
                        crate::clip::clip(origin)
                    ),
                ));
            }
        }
        let mut params = ConnectParams::from_query(query).map_err(|e| Refusal::bad_request(&e))?;
        let token = || {
            query
                .and_then(|q| q.get("token"))
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    Refusal::unauthorized("this chat needs a token: connect with ?token=...")
                })
        };
        let verified = match &self.verifier {
            Verifier::Open => return Ok(params),
            Verifier::Token(v) => v.verify(token()?).await?,
            Verifier::Jwt(v) => v.verify(token()?).await?,
        };
        params.username = verified.username;
        if let Some(room) = verified.room {
            params.room = room;
        }
        Ok(params)
    }
}

/// Who a verified token says is connecting.
#[derive(Debug)]
pub struct Verified {
    pub username: String,
    /// Token mode may pin the room.
    pub room: Option<String>,
}

/// Header names are case-insensitive; API Gateway passes the client's casing.
fn header<'a>(headers: Option<&'a HashMap<String, String>>, name: &str) -> Option<&'a str> {
    headers?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_survive_the_environment() {
        let settings = AuthSettings {
            mode: AuthMode::Jwt,
            allowed_origins: vec!["https://a.example".into(), "https://b.example".into()],
            jwt: Some(JwtSettings {
                issuer: "https://issuer.example".into(),
                audience: "chat".into(),
                name_claim: "email".into(),
            }),
        };
        let env: HashMap<_, _> = settings.to_env().into_iter().collect();
        let back = AuthSettings::from_lookup(|k| env.get(k).cloned()).unwrap();
        assert_eq!(back, settings);
        assert!(AuthSettings::default().to_env().is_empty());
        assert_eq!(
            AuthSettings::from_lookup(|_| None).unwrap(),
            AuthSettings::default()
        );
        assert!(AuthSettings::from_lookup(|k| (k == ENV_MODE).then(|| "magic".into())).is_err());
    }

    #[tokio::test]
    async fn the_origin_allowlist_refuses_only_listed_browsers() {
        let settings = AuthSettings {
            allowed_origins: vec!["https://chat.example".into()],
            ..Default::default()
        };
        let auth = Auth::new(&settings, "wschat:t".into(), None).unwrap();
        let headers = |origin: &str| HashMap::from([("Origin".to_owned(), origin.to_owned())]);
        let refused = auth
            .admit(Some(&headers("http://evil.example")), None)
            .await
            .unwrap_err();
        assert_eq!(refused.status, 403);
        assert!(auth
            .admit(Some(&headers("https://chat.example")), None)
            .await
            .is_ok());
        assert!(
            auth.admit(None, None).await.is_ok(),
            "no Origin: not a browser"
        );
    }

    #[tokio::test]
    async fn the_sandboxs_page_connects_from_any_address_it_was_loaded_from() {
        let auth = Auth::default().serving_its_own_page(8080);
        let admits = |origin: &str, host: &str| {
            let headers = HashMap::from([
                ("Origin".to_owned(), origin.to_owned()),
                ("Host".to_owned(), host.to_owned()),
            ]);
            let auth = &auth;
            async move { auth.admit(Some(&headers), None).await.is_ok() }
        };
        assert!(admits("http://192.168.1.5:8080", "192.168.1.5:8080").await);
        assert!(admits("http://0.0.0.0:8080", "0.0.0.0:8080").await);
        assert!(admits("http://localhost:8080", "127.0.0.1:8080").await);
        assert!(admits("http://[::1]:8080", "127.0.0.1:8080").await);
        assert!(admits("http://127.0.0.3:8080", "127.0.0.2:8080").await);
        assert!(!admits("http://evil.example", "127.0.0.1:8080").await);
        assert!(!admits("http://127.0.0.1:9090", "127.0.0.1:8080").await);
        assert!(!admits("http://192.168.1.6:8080", "192.168.1.5:8080").await);
        assert!(!admits("https://127.0.0.1:8080", "127.0.0.1:8080").await);
        let on_80 = Auth::default().serving_its_own_page(80);
        let headers = HashMap::from([("Origin".to_owned(), "http://127.0.0.1".to_owned())]);
        assert!(on_80.admit(Some(&headers), None).await.is_ok());
    }

    #[tokio::test]
    async fn a_refusal_quotes_client_text_cut_short() {
        let auth = Auth::default().serving_its_own_page(8080);
        let origin = format!("http://{}.example", "o".repeat(14_000));
        let headers = HashMap::from([("Origin".to_owned(), origin)]);
        let refused = auth.admit(Some(&headers), None).await.unwrap_err();
        assert!(
            refused.reason.len() < MAX_REASON + 32,
            "{}",
            refused.reason.len()
        );
        assert!(
            refused.reason.contains("(14015 bytes)"),
            "{}",
            refused.reason
        );
        assert!(Refusal::new(401, "x".repeat(5000)).reason.len() < MAX_REASON + 32);
    }
}
