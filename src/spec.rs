//! The stack's identity: names every resource derives from, validated against AWS rules before any call.

use crate::error::{CliError, Result};

pub const MAX_NAME_LEN: usize = 32;
pub const MAX_STAGE_LEN: usize = 16;

/// `--name`: starts with a letter; letters, digits and `-`; at most 32, so that
/// `{name}-{stage}-disconnect` stays within Lambda's and IAM's 64-character limits.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = name.len() <= MAX_NAME_LEN
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(CliError::usage(format!(
            "invalid --name '{name}': use 1-{MAX_NAME_LEN} letters, digits and '-', starting with a letter"
        ))
        .with_hint("for example --name chat or --name team-chat"))
    }
}

/// `--stage`: letters, digits, `_` and `-`, at most 16 (it is also the URL path of the API).
pub fn validate_stage(stage: &str) -> Result<()> {
    let ok = !stage.is_empty()
        && stage.len() <= MAX_STAGE_LEN
        && stage.starts_with(|c: char| c.is_ascii_alphanumeric())
        && stage
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(CliError::usage(format!(
            "invalid --stage '{stage}': use 1-{MAX_STAGE_LEN} letters, digits, '_' and '-', starting with a letter or digit"
        ))
        .with_hint("for example --stage dev, --stage prod or --stage pr-42"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_aws_rules() {
        for ok in ["wschat", "team-chat", "a", &"a".repeat(32)] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1chat",
            "chat_room",
            "chat-",
            "chät",
            &"a".repeat(33),
            "a b",
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        for ok in ["dev", "prod", "pr-42", "v1_2", "2026"] {
            assert!(validate_stage(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-dev", "de v", "dev/x", &"s".repeat(17)] {
            assert!(validate_stage(bad).is_err(), "{bad}");
        }
    }
}

/// The three Lambda functions, named after their binaries in `lambdas/src/bin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Function {
    Connect,
    Disconnect,
    Message,
}

impl Function {
    pub const ALL: [Function; 3] = [Function::Connect, Function::Disconnect, Function::Message];

    pub fn binary(self) -> &'static str {
        match self {
            Function::Connect => "connect",
            Function::Disconnect => "disconnect",
            Function::Message => "message",
        }
    }
}

/// Every route of the API and the function behind it.
pub const ROUTES: [(&str, Function); 6] = [
    ("$connect", Function::Connect),
    ("$disconnect", Function::Disconnect),
    ("$default", Function::Message),
    ("sendMessage", Function::Message),
    ("join", Function::Message),
    ("who", Function::Message),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    #[value(name = "x86_64")]
    #[serde(rename = "x86_64")]
    X86_64,
    Arm64,
}

impl Arch {
    pub fn host() -> Arch {
        if cfg!(target_arch = "aarch64") {
            Arch::Arm64
        } else {
            Arch::X86_64
        }
    }

    pub fn rust_target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-linux-gnu",
            Arch::Arm64 => "aarch64-unknown-linux-gnu",
        }
    }

    /// Lambda's name for it.
    pub fn lambda_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }
}

/// The settings a deploy may change; everything else is derived.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub memory_mb: i32,
    pub timeout_s: i32,
    pub arch: Arch,
    pub log_retention_days: i32,
    pub throttle_rate: f64,
    pub throttle_burst: i32,
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
        }
    }
}

/// The desired stack: names, ARNs, tags and policies, all derived from `{name}-{stage}`.
#[derive(Debug, Clone)]
pub struct StackSpec {
    pub name: String,
    pub stage: String,
    pub region: String,
    pub account: String,
    pub partition: &'static str,
    pub settings: Settings,
}

pub const TAG_STACK: &str = "wschat:stack";
pub const TAG_STAGE: &str = "wschat:stage";

impl StackSpec {
    pub fn new(
        name: &str,
        stage: &str,
        region: &str,
        account: &str,
        settings: Settings,
    ) -> Result<StackSpec> {
        validate_name(name)?;
        validate_stage(stage)?;
        Ok(StackSpec {
            name: name.to_owned(),
            stage: stage.to_owned(),
            region: region.to_owned(),
            account: account.to_owned(),
            partition: crate::aws::partition(region),
            settings,
        })
    }

    pub fn prefix(&self) -> String {
        format!("{}-{}", self.name, self.stage)
    }

    pub fn tags(&self) -> std::collections::HashMap<String, String> {
        [
            (TAG_STACK.to_owned(), self.name.clone()),
            (TAG_STAGE.to_owned(), self.stage.clone()),
        ]
        .into()
    }

    /// Whether a resource's tags say it belongs to this stack.
    pub fn owns(&self, tags: &std::collections::HashMap<String, String>) -> bool {
        tags.get(TAG_STACK) == Some(&self.name) && tags.get(TAG_STAGE) == Some(&self.stage)
    }

    pub fn table(&self) -> String {
        format!("{}-connections", self.prefix())
    }

    pub fn table_arn(&self) -> String {
        format!(
            "arn:{}:dynamodb:{}:{}:table/{}",
            self.partition,
            self.region,
            self.account,
            self.table()
        )
    }

    pub fn role(&self) -> String {
        format!("{}-lambda", self.prefix())
    }

    pub fn role_arn(&self) -> String {
        format!(
            "arn:{}:iam::{}:role/{}",
            self.partition,
            self.account,
            self.role()
        )
    }

    pub fn policy_name(&self) -> String {
        format!("{}-access", self.prefix())
    }

    pub fn function_name(&self, f: Function) -> String {
        format!("{}-{}", self.prefix(), f.binary())
    }

    /// Known before the function exists, so the API side need not wait for IAM.
    pub fn function_arn(&self, f: Function) -> String {
        format!(
            "arn:{}:lambda:{}:{}:function:{}",
            self.partition,
            self.region,
            self.account,
            self.function_name(f)
        )
    }

    pub fn log_group(&self, f: Function) -> String {
        format!("/aws/lambda/{}", self.function_name(f))
    }

    pub fn api_name(&self) -> String {
        self.prefix()
    }

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
        format!(
            "arn:{}:execute-api:{}:{}:{}/*",
            self.partition, self.region, self.account, api_id
        )
    }

    pub fn websocket_url(&self, api_id: &str) -> String {
        format!(
            "wss://{api_id}.execute-api.{}.amazonaws.com/{}",
            self.region, self.stage
        )
    }

    /// The management API's endpoint: `@connections/{id}` lives under it.
    pub fn stage_url(&self, api_id: &str) -> String {
        format!(
            "https://{api_id}.execute-api.{}.amazonaws.com/{}",
            self.region, self.stage
        )
    }

    pub fn connections_url(&self, api_id: &str) -> String {
        format!("{}/@connections", self.stage_url(api_id))
    }

    pub fn trust_policy(&self) -> serde_json::Value {
        serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": { "Service": "lambda.amazonaws.com" },
                "Action": "sts:AssumeRole"
            }]
        })
    }

    /// Least privilege: this table and its indexes, this stage's `@connections`, these log groups.
    pub fn access_policy(&self, api_id: &str) -> serde_json::Value {
        let table = self.table_arn();
        let log_streams: Vec<String> = Function::ALL
            .iter()
            .map(|f| {
                format!(
                    "arn:{}:logs:{}:{}:log-group:{}:*",
                    self.partition,
                    self.region,
                    self.account,
                    self.log_group(*f)
                )
            })
            .collect();
        serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ConnectionsTable",
                    "Effect": "Allow",
                    "Action": ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:Query"],
                    "Resource": [
                        table.clone(),
                        format!("{table}/index/{}", wschat_lambdas::dynamo::ROOM_INDEX),
                        format!("{table}/index/{}", wschat_lambdas::dynamo::USERNAME_INDEX)
                    ]
                },
                {
                    "Sid": "PostToConnections",
                    "Effect": "Allow",
                    "Action": "execute-api:ManageConnections",
                    "Resource": format!(
                        "arn:{}:execute-api:{}:{}:{api_id}/{}/*/@connections/*",
                        self.partition, self.region, self.account, self.stage
                    )
                },
                {
                    "Sid": "OwnLogs",
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": log_streams
                }
            ]
        })
    }
}

#[cfg(test)]
mod spec_tests {
    use super::*;

    fn spec() -> StackSpec {
        StackSpec::new(
            "chat",
            "prod",
            "eu-west-1",
            "123456789012",
            Settings::default(),
        )
        .unwrap()
    }

    #[test]
    fn names_derive_from_name_and_stage() {
        let s = spec();
        assert_eq!(s.table(), "chat-prod-connections");
        assert_eq!(s.function_name(Function::Message), "chat-prod-message");
        assert_eq!(
            s.function_arn(Function::Connect),
            "arn:aws:lambda:eu-west-1:123456789012:function:chat-prod-connect"
        );
        assert_eq!(
            s.log_group(Function::Disconnect),
            "/aws/lambda/chat-prod-disconnect"
        );
        let longest = StackSpec::new(
            &"n".repeat(32),
            &"s".repeat(16),
            "eu-west-1",
            "1",
            Settings::default(),
        )
        .unwrap();
        assert!(longest.function_name(Function::Disconnect).len() <= 64);
        assert!(longest.role().len() <= 64);
    }

    #[test]
    fn the_access_policy_names_no_wildcard_resource() {
        let policy = spec().access_policy("abc123");
        let text = policy.to_string();
        for statement in policy["Statement"].as_array().unwrap() {
            let resources = match &statement["Resource"] {
                serde_json::Value::Array(list) => list.clone(),
                one => vec![one.clone()],
            };
            for r in resources {
                let r = r.as_str().unwrap();
                assert!(r.starts_with("arn:aws:"), "{r}");
                assert_ne!(r, "*");
            }
        }
        assert!(text
            .contains("arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/*/@connections/*"));
        assert!(text.contains("table/chat-prod-connections/index/room-index"));
        assert!(!text.contains("FullAccess"));
    }
}
