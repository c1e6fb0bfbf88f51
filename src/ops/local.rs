//! The sandbox's connections, read over its `@wschat` endpoints: `--local`'s
//! stand-in for the DynamoDB table.

use crate::aws::attempt_timeout;
use crate::sandbox::credentials::Credentials;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use std::time::Duration;
use wschat_lambdas::rate::Rate;
use wschat_lambdas::retry::{retry, Backoff, Limits, Verdict};
use wschat_lambdas::store::{Connection, ConnectionStore, Filter, Listed, Page, StoreError};

/// Where `wschat dev` listens unless told otherwise.
pub const DEFAULT_LOCAL_URL: &str = "http://127.0.0.1:8080";

#[derive(Clone)]
pub struct HttpStore {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
    credentials: Credentials,
    timeout: Duration,
}

const RETRY: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));

fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

impl HttpStore {
    /// `url` is the sandbox's base URL (`http://127.0.0.1:8080`); requests
    /// are signed with its credentials, as it requires, and each call,
    /// retries included, ends within `timeout`.
    pub fn new(url: &str, stage: &str, credentials: Credentials, timeout: Duration) -> Self {
        HttpStore {
            base: format!("{}/{}/@wschat", url.trim_end_matches('/'), enc(stage)),
            client: Client::builder(TokioExecutor::new()).build_http(),
            credentials,
            timeout,
        }
    }

    /// A signed, idempotent request (GET or DELETE); `None` on 404. A dropped
    /// connection, a 5xx, a 429 or an attempt with no answer within
    /// [`attempt_timeout`] (a lost reply) is tried again with backoff for as
    /// long as the timeout lasts; the error then says how long it tried.
    async fn call(&self, method: &str, path: &str) -> Result<Option<Bytes>, StoreError> {
        let uri = format!("{}{path}", self.base);
        let per_attempt = attempt_timeout(self.timeout);
        let limits = Limits {
            attempts: None,
            within: Some(self.timeout),
        };
        let started = tokio::time::Instant::now();
        let answer = retry(
            limits,
            |_| async {
                // The last attempt gets what is left of the timeout, at most.
                let left = self.timeout.saturating_sub(started.elapsed());
                let limit = per_attempt.min(left);
                tokio::time::timeout(limit, self.send(method, path, Bytes::new()))
                    .await
                    .unwrap_or_else(|_| {
                        Err(Attempt {
                            error: StoreError(format!("no answer from {uri} within {limit:?}")),
                            retryable: true,
                        })
                    })
            },
            |failed, attempt, _| {
                if failed.retryable {
                    Verdict::Retry(RETRY.delay(attempt))
                } else {
                    Verdict::Stop
                }
            },
        )
        .await;
        answer.map_err(|failed| {
            if !failed.error.retryable {
                return failed.error.error;
            }
            StoreError(format!(
                "{}: gave up after {} attempt(s) over {:.1} s (--request-timeout {:?}); is the wschat dev there stuck?",
                failed.error.error.0,
                failed.attempts,
                failed.elapsed.as_secs_f64(),
                self.timeout,
            ))
        })
    }

    async fn send(&self, method: &str, path: &str, body: Bytes) -> Result<Option<Bytes>, Attempt> {
        let uri = format!("{}{path}", self.base);
        let signature = crate::sandbox::sign_request(&self.credentials, method, &uri, &body)
            .map_err(|e| Attempt::fatal(format!("could not sign the request to {uri}: {e}")))?;
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(&uri)
            .header("content-type", "application/json");
        for (name, value) in signature {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| Attempt::fatal(e.to_string()))?;
        let response = self.client.request(request).await.map_err(|e| Attempt {
            error: StoreError(format!("no wschat dev answers at {uri} ({e}); start one with `wschat dev` or pass its URL to --local")),
            retryable: true,
        })?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| Attempt {
                error: StoreError(format!("the answer from {uri} was cut off: {e}")),
                retryable: true,
            })?
            .to_bytes();
        match status.as_u16() {
            200..=299 => Ok(Some(body)),
            404 => Ok(None),
            code => Err(Attempt {
                error: StoreError(format!(
                    "the sandbox answered {code} to {method} {uri}: {}",
                    String::from_utf8_lossy(&body)
                )),
                retryable: code >= 500 || code == 429,
            }),
        }
    }

    /// One signed POST, not retried (it is not idempotent), within the timeout.
    async fn post(&self, path: &str, body: String) -> Result<Bytes, StoreError> {
        let post = self.send("POST", path, Bytes::from(body));
        let answer = tokio::time::timeout(self.timeout, post)
            .await
            .map_err(|_| {
                StoreError(format!(
                    "the sandbox did not answer within {:?}",
                    self.timeout
                ))
            })?
            .map_err(|e| e.error)?;
        Ok(answer.unwrap_or_default())
    }

    /// A token the sandbox signs (token mode only).
    pub async fn mint_token(
        &self,
        user: &str,
        room: Option<&str>,
        ttl: std::time::Duration,
    ) -> Result<String, StoreError> {
        let body = serde_json::json!({ "user": user, "room": room, "ttl_seconds": ttl.as_secs() });
        let answer: serde_json::Value = parse(&self.post("/token", body.to_string()).await?)?;
        answer["token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| StoreError("the sandbox returned no token".into()))
    }

    /// Runs a moderation command in the sandbox: its outcome, and whether
    /// the sandbox verifies names.
    pub async fn moderate(
        &self,
        command: &wschat_lambdas::moderation::Command,
    ) -> Result<(wschat_lambdas::moderation::Outcome, bool), StoreError> {
        let body = serde_json::to_string(command).expect("commands serialize");
        let answer = self.post("/moderation", body).await?;
        #[derive(serde::Deserialize)]
        struct Wire {
            outcome: wschat_lambdas::moderation::Outcome,
            names_verified: bool,
        }
        let wire: Wire = parse(&answer)?;
        Ok((wire.outcome, wire.names_verified))
    }

    /// The sandbox's log lines after `after` (a sequence number).
    pub async fn logs(&self, after: u64) -> Result<Vec<serde_json::Value>, StoreError> {
        let body = self
            .call("GET", &format!("/logs?after={after}"))
            .await?
            .unwrap_or_default();
        serde_json::from_slice(&body)
            .map_err(|e| StoreError(format!("unreadable logs from the sandbox: {e}")))
    }
}

impl HttpStore {
    /// The functions' figures over the last `since` (see [`crate::health`]).
    pub async fn health(&self, since: Duration) -> Result<crate::health::Figures, StoreError> {
        let path = format!("/health?since_seconds={}", since.as_secs().max(1));
        let body = self.call("GET", &path).await?.unwrap_or_default();
        serde_json::from_slice(&body)
            .map_err(|e| StoreError(format!("unreadable health from the sandbox: {e}")))
    }
}

/// One attempt's failure, and whether another attempt may succeed.
struct Attempt {
    error: StoreError,
    retryable: bool,
}

impl Attempt {
    fn fatal(message: String) -> Self {
        Attempt {
            error: StoreError(message),
            retryable: false,
        }
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(body)
        .map_err(|e| StoreError(format!("unreadable answer from the sandbox: {e}")))
}

impl ConnectionStore for HttpStore {
    async fn put(&self, _: &Connection) -> Result<(), StoreError> {
        Err(StoreError(
            "the sandbox's connections are written by its own handlers".into(),
        ))
    }

    async fn spend(&self, _: &str, _: &Rate, _: i64) -> Result<Option<i64>, StoreError> {
        Err(StoreError(
            "the sandbox's message buckets are spent by its own handlers".into(),
        ))
    }

    async fn typing(&self, _: &str, _: i64) -> Result<bool, StoreError> {
        Err(StoreError(
            "the sandbox's typing notices are paced by its own handlers".into(),
        ))
    }

    async fn set_muted(&self, _: &str, _: i64) -> Result<bool, StoreError> {
        Err(StoreError(
            "the sandbox's mutes go through its moderation endpoint".into(),
        ))
    }

    async fn get(&self, id: &str) -> Result<Option<Connection>, StoreError> {
        self.call("GET", &format!("/connections/{}", enc(id)))
            .await?
            .map(|b| parse(&b))
            .transpose()
    }

    async fn delete(&self, id: &str) -> Result<Option<Connection>, StoreError> {
        self.call("DELETE", &format!("/connections/{}", enc(id)))
            .await?
            .map(|b| parse(&b))
            .transpose()
    }

    async fn list(&self, filter: &Filter, cursor: Option<String>, limit: usize) -> Listed {
        let mut query = format!("?limit={limit}");
        match filter {
            Filter::All => {}
            Filter::Room(room) => query.push_str(&format!("&room={}", enc(room))),
            Filter::Username(name) => query.push_str(&format!("&username={}", enc(name))),
            // The sandbox delivers a room's shards itself; an operator lists rooms.
            Filter::RoomShard(..) | Filter::Segment(..) => {
                return Err(StoreError(
                    "a sandbox lists rooms and users over --local, not shards".into(),
                ))
            }
        }
        if let Some(cursor) = cursor {
            query.push_str(&format!("&cursor={}", enc(&cursor)));
        }
        #[derive(serde::Deserialize)]
        struct Wire {
            items: Vec<Connection>,
            next: Option<String>,
        }
        let body = self
            .call("GET", &format!("/connections{query}"))
            .await?
            .unwrap_or_default();
        let wire: Wire = parse(&body)?;
        Ok(Page {
            items: wire.items,
            next: wire.next,
        })
    }
}

/// `wschat status --local`: where a running sandbox serves what.
#[derive(serde::Serialize)]
pub struct LocalStatus {
    target: String,
    websocket_url: String,
    connections_url: String,
    web_client: String,
    connections: usize,
    health: crate::health::Health,
}

impl std::fmt::Display for LocalStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}: running", self.target)?;
        writeln!(f, "  WebSocket     {}", self.websocket_url)?;
        writeln!(f, "  @connections  {}", self.connections_url)?;
        writeln!(f, "  web client    {}", self.web_client)?;
        writeln!(f, "  connections   {} stored", self.connections)?;
        write!(f, "{}", self.health)
    }
}

pub async fn status(
    target: &super::Target,
    url: &str,
    stage: &str,
    since: Duration,
) -> crate::error::Result<LocalStatus> {
    let rows = wschat_lambdas::store::list_all(&target.store, &Filter::All)
        .await
        .map_err(super::store_error)?;
    let super::Backend::Local(sandbox) = &target.backend else {
        return Err(crate::error::CliError::failed("not a `wschat dev` target"));
    };
    let figures = sandbox.health(since).await.map_err(super::store_error)?;
    let base = url.trim_end_matches('/');
    Ok(LocalStatus {
        target: target.label.clone(),
        websocket_url: format!("{}/{stage}", base.replacen("http", "ws", 1)),
        connections_url: format!("{base}/{stage}/@connections"),
        web_client: format!("{base}/"),
        connections: rows.len(),
        health: crate::health::Health::new(rows.len() as u64, figures),
    })
}
