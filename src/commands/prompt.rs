//! What the command layer reads from the person running it: the teardown
//! confirmation and a broadcast's text.

use crate::error::{CliError, Result};
use crate::spec::StackSpec;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

/// On a terminal, the operator types the stack's name; elsewhere `--yes` is required.
pub fn confirm_teardown(spec: &StackSpec, yes: bool, dead_letters: u64) -> Result<()> {
    let waiting = match dead_letters {
        0 => String::new(),
        1 => "Its dead-letter queue holds 1 failed delivery, deleted with it (`wschat redrive` sends it first).\n".to_owned(),
        n => format!(
            "Its dead-letter queue holds {n} failed deliveries, deleted with it (`wschat redrive` sends them first).\n"
        ),
    };
    if yes {
        eprint!("{waiting}");
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::usage(format!(
            "teardown deletes every resource of {} and needs confirmation",
            spec.prefix()
        ))
        .with_hint("pass --yes to confirm when not on a terminal (e.g. in CI)"));
    }
    eprint!(
        "This deletes the stack {} in {} (account {}): its API, functions, logs, role, table and queue.\n{waiting}Type {} to confirm: ",
        spec.prefix(),
        spec.region,
        spec.account,
        spec.prefix()
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| CliError::failed(e.to_string()))?;
    if answer.trim() == spec.prefix() {
        Ok(())
    } else {
        Err(CliError::failed("not confirmed; nothing was deleted"))
    }
}

/// A broadcast's text: from `--file`, from stdin for `-`, or as given.
pub fn message_text(text: Option<&str>, file: Option<&Path>) -> Result<String> {
    let read_error = |what: &str, e: std::io::Error| {
        CliError::usage(format!("cannot read the message from {what}: {e}"))
    };
    match (file, text) {
        (Some(path), _) => {
            std::fs::read_to_string(path).map_err(|e| read_error(&path.display().to_string(), e))
        }
        (None, Some("-")) => {
            std::io::read_to_string(std::io::stdin()).map_err(|e| read_error("stdin", e))
        }
        (None, Some(text)) => Ok(text.to_owned()),
        (None, None) => {
            Err(CliError::usage("no message")
                .with_hint("pass the text, --file PATH, or - for stdin"))
        }
    }
}
