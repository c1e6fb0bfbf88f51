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

pub fn print<T: Display + Serialize>(format: Format, result: &T) {
    match format {
        Format::Text => println!("{result}"),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(result).expect("results serialize")
        ),
    }
}

/// One item of a stream (`logs --follow`): a line of text, or one compact JSON object per line.
pub fn print_line<T: Display + Serialize>(format: Format, item: &T) {
    match format {
        Format::Text => println!("{item}"),
        Format::Json => println!(
            "{}",
            serde_json::to_string(item).expect("results serialize")
        ),
    }
}
