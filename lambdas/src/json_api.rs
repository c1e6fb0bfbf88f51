//! AWS's JSON protocols (awsJson 1.0 and 1.1): one signed POST per call
//! ([`crate::signed`]), the operation in `X-Amz-Target`. For the services
//! the project calls a handful of operations of, where an SDK crate would
//! add a minute or two of CPU to every build: SSM (the token secret),
//! CloudWatch (alarms, dashboards, metric data; its SDK crate now speaks
//! CBOR, which AWS also accepts as JSON), Service Quotas, ACM (a custom
//! domain's certificate), API Gateway's account settings over its REST API,
//! and Route 53's few record calls over its REST-XML API ([`JsonApi::rest_xml`]).

use crate::http::HttpClient;
use serde_json::Value;
use std::time::Duration;

/// One JSON-protocol service: how it is named, signed and addressed.
#[derive(Debug)]
pub struct Service {
    /// The SDK's service id: `AWS_ENDPOINT_URL_{ID}` and the profile's `services` read it.
    pub id: &'static str,
    /// The endpoint's first label, also the SigV4 signing name.
    pub endpoint_prefix: &'static str,
    pub target_prefix: &'static str,
    /// `1.0` or `1.1`.
    pub json_version: &'static str,
    /// One endpoint for every region (`https://{prefix}.{partition's domain}`),
    /// signed for the partition's first region.
    pub global: bool,
}

pub const SSM: Service = Service {
    id: "SSM",
    endpoint_prefix: "ssm",
    target_prefix: "AmazonSSM",
    json_version: "1.1",
    global: false,
};

pub const CLOUDWATCH: Service = Service {
    id: "CloudWatch",
    endpoint_prefix: "monitoring",
    target_prefix: "GraniteServiceVersion20100801",
    json_version: "1.0",
    global: false,
};

/// API Gateway's REST management API (v1): only its account settings are called.
pub const API_GATEWAY: Service = Service {
    id: "API Gateway",
    endpoint_prefix: "apigateway",
    target_prefix: "",
    json_version: "",
    global: false,
};

pub const SERVICE_QUOTAS: Service = Service {
    id: "Service Quotas",
    endpoint_prefix: "servicequotas",
    target_prefix: "ServiceQuotasV20190624",
    json_version: "1.1",
    global: false,
};

/// A custom domain's certificate.
pub const ACM: Service = Service {
    id: "ACM",
    endpoint_prefix: "acm",
    target_prefix: "CertificateManager",
    json_version: "1.1",
    global: false,
};

/// Route 53's REST-XML API: hosted zones and their records.
pub const ROUTE_53: Service = Service {
    id: "Route 53",
    endpoint_prefix: "route53",
    target_prefix: "",
    json_version: "",
    global: true,
};

/// A failed call: the HTTP status (0 when no answer came), the service's code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl ApiError {
    fn local(code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status: 0,
            code: code.to_owned(),
            message: message.into(),
        }
    }

    /// No answer, a 5xx or throttling (a 429, or the code of one): another attempt may succeed.
    pub fn is_transient(&self) -> bool {
        self.code == "NoAnswer"
            || self.status >= 500
            || self.status == 429
            || self.code.contains("Throttl")
            || self.code == "TooManyRequestsException"
            || self.code == "TooManyUpdates"
    }

    /// What an answer that is not 200 says: the error code from the
    /// `x-amzn-ErrorType` header or the body's `__type` (without awsJson's
    /// namespace), the message, and the HTTP status when it says nothing else.
    fn from_answer(status: u16, error_type: Option<&str>, body: &[u8]) -> Self {
        if body.trim_ascii_start().starts_with(b"<") {
            let text = String::from_utf8_lossy(body);
            let code = crate::xml::first(&text, "Code").or(error_type.map(str::to_owned));
            if let Some(code) = code {
                return ApiError {
                    status,
                    code,
                    message: crate::xml::first(&text, "Message").unwrap_or_default(),
                };
            }
        }
        let answer: Value = serde_json::from_slice(body).unwrap_or_default();
        // The header may carry `:http://internal...` after the code.
        let code = error_type
            .map(|t| t.split(':').next().unwrap_or(t))
            .or(answer["__type"].as_str())
            .map(|c| c.rsplit('#').next().unwrap_or(c).to_owned())
            .filter(|c| !c.is_empty());
        let message = answer["message"]
            .as_str()
            .or(answer["Message"].as_str())
            .map(str::to_owned);
        ApiError {
            status,
            code: code.unwrap_or_else(|| format!("HTTP {status}")),
            message: message.unwrap_or_else(|| {
                let text = String::from_utf8_lossy(body);
                match text.trim() {
                    "" => "no message".to_owned(),
                    text => crate::clip::clip_to(text, 120).into_owned(),
                }
            }),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if self.status > 0 && !self.code.starts_with("HTTP ") {
            write!(f, " (HTTP {})", self.status)?;
        }
        Ok(())
    }
}

/// One region's `service`, with the credentials and endpoint of an SDK configuration.
#[derive(Clone)]
pub struct JsonApi {
    sdk: aws_config::SdkConfig,
    http: HttpClient,
    service: &'static Service,
}

impl JsonApi {
    /// Each attempt gives up after `attempt_timeout`.
    pub fn new(
        sdk: aws_config::SdkConfig,
        service: &'static Service,
        attempt_timeout: Duration,
    ) -> Self {
        JsonApi {
            sdk,
            http: HttpClient::with_timeout(attempt_timeout),
            service,
        }
    }

    pub fn service(&self) -> &'static Service {
        self.service
    }

    /// Where the service is, as the SDK would find it: `AWS_ENDPOINT_URL_{ID}`,
    /// `AWS_ENDPOINT_URL`, the profile, else the region's own (its
    /// partition's domain, FIPS and dual-stack as configured).
    fn endpoint(&self, region: &str) -> String {
        let s = self.service;
        if s.global {
            return crate::partition::configured_endpoint(&self.sdk, s.id).unwrap_or_else(|| {
                format!(
                    "https://{}.{}",
                    s.endpoint_prefix,
                    crate::partition::dns_suffix(region)
                )
            });
        }
        crate::partition::endpoint(&self.sdk, s.id, s.endpoint_prefix, region)
    }

    /// One attempt of `{target_prefix}.{operation}` with `input`; the answer's JSON.
    pub async fn call(&self, operation: &str, input: &Value) -> Result<Value, ApiError> {
        let s = self.service;
        let target = format!("{}.{operation}", s.target_prefix);
        let content_type = format!("application/x-amz-json-{}", s.json_version);
        let headers = [
            ("content-type", content_type.as_str()),
            ("x-amz-target", target.as_str()),
        ];
        let body = input.to_string().into_bytes();
        let answer = self.send("POST", "/", &headers, body, operation).await?;
        Ok(serde_json::from_slice(&answer).unwrap_or_default())
    }

    /// One attempt of a REST-JSON request (`GET /account`, `PATCH /account`);
    /// the answer's JSON. For API Gateway's account settings, the one REST
    /// API the CLI calls without an SDK crate.
    pub async fn rest(
        &self,
        method: &str,
        path: &str,
        input: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let headers = [("content-type", "application/json")];
        let body = input
            .map(|i| i.to_string().into_bytes())
            .unwrap_or_default();
        let operation = format!("{method} {path}");
        let answer = self.send(method, path, &headers, body, &operation).await?;
        Ok(serde_json::from_slice(&answer).unwrap_or_default())
    }

    /// One attempt of a REST-XML request (Route 53): the answer's text.
    pub async fn rest_xml(
        &self,
        method: &str,
        path: &str,
        input: Option<&str>,
    ) -> Result<String, ApiError> {
        let headers = [("content-type", "application/xml")];
        let body = input.map(|i| i.as_bytes().to_vec()).unwrap_or_default();
        let operation = format!("{method} {path}");
        let answer = self.send(method, path, &headers, body, &operation).await?;
        Ok(String::from_utf8_lossy(&answer).into_owned())
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        operation: &str,
    ) -> Result<Vec<u8>, ApiError> {
        let region = self
            .sdk
            .region()
            .map(|r| r.to_string())
            .ok_or_else(|| ApiError::local("RequestFailed", "no region"))?;
        let s = self.service;
        let endpoint = self.endpoint(&region);
        let started = std::time::Instant::now();
        // A global service signs for its partition's first region.
        let signing_region = match (s.global, crate::partition::partition(&region)) {
            (true, "aws-cn") => "cn-northwest-1",
            (true, "aws-us-gov") => "us-gov-west-1",
            (true, _) => "us-east-1",
            (false, _) => region.as_str(),
        };
        let answer = crate::signed::send_in(
            &self.sdk,
            &self.http,
            method,
            (s.endpoint_prefix, signing_region),
            (&endpoint, path),
            headers,
            body,
        )
        .await;
        let ms = started.elapsed().as_millis();
        let answer = answer.map_err(|e| {
            tracing::debug!(target: "wschat::aws", "{} {operation}: no answer after {ms} ms", s.id);
            ApiError::local("NoAnswer", e)
        })?;
        tracing::debug!(target: "wschat::aws", "{} {operation}: HTTP {} in {ms} ms", s.id, answer.status);
        if (200..300).contains(&answer.status) {
            return Ok(answer.body.to_vec());
        }
        let error_type = answer
            .headers
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok());
        Err(ApiError::from_answer(
            answer.status,
            error_type,
            &answer.body,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_read_from_the_header_or_the_body_and_429_is_retried() {
        let throttled = ApiError::from_answer(
            429,
            Some("TooManyRequestsException:http://internal.amazon.com/coral/"),
            b"Too Many Requests",
        );
        assert_eq!(throttled.code, "TooManyRequestsException");
        assert!(throttled.is_transient());
        let bare = ApiError::from_answer(429, None, b"");
        assert!(bare.is_transient(), "{bare}");
        assert_eq!(bare.to_string(), "HTTP 429: no message");
        assert_eq!(
            throttled.to_string(),
            "TooManyRequestsException: Too Many Requests (HTTP 429)"
        );
        let json = ApiError::from_answer(
            400,
            None,
            br#"{"__type":"com.amazonaws.ssm#ThrottlingException","message":"Rate exceeded"}"#,
        );
        assert_eq!(json.code, "ThrottlingException");
        assert!(json.is_transient());
        let missing = ApiError::from_answer(
            400,
            Some("ParameterNotFound"),
            br#"{"__type":"ParameterNotFound"}"#,
        );
        assert!(!missing.is_transient());
        let html = ApiError::from_answer(500, None, b"<html>Internal Server Error</html>");
        assert!(html.to_string().contains("HTTP 500"), "{html}");
    }
}
