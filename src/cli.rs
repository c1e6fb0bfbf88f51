//! Command-line interface: clap's types for the global flags and the
//! subcommands, and which arguments were typed or came from a variable.
//! What they amount to is resolved once, in `commands::settings`.

use crate::build::toolchain::Builder;
use crate::layers::{check, Given, Origin};
use crate::output::Format;
use crate::spec::{Arch, Function};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, Parser, Subcommand, ValueEnum};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;
use wschat_lambdas::auth::AuthMode;

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

fn region(text: &str) -> std::result::Result<String, String> {
    check::region(text)
}

fn throttle_rate(text: &str) -> std::result::Result<f64, String> {
    let rate = text
        .parse::<f64>()
        .map_err(|_| format!("'{text}' is not a rate"))?;
    check::throttle_rate(rate).map_err(|why| format!("'{text}' is not a rate {why}"))
}

fn connections_rate(text: &str) -> std::result::Result<u32, String> {
    let rate = text
        .parse::<i64>()
        .map_err(|_| format!("'{text}' is not a whole number"))?;
    check::connections_rate(rate)
}

fn max_message_rate(text: &str) -> std::result::Result<f64, String> {
    let rate = text
        .parse::<f64>()
        .map_err(|_| format!("'{text}' is not a rate"))?;
    check::max_message_rate(rate)
}

fn history_on_join(text: &str) -> std::result::Result<u32, String> {
    let messages = text
        .parse::<i64>()
        .map_err(|_| format!("'{text}' is not a whole number"))?;
    check::history_on_join(messages)
}

fn max_room_size(text: &str) -> std::result::Result<u32, String> {
    let members = text
        .parse::<i64>()
        .map_err(|_| format!("'{text}' is not a whole number"))?;
    check::max_room_size(members)
}

const EXAMPLES: &str = "Examples:
  wschat dev                                   the chat on http://127.0.0.1:8080, no AWS needed
  wschat init                                  write wschat.toml, the stack's settings to check in
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
    /// Stack name: every resource is named `{name}-{stage}` [default: wschat.toml's name, else wschat].
    #[arg(long, global = true, env = "WSCHAT_NAME")]
    pub name: Option<String>,
    /// Stage: also the WebSocket URL's path (`wss://.../{stage}`).
    #[arg(long, global = true, default_value = "dev", env = "WSCHAT_STAGE")]
    pub stage: String,
    /// AWS region (else wschat.toml's, else AWS_REGION or the profile's region).
    #[arg(long, global = true, value_parser = region)]
    pub region: Option<String>,
    /// AWS profile (else wschat.toml's, else AWS_PROFILE, else the default credential chain).
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// The stack file [default: wschat.toml here or in the nearest directory above].
    #[arg(long, global = true, value_name = "PATH", env = "WSCHAT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Send every AWS call to this endpoint instead (e.g. a local emulator); also AWS_ENDPOINT_URL.
    #[arg(long, global = true)]
    pub endpoint_url: Option<String>,
    /// Output format of the command's result.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub output: Format,
    /// More detail: -v each setting's source and AWS errors' raw answers; -vv also
    /// every AWS call (operation, HTTP status, attempts, duration; RUST_LOG filters them).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Only the result and errors: no progress.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// The longest one AWS or sandbox call may take, retries included (twice this for uploading a function's code); a stalled endpoint fails the command after it.
    #[arg(long, global = true, default_value = "30s", value_parser = positive_duration, value_name = "DURATION", env = "WSCHAT_REQUEST_TIMEOUT")]
    pub request_timeout: Duration,
}

pub const DEFAULT_NAME: &str = "wschat";

/// For each argument given, whether it was typed or came from its variable.
#[derive(Debug, Clone, Default)]
pub struct ArgOrigins(HashMap<String, ValueSource>);

impl ArgOrigins {
    /// The command line's and its subcommand's arguments.
    pub fn of(matches: &ArgMatches) -> ArgOrigins {
        let mut found = HashMap::new();
        let mut level = Some(matches);
        while let Some(m) = level {
            for id in m.ids() {
                if let Some(source) = m.value_source(id.as_str()) {
                    found.insert(id.as_str().to_owned(), source);
                }
            }
            level = m.subcommand().map(|(_, sub)| sub);
        }
        ArgOrigins(found)
    }

    /// `--log-retention` or `WSCHAT_LOG_RETENTION`, for the argument `log_retention`.
    pub fn origin(&self, id: &str) -> Origin {
        match self.0.get(id) {
            Some(ValueSource::EnvVariable) => Origin::Env(format!("WSCHAT_{}", id.to_uppercase())),
            _ => Origin::Flag(format!("--{}", id.replace('_', "-"))),
        }
    }

    pub fn given<T>(&self, id: &str, value: Option<T>) -> Option<Given<T>> {
        value.map(|v| Given::new(v, self.origin(id)))
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
    /// What exists, what is missing, what drifted from the settings; URLs; stored
    /// connections; the chat's health over the last --since.
    ///
    /// Compares against wschat.toml, the settings flags and their WSCHAT_* variables, else
    /// what the last deploy recorded. Health: messages, deliveries and errors from the
    /// functions' metrics, API Gateway's traffic, errors and latency, Lambda's errors and
    /// throttles, the alarms firing, and the account's quotas against their peak use.
    /// Exit codes: 0 the stack is complete, matches and no alarm fires; 3 something is
    /// missing or drifted; 4 an alarm is firing; 1 status itself failed (AWS unreachable,
    /// no credentials); 2 bad flags or names.
    Status(StatusArgs),
    /// Delete every resource of this stack, then check that nothing is left.
    ///
    /// Only resources named `{name}-{stage}...` and tagged `wschat:stack={name}`,
    /// `wschat:stage={stage}` are touched. Asks for confirmation on a terminal; needs --yes otherwise.
    Teardown(TeardownArgs),
    /// Build and zip the four functions without deploying (for `deploy --prebuilt`).
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
    /// Send again the large-room deliveries Lambda gave up on.
    ///
    /// A room past the shard threshold is delivered by one invocation of the
    /// delivery function per shard; one that fails three times lands in the
    /// stack's dead-letter queue (`wschat status` counts them). This hands each
    /// back to the delivery function and removes it from the queue once Lambda
    /// has accepted it. Clients deduplicate by message id, so a repeat is harmless.
    Redrive(RedriveArgs),
    /// Ban a user: refused at $connect, their live connections closed, in every room.
    ///
    /// A ban is of a name. With --auth token or jwt names are verified, so that is a
    /// person; in open mode anyone may connect under any name, and a banned user can
    /// come back under another one. `wschat bans` lists bans and mutes in force.
    Ban(SanctionArgs),
    /// Lift a user's ban.
    Unban(UserArgs),
    /// Mute a user: their messages are refused with a `muted` error frame; they still read.
    Mute(SanctionArgs),
    /// Lift a user's mute.
    Unmute(UserArgs),
    /// The bans and mutes in force.
    Bans(BansArgs),
    /// The chat's stored history: list a room's messages, delete one.
    Messages(MessagesArgs),
    /// Print a connection token for a stack deployed with --auth token (alone on stdout).
    ///
    /// Clients connect with `?token=...`; the name comes from the token, not the query.
    /// Your own backend can mint the same tokens with any JWT library (HS256, the secret
    /// in SSM at /wschat/{name}/{stage}/token-secret; see docs/protocol.md).
    Token(TokenArgs),
    /// Check everything a deploy needs: tools, credentials and identity, region, each service's endpoint.
    ///
    /// Prints a checklist with the fix for each failure; exits 0 only when `wschat deploy`
    /// would work from here. Changes nothing.
    Doctor(DoctorArgs),
    /// Write wschat.toml here: the stack's name and each stage's settings, commented, to check in.
    ///
    /// Every command reads it (from this directory or the nearest one above); flags
    /// and WSCHAT_* variables override it for one run. Refuses to overwrite a file.
    Init,
    /// Print a completion script for your shell.
    ///
    /// bash: `wschat completions bash > ~/.local/share/bash-completion/completions/wschat`;
    /// zsh: `wschat completions zsh > ~/.zfunc/_wschat` (with `fpath+=~/.zfunc` before compinit);
    /// fish: `wschat completions fish > ~/.config/fish/completions/wschat.fish`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or write every page with --out.
    ///
    /// `wschat man --out ~/.local/share/man/man1` writes wschat.1 and one page per
    /// subcommand (wschat-deploy.1, ...), the pages wschat.1 refers to.
    Man {
        /// Write wschat.1 and every subcommand's page into this directory instead.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Args)]
pub struct SanctionArgs {
    /// The username, as the chat shows it.
    #[arg(value_parser = username)]
    pub user: String,
    /// For how long (30m, 12h, 7d); without it, until lifted.
    #[arg(long = "for", value_parser = crate::duration::parse, value_name = "DURATION")]
    pub duration: Option<std::time::Duration>,
    /// Why, as the user is told when refused (at most 200 characters).
    #[arg(long, value_parser = reason)]
    pub reason: Option<String>,
    #[command(flatten)]
    pub target: LocalArgs,
}

#[derive(Debug, Clone, Args)]
pub struct UserArgs {
    #[arg(value_parser = username)]
    pub user: String,
    #[command(flatten)]
    pub target: LocalArgs,
}

#[derive(Debug, Clone, Args)]
pub struct BansArgs {
    #[command(flatten)]
    pub target: LocalArgs,
}

#[derive(Debug, Clone, Args)]
pub struct MessagesArgs {
    #[command(subcommand)]
    pub action: MessagesAction,
}

#[derive(Debug, Clone, Subcommand)]
pub enum MessagesAction {
    /// A room's stored messages, oldest first, with their ids.
    List {
        #[arg(long, default_value = wschat_lambdas::protocol::DEFAULT_ROOM, value_parser = room)]
        room: String,
        /// How many, the newest (1-100).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100))]
        limit: u32,
        /// Only messages older than this id (page back from a listing's first).
        #[arg(long, value_name = "ID", value_parser = message_id)]
        before: Option<String>,
        #[command(flatten)]
        target: LocalArgs,
    },
    /// Remove a message from history; its room is sent a `deleted` frame so clients hide it.
    Delete {
        /// The message id, as `wschat messages list` shows it.
        #[arg(value_parser = message_id)]
        id: String,
        #[command(flatten)]
        target: LocalArgs,
    },
}

fn username(text: &str) -> std::result::Result<String, String> {
    wschat_lambdas::names::normalize_username(text).map_err(|e| e.message)
}

fn room(text: &str) -> std::result::Result<String, String> {
    wschat_lambdas::protocol::validate_room(text)
        .map(|()| text.to_owned())
        .map_err(|e| e.message)
}

fn message_id(text: &str) -> std::result::Result<String, String> {
    wschat_lambdas::protocol::validate_message_id("ID", text)
        .map(|()| text.to_owned())
        .map_err(|e| e.message)
}

fn reason(text: &str) -> std::result::Result<String, String> {
    match text.chars().count() {
        1..=200 => Ok(text.to_owned()),
        _ => Err("a reason of 1 to 200 characters".into()),
    }
}

/// `--local`: act on a running `wschat dev` instead of AWS.
#[derive(Debug, Clone, Args)]
pub struct LocalArgs {
    /// Talk to a running `wschat dev` (default http://127.0.0.1:8080) instead of AWS.
    #[arg(long, num_args = 0..=1, default_missing_value = crate::ops::DEFAULT_LOCAL_URL, value_name = "URL")]
    pub local: Option<String>,
}

impl LocalArgs {
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

/// Whose logs: one function's, or the stage's access log.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogSourceArg {
    Connect,
    Disconnect,
    Message,
    /// A large room's shard deliveries.
    Deliver,
    /// The stage's access log (`--access-logs`; AWS only).
    Access,
}

#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    /// Only this function's logs [default: all four].
    #[arg(value_enum)]
    pub function: Option<LogSourceArg>,
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

impl LogSourceArg {
    /// The function whose log it is; `None` for the access log.
    pub fn function(self) -> Option<Function> {
        match self {
            LogSourceArg::Connect => Some(Function::Connect),
            LogSourceArg::Disconnect => Some(Function::Disconnect),
            LogSourceArg::Message => Some(Function::Message),
            LogSourceArg::Deliver => Some(Function::Deliver),
            LogSourceArg::Access => None,
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

/// `--builder`: how `lambdas/` is compiled for Lambda.
#[derive(Debug, Clone, Copy, Default, clap::ValueEnum)]
pub enum BuilderArg {
    /// cargo zigbuild with glibc 2.34 pinned when this machine is not Linux, its
    /// glibc is newer than 2.34 or --arch differs from it; plain cargo build otherwise.
    #[default]
    Auto,
    /// Plain cargo build for this machine (the glibc check after the build still applies).
    Cargo,
    /// cargo zigbuild with glibc 2.34 pinned.
    Zigbuild,
}

impl From<BuilderArg> for Builder {
    fn from(builder: BuilderArg) -> Builder {
        match builder {
            BuilderArg::Auto => Builder::Auto,
            BuilderArg::Cargo => Builder::Cargo,
            BuilderArg::Zigbuild => Builder::Zigbuild,
        }
    }
}

impl From<ArchArg> for Arch {
    fn from(arch: ArchArg) -> Arch {
        match arch {
            ArchArg::X86_64 => Arch::X86_64,
            ArchArg::Arm64 => Arch::Arm64,
        }
    }
}

fn retention(text: &str) -> Result<i32, String> {
    let days: i64 = text
        .parse()
        .map_err(|_| format!("'{text}' is not a number of days"))?;
    check::log_retention(days)
}

/// The stack's settings: what deploy applies and status checks against. Each
/// overrides wschat.toml for this run; the defaults apply where neither says.
#[derive(Debug, Clone, Args)]
pub struct SettingsArgs {
    /// Memory of each function, in MB [default: 128].
    #[arg(long, env = "WSCHAT_MEMORY", value_parser = clap::value_parser!(i32).range(128..=10240))]
    pub memory: Option<i32>,
    /// Timeout of each function, in seconds; API Gateway waits at most 29 [default: 29].
    #[arg(long, env = "WSCHAT_TIMEOUT", value_parser = clap::value_parser!(i32).range(1..=900))]
    pub timeout: Option<i32>,
    /// CPU architecture of the functions [default: this machine's].
    #[arg(long, value_enum, env = "WSCHAT_ARCH")]
    pub arch: Option<ArchArg>,
    /// Days the functions' logs are kept [default: 14].
    #[arg(long, env = "WSCHAT_LOG_RETENTION", value_parser = retention, value_name = "DAYS")]
    pub log_retention: Option<i32>,
    /// Steady-state requests per second the stage allows per route [default: 500].
    #[arg(long, env = "WSCHAT_THROTTLE_RATE", value_parser = throttle_rate, value_name = "PER_SECOND")]
    pub throttle_rate: Option<f64>,
    /// Burst of requests the stage allows per route [default: 1000].
    #[arg(long, env = "WSCHAT_THROTTLE_BURST", value_parser = clap::value_parser!(i32).range(0..))]
    pub throttle_burst: Option<i32>,
    #[command(flatten)]
    pub limits: LimitsArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub alarms: AlarmsArgs,
    /// Log each request the stage handles (connection id, event, route, status,
    /// integration latency, error) as JSON to /aws/apigateway/{name}-{stage}, kept
    /// --log-retention days. API Gateway writes them with an account-wide role:
    /// see `wschat deploy --set-account-logging-role` [default: false].
    #[arg(long, env = "WSCHAT_ACCESS_LOGS", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub access_logs: Option<bool>,
    #[command(flatten)]
    pub domain: DomainArgs,
}

/// The chat at its own address. Deploy makes an ACM certificate (DNS
/// validation), a regional API Gateway domain name (TLS 1.2) and an API
/// mapping to the stage. Where the account has a public Route 53 hosted zone
/// for the domain, deploy writes the validation and alias records; otherwise it
/// prints the records to add at your DNS provider and waits for them (see
/// --no-wait). The functions keep posting through the execute-api endpoint.
#[derive(Debug, Clone, Args)]
pub struct DomainArgs {
    /// Serve the stage at wss://DOMAIN (e.g. chat.example.com).
    #[arg(long, env = "WSCHAT_DOMAIN", value_name = "DOMAIN", value_parser = check::domain)]
    pub domain: Option<String>,
    /// With --domain: the API mapping key, so clients connect to wss://DOMAIN/PATH [default: none].
    #[arg(long, env = "WSCHAT_DOMAIN_PATH", value_name = "PATH", value_parser = check::domain_path)]
    pub domain_path: Option<String>,
    /// With --domain: use this ACM certificate (in the stack's region) instead of
    /// requesting one; teardown never deletes it.
    #[arg(long, env = "WSCHAT_CERTIFICATE_ARN", value_name = "ARN", value_parser = check::certificate_arn)]
    pub certificate_arn: Option<String>,
}

/// Who the stack's alarms wake. Without either, the alarms still exist and
/// `status` shows them, but they notify no one.
#[derive(Debug, Clone, Args)]
pub struct AlarmsArgs {
    /// Email this address when an alarm fires or recovers: the stack gets its
    /// own SNS topic ({name}-{stage}-alarms) and subscribes the address, which
    /// must confirm from the email AWS sends it.
    #[arg(long, env = "WSCHAT_ALARM_EMAIL", value_name = "ADDRESS", value_parser = check::email)]
    pub alarm_email: Option<String>,
    /// Notify this SNS topic of yours instead (never deleted by teardown).
    #[arg(long, env = "WSCHAT_ALARM_TOPIC", value_name = "ARN", value_parser = check::topic_arn, conflicts_with = "alarm_email")]
    pub alarm_topic: Option<String>,
}

/// What one client and one message may cost: the same flags on deploy, status and dev.
#[derive(Debug, Clone, Args)]
pub struct LimitsArgs {
    /// `@connections` posts per second that a large room's delivery workers
    /// share. The account's quota (10,000/s, shared with all its API Gateway
    /// traffic) bounds it: raise this once the quota is raised [default: 5000].
    #[arg(long, env = "WSCHAT_CONNECTIONS_RATE", value_parser = connections_rate, value_name = "PER_SECOND")]
    pub connections_rate: Option<u32>,
    /// Messages per second one connection may send; beyond it the client
    /// gets a `rate_limited` error frame. Bounds what one client can cost
    /// (each message is one delivery per room member). 0 for no limit [default: 10].
    #[arg(long, env = "WSCHAT_MAX_MESSAGE_RATE", value_parser = max_message_rate, value_name = "PER_SECOND")]
    pub max_message_rate: Option<f64>,
    /// Members a room may have; a join beyond it gets a `room_full` error
    /// frame. 0 for no limit [default: 0].
    #[arg(long, env = "WSCHAT_MAX_ROOM_SIZE", value_parser = max_room_size, value_name = "MEMBERS")]
    pub max_room_size: Option<u32>,
    /// How long room messages are kept (7d, 12h, 30m): clients get them on
    /// joining, page back through them with `history`, and catch up on them
    /// after a dropped connection. 0 keeps no history [default: 7d].
    #[arg(long, env = "WSCHAT_HISTORY_TTL", value_parser = check::history_ttl, value_name = "DURATION")]
    pub history_ttl: Option<u32>,
    /// Stored messages a client gets on joining a room, marked as history;
    /// older ones are a `history` action away. 0 for none [default: 50].
    #[arg(long, env = "WSCHAT_HISTORY_ON_JOIN", value_parser = history_on_join, value_name = "MESSAGES")]
    pub history_on_join: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthArg {
    /// Names are unverified display names: anyone may connect as anyone.
    Open,
    /// Tokens this stack signs (`wschat token`, or any JWT library with the stack's secret).
    Token,
    /// Tokens from your identity provider (Cognito, Auth0, any OIDC issuer).
    Jwt,
}

impl From<AuthArg> for AuthMode {
    fn from(auth: AuthArg) -> AuthMode {
        match auth {
            AuthArg::Open => AuthMode::Open,
            AuthArg::Token => AuthMode::Token,
            AuthArg::Jwt => AuthMode::Jwt,
        }
    }
}

/// Who may connect, and as whom. The same flags on deploy, status and dev.
#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// How connections prove who they are [default: open].
    #[arg(long, value_enum, env = "WSCHAT_AUTH")]
    pub auth: Option<AuthArg>,
    /// A web origin that may open connections, e.g. `https://chat.example.com` (repeatable).
    /// Browsers from any other origin get 403; clients that send no Origin header are unaffected.
    #[arg(long = "allowed-origin", value_name = "URL", value_parser = check::web_origin)]
    pub allowed_origins: Vec<String>,
    /// With --auth jwt: the issuer, exactly as in the tokens' `iss` (its keys are found
    /// through {issuer}/.well-known/openid-configuration).
    #[arg(long, value_name = "URL", value_parser = check::issuer_url)]
    pub jwt_issuer: Option<String>,
    /// With --auth jwt: the audience the tokens must carry in `aud`.
    #[arg(long, value_name = "AUD")]
    pub jwt_audience: Option<String>,
    /// With --auth jwt: the claim that holds the username [default: sub].
    #[arg(long, value_name = "CLAIM")]
    pub jwt_name_claim: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Deploy connect.zip, disconnect.zip and message.zip from DIR instead of building (see `wschat package`).
    #[arg(long, value_name = "DIR")]
    pub prebuilt: Option<std::path::PathBuf>,
    /// How to compile lambdas/ for Lambda (see `wschat doctor`); not used with --prebuilt.
    #[arg(long, value_enum, env = "WSCHAT_BUILDER", default_value_t)]
    pub builder: BuilderArg,
    /// Show what would be created or changed; write nothing. Builds the functions to
    /// compare their code when lambdas/ (or --prebuilt) is there; elsewhere plans without it.
    #[arg(long)]
    pub dry_run: bool,
    /// Where to write the ready-to-open web client [default: ./wschat-{name}-{stage}.html].
    #[arg(long, value_name = "PATH")]
    pub web_client: Option<std::path::PathBuf>,
    /// Do not write the web client.
    #[arg(long, conflicts_with = "web_client")]
    pub no_web_client: bool,
    /// With --auth token: replace the signing secret; every token minted before is refused.
    #[arg(long)]
    pub rotate_secret: bool,
    /// With --access-logs, where the account has no CloudWatch Logs role for API
    /// Gateway: create wschat-apigateway-cloudwatch and set it on the account. An
    /// account setting every API in the region then uses; teardown leaves it.
    #[arg(long)]
    pub set_account_logging_role: bool,
    /// With --domain: do not wait for the certificate's DNS validation. Deploy
    /// prints the records and returns; the next deploy finishes the domain.
    #[arg(long)]
    pub no_wait: bool,
}

#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// Who the token names: the username its connection gets.
    #[arg(long, value_name = "NAME")]
    pub user: String,
    /// How long the token is valid.
    #[arg(long, default_value = "1h", value_parser = token_ttl, value_name = "DURATION")]
    pub ttl: Duration,
    /// Start the connection in this room (else the query's room, else lobby).
    #[arg(long)]
    pub room: Option<String>,
    #[command(flatten)]
    pub target: LocalArgs,
}

/// At least a second, at most 30 days: a token cannot be revoked except by rotating the secret.
fn token_ttl(text: &str) -> Result<Duration, String> {
    wschat_lambdas::auth::token::check_ttl(positive_duration(text)?)
}

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// How far back the health section looks (messages, deliveries, errors, fan-out latency).
    #[arg(long, default_value = "15m", value_parser = positive_duration, value_name = "DURATION")]
    pub since: Duration,
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(flatten)]
    pub target: LocalArgs,
}

#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    /// The architecture to check the build for [default: wschat.toml's, else this machine's].
    #[arg(long, value_enum, env = "WSCHAT_ARCH")]
    pub arch: Option<ArchArg>,
    /// How deploy will compile lambdas/ (see `wschat deploy --help`).
    #[arg(long, value_enum, env = "WSCHAT_BUILDER", default_value_t)]
    pub builder: BuilderArg,
    /// Also check a custom domain: ACM and Route 53 reachable, and whether the
    /// account has the public hosted zone for it (deploy then writes the DNS
    /// records) or not (deploy prints them for your DNS provider) [default: wschat.toml's].
    #[arg(long, env = "WSCHAT_DOMAIN", value_name = "DOMAIN", value_parser = check::domain)]
    pub domain: Option<String>,
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
pub struct RedriveArgs {
    /// Count what waits in the queue; send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Send at most this many [default: every one waiting].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max: Option<u64>,
}

#[derive(Debug, Clone, Args)]
pub struct PackageArgs {
    /// CPU architecture to build for [default: wschat.toml's, else this machine's].
    #[arg(long, value_enum, env = "WSCHAT_ARCH")]
    pub arch: Option<ArchArg>,
    /// How to compile lambdas/ for Lambda (see `wschat deploy --help`).
    #[arg(long, value_enum, env = "WSCHAT_BUILDER", default_value_t)]
    pub builder: BuilderArg,
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
    /// Give up on a handler after this long and send the client API Gateway's
    /// "Endpoint request timed out" frame, as its 29 s integration timeout does.
    #[arg(long, default_value = "29s", value_parser = positive_duration, value_name = "DURATION")]
    pub integration_timeout: Duration,
    /// Handle each connection's frames one after another. On AWS each frame is
    /// its own, concurrent Lambda invocation: use this only to debug.
    #[arg(long)]
    pub serial_frames: bool,
    /// Disconnect a client that stops reading once this much is queued for it
    /// (e.g. 512KiB, 4MiB).
    #[arg(long, default_value = "4MiB", value_parser = byte_size, value_name = "SIZE")]
    pub max_outbound_buffer: usize,
    /// What every client's queue together may hold; past it the clients holding
    /// the most are disconnected first, so memory stays bounded however many stop
    /// reading (the default keeps the sandbox under 300 MB with 1,000 of them).
    #[arg(long, default_value = "192MiB", value_parser = byte_size, value_name = "SIZE")]
    pub max_outbound_total: usize,
    /// Hold at most this many connections; past it (or near the open-file
    /// limit) newcomers get 503 [default: what the open-file limit allows].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..), value_name = "N")]
    pub max_connections: Option<u32>,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub limits: LimitsArgs,
}

/// `4096`, `512KiB`, `4MiB`, `1MB`.
fn byte_size(text: &str) -> std::result::Result<usize, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let scale: usize = match unit.trim() {
        "" | "B" => 1,
        "KB" => 1_000,
        "KiB" => 1 << 10,
        "MB" => 1_000_000,
        "MiB" => 1 << 20,
        _ => return Err(format!("unknown unit '{unit}'; use B, KB, KiB, MB or MiB")),
    };
    match digits
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
    {
        Some(bytes) if bytes >= 1024 => Ok(bytes),
        Some(_) => Err("the buffer must hold at least 1KiB".to_owned()),
        None => Err(format!("'{text}' is not a size such as 512KiB or 4MiB")),
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
        assert_eq!(byte_size("4MiB"), Ok(4 << 20));
        assert_eq!(byte_size("512KiB"), Ok(512 << 10));
        assert_eq!(byte_size("2048"), Ok(2048));
        for bad in ["4 GiB", "10", "MiB", "-1MiB", "99999999999999999999MiB"] {
            assert!(byte_size(bad).is_err(), "{bad}");
        }
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
