//! The `wschat` command-line tool. `main.rs` only parses and reports; everything lives here.

pub mod aws;
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

/// Runs one parsed command line; `main` reports the error and exits.
pub async fn run(cli: cli::Cli) -> error::Result<std::process::ExitCode> {
    commands::run(cli).await
}
