use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = wschat::cli::Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime starts");
    match runtime.block_on(wschat::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}", e.report());
            e.exit_code()
        }
    }
}
