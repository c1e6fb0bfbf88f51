use clap::{CommandFactory, FromArgMatches};
use std::process::ExitCode;

fn main() -> ExitCode {
    let matches = wschat::cli::Cli::command().get_matches();
    let cli = wschat::cli::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let origins = wschat::cli::ArgOrigins::of(&matches);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime starts");
    match runtime.block_on(wschat::run(cli, origins)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}", e.report());
            e.exit_code()
        }
    }
}
