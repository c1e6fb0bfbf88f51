//! The desired stack: names, ARNs, URLs, tags and settings, all derived from
//! `{name}-{stage}` and the account, before any resource is touched.
//!
//! - `names`: the stack's identity and AWS's naming rules;
//! - `function`: the four functions, their routes, architectures;
//! - `policy`: the role's IAM documents.

mod function;
mod names;
mod policy;

pub use function::{routes, Arch, Function};
pub use names::StackId;

use std::collections::HashMap;
use wschat_lambdas::auth::AuthSettings;

/// The settings a deploy may change; everything else is derived.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub memory_mb: i32,
    pub timeout_s: i32,
    pub arch: Arch,
    pub log_retention_days: i32,
    pub throttle_rate: f64,
    pub throttle_burst: i32,
    /// `@connections` posts per second all delivery workers share.
    pub connections_rate: u32,
    /// Messages per second one connection may send (0: no limit).
    pub max_message_rate: f64,
    /// Members a room may have (0: no limit).
    pub max_room_size: u32,
    /// How long messages are kept, in seconds (0: no history).
    pub history_ttl_s: u32,
    /// Stored messages a client gets on joining a room.
    pub history_on_join: u32,
    /// Who may connect: the connect function's environment carries it.
    pub auth: AuthSettings,
    /// Where the alarms notify: a topic the stack owns, with this address subscribed.
    pub alarm_email: Option<String>,
    /// Where the alarms notify: a topic someone else owns (never deleted).
    pub alarm_topic: Option<String>,
    /// The stage writes an access log line per request to the stack's access log group.
    pub access_logs: bool,
    /// The chat at its own address (`wss://chat.example.com`).
    pub domain: Option<DomainSettings>,
}

/// A custom domain for the stage: API Gateway's regional domain name, its
/// certificate, and the mapping of `path` on it to the stage.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainSettings {
    /// `chat.example.com`: lower-case, no trailing dot.
    pub name: String,
    /// The API mapping's key: clients connect to `wss://{name}/{path}`; empty for the root.
    pub path: String,
    /// A certificate of the user's (never deleted); else the stack requests its own.
    pub certificate_arn: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            memory_mb: 128,
            timeout_s: 29,
            arch: Arch::host(),
            log_retention_days: 14,
            throttle_rate: 500.0,
            throttle_burst: 1000,
            connections_rate: wschat_lambdas::chat::DEFAULT_CONNECTIONS_RATE,
            max_message_rate: wschat_lambdas::chat::DEFAULT_MAX_MESSAGE_RATE,
            max_room_size: 0,
            history_ttl_s: wschat_lambdas::history::DEFAULT_TTL_SECONDS as u32,
            history_on_join: wschat_lambdas::history::DEFAULT_ON_JOIN as u32,
            auth: AuthSettings::default(),
            alarm_email: None,
            alarm_topic: None,
            access_logs: false,
            domain: None,
        }
    }
}

/// The desired stack in one account and region.
#[derive(Debug, Clone)]
pub struct StackSpec {
    pub id: StackId,
    pub region: String,
    pub account: String,
    pub partition: &'static str,
    pub settings: Settings,
}

pub const TAG_STACK: &str = "wschat:stack";
pub const TAG_STAGE: &str = "wschat:stage";
/// Tags on the API that record the settings the last deploy applied.
pub const TAG_APPLIED: &str = "wschat:applied:";

/// `aws`, `aws-cn`, `aws-us-gov`, ...: ARNs differ by partition.
pub use wschat_lambdas::partition::partition;

impl StackSpec {
    pub fn new(id: &StackId, region: &str, account: &str, settings: Settings) -> StackSpec {
        StackSpec {
            id: id.clone(),
            region: region.to_owned(),
            account: account.to_owned(),
            partition: partition(region),
            settings,
        }
    }

    pub fn prefix(&self) -> String {
        self.id.prefix()
    }

    pub fn tags(&self) -> HashMap<String, String> {
        [
            (TAG_STACK.to_owned(), self.id.name.clone()),
            (TAG_STAGE.to_owned(), self.id.stage.clone()),
        ]
        .into()
    }

    /// The settings as tags, `wschat:applied:{key}`, keys as in wschat.toml.
    /// Values keep to the characters every service allows in tags.
    pub fn applied_tags(&self) -> HashMap<String, String> {
        let s = &self.settings;
        let mut tags: Vec<(&str, String)> = vec![
            ("memory", s.memory_mb.to_string()),
            ("timeout", s.timeout_s.to_string()),
            ("arch", s.arch.lambda_name().to_owned()),
            ("log-retention", s.log_retention_days.to_string()),
            ("throttle-rate", s.throttle_rate.to_string()),
            ("throttle-burst", s.throttle_burst.to_string()),
            ("connections-rate", s.connections_rate.to_string()),
            ("max-message-rate", s.max_message_rate.to_string()),
            ("max-room-size", s.max_room_size.to_string()),
            ("history-ttl", format!("{}s", s.history_ttl_s)),
            ("history-on-join", s.history_on_join.to_string()),
            ("auth", s.auth.mode.to_string()),
            ("access-logs", s.access_logs.to_string()),
        ];
        if !s.auth.allowed_origins.is_empty() {
            tags.push(("allowed-origins", s.auth.allowed_origins.join(" ")));
        }
        if let Some(email) = &s.alarm_email {
            tags.push(("alarm-email", email.clone()));
        }
        if let Some(topic) = &s.alarm_topic {
            tags.push(("alarm-topic", topic.clone()));
        }
        if let Some(domain) = &s.domain {
            tags.push(("domain", domain.name.clone()));
            if !domain.path.is_empty() {
                tags.push(("domain-path", domain.path.clone()));
            }
            if let Some(arn) = &domain.certificate_arn {
                tags.push(("certificate-arn", arn.clone()));
            }
        }
        if let Some(jwt) = &s.auth.jwt {
            tags.push(("jwt-issuer", jwt.issuer.clone()));
            tags.push(("jwt-audience", jwt.audience.clone()));
            tags.push(("jwt-name-claim", jwt.name_claim.clone()));
        }
        tags.into_iter()
            .map(|(key, value)| (format!("{TAG_APPLIED}{key}"), value))
            .collect()
    }

    /// Whether a resource's tags say it belongs to this stack.
    pub fn owns(&self, tags: &HashMap<String, String>) -> bool {
        tags.get(TAG_STACK) == Some(&self.id.name) && tags.get(TAG_STAGE) == Some(&self.id.stage)
    }

    /// `arn:{partition}:{service}:{region}:{account}:{resource}`.
    fn arn(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:{}:{service}:{}:{}:{resource}",
            self.partition, self.region, self.account
        )
    }

    pub fn table(&self) -> String {
        self.id.table()
    }

    pub fn table_arn(&self) -> String {
        self.arn("dynamodb", &format!("table/{}", self.table()))
    }

    pub fn messages_table(&self) -> String {
        self.id.messages_table()
    }

    pub fn messages_table_arn(&self) -> String {
        self.arn("dynamodb", &format!("table/{}", self.messages_table()))
    }

    pub fn role(&self) -> String {
        format!("{}-lambda", self.prefix())
    }

    /// IAM is global: no region in the ARN.
    pub fn role_arn(&self) -> String {
        format!(
            "arn:{}:iam::{}:role/{}",
            self.partition,
            self.account,
            self.role()
        )
    }

    /// Token mode's signing secret: an SSM SecureString parameter.
    pub fn token_parameter(&self) -> String {
        format!("/wschat/{}/{}/token-secret", self.id.name, self.id.stage)
    }

    pub fn token_parameter_arn(&self) -> String {
        self.arn("ssm", &format!("parameter{}", self.token_parameter()))
    }

    /// The `aud` claim of this stack's tokens.
    pub fn token_audience(&self) -> String {
        wschat_lambdas::auth::token::audience(&self.prefix())
    }

    /// Where the delivery function's failed jobs land (its on-failure destination).
    pub fn dead_letter_queue(&self) -> String {
        format!("{}-deliver-failed", self.prefix())
    }

    pub fn dead_letter_queue_arn(&self) -> String {
        self.arn("sqs", &self.dead_letter_queue())
    }

    /// The topic the stack owns for its alarms (with `--alarm-email`).
    pub fn alarm_topic_name(&self) -> String {
        format!("{}-alarms", self.prefix())
    }

    pub fn alarm_topic_arn(&self) -> String {
        self.arn("sns", &self.alarm_topic_name())
    }

    /// Where the alarms notify, if anywhere: the given topic, else the stack's own.
    pub fn alarm_actions(&self) -> Option<String> {
        let s = &self.settings;
        s.alarm_topic
            .clone()
            .or_else(|| s.alarm_email.as_ref().map(|_| self.alarm_topic_arn()))
    }

    /// Every alarm of the stack is named `{prefix}-{what}`.
    pub fn alarm_name(&self, what: &str) -> String {
        format!("{}-{what}", self.prefix())
    }

    pub fn dashboard(&self) -> String {
        self.prefix()
    }

    /// The dashboard in the CloudWatch console.
    pub fn dashboard_url(&self) -> String {
        let console = match self.partition {
            "aws-cn" => "console.amazonaws.cn".to_owned(),
            "aws-us-gov" => "console.amazonaws-us-gov.com".to_owned(),
            _ => "console.aws.amazon.com".to_owned(),
        };
        format!(
            "https://{region}.{console}/cloudwatch/home?region={region}#dashboards/dashboard/{}",
            self.dashboard(),
            region = self.region
        )
    }

    pub fn policy_name(&self) -> String {
        format!("{}-access", self.prefix())
    }

    pub fn function_name(&self, f: Function) -> String {
        format!("{}-{}", self.prefix(), f.name())
    }

    /// Known before the function exists, so the API side need not wait for IAM.
    pub fn function_arn(&self, f: Function) -> String {
        self.arn("lambda", &format!("function:{}", self.function_name(f)))
    }

    pub fn log_group(&self, f: Function) -> String {
        format!("/aws/lambda/{}", self.function_name(f))
    }

    /// Where the stage's access log goes (`--access-logs`).
    pub fn access_log_group(&self) -> String {
        format!("/aws/apigateway/{}", self.prefix())
    }

    pub fn access_log_group_arn(&self) -> String {
        self.arn("logs", &format!("log-group:{}", self.access_log_group()))
    }

    /// The role API Gateway writes every access log of the account and region
    /// with, when `deploy --set-account-logging-role` sets it: one per account.
    pub fn account_logging_role(&self) -> &'static str {
        "wschat-apigateway-cloudwatch"
    }

    pub fn account_logging_role_arn(&self) -> String {
        format!(
            "arn:{}:iam::{}:role/{}",
            self.partition,
            self.account,
            self.account_logging_role()
        )
    }

    pub fn api_name(&self) -> String {
        self.prefix()
    }

    /// API Gateway's service ARN for invoking the function (no account field).
    pub fn integration_uri(&self, f: Function) -> String {
        format!(
            "arn:{}:apigateway:{}:lambda:path/2015-03-31/functions/{}/invocations",
            self.partition,
            self.region,
            self.function_arn(f)
        )
    }

    /// What API Gateway may invoke: this API only.
    pub fn api_source_arn(&self, api_id: &str) -> String {
        self.arn("execute-api", &format!("{api_id}/*"))
    }

    /// `{api}.execute-api.{region}.{the partition's domain}`.
    fn api_host(&self, api_id: &str) -> String {
        format!(
            "{api_id}.execute-api.{}.{}",
            self.region,
            wschat_lambdas::partition::dns_suffix(&self.region)
        )
    }

    pub fn websocket_url(&self, api_id: &str) -> String {
        format!("wss://{}/{}", self.api_host(api_id), self.id.stage)
    }

    /// The management API's endpoint: `@connections/{id}` lives under it.
    pub fn stage_url(&self, api_id: &str) -> String {
        format!("https://{}/{}", self.api_host(api_id), self.id.stage)
    }

    pub fn connections_url(&self, api_id: &str) -> String {
        format!("{}/@connections", self.stage_url(api_id))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn spec() -> StackSpec {
        let id = StackId::new("chat", "prod").unwrap();
        StackSpec::new(&id, "eu-west-1", "123456789012", Settings::default())
    }

    #[test]
    fn names_derive_from_name_and_stage() {
        let s = spec();
        assert_eq!(s.table(), "chat-prod-connections");
        assert_eq!(
            s.table_arn(),
            "arn:aws:dynamodb:eu-west-1:123456789012:table/chat-prod-connections"
        );
        assert_eq!(
            s.role_arn(),
            "arn:aws:iam::123456789012:role/chat-prod-lambda"
        );
        assert_eq!(s.function_name(Function::Message), "chat-prod-message");
        assert_eq!(
            s.function_arn(Function::Connect),
            "arn:aws:lambda:eu-west-1:123456789012:function:chat-prod-connect"
        );
        assert_eq!(
            s.integration_uri(Function::Connect),
            "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:chat-prod-connect/invocations"
        );
        assert_eq!(
            s.log_group(Function::Disconnect),
            "/aws/lambda/chat-prod-disconnect"
        );
        let longest = StackId::new(&"n".repeat(32), &"s".repeat(16)).unwrap();
        let longest = StackSpec::new(&longest, "eu-west-1", "1", Settings::default());
        assert!(longest.function_name(Function::Disconnect).len() <= 64);
        assert!(longest.role().len() <= 64);
    }

    #[test]
    fn arns_follow_the_partition() {
        assert_eq!(partition("cn-north-1"), "aws-cn");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition("eu-west-1"), "aws");
        let china = StackSpec::new(
            &StackId::new("chat", "dev").unwrap(),
            "cn-north-1",
            "123456789012",
            Settings::default(),
        );
        assert_eq!(
            china.websocket_url("abc"),
            "wss://abc.execute-api.cn-north-1.amazonaws.com.cn/dev"
        );
    }
}
