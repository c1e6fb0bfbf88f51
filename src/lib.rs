//! The `wschat` command-line tool. `main.rs` only parses and reports; everything lives here.

pub mod aws;
pub mod base64;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod duration;
pub mod error;
pub mod ops;
pub mod output;
pub mod progress;
pub mod sandbox;
pub mod spec;
pub mod stack;

use cli::{Cli, Command};
use error::Result;
use std::process::ExitCode;

pub async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Dev(args) => sandbox::run(&cli.global, args).await,
        Command::Deploy(args) => commands::deploy(&cli.global, args).await,
        Command::Status(args) => commands::status(&cli.global, args).await,
        Command::Teardown(args) => commands::teardown(&cli.global, args).await,
        Command::Package(args) => commands::package(&cli.global, args).await,
        Command::Connections(args) => commands::connections(&cli.global, args).await,
        Command::Broadcast(args) => commands::broadcast(&cli.global, args).await,
        Command::Logs(args) => commands::logs(&cli.global, args).await,
    }
}
