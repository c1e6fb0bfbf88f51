//! Talking back to clients: the `Gateway` trait and its implementation over
//! API Gateway's `@connections` management API.

use aws_sdk_apigatewaymanagement::config::http::HttpResponse;
use aws_sdk_apigatewaymanagement::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_apigatewaymanagement::primitives::Blob;
use aws_sdk_apigatewaymanagement::Client;
use bytes::Bytes;
use std::future::Future;

/// A post either reached the connection or found it gone (410): the caller prunes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    Gone,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// `LimitExceededException`: retry later.
    #[error("throttled by API Gateway (LimitExceededException)")]
    Throttled,
    /// A 5xx or a connection that could not be made: not delivered, worth another attempt.
    #[error("API Gateway did not answer: {0}")]
    Transient(String),
    /// Sent, and no answer came (a timeout, a connection cut mid-answer):
    /// the post may have been delivered. Worth another attempt.
    #[error("sent, no answer: {0}")]
    NoAnswer(String),
    #[error("payload too large for API Gateway (PayloadTooLargeException)")]
    PayloadTooLarge,
    #[error("forbidden by API Gateway: {0}")]
    Forbidden(String),
    #[error("{0}")]
    Other(String),
}

impl GatewayError {
    /// Whether another attempt may succeed: throttling and transient failures.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            GatewayError::Throttled | GatewayError::Transient(_) | GatewayError::NoAnswer(_)
        )
    }

    /// Whether the post may have reached the connection all the same.
    pub fn may_have_arrived(&self) -> bool {
        matches!(self, GatewayError::NoAnswer(_))
    }
}

/// Talking to connected clients: API Gateway's `@connections` on AWS, the
/// sandbox's sockets in `wschat dev`.
///
/// `Ok(Delivery::Gone)` means the connection no longer exists (410
/// GoneException): the caller deletes that connection's row, and only that
/// one. An `Err` leaves the row alone; [`GatewayError::is_retryable`] says
/// whether another attempt may succeed. Implementations do not retry.
pub trait Gateway: Send + Sync + 'static {
    /// Sends one frame (at most 128 KB) to one connection.
    fn post(
        &self,
        connection_id: &str,
        data: Bytes,
    ) -> impl Future<Output = Result<Delivery, GatewayError>> + Send;
    /// Closes the connection (API Gateway then fires `$disconnect`).
    fn disconnect(
        &self,
        connection_id: &str,
    ) -> impl Future<Output = Result<Delivery, GatewayError>> + Send;
}

/// `https://{domainName}/{stage}`, except that a loopback domain (`wschat dev`) speaks plain HTTP.
pub fn management_endpoint(domain_name: &str, stage: &str) -> String {
    let local = domain_name.starts_with("127.")
        || domain_name.starts_with("localhost")
        || domain_name.starts_with("[::1]");
    let scheme = if local { "http" } else { "https" };
    format!("{scheme}://{domain_name}/{stage}")
}

#[derive(Clone)]
pub struct ManagementGateway {
    client: Client,
}

impl ManagementGateway {
    /// A client for one API stage's `@connections` endpoint. The SDK does not
    /// retry: the fan-out is the one retry layer (see [`GatewayError::is_retryable`]),
    /// so a throttled burst is not retried by two layers at once.
    pub fn new(sdk: &aws_config::SdkConfig, endpoint: &str) -> Self {
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
            .endpoint_url(endpoint)
            .retry_config(aws_sdk_apigatewaymanagement::config::retry::RetryConfig::disabled())
            .build();
        ManagementGateway {
            client: Client::from_conf(config),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// Maps a management API failure onto the outcomes the fan-out cares about.
/// The HTTP status decides 410 even when the modelled error is missing.
pub fn classify<E>(e: SdkError<E, HttpResponse>) -> Result<Delivery, GatewayError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = e.raw_response().map(|r| r.status().as_u16());
    let code = e.code().map(str::to_owned);
    match (status, code.as_deref()) {
        (Some(410), _) | (_, Some("GoneException")) => Ok(Delivery::Gone),
        (Some(429), _) | (_, Some("LimitExceededException")) => Err(GatewayError::Throttled),
        (Some(413), _) | (_, Some("PayloadTooLargeException")) => {
            Err(GatewayError::PayloadTooLarge)
        }
        (Some(403), _) | (_, Some("ForbiddenException")) => {
            Err(GatewayError::Forbidden(DisplayErrorContext(e).to_string()))
        }
        (Some(500..=599), _) => Err(GatewayError::Transient(DisplayErrorContext(e).to_string())),
        // Refused or timed out while connecting: nothing was sent.
        _ if matches!(&e, SdkError::DispatchFailure(f) if f.is_timeout()) => {
            Err(GatewayError::Transient(DisplayErrorContext(e).to_string()))
        }
        // Sent, or perhaps sent: the answer never came, or came cut off.
        _ if matches!(
            e,
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_)
        ) =>
        {
            Err(GatewayError::NoAnswer(DisplayErrorContext(e).to_string()))
        }
        _ => Err(GatewayError::Other(DisplayErrorContext(e).to_string())),
    }
}

impl Gateway for ManagementGateway {
    async fn post(&self, connection_id: &str, data: Bytes) -> Result<Delivery, GatewayError> {
        match self
            .client
            .post_to_connection()
            .connection_id(connection_id)
            .data(Blob::new(data.to_vec()))
            .send()
            .await
        {
            Ok(_) => Ok(Delivery::Delivered),
            Err(e) => classify(e),
        }
    }

    async fn disconnect(&self, connection_id: &str) -> Result<Delivery, GatewayError> {
        match self
            .client
            .delete_connection()
            .connection_id(connection_id)
            .send()
            .await
        {
            Ok(_) => Ok(Delivery::Delivered),
            Err(e) => classify(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_is_https_except_on_loopback() {
        assert_eq!(
            management_endpoint("abc.execute-api.eu-west-1.amazonaws.com", "dev"),
            "https://abc.execute-api.eu-west-1.amazonaws.com/dev"
        );
        assert_eq!(
            management_endpoint("127.0.0.1:4510", "dev"),
            "http://127.0.0.1:4510/dev"
        );
    }
}
