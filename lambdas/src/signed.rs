//! One SigV4-signed POST to an AWS API, with the credentials, region and
//! endpoint of an SDK configuration (the signing is the SDK's own
//! `aws-sigv4`). For the calls the functions make beyond their SDK
//! clients: SSM's `GetParameter` and Lambda's asynchronous `Invoke` (their
//! SDK crates would add weight to every zip for one call each). Posts to
//! `@connections` have a signer of their own ([`crate::post_signer`]).

use crate::http::{Answer, HttpClient, SendError};
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use http_body_util::Full;
use hyper::body::Bytes;
use std::time::SystemTime;

/// A signed POST of `body` to `{endpoint}{path}` for `service` (its signing
/// name), with `headers` (each signed); the answer, or why none came.
pub async fn post(
    sdk: &aws_config::SdkConfig,
    http: &HttpClient,
    service: &str,
    endpoint: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<Answer, String> {
    send(sdk, http, "POST", service, (endpoint, path), headers, body).await
}

/// As [`post`], with any method: a REST API's GET or PATCH.
pub async fn send(
    sdk: &aws_config::SdkConfig,
    http: &HttpClient,
    method: &str,
    service: &str,
    (endpoint, path): (&str, &str),
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<Answer, String> {
    let region = sdk.region().map(|r| r.to_string()).ok_or("no region")?;
    send_in(
        sdk,
        http,
        method,
        (service, &region),
        (endpoint, path),
        headers,
        body,
    )
    .await
}

/// As [`send`], signed for `region` rather than the configuration's (a
/// global service's endpoint signs for one region of its partition).
pub async fn send_in(
    sdk: &aws_config::SdkConfig,
    http: &HttpClient,
    method: &str,
    (service, region): (&str, &str),
    (endpoint, path): (&str, &str),
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<Answer, String> {
    let provider = sdk.credentials_provider().ok_or("no credentials")?;
    let credentials = provider
        .provide_credentials()
        .await
        .map_err(|e| e.to_string())?;
    let signer = Signer {
        credentials: &credentials,
        region,
        service,
    };
    Ok(signer
        .send(http, method, (endpoint, path), headers, body)
        .await?)
}

/// Who signs, for which region and service.
struct Signer<'a> {
    credentials: &'a Credentials,
    region: &'a str,
    service: &'a str,
}

impl Signer<'_> {
    /// As [`send`], with credentials already at hand. A request that could
    /// not be signed was never sent (`unsent`).
    pub async fn send(
        &self,
        http: &HttpClient,
        method: &str,
        (endpoint, path): (&str, &str),
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Answer, SendError> {
        let unsigned = |e: &dyn std::fmt::Display| SendError {
            message: format!("could not sign the request: {e}"),
            unsent: true,
        };
        let identity = self.credentials.clone().into();
        let endpoint = endpoint.trim_end_matches('/');
        let url = format!("{endpoint}{path}");
        // The authority alone: a stage's endpoint carries a path (`/dev`).
        let authority = endpoint.split("://").nth(1).unwrap_or(endpoint);
        let host = authority.split('/').next().unwrap_or(authority).to_owned();
        let signed: Vec<(&str, &str)> = std::iter::once(("host", host.as_str()))
            .chain(headers.iter().copied())
            .collect();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(self.region)
            .name(self.service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| unsigned(&e))?
            .into();
        let signable = SignableRequest::new(
            method,
            url.as_str(),
            signed.iter().copied(),
            SignableBody::Bytes(&body),
        )
        .map_err(|e| unsigned(&e))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| unsigned(&e))?
            .into_parts();
        let mut request = hyper::Request::builder().method(method).uri(url.as_str());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| unsigned(&e))?;
        instructions.apply_to_request_http1x(&mut request);
        http.send(request).await
    }
}
