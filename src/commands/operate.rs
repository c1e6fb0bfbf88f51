//! connections, broadcast, logs and redrive: a live stack on AWS or a running `wschat dev`.

use super::exit_code;
use super::settings::Resolved;
use crate::cli::{
    BroadcastArgs, ConnectionsAction, ConnectionsArgs, LogsArgs, RedriveArgs, TokenArgs,
};
use crate::error::Result;
use crate::ops::broadcast::{Audience, BroadcastOptions};
use crate::ops::logs::{Cursor, LogsOptions, LogsReport};
use crate::ops::{self, connections::ListOptions};
use crate::output::{print, print_line};
use crate::spec::{Function, Settings};
use std::process::ExitCode;

pub async fn connections(run: &Resolved, args: ConnectionsArgs) -> Result<ExitCode> {
    let id = run.stack_id()?;
    if let Some(ConnectionsAction::Kick {
        id: connection,
        target,
    }) = &args.action
    {
        let local = target.or(&args.target);
        let target = ops::resolve(&id, run.place(local)).await?;
        print(
            run.output,
            &ops::connections::kick(&target, connection).await?,
        );
        return Ok(ExitCode::SUCCESS);
    }
    let target = ops::resolve(&id, run.place(&args.target)).await?;
    let options = ListOptions {
        room: args.room,
        count_only: args.count,
        check: args.check,
        prune: args.prune,
    };
    print(run.output, &ops::connections::list(&target, options).await?);
    Ok(ExitCode::SUCCESS)
}

pub async fn broadcast(run: &Resolved, args: BroadcastArgs) -> Result<ExitCode> {
    let text = super::prompt::message_text(args.text.as_deref(), args.file.as_deref())?;
    let audience = match (&args.room, &args.to) {
        (Some(room), _) => Audience::Room(room.clone()),
        (None, Some(to)) => Audience::One(to.clone()),
        (None, None) => Audience::Everyone,
    };
    let options = BroadcastOptions {
        text,
        audience,
        from: args.from.clone(),
        concurrency: args.concurrency as usize,
        rate: args.rate,
        dry_run: args.dry_run,
    };
    // Checked before looking anything up: an empty or oversized message never needs the stack.
    ops::broadcast::frame(&options)?;
    let target = ops::resolve(&run.stack_id()?, run.place(&args.target)).await?;
    let report = ops::broadcast::broadcast(&target, options, &run.progress()).await?;
    print(run.output, &report);
    Ok(exit_code(report.ok()))
}

pub async fn logs(run: &Resolved, args: LogsArgs) -> Result<ExitCode> {
    let target = ops::resolve(&run.stack_id()?, run.place(&args.target)).await?;
    let options = LogsOptions {
        functions: match args.function {
            Some(one) => one.function().into_iter().collect(),
            None => Function::ALL.to_vec(),
        },
        access: args.function.is_none_or(|one| one.function().is_none()),
        since: args.since,
        filter: args.filter,
    };
    let mut cursor = Cursor::new(args.since);
    let events = ops::logs::poll(&target, &options, &mut cursor).await?;
    if args.follow {
        ops::logs::follow(&target, &options, &mut cursor, events, |event| {
            print_line(run.output, event)
        })
        .await?;
    } else {
        print(run.output, &LogsReport { events });
    }
    Ok(ExitCode::SUCCESS)
}

/// The dead-letter queue is on AWS only: the sandbox logs a failed delivery
/// (`wschat logs --local deliver`) instead.
pub async fn redrive(run: &Resolved, args: RedriveArgs) -> Result<ExitCode> {
    let stack = crate::stack::open(&run.stack_id()?, &run.aws, Settings::default()).await?;
    let max = args.max.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    let report = ops::redrive::redrive(&stack, args.dry_run, max).await?;
    print(run.output, &report);
    Ok(exit_code(report.ok()))
}

/// The token alone on stdout, so `$(wschat token --user ada)` is the token.
pub async fn token(run: &Resolved, args: TokenArgs) -> Result<ExitCode> {
    let id = run.stack_id()?;
    let target = ops::resolve(&id, run.place(&args.target)).await?;
    let token = ops::token::mint(&target, &args.user, args.room.as_deref(), args.ttl).await?;
    crate::output::line(&token);
    Ok(ExitCode::SUCCESS)
}
