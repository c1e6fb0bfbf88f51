//! Command-line interface: global flags and subcommands.

use crate::output::Format;
use clap::{Args, Parser, Subcommand};
use std::net::IpAddr;
use std::time::Duration;

fn duration(text: &str) -> Result<Duration, String> {
    crate::duration::parse(text)
}

/// Provision and operate a serverless WebSocket chat on AWS, or run it on localhost.
///
/// Start with `wschat dev`: the whole stack on your machine, no AWS account needed.
/// Then `wschat deploy` puts the same chat on AWS (API Gateway, Lambda, DynamoDB).
#[derive(Debug, Parser)]
#[command(
    name = "wschat",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Stack name: every resource is named `{name}-{stage}`.
    #[arg(long, global = true, default_value = "wschat", env = "WSCHAT_NAME")]
    pub name: String,
    /// Stage: also the WebSocket URL's path (`wss://.../{stage}`).
    #[arg(long, global = true, default_value = "dev", env = "WSCHAT_STAGE")]
    pub stage: String,
    /// AWS region (else AWS_REGION or the profile's region).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// AWS profile (else AWS_PROFILE, else the default credential chain).
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// Send every AWS call to this endpoint instead (e.g. a local emulator); also AWS_ENDPOINT_URL.
    #[arg(long, global = true)]
    pub endpoint_url: Option<String>,
    /// Output format of the command's result.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub output: Format,
    /// More detail (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Only the result and errors: no progress.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole chat on localhost: a local API Gateway, the real handlers, the web client.
    Dev(DevArgs),
}

#[derive(Debug, Clone, Args)]
pub struct DevArgs {
    /// Port for the page, the WebSocket and the @connections API (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Address to listen on. Keep the default unless you mean to share the chat on your network.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Keep connections in this DynamoDB (e.g. moto) instead of in memory.
    #[arg(long, value_name = "URL")]
    pub dynamodb_endpoint: Option<String>,
    /// Close connections silent this long, as API Gateway does after 10 minutes.
    #[arg(long, default_value = "10m", value_parser = duration, value_name = "DURATION")]
    pub idle_timeout: Duration,
    /// Close connections older than this, as API Gateway does after 2 hours.
    #[arg(long, default_value = "2h", value_parser = duration, value_name = "DURATION")]
    pub max_lifetime: Duration,
}
