//! What every request to the sandbox must get past before a handler runs:
//! a `Host` that names the sandbox (no DNS rebinding), and on the management
//! and control endpoints a SigV4 signature made with the sandbox's credentials.

use super::management::aws_error;
use super::sigv4;
use super::Sandbox;
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::IpAddr;
use std::sync::Arc;

/// The largest body a signed request may carry (a 128 KB post, with room).
const MAX_SIGNED_BODY: usize = 256 * 1024;

/// `localhost` or an IP literal, on the sandbox's port. A DNS name that
/// resolves here (DNS rebinding from a web page) is not the sandbox's name.
pub fn names_the_sandbox(host: &str, port: u16) -> bool {
    let Some((name, p)) = host.rsplit_once(':') else {
        return false;
    };
    if p.parse() != Ok(port) {
        return false;
    }
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok()
}

pub async fn host(State(sandbox): State<Arc<Sandbox>>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !names_the_sandbox(host, sandbox.port) {
        return (
            StatusCode::MISDIRECTED_REQUEST,
            format!("this is wschat dev on port {}; address it as 127.0.0.1, localhost or its IP, not '{host}'", sandbox.port),
        )
            .into_response();
    }
    next.run(request).await
}

pub async fn signed(State(sandbox): State<Arc<Sandbox>>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_SIGNED_BODY).await else {
        return aws_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLargeException",
            "the payload exceeds 128 KB",
        );
    };
    if let Err(denied) = sigv4::verify(
        &sandbox.credentials,
        &parts.method,
        &parts.uri,
        &parts.headers,
        &bytes,
    ) {
        return aws_error(StatusCode::FORBIDDEN, denied.error_type, &denied.message);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_literal_addresses_and_localhost_on_our_port_name_the_sandbox() {
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "[::1]:8080",
            "192.168.1.5:8080",
        ] {
            assert!(names_the_sandbox(ok, 8080), "{ok}");
        }
        for bad in [
            "evil.example:8080",
            "127.0.0.1:9090",
            "127.0.0.1",
            "",
            "localhost.evil.example:8080",
        ] {
            assert!(!names_the_sandbox(bad, 8080), "{bad}");
        }
    }
}
