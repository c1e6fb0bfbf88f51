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
        Format::Text => println!("{item}"),
        Format::Json => println!("{}", json(item).expect("results serialize")),
    }
}
