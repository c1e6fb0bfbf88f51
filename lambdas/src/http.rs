//! The HTTP client the functions use beyond their SDK clients: the issuer's
//! keys in jwt mode, SSM and Lambda's asynchronous `Invoke` ([`crate::signed`]).

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// No call from a handshake waits longer; API Gateway gives `$connect` 29 s in all.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// A whole answer.
pub struct Answer {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

#[derive(Clone)]
pub struct HttpClient {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl HttpClient {
    /// HTTPS with the system's roots; plain HTTP too (a local issuer, the tests).
    pub fn new() -> Self {
        Self::with_timeout(TIMEOUT)
    }

    /// Each exchange gives up after `timeout`.
    pub fn with_timeout(timeout: Duration) -> Self {
        let provider = rustls::crypto::aws_lc_rs::default_provider;
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider())
            .unwrap_or_else(|_| {
                let no_roots = rustls::ClientConfig::builder_with_provider(provider().into())
                    .with_safe_default_protocol_versions()
                    .expect("the provider supports TLS 1.2 and 1.3")
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth();
                hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(no_roots)
            });
        let https = builder.https_or_http().enable_http1().build();
        HttpClient {
            client: Client::builder(TokioExecutor::new()).build(https),
            timeout,
        }
    }

    /// Sends a request; the status, the headers and the whole body, within the timeout.
    pub async fn send(&self, request: hyper::Request<Full<Bytes>>) -> Result<Answer, SendError> {
        // Only an error names the URL: formatting it for every post costs.
        let url = request.uri().clone();
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| SendError {
                message: format!("{url}: {e}"),
                unsent: e.is_connect(),
            })?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await.map_err(|e| SendError {
                message: format!("{url}: {e}"),
                unsent: false,
            })?;
            Ok(Answer {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body: body.to_bytes(),
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| SendError {
                message: format!("{url} did not answer within {:?}", self.timeout),
                unsent: false,
            })?
    }
}

/// Why no answer came.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    pub message: String,
    /// The connection could not be made: the request never left.
    pub unsent: bool,
}

impl From<SendError> for String {
    fn from(e: SendError) -> String {
        e.message
    }
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}
