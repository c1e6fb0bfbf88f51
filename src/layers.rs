//! Where each setting of a run comes from. Layers, highest first: a flag or
//! its `WSCHAT_*` variable, `wschat.toml` (the stage's table, then
//! `[defaults]`), for `status` what the last deploy recorded on the stack,
//! then the built-in default.

use crate::error::{CliError, Result};
use crate::spec::{Arch, Settings, TAG_APPLIED};
use std::collections::HashMap;
use std::fmt;
use wschat_lambdas::auth::{AuthMode, AuthSettings, JwtSettings, DEFAULT_NAME_CLAIM};

#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// `--memory`.
    Flag(String),
    /// `WSCHAT_MEMORY`.
    Env(String),
    /// `wschat.toml [stages.prod]`.
    File(String),
    /// The tags the last deploy left on the stack.
    Recorded,
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(flag) => write!(f, "flag {flag}"),
            Origin::Env(var) => write!(f, "environment {var}"),
            Origin::File(table) => f.write_str(table),
            Origin::Recorded => f.write_str("recorded by the last deploy"),
            Origin::Default => f.write_str("default"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Given<T> {
    pub value: T,
    pub origin: Origin,
}

impl<T> Given<T> {
    pub fn new(value: T, origin: Origin) -> Self {
        Given { value, origin }
    }
}

/// Settings as one layer gives them: each may be absent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Partial {
    pub region: Option<Given<String>>,
    pub profile: Option<Given<String>>,
    pub memory: Option<Given<i32>>,
    pub timeout: Option<Given<i32>>,
    pub arch: Option<Given<Arch>>,
    pub log_retention: Option<Given<i32>>,
    pub throttle_rate: Option<Given<f64>>,
    pub throttle_burst: Option<Given<i32>>,
    pub connections_rate: Option<Given<u32>>,
    pub max_message_rate: Option<Given<f64>>,
    pub max_room_size: Option<Given<u32>>,
    pub history_ttl: Option<Given<u32>>,
    pub history_on_join: Option<Given<u32>>,
    pub auth: Option<Given<AuthMode>>,
    pub allowed_origins: Option<Given<Vec<String>>>,
    pub jwt_issuer: Option<Given<String>>,
    pub jwt_audience: Option<Given<String>>,
    pub jwt_name_claim: Option<Given<String>>,
    pub alarm_email: Option<Given<String>>,
    pub alarm_topic: Option<Given<String>>,
    pub access_logs: Option<Given<bool>>,
    pub domain: Option<Given<String>>,
    pub domain_path: Option<Given<String>>,
    pub certificate_arn: Option<Given<String>>,
}

macro_rules! each_field {
    ($mac:ident) => {
        $mac!(
            region,
            profile,
            memory,
            timeout,
            arch,
            log_retention,
            throttle_rate,
            throttle_burst,
            connections_rate,
            max_message_rate,
            max_room_size,
            history_ttl,
            history_on_join,
            auth,
            allowed_origins,
            jwt_issuer,
            jwt_audience,
            jwt_name_claim,
            alarm_email,
            alarm_topic,
            access_logs,
            domain,
            domain_path,
            certificate_arn
        )
    };
}

impl Partial {
    /// This layer over `lower`: each setting from the first layer that has it.
    pub fn or(self, lower: Partial) -> Partial {
        macro_rules! merge {
            ($($field:ident),*) => {
                Partial { $($field: self.$field.or(lower.$field)),* }
            };
        }
        each_field!(merge)
    }

    /// What the last deploy recorded on the stack (`StackSpec::applied_tags`);
    /// a tag that does not parse is left out, so the layers below fill it.
    pub fn from_applied_tags(tags: &HashMap<String, String>) -> Partial {
        let get = |key: &str| tags.get(&format!("{TAG_APPLIED}{key}"));
        fn recorded<T>(value: Option<T>) -> Option<Given<T>> {
            value.map(|v| Given::new(v, Origin::Recorded))
        }
        let number = |key: &str| get(key).and_then(|v| v.parse::<i64>().ok());
        Partial {
            region: None,
            profile: None,
            memory: recorded(number("memory").and_then(|v| check::memory(v).ok())),
            timeout: recorded(number("timeout").and_then(|v| check::timeout(v).ok())),
            arch: recorded(get("arch").and_then(|a| match a.as_str() {
                "x86_64" => Some(Arch::X86_64),
                "arm64" => Some(Arch::Arm64),
                _ => None,
            })),
            log_retention: recorded(
                number("log-retention").and_then(|v| check::log_retention(v).ok()),
            ),
            throttle_rate: recorded(
                get("throttle-rate")
                    .and_then(|v| v.parse::<f64>().ok())
                    .and_then(|v| check::throttle_rate(v).ok()),
            ),
            throttle_burst: recorded(
                number("throttle-burst").and_then(|v| check::throttle_burst(v).ok()),
            ),
            connections_rate: recorded(
                number("connections-rate").and_then(|v| check::connections_rate(v).ok()),
            ),
            max_message_rate: recorded(
                get("max-message-rate")
                    .and_then(|v| v.parse::<f64>().ok())
                    .and_then(|v| check::max_message_rate(v).ok()),
            ),
            max_room_size: recorded(
                number("max-room-size").and_then(|v| check::max_room_size(v).ok()),
            ),
            history_ttl: recorded(get("history-ttl").and_then(|v| check::history_ttl(v).ok())),
            history_on_join: recorded(
                number("history-on-join").and_then(|v| check::history_on_join(v).ok()),
            ),
            auth: recorded(get("auth").and_then(|a| AuthMode::parse(a))),
            allowed_origins: recorded(
                get("allowed-origins").map(|o| o.split(' ').map(str::to_owned).collect()),
            ),
            jwt_issuer: recorded(get("jwt-issuer").cloned()),
            jwt_audience: recorded(get("jwt-audience").cloned()),
            jwt_name_claim: recorded(get("jwt-name-claim").cloned()),
            alarm_email: recorded(get("alarm-email").and_then(|e| check::email(e).ok())),
            alarm_topic: recorded(get("alarm-topic").and_then(|t| check::topic_arn(t).ok())),
            access_logs: recorded(get("access-logs").and_then(|v| v.parse::<bool>().ok())),
            domain: recorded(get("domain").and_then(|d| check::domain(d).ok())),
            domain_path: recorded(get("domain-path").and_then(|p| check::domain_path(p).ok())),
            certificate_arn: recorded(
                get("certificate-arn").and_then(|a| check::certificate_arn(a).ok()),
            ),
        }
    }

    /// The settings with built-in defaults under every layer.
    pub fn settings(&self) -> Result<Settings> {
        let defaults = Settings::default();
        let mode = self.auth.as_ref().map_or(AuthMode::Open, |a| a.value);
        let jwt = match (mode, &self.jwt_issuer, &self.jwt_audience) {
            (AuthMode::Jwt, Some(issuer), Some(audience)) => Some(JwtSettings {
                issuer: issuer.value.clone(),
                audience: audience.value.clone(),
                name_claim: self
                    .jwt_name_claim
                    .as_ref()
                    .map_or_else(|| DEFAULT_NAME_CLAIM.to_owned(), |c| c.value.clone()),
            }),
            (AuthMode::Jwt, _, _) => {
                return Err(CliError::usage("--auth jwt needs --jwt-issuer and --jwt-audience (or jwt-issuer and jwt-audience in wschat.toml)")
                    .with_hint("e.g. --jwt-issuer https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123 --jwt-audience <app client id>"))
            }
            _ => {
                if let Some(given) = self.jwt_issuer.as_ref().or(self.jwt_audience.as_ref()) {
                    return Err(CliError::usage(format!(
                        "the JWT issuer and audience only apply with auth jwt (one came from {})",
                        given.origin
                    )));
                }
                None
            }
        };
        if let (Some(email), Some(topic)) = (&self.alarm_email, &self.alarm_topic) {
            return Err(CliError::usage(format!(
                "alarms notify one topic: the stack's own with --alarm-email ({}), or yours with --alarm-topic ({}), not both",
                email.origin, topic.origin
            ))
            .with_hint("to email a topic of yours, subscribe the address to it yourself"));
        }
        let domain = match (
            &self.domain,
            self.domain_path.as_ref().or(self.certificate_arn.as_ref()),
        ) {
            (Some(domain), _) => Some(crate::spec::DomainSettings {
                name: domain.value.clone(),
                path: self
                    .domain_path
                    .as_ref()
                    .map(|g| g.value.clone())
                    .unwrap_or_default(),
                certificate_arn: self.certificate_arn.as_ref().map(|g| g.value.clone()),
            }),
            (None, Some(given)) => return Err(CliError::usage(format!(
                "a domain path or certificate only applies with a domain (one came from {})",
                given.origin
            ))
            .with_hint(
                "add --domain chat.example.com (or domain = \"chat.example.com\" in wschat.toml)",
            )),
            (None, None) => None,
        };
        Ok(Settings {
            memory_mb: self.memory.as_ref().map_or(defaults.memory_mb, |g| g.value),
            timeout_s: self
                .timeout
                .as_ref()
                .map_or(defaults.timeout_s, |g| g.value),
            arch: self.arch.as_ref().map_or(defaults.arch, |g| g.value),
            log_retention_days: self
                .log_retention
                .as_ref()
                .map_or(defaults.log_retention_days, |g| g.value),
            throttle_rate: self
                .throttle_rate
                .as_ref()
                .map_or(defaults.throttle_rate, |g| g.value),
            throttle_burst: self
                .throttle_burst
                .as_ref()
                .map_or(defaults.throttle_burst, |g| g.value),
            connections_rate: self
                .connections_rate
                .as_ref()
                .map_or(defaults.connections_rate, |g| g.value),
            max_message_rate: self
                .max_message_rate
                .as_ref()
                .map_or(defaults.max_message_rate, |g| g.value),
            max_room_size: self
                .max_room_size
                .as_ref()
                .map_or(defaults.max_room_size, |g| g.value),
            history_ttl_s: self
                .history_ttl
                .as_ref()
                .map_or(defaults.history_ttl_s, |g| g.value),
            history_on_join: self
                .history_on_join
                .as_ref()
                .map_or(defaults.history_on_join, |g| g.value),
            auth: AuthSettings {
                mode,
                allowed_origins: self
                    .allowed_origins
                    .as_ref()
                    .map(|g| g.value.clone())
                    .unwrap_or_default(),
                jwt,
            },
            alarm_email: self.alarm_email.as_ref().map(|g| g.value.clone()),
            alarm_topic: self.alarm_topic.as_ref().map(|g| g.value.clone()),
            access_logs: self.access_logs.as_ref().is_some_and(|g| g.value),
            domain,
        })
    }

    /// `key = value (origin)` for every setting, defaults included: what `-v` prints.
    pub fn provenance(&self) -> Vec<String> {
        fn line<T: fmt::Debug>(key: &str, given: Option<&Given<T>>) -> String {
            match given {
                Some(g) => format!("{key} = {:?} ({})", g.value, g.origin),
                None => format!("{key}: {}", Origin::Default),
            }
        }
        let arch = self
            .arch
            .as_ref()
            .map(|g| Given::new(g.value.lambda_name(), g.origin.clone()));
        let auth = self
            .auth
            .as_ref()
            .map(|g| Given::new(g.value.as_str(), g.origin.clone()));
        vec![
            line("region", self.region.as_ref()),
            line("profile", self.profile.as_ref()),
            line("memory", self.memory.as_ref()),
            line("timeout", self.timeout.as_ref()),
            line("arch", arch.as_ref()),
            line("log-retention", self.log_retention.as_ref()),
            line("throttle-rate", self.throttle_rate.as_ref()),
            line("throttle-burst", self.throttle_burst.as_ref()),
            line("connections-rate", self.connections_rate.as_ref()),
            line("max-message-rate", self.max_message_rate.as_ref()),
            line("max-room-size", self.max_room_size.as_ref()),
            line("history-ttl", self.history_ttl.as_ref()),
            line("history-on-join", self.history_on_join.as_ref()),
            line("auth", auth.as_ref()),
            line("allowed-origins", self.allowed_origins.as_ref()),
            line("jwt-issuer", self.jwt_issuer.as_ref()),
            line("jwt-audience", self.jwt_audience.as_ref()),
            line("jwt-name-claim", self.jwt_name_claim.as_ref()),
            line("alarm-email", self.alarm_email.as_ref()),
            line("alarm-topic", self.alarm_topic.as_ref()),
            line("access-logs", self.access_logs.as_ref()),
            line("domain", self.domain.as_ref()),
            line("domain-path", self.domain_path.as_ref()),
            line("certificate-arn", self.certificate_arn.as_ref()),
        ]
    }
}

/// The checks a value passes whether it comes from a flag or from the file.
pub mod check {
    /// An address SNS can mail: `local@domain.tld`, no spaces, within SNS's length.
    pub fn email(text: &str) -> Result<String, String> {
        let (local, domain) = text.split_once('@').unwrap_or_default();
        let well_formed = !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
            && text.len() <= 254
            && text.chars().all(|c| c.is_ascii_graphic());
        if well_formed {
            Ok(text.to_owned())
        } else {
            Err(format!(
                "'{text}' is not an email address (e.g. ops@example.com)"
            ))
        }
    }

    /// An SNS topic's ARN: `arn:{partition}:sns:{region}:{account}:{name}`.
    pub fn topic_arn(text: &str) -> Result<String, String> {
        let parts: Vec<&str> = text.split(':').collect();
        let well_formed = parts.len() == 6
            && parts[0] == "arn"
            && parts[1].starts_with("aws")
            && parts[2] == "sns"
            && !parts[3].is_empty()
            && parts[4].len() == 12
            && parts[4].chars().all(|c| c.is_ascii_digit())
            && !parts[5].is_empty()
            && parts[5].len() <= 256
            && parts[5]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
        if well_formed {
            Ok(text.to_owned())
        } else {
            Err(format!(
                "'{text}' is not an SNS topic ARN (e.g. arn:aws:sns:us-east-1:123456789012:oncall)"
            ))
        }
    }

    /// A name API Gateway can serve and ACM can certify: lower-case
    /// letters, digits and hyphens in dot-separated labels (at least two), no
    /// wildcard; a trailing dot is dropped and upper case lowered.
    pub fn domain(text: &str) -> Result<String, String> {
        let name = text.trim_end_matches('.').to_ascii_lowercase();
        let labels: Vec<&str> = name.split('.').collect();
        let well_formed = labels.len() >= 2
            && name.len() <= 253
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
            && labels
                .last()
                .is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()));
        if well_formed {
            Ok(name)
        } else {
            Err(format!(
                "'{text}' is not a domain name API Gateway can serve (e.g. chat.example.com; no wildcard, no scheme or path)"
            ))
        }
    }

    /// An API mapping key: path segments of letters, digits, `-`, `_`, `.`,
    /// no leading, trailing or doubled `/` (a leading one is dropped).
    pub fn domain_path(text: &str) -> Result<String, String> {
        let path = text.trim_start_matches('/');
        let well_formed = path.len() <= 1024
            && !path.ends_with('/')
            && !path.contains("//")
            && path
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
        if well_formed {
            Ok(path.to_owned())
        } else {
            Err(format!(
                "'{text}' is not an API mapping key (e.g. chat or v1/chat: letters, digits, - _ . and single slashes)"
            ))
        }
    }

    /// An ACM certificate's ARN: `arn:aws:acm:{region}:{account}:certificate/{id}`.
    pub fn certificate_arn(text: &str) -> Result<String, String> {
        let parts: Vec<&str> = text.splitn(6, ':').collect();
        let well_formed = parts.len() == 6
            && parts[0] == "arn"
            && parts[1].starts_with("aws")
            && parts[2] == "acm"
            && !parts[3].is_empty()
            && parts[4].len() == 12
            && parts[4].chars().all(|c| c.is_ascii_digit())
            && parts[5].strip_prefix("certificate/").is_some_and(|id| {
                !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if well_formed {
            Ok(text.to_owned())
        } else {
            Err(format!(
                "'{text}' is not an ACM certificate ARN (e.g. arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-...)"
            ))
        }
    }

    /// A region's name as AWS spells them (`eu-west-1`, `us-gov-east-1`):
    /// lower-case letters and digits in dash-separated words. Anything else
    /// would reach a request's URL and fail there, far from the mistake.
    pub fn region(text: &str) -> Result<String, String> {
        let words: Vec<&str> = text.split('-').collect();
        let well_formed = text.len() <= 50
            && words.len() >= 2
            && words.iter().all(|w| {
                !w.is_empty()
                    && w.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            })
            && words[0].bytes().all(|b| b.is_ascii_lowercase());
        if well_formed {
            Ok(text.to_owned())
        } else {
            Err(format!(
                "'{}' is not an AWS region name such as eu-west-1 or us-east-1",
                wschat_lambdas::clip::clip_to(text, 60)
            ))
        }
    }

    pub const LOG_RETENTION_DAYS: [i32; 22] = [
        1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
        2922, 3288, 3653,
    ];

    pub fn memory(mb: i64) -> Result<i32, String> {
        match i32::try_from(mb) {
            Ok(mb) if (128..=10240).contains(&mb) => Ok(mb),
            _ => Err("Lambda takes 128 to 10240 MB".into()),
        }
    }

    pub fn timeout(seconds: i64) -> Result<i32, String> {
        match i32::try_from(seconds) {
            Ok(s) if (1..=900).contains(&s) => Ok(s),
            _ => Err("Lambda takes 1 to 900 seconds (API Gateway waits at most 29)".into()),
        }
    }

    pub fn log_retention(days: i64) -> Result<i32, String> {
        match i32::try_from(days) {
            Ok(d) if LOG_RETENTION_DAYS.contains(&d) => Ok(d),
            _ => Err(format!(
                "CloudWatch Logs accepts one of {LOG_RETENTION_DAYS:?} days"
            )),
        }
    }

    /// API Gateway's route throttling: a finite rate within the account's 10,000 requests/s.
    pub fn throttle_rate(rate: f64) -> Result<f64, String> {
        if rate.is_finite() && (0.0..=10_000.0).contains(&rate) {
            Ok(rate)
        } else {
            Err("API Gateway accepts a number of requests per second from 0 to 10000".into())
        }
    }

    pub fn throttle_burst(burst: i64) -> Result<i32, String> {
        match i32::try_from(burst) {
            Ok(b) if b >= 0 => Ok(b),
            _ => Err("a burst is a number of requests from 0 up".into()),
        }
    }

    /// The account's `@connections` quota is 10,000 per second unless raised;
    /// a million is far past any raise.
    pub fn connections_rate(rate: i64) -> Result<u32, String> {
        match u32::try_from(rate) {
            Ok(r @ 1..=1_000_000) => Ok(r),
            _ => Err("a number of @connections posts per second from 1 to 1000000 (the account's quota is 10000 unless raised)".into()),
        }
    }

    pub fn max_message_rate(rate: f64) -> Result<f64, String> {
        if rate.is_finite() && (0.0..=1_000.0).contains(&rate) {
            Ok(rate)
        } else {
            Err("a number of messages per second per connection from 0 (no limit) to 1000".into())
        }
    }

    pub fn max_room_size(members: i64) -> Result<u32, String> {
        u32::try_from(members).map_err(|_| "a number of members from 0 (no limit) up".to_owned())
    }

    /// How long messages are kept, in seconds: a duration up to a year, 0 for no history.
    pub fn history_ttl(text: &str) -> Result<u32, String> {
        const YEAR: u64 = 365 * 86_400;
        let kept = crate::duration::parse(text)?;
        match kept.as_secs() {
            s @ 0..=YEAR => Ok(s as u32),
            _ => Err("a retention of at most 365d (e.g. 7d, 12h), or 0 to keep no history".into()),
        }
    }

    /// Messages a client gets on joining a room: 0 to 500.
    pub fn history_on_join(messages: i64) -> Result<u32, String> {
        let most = wschat_lambdas::history::MAX_CATCH_UP as i64;
        match messages {
            0.. if messages <= most => Ok(messages as u32),
            _ => Err(format!("a number of messages from 0 (none) to {most}")),
        }
    }

    /// `scheme://host[:port]`, as browsers send it in `Origin`.
    pub fn web_origin(text: &str) -> Result<String, String> {
        let rest = text
            .strip_prefix("https://")
            .or_else(|| text.strip_prefix("http://"))
            .ok_or("an origin starts with https:// or http://")?;
        if rest.is_empty() || rest.contains(['/', '?', '#', ',', ' ']) {
            return Err(
                "an origin is scheme://host[:port], with no path (e.g. https://chat.example.com)"
                    .into(),
            );
        }
        Ok(text.to_owned())
    }

    /// Issuers are HTTPS; plain HTTP only on this machine (a local identity provider).
    pub fn issuer_url(text: &str) -> Result<String, String> {
        let local = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
            .iter()
            .any(|p| text.starts_with(p));
        if !text.starts_with("https://") && !local {
            return Err("the issuer must be an https:// URL".into());
        }
        Ok(text.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag<T>(value: T) -> Option<Given<T>> {
        Some(Given::new(value, Origin::Flag("--x".into())))
    }

    #[test]
    fn domains_mapping_keys_and_certificates_are_checked_before_any_call() {
        assert_eq!(
            check::domain("Chat.Example.com.").as_deref(),
            Ok("chat.example.com")
        );
        for bad in [
            "example",
            "*.example.com",
            "https://chat.example.com",
            "a..b.com",
            "-a.com",
            "1.2.3.4",
        ] {
            assert!(check::domain(bad).is_err(), "{bad:?}");
        }
        assert_eq!(check::domain_path("/v1/chat").as_deref(), Ok("v1/chat"));
        for bad in ["v1/", "a//b", "a b", "a?b"] {
            assert!(check::domain_path(bad).is_err(), "{bad:?}");
        }
        let arn = "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f";
        assert_eq!(check::certificate_arn(arn).as_deref(), Ok(arn));
        assert!(check::certificate_arn("arn:aws:acm:eu-west-1:123456789012:key/x").is_err());
        let path_alone = Partial {
            domain_path: flag("v1".to_owned()),
            ..Partial::default()
        };
        assert!(path_alone
            .settings()
            .unwrap_err()
            .to_string()
            .contains("only applies with a domain"));
        let domain = Partial {
            domain: flag("chat.example.com".to_owned()),
            ..path_alone
        };
        let settings = domain.settings().unwrap().domain.unwrap();
        assert_eq!(
            (settings.name.as_str(), settings.path.as_str()),
            ("chat.example.com", "v1")
        );
    }

    #[test]
    fn only_region_names_pass_as_regions() {
        for ok in [
            "us-east-1",
            "eu-west-1",
            "us-gov-west-1",
            "cn-north-1",
            "mars-1",
        ] {
            assert_eq!(check::region(ok).as_deref(), Ok(ok));
        }
        for bad in [
            "",
            "us-east-1;x",
            "../../x",
            "US-EAST-1",
            "us_east_1",
            "eu",
            "-1",
            "eu--1",
            "eu-west-1 ",
        ] {
            assert!(check::region(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_highest_layer_that_has_a_setting_wins() {
        let flags = Partial {
            memory: flag(256),
            ..Partial::default()
        };
        let file = Partial {
            memory: Some(Given::new(512, Origin::File("wschat.toml".into()))),
            timeout: Some(Given::new(10, Origin::File("wschat.toml".into()))),
            ..Partial::default()
        };
        let merged = flags.or(file);
        let settings = merged.settings().unwrap();
        assert_eq!((settings.memory_mb, settings.timeout_s), (256, 10));
        assert_eq!(settings.log_retention_days, 14, "the default");
        let lines = merged.provenance();
        assert!(
            lines.contains(&"memory = 256 (flag --x)".to_owned()),
            "{lines:?}"
        );
        assert!(
            lines.contains(&"timeout = 10 (wschat.toml)".to_owned()),
            "{lines:?}"
        );
        assert!(
            lines.contains(&"log-retention: default".to_owned()),
            "{lines:?}"
        );
    }

    #[test]
    fn the_recorded_tags_read_back_as_the_settings_applied() {
        let mut spec = crate::spec::tests::spec();
        spec.settings.memory_mb = 512;
        spec.settings.auth.allowed_origins = vec![
            "https://a.example.com".into(),
            "http://localhost:3000".into(),
        ];
        spec.settings.domain = Some(crate::spec::DomainSettings {
            name: "chat.example.com".into(),
            path: "v1".into(),
            certificate_arn: Some("arn:aws:acm:eu-west-1:123456789012:certificate/abc-1".into()),
        });
        let tags = spec.applied_tags();
        assert!(tags.keys().all(|k| k.len() <= 128) && tags.values().all(|v| v.len() <= 256));
        let back = Partial::from_applied_tags(&tags);
        assert_eq!(back.settings().unwrap(), spec.settings);
        assert_eq!(back.memory.unwrap().origin, Origin::Recorded);
        assert_eq!(
            Partial::from_applied_tags(&HashMap::new()),
            Partial::default()
        );
    }

    #[test]
    fn jwt_settings_come_together_or_not_at_all() {
        let jwt = Partial {
            auth: flag(AuthMode::Jwt),
            ..Partial::default()
        };
        assert!(jwt.settings().is_err());
        let stray = Partial {
            jwt_issuer: flag("https://id.example.com".into()),
            ..Partial::default()
        };
        assert!(stray.settings().is_err());
    }

    #[test]
    fn values_are_checked_the_same_from_any_layer() {
        assert_eq!(check::memory(256), Ok(256));
        assert!(check::memory(64).is_err());
        assert!(check::timeout(0).is_err());
        assert!(check::log_retention(10).is_err());
        assert!(check::throttle_rate(f64::NAN).is_err());
        assert!(check::web_origin("https://a.example.com/path").is_err());
        assert!(check::issuer_url("http://id.example.com").is_err());
    }
}
