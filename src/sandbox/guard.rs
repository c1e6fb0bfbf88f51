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
/// How long a signed request's body may take to arrive, as long as its head may.
const BODY_TIMEOUT: std::time::Duration = super::HEAD_TIMEOUT;

/// `localhost` or an IP literal, on the sandbox's port (which a `Host` leaves
/// out when it is 80). A DNS name that resolves here (DNS rebinding from a
/// web page) is not the sandbox's name.
pub fn names_the_sandbox(host: &str, port: u16) -> bool {
    let (name, given_port) = split_host(host);
    if given_port.unwrap_or(80) != port {
        return false;
    }
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok()
}

/// `host[:port]` apart, an IPv6 literal's brackets kept; a port that is not
/// a number is no port at all (and names nothing).
fn split_host(host: &str) -> (&str, Option<u16>) {
    match host.rsplit_once(':') {
        Some((name, port))
            if !name.is_empty() && (!host.starts_with('[') || name.ends_with(']')) =>
        {
            (name, Some(port.parse().unwrap_or(0)))
        }
        _ => (host, None),
    }
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

/// SigV4 as API Gateway checks it. What the head alone shows (no signature,
/// a stranger's key, a stale date, an unsigned payload, a body too large) is
/// refused before a byte of body is read; the body must then arrive within
/// its deadline, and the signature must cover the body that arrived.
pub async fn signed(State(sandbox): State<Arc<Sandbox>>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    if let Err(denied) = sigv4::check_head(&sandbox.credentials, &parts.headers) {
        return aws_error(StatusCode::FORBIDDEN, denied.error_type, &denied.message);
    }
    let too_large = || {
        aws_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLargeException",
            "the payload exceeds 128 KB",
        )
    };
    let declared = parts
        .headers
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|len| len > MAX_SIGNED_BODY) {
        return too_large();
    }
    let bytes = match tokio::time::timeout(BODY_TIMEOUT, to_bytes(body, MAX_SIGNED_BODY)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => return too_large(),
        Err(_) => {
            // The body is unfinished: hyper closes the connection after this answer.
            return (
                StatusCode::REQUEST_TIMEOUT,
                [(axum::http::header::CONNECTION, "close")],
                "the request body did not arrive in time\n",
            )
                .into_response();
        }
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
            "127.0.0.1:x",
            "[::1]",
        ] {
            assert!(!names_the_sandbox(bad, 8080), "{bad}");
        }
    }

    #[test]
    fn on_port_80_a_host_without_a_port_names_the_sandbox() {
        for ok in [
            "127.0.0.1",
            "localhost",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:80",
        ] {
            assert!(names_the_sandbox(ok, 80), "{ok}");
        }
        for bad in ["127.0.0.1:8080", "evil.example", "[::1]:8080", "127.0.0.1:"] {
            assert!(!names_the_sandbox(bad, 80), "{bad}");
        }
    }
}
