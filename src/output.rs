//! Every command's result is printable as text or as JSON (`--output json`).

use clap::ValueEnum;
use serde::Serialize;
use std::fmt::Display;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// A command's result: its text, or pretty JSON.
pub fn print<T: Display + Serialize>(format: Format, result: &T) {
    emit(format, result, serde_json::to_string_pretty);
}

/// One item of a stream (`logs --follow`): a line of text, or one compact JSON object per line.
pub fn print_line<T: Display + Serialize>(format: Format, item: &T) {
    emit(format, item, serde_json::to_string);
}

fn emit<T: Display + Serialize>(
    format: Format,
    item: &T,
    json: fn(&T) -> serde_json::Result<String>,
) {
    match format {
        Format::Text => line(&item.to_string()),
        Format::Json => line(&json(item).expect("results serialize")),
    }
}

/// One line of the command's output on stdout. A reader that went away
/// (`wschat status | head -1`) ends the command quietly, with success, as
/// other Unix tools do, instead of a panic.
pub fn line(text: &str) {
    raw(format!("{text}\n").as_bytes());
}

/// Bytes on stdout, as [`line()`] writes them.
pub fn raw(bytes: &[u8]) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let written = stdout.write_all(bytes).and_then(|()| stdout.flush());
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!("error: cannot write to standard output: {e}");
            std::process::exit(1);
        }
    }
}
