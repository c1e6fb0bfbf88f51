//! Checks a request's SigV4 signature the way API Gateway does for
//! `@connections`: the signature is recomputed with the SDK's own signer
//! (`aws-sigv4`) over the headers the client says it signed, and compared.

use super::credentials::Credentials;
use aws_credential_types::Credentials as AwsCredentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use axum::http::{HeaderMap, Method, Uri};
use std::time::{Duration, SystemTime};

/// API Gateway refuses signatures older or newer than this.
const MAX_SKEW: Duration = Duration::from_secs(5 * 60);

/// Why a request was refused: API Gateway's error type and message (all 403).
#[derive(Debug, PartialEq, Eq)]
pub struct Denied {
    pub error_type: &'static str,
    pub message: String,
}

fn denied(error_type: &'static str, message: impl Into<String>) -> Denied {
    Denied {
        error_type,
        message: message.into(),
    }
}

struct Authorization<'a> {
    access_key_id: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse(header: &str) -> Option<Authorization<'_>> {
    let rest = header.strip_prefix("AWS4-HMAC-SHA256 ")?;
    let field = |name: &str| {
        rest.split(',')
            .map(str::trim)
            .find_map(|part| part.strip_prefix(name)?.strip_prefix('='))
    };
    let mut scope = field("Credential")?.split('/');
    let access_key_id = scope.next()?;
    let _date = scope.next()?;
    let region = scope.next()?;
    let service = scope.next()?;
    Some(Authorization {
        access_key_id,
        region,
        service,
        signed_headers: field("SignedHeaders")?.split(';').collect(),
        signature: field("Signature")?,
    })
}

fn request_time(headers: &HeaderMap) -> Option<SystemTime> {
    let text = headers.get("x-amz-date")?.to_str().ok()?;
    aws_smithy_types::DateTime::from_str(text, aws_smithy_types::date_time::Format::DateTime)
        .ok()
        .or_else(|| {
            // SigV4's basic format: 20261123T183000Z.
            let t = format!(
                "{}-{}-{}T{}:{}:{}Z",
                text.get(0..4)?,
                text.get(4..6)?,
                text.get(6..8)?,
                text.get(9..11)?,
                text.get(11..13)?,
                text.get(13..15)?
            );
            aws_smithy_types::DateTime::from_str(&t, aws_smithy_types::date_time::Format::DateTime)
                .ok()
        })
        .and_then(|t| SystemTime::try_from(t).ok())
}

/// The sandbox's keys as the signer takes them.
fn identity(credentials: &Credentials) -> aws_smithy_runtime_api::client::identity::Identity {
    AwsCredentials::new(
        &credentials.access_key_id,
        &credentials.secret_access_key,
        None,
        None,
        "wschat-dev",
    )
    .into()
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// What can be checked before the body arrives: a signature is there, made
/// with the sandbox's key, recently, over a payload it hashed. A request that
/// fails here is refused without reading its body.
pub fn check_head(credentials: &Credentials, headers: &HeaderMap) -> Result<(), Denied> {
    signed_head(credentials, headers).map(|_| ())
}

fn signed_head<'a>(
    credentials: &Credentials,
    headers: &'a HeaderMap,
) -> Result<(Authorization<'a>, SystemTime), Denied> {
    let Some(header) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return Err(denied("ForbiddenException", "Missing Authentication Token"));
    };
    let auth = parse(header).ok_or_else(|| denied("IncompleteSignatureException", "Authorization header requires AWS4-HMAC-SHA256 with Credential, SignedHeaders and Signature"))?;
    if auth.access_key_id != credentials.access_key_id {
        return Err(denied(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    }
    let time = request_time(headers).ok_or_else(|| {
        denied(
            "IncompleteSignatureException",
            "the request has no valid X-Amz-Date header",
        )
    })?;
    let skew = SystemTime::now()
        .duration_since(time)
        .unwrap_or_else(|e| e.duration());
    if skew > MAX_SKEW {
        return Err(denied("InvalidSignatureException", "Signature expired: the request's X-Amz-Date is more than 5 minutes from the server's time."));
    }
    // API Gateway signs what arrives: a payload left out of the signature is refused.
    if headers.get("x-amz-content-sha256").map(|v| v.as_bytes()) == Some(b"UNSIGNED-PAYLOAD") {
        return Err(denied(
            "InvalidSignatureException",
            "UNSIGNED-PAYLOAD is not accepted: sign the request's body",
        ));
    }
    Ok((auth, time))
}

/// The whole check, over the body that arrived: its hash is computed here,
/// never taken from the client's `x-amz-content-sha256` (which, when signed,
/// must then agree with it for the signature to match).
pub fn verify(
    credentials: &Credentials,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), Denied> {
    let (auth, time) = signed_head(credentials, headers)?;
    // The headers the client signed, as it sent them; the signer adds X-Amz-Date itself.
    let mut values = Vec::new();
    for name in &auth.signed_headers {
        if *name == "x-amz-date" {
            continue;
        }
        let joined: Vec<&str> = headers
            .get_all(*name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        values.push((*name, joined.join(",")));
    }
    let body = SignableBody::Bytes(body);
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let url = format!("http://{host}{path}");
    let mut settings = SigningSettings::default();
    // Exactly the client's list: nothing added, nothing left out.
    settings.excluded_headers = None;
    let identity = identity(credentials);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(auth.region)
        .name(auth.service)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| denied("IncompleteSignatureException", e.to_string()))?
        .into();
    let signable = SignableRequest::new(
        method.as_str(),
        url,
        values.iter().map(|(k, v)| (*k, v.as_str())),
        body,
    )
    .map_err(|e| denied("IncompleteSignatureException", e.to_string()))?;
    let expected = sign(signable, &params)
        .map_err(|e| denied("IncompleteSignatureException", e.to_string()))?;
    if same(expected.signature(), auth.signature) {
        Ok(())
    } else {
        Err(denied(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
        ))
    }
}

/// The headers that sign a request to a sandbox (the `--local` commands' side).
pub fn signature_headers(
    credentials: &Credentials,
    method: &str,
    url: &str,
    body: &[u8],
) -> Result<Vec<(String, String)>, String> {
    let identity = identity(credentials);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(super::credentials::REGION)
        .name("execute-api")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let host = url
        .split("://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_default();
    let signable = SignableRequest::new(
        method,
        url,
        [("host", host)].into_iter(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials() -> Credentials {
        Credentials {
            access_key_id: "ASBXTEST".into(),
            secret_access_key: "secret".into(),
        }
    }

    fn signed(url: &str, body: &[u8], with: &Credentials) -> (Uri, HeaderMap) {
        let uri: Uri = url.parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("host", uri.authority().unwrap().as_str().parse().unwrap());
        for (k, v) in signature_headers(with, "POST", url, body).unwrap() {
            headers.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        (uri, headers)
    }

    #[test]
    fn a_signature_verifies_only_with_its_secret_and_body() {
        let url = "http://127.0.0.1:8080/dev/@connections/abc%3D";
        let (uri, headers) = signed(url, b"hi", &credentials());
        assert_eq!(
            verify(&credentials(), &Method::POST, &uri, &headers, b"hi"),
            Ok(())
        );
        let tampered = verify(&credentials(), &Method::POST, &uri, &headers, b"ho").unwrap_err();
        assert_eq!(tampered.error_type, "InvalidSignatureException");
        let wrong = Credentials {
            secret_access_key: "other".into(),
            ..credentials()
        };
        let (uri, headers) = signed(url, b"hi", &wrong);
        assert_eq!(
            verify(&credentials(), &Method::POST, &uri, &headers, b"hi")
                .unwrap_err()
                .error_type,
            "InvalidSignatureException"
        );
        let unsigned = verify(
            &credentials(),
            &Method::POST,
            &uri,
            &HeaderMap::new(),
            b"hi",
        )
        .unwrap_err();
        assert_eq!(unsigned.message, "Missing Authentication Token");
    }
}
