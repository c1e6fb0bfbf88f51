//! The `wschat` command-line tool. `main.rs` only parses and reports; everything lives here.

pub mod cli;
pub mod duration;
pub mod error;
pub mod output;
pub mod sandbox;
pub mod spec;

use cli::{Cli, Command};
use error::Result;
use std::process::ExitCode;

pub async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Dev(args) => sandbox::run(&cli.global, args).await,
    }
}
