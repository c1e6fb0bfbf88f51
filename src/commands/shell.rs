//! What a CLI owes its shell: completions, a man page, and `init`'s file.

use crate::cli::{Cli, Global, DEFAULT_NAME};
use crate::error::{CliError, Result};
use crate::stackfile;
use clap::CommandFactory;
use std::io::Write;
use std::process::ExitCode;

pub fn completions(shell: clap_complete::Shell) -> Result<ExitCode> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "wschat", &mut script);
    crate::output::raw(&script);
    Ok(ExitCode::SUCCESS)
}

/// wschat.1 on stdout; with `out`, it and every subcommand's page in that directory.
pub fn man(out: Option<&std::path::Path>) -> Result<ExitCode> {
    let Some(dir) = out else {
        let mut page = Vec::new();
        // As `generate_to` renders it: no page for clap's `help` subcommand.
        clap_mangen::Man::new(Cli::command().disable_help_subcommand(true))
            .render(&mut page)
            .map_err(|e| CliError::failed(format!("cannot render the man page: {e}")))?;
        crate::output::raw(&page);
        return Ok(ExitCode::SUCCESS);
    };
    std::fs::create_dir_all(dir)
        .and_then(|()| clap_mangen::generate_to(Cli::command(), dir))
        .map_err(|e| {
            CliError::failed(format!(
                "cannot write the man pages to {}: {e}",
                dir.display()
            ))
        })?;
    eprintln!(
        "wrote wschat.1 and a page per subcommand to {}; `man wschat` finds them if it is on MANPATH",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes ./wschat.toml; never over an existing one.
pub fn init(global: &Global) -> Result<ExitCode> {
    let name = global.name.as_deref().unwrap_or(DEFAULT_NAME);
    // The name is checked as every command checks it, before anything is written.
    crate::spec::StackId::new(name, &global.stage)?;
    let path = std::path::Path::new(stackfile::FILE_NAME);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path);
    let mut file = match file {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(CliError::usage(format!(
                "{} already exists here; wschat init does not overwrite it",
                stackfile::FILE_NAME
            ))
            .with_hint("edit it, or move it away to start from a fresh one"))
        }
        Err(e) => {
            return Err(CliError::failed(format!(
                "cannot create {}: {e}",
                stackfile::FILE_NAME
            )))
        }
    };
    file.write_all(stackfile::template(name).as_bytes())
        .map_err(|e| CliError::failed(format!("cannot write {}: {e}", stackfile::FILE_NAME)))?;
    eprintln!(
        "wrote {}: stack {name}, stages dev and prod; `wschat deploy` reads it",
        stackfile::FILE_NAME
    );
    Ok(ExitCode::SUCCESS)
}
