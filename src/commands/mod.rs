//! The command layer: resolves the parsed flags once ([`settings`]) into the
//! plain types the layers below take, runs the command, prints its result
//! and picks the exit code. Nothing below this layer (or `cli`) knows about clap.

mod moderate;
mod operate;
mod prompt;
mod provision;
pub mod settings;
mod shell;

use crate::cli::{ArgOrigins, Cli, Command};
use crate::error::Result;
use settings::Resolved;
use std::process::ExitCode;
use wschat_lambdas::history::SanctionKind;

/// `origins`: which of the command line's arguments were typed and which
/// came from their `WSCHAT_*` variable (clap's matches know; the parsed `Cli` does not).
pub async fn run(cli: Cli, origins: ArgOrigins) -> Result<ExitCode> {
    // These need no stack, so a broken wschat.toml cannot stop them.
    match cli.command {
        Command::Completions { shell } => return shell::completions(shell),
        Command::Man { out } => return shell::man(out.as_deref()),
        Command::Init => return shell::init(&cli.global),
        _ => {}
    }
    let run = &Resolved::new(cli.global, origins)?;
    crate::aws::set_verbose(run.verbose > 0);
    // `wschat dev` routes its logs to its own buffer.
    let dev = matches!(cli.command, Command::Dev(_));
    if !dev && (run.verbose > 1 || std::env::var_os("RUST_LOG").is_some()) {
        crate::aws::trace::install();
    }
    match cli.command {
        Command::Dev(args) => crate::sandbox::run(run.dev_options(args)?).await,
        Command::Deploy(args) => provision::deploy(run, args).await,
        Command::Status(args) => provision::status(run, args).await,
        Command::Teardown(args) => provision::teardown(run, args).await,
        Command::Package(args) => provision::package(run, args).await,
        Command::Connections(args) => operate::connections(run, args).await,
        Command::Broadcast(args) => operate::broadcast(run, args).await,
        Command::Logs(args) => operate::logs(run, args).await,
        Command::Redrive(args) => operate::redrive(run, args).await,
        Command::Token(args) => operate::token(run, args).await,
        Command::Ban(args) => moderate::impose(run, SanctionKind::Ban, args).await,
        Command::Mute(args) => moderate::impose(run, SanctionKind::Mute, args).await,
        Command::Unban(args) => moderate::lift(run, SanctionKind::Ban, args).await,
        Command::Unmute(args) => moderate::lift(run, SanctionKind::Mute, args).await,
        Command::Bans(args) => moderate::bans(run, args).await,
        Command::Messages(args) => moderate::messages(run, args).await,
        Command::Doctor(args) => provision::doctor(run, args).await,
        Command::Completions { .. } | Command::Man { .. } | Command::Init => {
            unreachable!("run above")
        }
    }
}

/// `status`'s exit code when the stack is missing something or drifted from
/// its settings, apart from 1 (the command failed) and 2 (bad flags or names).
pub const EXIT_DRIFT: u8 = 3;

/// `status`'s exit code when the stack is complete but one of its alarms is firing.
pub const EXIT_ALARM: u8 = 4;

/// Success, or the failure exit code when the result says something is wrong.
fn exit_code(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
