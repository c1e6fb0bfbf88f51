//! ban, unban, mute, unmute, bans and messages: a live stack on AWS or a running `wschat dev`.

use super::settings::Resolved;
use crate::cli::{BansArgs, LocalArgs, MessagesAction, MessagesArgs, SanctionArgs, UserArgs};
use crate::error::{CliError, Result};
use crate::ops::{self, moderation::ModerationReport};
use crate::output::print;
use std::process::ExitCode;
use wschat_lambdas::history::SanctionKind;
use wschat_lambdas::moderation::Command;

pub async fn impose(run: &Resolved, kind: SanctionKind, args: SanctionArgs) -> Result<ExitCode> {
    let for_ms = args
        .duration
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let command = Command::Impose {
        kind,
        username: args.user,
        for_ms,
        reason: args.reason,
    };
    moderate(run, &args.target, command).await
}

pub async fn lift(run: &Resolved, kind: SanctionKind, args: UserArgs) -> Result<ExitCode> {
    let command = Command::Lift {
        kind,
        username: args.user,
    };
    moderate(run, &args.target, command).await
}

pub async fn bans(run: &Resolved, args: BansArgs) -> Result<ExitCode> {
    moderate(run, &args.target, Command::Sanctions).await
}

pub async fn messages(run: &Resolved, args: MessagesArgs) -> Result<ExitCode> {
    match args.action {
        MessagesAction::List {
            room,
            limit,
            before,
            target,
        } => {
            let command = Command::List {
                room,
                before,
                limit: limit as usize,
            };
            moderate(run, &target, command).await
        }
        MessagesAction::Delete { id, target } => {
            let command = Command::Delete { id: id.clone() };
            let report = report(run, &target, command).await?;
            if !report.outcome.found {
                return Err(CliError::failed(format!("no stored message has the id {id}"))
                    .with_hint("`wschat messages list --room ROOM` shows ids; a message past the history's retention is gone already, and on AWS one sent within the last second may not be indexed yet: try again"));
            }
            print(run.output, &report);
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn report(run: &Resolved, local: &LocalArgs, command: Command) -> Result<ModerationReport> {
    let target = ops::resolve(&run.stack_id()?, run.place(local)).await?;
    ops::moderation::run(&target, command).await
}

async fn moderate(run: &Resolved, local: &LocalArgs, command: Command) -> Result<ExitCode> {
    print(run.output, &report(run, local, command).await?);
    Ok(ExitCode::SUCCESS)
}
