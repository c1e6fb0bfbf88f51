//! The command layer: turns parsed flags into the plain types the layers
//! below take, runs the command, prints its result and picks the exit code.
//! Nothing below this layer (or `cli`) knows about clap.

mod operate;
mod prompt;
mod provision;
mod shell;

use crate::cli::{Cli, Command, Global};
use crate::error::Result;
use crate::progress::Progress;
use std::process::ExitCode;

pub async fn run(cli: Cli) -> Result<ExitCode> {
    // These need no stack, so a broken wschat.toml cannot stop them.
    match cli.command {
        Command::Completions { shell } => return shell::completions(shell),
        Command::Man { out } => return shell::man(out.as_deref()),
        Command::Init => return shell::init(&cli.global),
        _ => {}
    }
    let mut global = cli.global;
    global.read_stack_file()?;
    let global = &global;
    crate::aws::set_verbose(global.verbose > 0);
    // `wschat dev` routes its logs to its own buffer.
    let dev = matches!(cli.command, Command::Dev(_));
    if !dev && (global.verbose > 1 || std::env::var_os("RUST_LOG").is_some()) {
        crate::aws::trace::install();
    }
    match cli.command {
        Command::Dev(args) => crate::sandbox::run(args.options(global)?).await,
        Command::Deploy(args) => provision::deploy(global, args).await,
        Command::Status(args) => provision::status(global, args).await,
        Command::Teardown(args) => provision::teardown(global, args).await,
        Command::Package(args) => provision::package(global, args).await,
        Command::Connections(args) => operate::connections(global, args).await,
        Command::Broadcast(args) => operate::broadcast(global, args).await,
        Command::Logs(args) => operate::logs(global, args).await,
        Command::Token(args) => operate::token(global, args).await,
        Command::Doctor(args) => provision::doctor(global, args).await,
        Command::Completions { .. } | Command::Man { .. } | Command::Init => {
            unreachable!("run above")
        }
    }
}

fn progress(global: &Global) -> Progress {
    Progress::new(global.quiet, global.verbose > 0)
}

/// `status`'s exit code when the stack is missing something or drifted from
/// its settings, apart from 1 (the command failed) and 2 (bad flags or names).
pub const EXIT_DRIFT: u8 = 3;

/// Success, or the failure exit code when the result says something is wrong.
fn exit_code(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
