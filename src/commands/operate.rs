//! connections, broadcast and logs: a live stack on AWS or a running `wschat dev`.

use super::{exit_code, progress};
use crate::cli::{BroadcastArgs, ConnectionsAction, ConnectionsArgs, Global, LogsArgs, TokenArgs};
use crate::error::Result;
use crate::ops::broadcast::{Audience, BroadcastOptions};
use crate::ops::logs::{Cursor, LogsOptions, LogsReport};
use crate::ops::{self, connections::ListOptions};
use crate::output::{print, print_line};
use std::process::ExitCode;

pub async fn connections(global: &Global, args: ConnectionsArgs) -> Result<ExitCode> {
    let id = global.stack_id()?;
    let aws = global.aws();
    if let Some(ConnectionsAction::Kick {
        id: connection,
        target,
    }) = &args.action
    {
        let local = target.or(&args.target);
        let target = ops::resolve(&id, local.place(&aws)).await?;
        print(
            global.output,
            &ops::connections::kick(&target, connection).await?,
        );
        return Ok(ExitCode::SUCCESS);
    }
    let target = ops::resolve(&id, args.target.place(&aws)).await?;
    let options = ListOptions {
        room: args.room,
        count_only: args.count,
        check: args.check,
        prune: args.prune,
    };
    print(
        global.output,
        &ops::connections::list(&target, options).await?,
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn broadcast(global: &Global, args: BroadcastArgs) -> Result<ExitCode> {
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
    let target = ops::resolve(&global.stack_id()?, args.target.place(&global.aws())).await?;
    let report = ops::broadcast::broadcast(&target, options, &progress(global)).await?;
    print(global.output, &report);
    Ok(exit_code(report.ok()))
}

pub async fn logs(global: &Global, args: LogsArgs) -> Result<ExitCode> {
    let target = ops::resolve(&global.stack_id()?, args.target.place(&global.aws())).await?;
    let options = LogsOptions {
        functions: args.functions(),
        since: args.since,
        filter: args.filter,
    };
    let mut cursor = Cursor::new(args.since);
    let events = ops::logs::poll(&target, &options, &mut cursor).await?;
    if args.follow {
        ops::logs::follow(&target, &options, &mut cursor, events, |event| {
            print_line(global.output, event)
        })
        .await?;
    } else {
        print(global.output, &LogsReport { events });
    }
    Ok(ExitCode::SUCCESS)
}

/// The token alone on stdout, so `$(wschat token --user ada)` is the token.
pub async fn token(global: &Global, args: TokenArgs) -> Result<ExitCode> {
    let id = global.stack_id()?;
    let aws = global.aws();
    let target = ops::resolve(&id, args.target.place(&aws)).await?;
    let token = ops::token::mint(&target, &args.user, args.room.as_deref(), args.ttl).await?;
    crate::output::line(&token);
    Ok(ExitCode::SUCCESS)
}
