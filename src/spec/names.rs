//! The stack's identity, `{name}-{stage}`, validated against AWS rules before any call.

use crate::error::{CliError, Result};

const MAX_NAME_LEN: usize = 32;
const MAX_STAGE_LEN: usize = 16;

/// A stack's name and stage, both valid: every resource name derives from them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackId {
    pub name: String,
    pub stage: String,
}

impl StackId {
    pub fn new(name: &str, stage: &str) -> Result<StackId> {
        validate_name(name)?;
        validate_stage(stage)?;
        Ok(StackId {
            name: name.to_owned(),
            stage: stage.to_owned(),
        })
    }

    /// `{name}-{stage}`: the prefix of every resource name.
    pub fn prefix(&self) -> String {
        format!("{}-{}", self.name, self.stage)
    }

    /// The connections table: deploy makes it, `wschat dev --dynamodb-endpoint` too.
    pub fn table(&self) -> String {
        format!("{}-connections", self.prefix())
    }

    /// The messages table: history and sanctions, beside the connections table.
    pub fn messages_table(&self) -> String {
        format!("{}-messages", self.prefix())
    }
}

/// `--name`: starts with a letter; letters, digits and `-`; at most 32, so that
/// `{name}-{stage}-disconnect` stays within Lambda's and IAM's 64-character limits.
fn validate_name(name: &str) -> Result<()> {
    let ok = name.len() <= MAX_NAME_LEN
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.ends_with('-');
    valid(
        ok,
        "name",
        name,
        &format!("use 1-{MAX_NAME_LEN} letters, digits and '-', starting with a letter"),
        "--name chat or --name team-chat",
    )
}

/// `--stage`: letters, digits, `_` and `-`, at most 16 (it is also the URL path of the API).
fn validate_stage(stage: &str) -> Result<()> {
    let ok = stage.len() <= MAX_STAGE_LEN
        && stage.starts_with(|c: char| c.is_ascii_alphanumeric())
        && stage
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    valid(
        ok,
        "stage",
        stage,
        &format!(
            "use 1-{MAX_STAGE_LEN} letters, digits, '_' and '-', starting with a letter or digit"
        ),
        "--stage dev, --stage prod or --stage pr-42",
    )
}

/// The usage error for `--{flag} value` that breaks `rule`, with examples.
fn valid(ok: bool, flag: &str, value: &str, rule: &str, examples: &str) -> Result<()> {
    if ok {
        return Ok(());
    }
    Err(
        CliError::usage(format!("invalid --{flag} '{value}': {rule}"))
            .with_hint(format!("for example {examples}")),
    )
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

    #[test]
    fn an_id_is_valid_or_not_made() {
        assert_eq!(
            StackId::new("chat", "pr-42").unwrap().prefix(),
            "chat-pr-42"
        );
        assert!(StackId::new("chat", "no/slash").is_err());
        assert!(StackId::new("1chat", "dev").is_err());
    }
}
