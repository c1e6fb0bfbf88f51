//! Command-line interface: global flags and subcommands, and their
//! conversion into the plain types the rest of the tool takes. Clap stops here.

use crate::aws::AwsConfig;
use crate::error::Result;
use crate::ops::Place;
use crate::output::Format;
use crate::spec::{Arch, Function, Settings, StackId};
use clap::{Args, Parser, Subcommand};
use std::net::IpAddr;
use std::time::Duration;

fn duration(text: &str) -> std::result::Result<Duration, String> {
    crate::duration::parse(text)
}

/// A timeout of zero would close every connection at once.
fn positive_duration(text: &str) -> std::result::Result<Duration, String> {
    match duration(text)? {
        d if d.is_zero() => Err("must be longer than 0; e.g. 30s or 10m".to_owned()),
        d => Ok(d),
    }
}

/// API Gateway's route throttling: a finite rate within the account's 10,000 requests/s.
fn throttle_rate(text: &str) -> std::result::Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && (0.0..=10_000.0).contains(&rate) => Ok(rate),
        _ => Err(format!(
            "'{text}' is not a rate API Gateway accepts: a number of requests per second from 0 to 10000"
        )),
    }
}

const EXAMPLES: &str = "Examples:
  wschat dev                                   the chat on http://127.0.0.1:8080, no AWS needed
  wschat deploy --dry-run                      what a deploy would create or change
  wschat --stage prod deploy                   create or update the stack wschat-prod
  wschat status                                present / missing / drifted, URLs, connections
  wschat broadcast \"maintenance in 5 minutes\"  an ops message to everyone connected
  wschat logs message --follow                 tail the message function's logs
  wschat --stage pr-42 teardown --yes          delete the stack (CI)";

/// Provision and operate a serverless WebSocket chat on AWS, or run it on localhost.
///
/// Start with `wschat dev`: the whole stack on your machine, no AWS account needed.
/// Then `wschat deploy` puts the same chat on AWS (API Gateway, Lambda, DynamoDB).
#[derive(Debug, Parser)]
#[command(
    name = "wschat",
    version,
    propagate_version = true,
    max_term_width = 100,
    after_help = EXAMPLES
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

impl Global {
    /// The stack's name and stage, validated before anything else happens.
    pub fn stack_id(&self) -> Result<StackId> {
        StackId::new(&self.name, &self.stage)
    }

    pub fn aws(&self) -> AwsConfig {
        AwsConfig {
            region: self.region.clone(),
            profile: self.profile.clone(),
            endpoint_url: self.endpoint_url.clone(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole chat on localhost: a local API Gateway, the real handlers, the web client.
    Dev(DevArgs),
    /// Build the functions and create or update the stack on AWS; prints the URLs and writes a web client.
    ///
    /// Safe to run again at any time: unchanged resources are left alone (no write
    /// calls), changed settings update only what they touch, and a deploy that was
    /// interrupted continues where it stopped.
    Deploy(DeployArgs),
    /// What exists, what is missing, what drifted from the settings; URLs; stored connections.
    ///
    /// Exits 0 only when the stack is complete and matches the settings (pass the same
    /// settings flags as to deploy, or their WSCHAT_* environment variables).
    Status(StatusArgs),
    /// Delete every resource of this stack, then check that nothing is left.
    ///
    /// Only resources named `{name}-{stage}...` and tagged `wschat:stack={name}`,
    /// `wschat:stage={stage}` are touched. Asks for confirmation on a terminal; needs --yes otherwise.
    Teardown(TeardownArgs),
    /// Build and zip the three functions without deploying (for `deploy --prebuilt`).
    Package(PackageArgs),
    /// Live connections: list, count, check liveness, prune ghosts, kick one.
    Connections(ConnectionsArgs),
    /// Send an ops message to every connection, a room, or one user.
    ///
    /// The frame is a chat message from `--from` (default `ops`), so every client shows it.
    /// Exits non-zero when any delivery failed.
    Broadcast(BroadcastArgs),
    /// The stack's Lambda logs, merged in time order.
    Logs(LogsArgs),
}

/// `--local`: act on a running `wschat dev` instead of AWS.
#[derive(Debug, Clone, Args)]
pub struct LocalArgs {
    /// Talk to a running `wschat dev` (default http://127.0.0.1:8080) instead of AWS.
    #[arg(long, num_args = 0..=1, default_missing_value = crate::ops::DEFAULT_LOCAL_URL, value_name = "URL")]
    pub local: Option<String>,
}

impl LocalArgs {
    /// The sandbox when `--local` was given, else AWS.
    pub fn place<'a>(&'a self, aws: &'a AwsConfig) -> Place<'a> {
        match &self.local {
            Some(url) => Place::Local(url),
            None => Place::Aws(aws),
        }
    }

    /// `--local` given either before or after a subcommand.
    pub fn or<'a>(&'a self, outer: &'a LocalArgs) -> &'a LocalArgs {
        if self.local.is_some() {
            self
        } else {
            outer
        }
    }
}

#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ConnectionsArgs {
    #[command(subcommand)]
    pub action: Option<ConnectionsAction>,
    /// Only this room.
    #[arg(long)]
    pub room: Option<String>,
    /// Only the number.
    #[arg(long)]
    pub count: bool,
    /// Ask @connections about each: last active time and source IP; marks ghosts (410).
    #[arg(long)]
    pub check: bool,
    /// Check, then delete the ghosts' rows.
    #[arg(long)]
    pub prune: bool,
    #[command(flatten)]
    pub target: LocalArgs,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ConnectionsAction {
    /// Close a connection (DELETE @connections) and remove its row; it gets its $disconnect.
    Kick {
        /// The connection id, as `wschat connections` lists it.
        id: String,
        #[command(flatten)]
        target: LocalArgs,
    },
}

#[derive(Debug, Clone, Args)]
pub struct BroadcastArgs {
    /// The message; `-` reads it from stdin.
    #[arg(conflicts_with = "file", required_unless_present = "file")]
    pub text: Option<String>,
    /// Read the message from a file.
    #[arg(long, value_name = "PATH")]
    pub file: Option<std::path::PathBuf>,
    /// Only this room.
    #[arg(long, conflicts_with = "to")]
    pub room: Option<String>,
    /// Only this user (every connection of that name) or this connection id.
    #[arg(long, value_name = "USERNAME|CONNECTION_ID")]
    pub to: Option<String>,
    /// The name the message shows as sent by.
    #[arg(long, default_value = "ops")]
    pub from: String,
    /// Posts in flight at once.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: u32,
    /// Posts per second at most; @connections shares the account's 10,000 req/s throttle with all traffic.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub rate: u32,
    /// Count the recipients; send nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub target: LocalArgs,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum FunctionArg {
    Connect,
    Disconnect,
    Message,
}

#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    /// Only this function's logs [default: all three].
    #[arg(value_enum)]
    pub function: Option<FunctionArg>,
    /// How far back to start.
    #[arg(long, default_value = "10m", value_parser = duration, value_name = "DURATION")]
    pub since: Duration,
    /// Keep printing new events until Ctrl-C.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Only events containing this text (e.g. a connection id).
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,
    #[command(flatten)]
    pub target: LocalArgs,
}

impl LogsArgs {
    pub fn functions(&self) -> Vec<Function> {
        match self.function {
            None => Function::ALL.to_vec(),
            Some(FunctionArg::Connect) => vec![Function::Connect],
            Some(FunctionArg::Disconnect) => vec![Function::Disconnect],
            Some(FunctionArg::Message) => vec![Function::Message],
        }
    }
}

/// `--arch`: the functions' CPU architecture, by Lambda's names.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ArchArg {
    #[value(name = "x86_64")]
    X86_64,
    Arm64,
}

impl From<ArchArg> for Arch {
    fn from(arch: ArchArg) -> Arch {
        match arch {
            ArchArg::X86_64 => Arch::X86_64,
            ArchArg::Arm64 => Arch::Arm64,
        }
    }
}

const LOG_RETENTION_DAYS: [i32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

fn retention(text: &str) -> Result<i32, String> {
    let days: i32 = text
        .parse()
        .map_err(|_| format!("'{text}' is not a number of days"))?;
    if LOG_RETENTION_DAYS.contains(&days) {
        Ok(days)
    } else {
        Err(format!(
            "CloudWatch Logs accepts one of {LOG_RETENTION_DAYS:?} days"
        ))
    }
}

/// The stack's settings: what deploy applies and status checks against.
#[derive(Debug, Clone, Args)]
pub struct SettingsArgs {
    /// Memory of each function, in MB.
    #[arg(long, default_value_t = 128, env = "WSCHAT_MEMORY", value_parser = clap::value_parser!(i32).range(128..=10240))]
    pub memory: i32,
    /// Timeout of each function, in seconds (API Gateway waits at most 29).
    #[arg(long, default_value_t = 29, env = "WSCHAT_TIMEOUT", value_parser = clap::value_parser!(i32).range(1..=900))]
    pub timeout: i32,
    /// CPU architecture of the functions [default: this machine's].
    #[arg(long, value_enum, env = "WSCHAT_ARCH")]
    pub arch: Option<ArchArg>,
    /// Days the functions' logs are kept.
    #[arg(long, default_value_t = 14, env = "WSCHAT_LOG_RETENTION", value_parser = retention, value_name = "DAYS")]
    pub log_retention: i32,
    /// Steady-state requests per second the stage allows per route.
    #[arg(long, default_value_t = 500.0, env = "WSCHAT_THROTTLE_RATE", value_parser = throttle_rate, value_name = "PER_SECOND")]
    pub throttle_rate: f64,
    /// Burst of requests the stage allows per route.
    #[arg(long, default_value_t = 1000, env = "WSCHAT_THROTTLE_BURST")]
    pub throttle_burst: i32,
}

impl SettingsArgs {
    pub fn settings(&self) -> Settings {
        Settings {
            memory_mb: self.memory,
            timeout_s: self.timeout,
            arch: self.arch.map_or_else(Arch::host, Arch::from),
            log_retention_days: self.log_retention,
            throttle_rate: self.throttle_rate,
            throttle_burst: self.throttle_burst,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Deploy connect.zip, disconnect.zip and message.zip from DIR instead of building (see `wschat package`).
    #[arg(long, value_name = "DIR")]
    pub prebuilt: Option<std::path::PathBuf>,
    /// Show what would be created or changed; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Where to write the ready-to-open web client [default: ./wschat-{name}-{stage}.html].
    #[arg(long, value_name = "PATH")]
    pub web_client: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(flatten)]
    pub target: LocalArgs,
}

#[derive(Debug, Clone, Args)]
pub struct TeardownArgs {
    /// Do not ask for confirmation (required when not on a terminal, e.g. in CI).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Show what would be deleted; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Args)]
pub struct PackageArgs {
    /// CPU architecture to build for [default: this machine's].
    #[arg(long, value_enum)]
    pub arch: Option<ArchArg>,
    /// Directory for the zips.
    #[arg(long, default_value = "target/wschat-lambdas", value_name = "DIR")]
    pub out: std::path::PathBuf,
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
    #[arg(long, default_value = "10m", value_parser = positive_duration, value_name = "DURATION")]
    pub idle_timeout: Duration,
    /// Close connections older than this, as API Gateway does after 2 hours.
    #[arg(long, default_value = "2h", value_parser = positive_duration, value_name = "DURATION")]
    pub max_lifetime: Duration,
}

impl DevArgs {
    pub fn options(self, global: &Global) -> Result<crate::sandbox::Options> {
        Ok(crate::sandbox::Options {
            id: global.stack_id()?,
            region: global.region.clone(),
            host: self.host,
            port: self.port,
            dynamodb_endpoint: self.dynamodb_endpoint,
            idle_timeout: self.idle_timeout,
            max_lifetime: self.max_lifetime,
            verbose: global.verbose > 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_timeouts_are_checked_before_anything_runs() {
        assert_eq!(throttle_rate("500"), Ok(500.0));
        assert_eq!(throttle_rate("0.5"), Ok(0.5));
        for bad in ["NaN", "inf", "-1", "10001", "fast"] {
            assert!(throttle_rate(bad).is_err(), "{bad}");
        }
        assert_eq!(positive_duration("1s"), Ok(Duration::from_secs(1)));
        assert!(positive_duration("0s").is_err());
        assert!(positive_duration("0ms").is_err());
    }

    #[test]
    fn the_flags_parse_as_documented() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["wschat", "deploy", "--throttle-rate", "NaN"]);
        assert!(cli.is_err(), "NaN is refused at parse time");
        let cli = Cli::try_parse_from(["wschat", "dev", "--idle-timeout", "0s"]);
        assert!(cli.is_err(), "a zero idle timeout is refused");
    }
}
