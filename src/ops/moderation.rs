//! Moderation against a target: on AWS through the messages table, the
//! connections table and `@connections`; on a sandbox through its
//! moderation endpoint. Both run [`wschat_lambdas::moderation::run`].

use super::{store_error, Backend, Target};
use crate::clock::iso8601;
use crate::error::{CliError, Result};
use crate::spec::Function;
use crate::stack::Stack;
use serde::Serialize;
use std::fmt;
use wschat_lambdas::auth::{self, AuthMode};
use wschat_lambdas::dynamo_history::DynamoHistory;
use wschat_lambdas::history::{Sanction, SanctionKind};
use wschat_lambdas::moderation::{Command, Outcome};

#[derive(Debug, Serialize)]
pub struct ModerationReport {
    pub target: String,
    pub command: Command,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// False in open mode: a ban or mute is of a name anyone may claim.
    pub names_verified: bool,
}

pub async fn run(target: &Target, command: Command) -> Result<ModerationReport> {
    let (outcome, names_verified) = match &target.backend {
        Backend::Local(sandbox) => sandbox.moderate(&command).await.map_err(store_error)?,
        Backend::Aws(stack) => {
            let history =
                DynamoHistory::new(stack.clients.dynamodb.clone(), stack.spec.messages_table());
            let ran =
                wschat_lambdas::moderation::run(&target.store, &history, &target.gateway, &command);
            let outcome = ran.await.map_err(|e| {
                let missing = e.0.contains("ResourceNotFoundException");
                let error = store_error(e);
                if missing {
                    error.with_hint(
                        "this stack has no messages table yet: run `wschat deploy` to add it",
                    )
                } else {
                    error
                }
            })?;
            (outcome, verifies_names(stack).await?)
        }
    };
    Ok(ModerationReport {
        target: target.label.clone(),
        command,
        outcome,
        names_verified,
    })
}

/// Whether the deployed connect function verifies names (its auth mode).
async fn verifies_names(stack: &Stack) -> Result<bool> {
    let name = stack.spec.function_name(Function::Connect);
    let request = stack
        .clients
        .lambda
        .get_function_configuration()
        .function_name(&name);
    let config = request.send().await.map_err(|e| {
        CliError::failed(format!(
            "Lambda GetFunctionConfiguration {name} failed: {}",
            aws_sdk_lambda::error::DisplayErrorContext(e)
        ))
    })?;
    let mode = config
        .environment()
        .and_then(|e| e.variables())
        .and_then(|v| v.get(auth::ENV_MODE))
        .and_then(|m| AuthMode::parse(m))
        .unwrap_or(AuthMode::Open);
    Ok(mode != AuthMode::Open)
}

fn sanction_line(s: &Sanction) -> String {
    let until = match s.until {
        Some(until) => format!("until {}", iso8601(until)),
        None => "until lifted".to_owned(),
    };
    let reason = s
        .reason
        .as_deref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    format!("{:<6} {:<20} {until}{reason}", s.kind.as_str(), s.username)
}

const OPEN_MODE: &str = "  note          names are not verified here (auth: open): anyone may connect under any name, so they can return under another; deploy with --auth token or jwt to make names stick";

impl fmt::Display for ModerationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.outcome;
        match &self.command {
            Command::Impose { kind, username, .. } => {
                let (verb, effect) = match kind {
                    SanctionKind::Ban => ("banned", "connection(s) closed"),
                    SanctionKind::Mute => ("muted", "connection(s) muted"),
                };
                writeln!(f, "{verb} {username} on {}", self.target)?;
                for s in &o.sanctions {
                    writeln!(f, "  {}", sanction_line(s))?;
                }
                writeln!(f, "  {} {effect}", o.connections)?;
                if !self.names_verified {
                    writeln!(f, "{OPEN_MODE}")?;
                }
            }
            Command::Lift { kind, username } => {
                let what = kind.as_str();
                if o.found {
                    writeln!(f, "lifted the {what} on {username} on {}", self.target)?;
                } else {
                    writeln!(f, "{username} had no {what} on {}", self.target)?;
                }
            }
            Command::Sanctions => {
                if o.sanctions.is_empty() {
                    writeln!(f, "no bans or mutes in force on {}", self.target)?;
                }
                for s in &o.sanctions {
                    writeln!(f, "{}", sanction_line(s))?;
                }
            }
            Command::Delete { id } => {
                writeln!(
                    f,
                    "deleted {id} from history on {}; {} connection(s) told to hide it",
                    self.target, o.notified
                )?;
            }
            Command::List { room, .. } => {
                if o.messages.is_empty() {
                    writeln!(f, "no stored messages in {room} on {}", self.target)?;
                }
                for m in &o.messages {
                    writeln!(
                        f,
                        "{}  {}  {}: {}",
                        m.id,
                        iso8601(m.ts),
                        m.username,
                        m.message
                    )?;
                }
                if o.more {
                    let oldest = o.messages.first().map_or("", |m| m.id.as_str());
                    writeln!(
                        f,
                        "(older: wschat messages list --room {room} --before {oldest})"
                    )?;
                }
            }
        }
        Ok(())
    }
}
