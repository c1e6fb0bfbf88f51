//! SSM Parameter Store over its JSON API, one signed POST per call
//! ([`crate::signed`]). Token mode needs four calls:
//! the connect function reads its secret, the CLI creates, rotates, tags and
//! deletes it. The SSM SDK crate would add ~110 s of CPU to every build and
//! weight to every zip for that.

use crate::http::HttpClient;
use serde_json::Value;
use std::time::Duration;

/// An SSM failure: the HTTP status (0 when no answer came), the service's code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsmError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl SsmError {
    fn local(code: &str, message: impl Into<String>) -> Self {
        SsmError {
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
        SsmError {
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

impl std::fmt::Display for SsmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if self.status > 0 && !self.code.starts_with("HTTP ") {
            write!(f, " (HTTP {})", self.status)?;
        }
        Ok(())
    }
}

/// One region's SSM, with the credentials and endpoint of an SDK configuration.
#[derive(Clone)]
pub struct Ssm {
    sdk: aws_config::SdkConfig,
    http: HttpClient,
}

impl Ssm {
    /// Each attempt gives up after `attempt_timeout`.
    pub fn new(sdk: aws_config::SdkConfig, attempt_timeout: Duration) -> Self {
        Ssm {
            sdk,
            http: HttpClient::with_timeout(attempt_timeout),
        }
    }

    /// Where SSM is, as the SDK would find it: `AWS_ENDPOINT_URL_SSM`,
    /// `AWS_ENDPOINT_URL`, the profile, else the region's own (its
    /// partition's domain, FIPS and dual-stack as configured).
    fn endpoint(&self, region: &str) -> String {
        crate::partition::endpoint(&self.sdk, "SSM", "ssm", region)
    }

    /// One attempt of `AmazonSSM.{operation}` with `input`; the answer's JSON.
    pub async fn call(&self, operation: &str, input: &Value) -> Result<Value, SsmError> {
        let region = self
            .sdk
            .region()
            .map(|r| r.to_string())
            .ok_or_else(|| SsmError::local("RequestFailed", "no region"))?;
        let target = format!("AmazonSSM.{operation}");
        let headers = [
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target.as_str()),
        ];
        let endpoint = self.endpoint(&region);
        let body = input.to_string().into_bytes();
        let started = std::time::Instant::now();
        let answer =
            crate::signed::post(&self.sdk, &self.http, "ssm", &endpoint, "/", &headers, body).await;
        let ms = started.elapsed().as_millis();
        let answer = answer.map_err(|e| {
            tracing::debug!(target: "wschat::aws", "SSM {operation}: no answer after {ms} ms");
            SsmError::local("NoAnswer", e)
        })?;
        tracing::debug!(target: "wschat::aws", "SSM {operation}: HTTP {} in {ms} ms", answer.status);
        if answer.status == 200 {
            return Ok(serde_json::from_slice(&answer.body).unwrap_or_default());
        }
        let error_type = answer
            .headers
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok());
        Err(SsmError::from_answer(
            answer.status,
            error_type,
            &answer.body,
        ))
    }
}

/// The signing secret of a deployed stack, as the connect function reads it.
pub struct SsmSecret {
    ssm: Ssm,
    /// `name:version`, so a rotation (which redeploys with the new version)
    /// is never served a stale value by a warm container.
    selector: String,
}

impl SsmSecret {
    pub fn new(sdk: aws_config::SdkConfig, name: &str, version: Option<&str>) -> Self {
        let selector = match version {
            Some(v) => format!("{name}:{v}"),
            None => name.to_owned(),
        };
        SsmSecret {
            ssm: Ssm::new(sdk, crate::http::TIMEOUT),
            selector,
        }
    }

    pub async fn read(&self) -> Result<Vec<u8>, String> {
        let input = serde_json::json!({ "Name": self.selector, "WithDecryption": true });
        let answer = self
            .ssm
            .call("GetParameter", &input)
            .await
            .map_err(|e| format!("could not read the token secret {}: {e}", self.selector))?;
        answer["Parameter"]["Value"]
            .as_str()
            .map(|v| v.as_bytes().to_vec())
            .ok_or_else(|| format!("the parameter {} holds no value", self.selector))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_read_from_the_header_or_the_body_and_429_is_retried() {
        let throttled = SsmError::from_answer(
            429,
            Some("TooManyRequestsException:http://internal.amazon.com/coral/"),
            b"Too Many Requests",
        );
        assert_eq!(throttled.code, "TooManyRequestsException");
        assert!(throttled.is_transient());
        let bare = SsmError::from_answer(429, None, b"");
        assert!(bare.is_transient(), "{bare}");
        assert_eq!(bare.to_string(), "HTTP 429: no message");
        assert_eq!(
            throttled.to_string(),
            "TooManyRequestsException: Too Many Requests (HTTP 429)"
        );
        let json = SsmError::from_answer(
            400,
            None,
            br#"{"__type":"com.amazonaws.ssm#ThrottlingException","message":"Rate exceeded"}"#,
        );
        assert_eq!(json.code, "ThrottlingException");
        assert!(json.is_transient());
        let missing = SsmError::from_answer(
            400,
            Some("ParameterNotFound"),
            br#"{"__type":"ParameterNotFound"}"#,
        );
        assert!(!missing.is_transient());
        let html = SsmError::from_answer(500, None, b"<html>Internal Server Error</html>");
        assert!(html.to_string().contains("HTTP 500"), "{html}");
    }
}
