//! Token mode's secret on AWS: one SSM `GetParameter`, signed with the
//! function's own credentials. One call does not justify the SSM SDK crate
//! in every function's zip and cold start; the signing is the SDK's own
//! `aws-sigv4`.

use super::http::HttpClient;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use http_body_util::Full;
use hyper::body::Bytes;
use std::time::SystemTime;

pub struct SsmSecret {
    sdk: aws_config::SdkConfig,
    http: HttpClient,
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
            sdk,
            http: HttpClient::new(),
            selector,
        }
    }

    fn endpoint(&self, region: &str) -> String {
        std::env::var("AWS_ENDPOINT_URL_SSM")
            .ok()
            .or_else(|| self.sdk.endpoint_url().map(str::to_owned))
            .unwrap_or_else(|| format!("https://ssm.{region}.amazonaws.com"))
    }

    pub async fn read(&self) -> Result<Vec<u8>, String> {
        let failed =
            |why: String| format!("could not read the token secret {}: {why}", self.selector);
        let region = self
            .sdk
            .region()
            .map(|r| r.to_string())
            .ok_or_else(|| failed("no region".into()))?;
        let provider = self
            .sdk
            .credentials_provider()
            .ok_or_else(|| failed("no credentials".into()))?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| failed(e.to_string()))?;
        let identity = credentials.into();
        let url = self.endpoint(&region);
        let host = url
            .split("://")
            .nth(1)
            .unwrap_or(&url)
            .trim_end_matches('/')
            .to_owned();
        let body = serde_json::json!({ "Name": self.selector, "WithDecryption": true }).to_string();
        let headers = [
            ("host", host.as_str()),
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", "AmazonSSM.GetParameter"),
        ];
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&region)
            .name("ssm")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| failed(e.to_string()))?
            .into();
        let signable = SignableRequest::new(
            "POST",
            url.as_str(),
            headers.into_iter(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| failed(e.to_string()))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| failed(e.to_string()))?
            .into_parts();
        let mut request = hyper::Request::post(url.as_str());
        for (name, value) in headers.into_iter().skip(1) {
            request = request.header(name, value);
        }
        let mut request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| failed(e.to_string()))?;
        instructions.apply_to_request_http1x(&mut request);
        let (status, answer) = self.http.send(request).await.map_err(failed)?;
        let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
        if status != 200 {
            let kind = answer["__type"].as_str().unwrap_or("error");
            let message = answer["message"]
                .as_str()
                .or(answer["Message"].as_str())
                .unwrap_or("");
            return Err(failed(format!("SSM answered {status} {kind}: {message}")));
        }
        answer["Parameter"]["Value"]
            .as_str()
            .map(|v| v.as_bytes().to_vec())
            .ok_or_else(|| failed("the answer holds no value".into()))
    }
}
