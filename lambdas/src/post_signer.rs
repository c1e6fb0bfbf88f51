//! SigV4 for the one request a delivery worker makes thousands of times: a
//! POST of a frame to `@connections`. `aws-sigv4`'s general signer derives
//! the signing key (four HMACs) and builds its canonical request out of some
//! dozens of allocations on every call; a worker posting to 100,000 members
//! spends a good part of its CPU there. Here the key is derived once a day
//! and the canonical request is written straight into one buffer.
//!
//! Only the shape of request it is made for: no query string, a path whose
//! segments are already percent-encoded once, and the headers `host`,
//! `x-amz-date` and (with a session token) `x-amz-security-token`. A test
//! holds every signature to `aws-sigv4`'s.

use aws_credential_types::Credentials;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};
use std::fmt::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What a canonical path leaves as it is (RFC 3986's unreserved characters
/// and `/`); everything else, `%` included, is encoded (again), as SigV4
/// asks of every service but S3.
const CANONICAL_PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

const DAY: u64 = 86_400;

/// A signer for one day, one set of credentials, one region and service.
pub struct PostSigner {
    access_key_id: String,
    session_token: Option<String>,
    expiry: Option<SystemTime>,
    signed_headers: &'static str,
    /// `{yyyymmdd}/{region}/{service}/aws4_request`
    scope: String,
    /// Days since the epoch the key was derived for.
    day: u64,
    key: Vec<u8>,
}

/// The headers that carry a signature.
pub struct Signature {
    pub amz_date: String,
    pub authorization: String,
}

impl PostSigner {
    pub fn new(credentials: &Credentials, region: &str, service: &str, now: SystemTime) -> Self {
        let key = aws_sigv4::sign::v4::generate_signing_key(
            credentials.secret_access_key(),
            now,
            region,
            service,
        );
        let day = seconds(now) / DAY;
        let session_token = credentials.session_token().map(str::to_owned);
        PostSigner {
            access_key_id: credentials.access_key_id().to_owned(),
            signed_headers: if session_token.is_some() {
                "host;x-amz-date;x-amz-security-token"
            } else {
                "host;x-amz-date"
            },
            session_token,
            expiry: credentials.expiry(),
            scope: format!("{}/{region}/{service}/aws4_request", &amz_date(now)[..8]),
            day,
            key: key.as_ref().to_vec(),
        }
    }

    /// Whether it may still sign at `now`: the same UTC day, and its
    /// credentials more than `margin` from their expiry.
    pub fn valid_at(&self, now: SystemTime, margin: Duration) -> bool {
        seconds(now) / DAY == self.day && self.expiry.is_none_or(|at| at > now + margin)
    }

    pub fn session_token(&self) -> Option<&str> {
        self.session_token.as_deref()
    }

    /// Signs `POST {path}` to `host` with `body`; `path` as sent, its
    /// segments percent-encoded once.
    pub fn sign(&self, host: &str, path: &str, body: &[u8], now: SystemTime) -> Signature {
        let amz_date = amz_date(now);
        let mut canonical = String::with_capacity(256 + path.len());
        let _ = write!(
            canonical,
            "POST\n{}\n\nhost:{host}\nx-amz-date:{amz_date}\n",
            utf8_percent_encode(path, CANONICAL_PATH)
        );
        if let Some(token) = &self.session_token {
            let _ = writeln!(canonical, "x-amz-security-token:{}", token.trim());
        }
        let _ = write!(
            canonical,
            "\n{}\n{}",
            self.signed_headers,
            hex::encode(Sha256::digest(body))
        );
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{}\n{}",
            self.scope,
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let signature =
            aws_sigv4::sign::v4::calculate_signature(&self.key, string_to_sign.as_bytes());
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={}/{}, SignedHeaders={}, Signature={signature}",
            self.access_key_id, self.scope, self.signed_headers
        );
        Signature {
            amz_date,
            authorization,
        }
    }
}

fn seconds(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

/// `YYYYMMDDTHHMMSSZ`, in UTC.
fn amz_date(at: SystemTime) -> String {
    let secs = seconds(at);
    let (year, month, day) = civil_from_days((secs / DAY) as i64);
    let time = secs % DAY;
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        time / 3600,
        time % 3600 / 60,
        time % 60
    )
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    use aws_sigv4::sign::v4;

    /// `aws-sigv4`'s signature of the same request: the reference.
    fn reference(
        credentials: &Credentials,
        url: &str,
        host: &str,
        body: &[u8],
        now: SystemTime,
    ) -> (String, String) {
        let identity = credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("eu-west-1")
            .name("execute-api")
            .time(now)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let request = SignableRequest::new(
            "POST",
            url,
            std::iter::once(("host", host)),
            SignableBody::Bytes(body),
        )
        .unwrap();
        let (instructions, _) = sign(request, &params).unwrap().into_parts();
        let header = |name: &str| {
            instructions
                .headers()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_owned())
                .unwrap()
        };
        (header("x-amz-date"), header("authorization"))
    }

    #[test]
    fn signatures_match_aws_sigv4s() {
        let with_token = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG",
            Some("FwoGZX+/=".into()),
            None,
            "test",
        );
        let without = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG", None, None, "test");
        let times = [1_700_000_000, 1_735_689_599, 951_782_400, 4_107_542_399];
        // Ids as a path segment carries them, encoded once.
        let ids = [
            "R0oXAdfD0kwCH6w%3D",
            "a%2Bb%2Fc-d_e.f~g",
            "M0000001bench%3D",
        ];
        let bodies: [&[u8]; 2] = [b"", br#"{"type":"message","data":{"id":"x"}}"#];
        for credentials in [&with_token, &without] {
            for secs in times {
                let now = UNIX_EPOCH + Duration::from_secs(secs);
                let signer = PostSigner::new(credentials, "eu-west-1", "execute-api", now);
                for id in ids {
                    for body in bodies {
                        let path = format!("/prod/@connections/{id}");
                        let host = "abc123.execute-api.eu-west-1.amazonaws.com";
                        let url = format!("https://{host}{path}");
                        let (date, authorization) = reference(credentials, &url, host, body, now);
                        let ours = signer.sign(host, &path, body, now);
                        assert_eq!(ours.amz_date, date, "at {secs}");
                        assert_eq!(ours.authorization, authorization, "{path} at {secs}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_signer_serves_its_day_and_its_credentials_lifetime() {
        let noon = UNIX_EPOCH + Duration::from_secs(1_700_000_000 / DAY * DAY + DAY / 2);
        let expiring =
            Credentials::new("A", "S", None, Some(noon + Duration::from_secs(3600)), "t");
        let signer = PostSigner::new(&expiring, "us-east-1", "execute-api", noon);
        let margin = Duration::from_secs(300);
        assert!(signer.valid_at(noon, margin));
        assert!(
            !signer.valid_at(noon + Duration::from_secs(3400), margin),
            "near expiry"
        );
        let lasting = Credentials::new("A", "S", None, None, "t");
        let signer = PostSigner::new(&lasting, "us-east-1", "execute-api", noon);
        assert!(signer.valid_at(noon + Duration::from_secs(DAY / 2 - 1), margin));
        assert!(
            !signer.valid_at(noon + Duration::from_secs(DAY / 2), margin),
            "the next day"
        );
    }
}
