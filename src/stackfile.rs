//! `wschat.toml`: the stack as the team wants it, checked in beside the code.
//! Found in the current directory or the nearest one above (as cargo finds
//! `Cargo.toml`); every value is checked before any AWS call.

use crate::error::{CliError, Result};
use crate::layers::{check, Given, Origin, Partial};
use crate::spec::Arch;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;
use wschat_lambdas::auth::AuthMode;

pub const FILE_NAME: &str = "wschat.toml";

/// A loaded, checked stack file.
#[derive(Debug, Clone)]
pub struct StackFile {
    pub path: PathBuf,
    pub name: Option<String>,
    defaults: Partial,
    stages: BTreeMap<String, Partial>,
}

impl StackFile {
    /// The stage's table over `[defaults]`.
    pub fn stage(&self, stage: &str) -> Partial {
        let own = self.stages.get(stage).cloned().unwrap_or_default();
        own.or(self.defaults.clone())
    }
}

/// `start` or the nearest directory above it that holds a `wschat.toml`.
pub fn find(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join(FILE_NAME))
        .find(|candidate| candidate.is_file())
}

pub fn load(path: &Path) -> Result<StackFile> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
    parse(path, &text)
}

/// Keys use the flags' names: `--log-retention` is `log-retention`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    name: Option<Spanned<String>>,
    #[serde(default)]
    defaults: RawStage,
    #[serde(default)]
    stages: BTreeMap<String, RawStage>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawStage {
    region: Option<Spanned<String>>,
    profile: Option<Spanned<String>>,
    memory: Option<Spanned<i64>>,
    timeout: Option<Spanned<i64>>,
    arch: Option<Spanned<String>>,
    log_retention: Option<Spanned<i64>>,
    throttle_rate: Option<Spanned<f64>>,
    throttle_burst: Option<Spanned<i64>>,
    connections_rate: Option<Spanned<i64>>,
    max_message_rate: Option<Spanned<f64>>,
    max_room_size: Option<Spanned<i64>>,
    history_ttl: Option<Spanned<String>>,
    history_on_join: Option<Spanned<i64>>,
    auth: Option<Spanned<String>>,
    allowed_origins: Option<Spanned<Vec<String>>>,
    jwt_issuer: Option<Spanned<String>>,
    jwt_audience: Option<Spanned<String>>,
    jwt_name_claim: Option<Spanned<String>>,
    alarm_email: Option<Spanned<String>>,
    alarm_topic: Option<Spanned<String>>,
    access_logs: Option<Spanned<bool>>,
    domain: Option<Spanned<String>>,
    domain_path: Option<Spanned<String>>,
    certificate_arn: Option<Spanned<String>>,
}

pub fn parse(path: &Path, text: &str) -> Result<StackFile> {
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let at = e
            .span()
            .map(|span| format!(":{}", line_column(text, span.start)))
            .unwrap_or_default();
        CliError::usage(format!("{}{at}: {}", path.display(), e.message()))
            .with_hint("the keys and their meaning: `wschat init` writes a commented file")
    })?;
    let checker = Checker { path, text };
    let name = match raw.name {
        Some(name) => Some(checker.value("name", name, |n| {
            crate::spec::StackId::new(&n, "dev")
                .map(|_| n)
                .map_err(|e| e.to_string())
        })?),
        None => None,
    };
    let defaults = checker.stage("[defaults]", raw.defaults)?;
    let stages = raw
        .stages
        .into_iter()
        .map(|(stage, table)| {
            crate::spec::StackId::new(name.as_deref().unwrap_or("wschat"), &stage).map_err(
                |e| CliError::usage(format!("{}: [stages.{stage}]: {e}", path.display())),
            )?;
            let table = checker.stage(&format!("[stages.{stage}]"), table)?;
            Ok((stage, table))
        })
        .collect::<Result<_>>()?;
    Ok(StackFile {
        path: path.to_owned(),
        name,
        defaults,
        stages,
    })
}

/// `line:column`, both from 1, of a byte offset.
fn line_column(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{line}:{column}")
}

struct Checker<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Checker<'_> {
    fn value<T, U>(
        &self,
        key: &str,
        raw: Spanned<T>,
        check: impl FnOnce(T) -> std::result::Result<U, String>,
    ) -> Result<U> {
        let span = raw.span();
        check(raw.into_inner()).map_err(|why| {
            CliError::usage(format!(
                "{}:{}: {key}: {why}",
                self.path.display(),
                line_column(self.text, span.start)
            ))
        })
    }

    fn given<T, U>(
        &self,
        table: &str,
        key: &str,
        raw: Option<Spanned<T>>,
        check: impl FnOnce(T) -> std::result::Result<U, String>,
    ) -> Result<Option<Given<U>>> {
        let origin = Origin::File(format!("{} {table}", self.path.display()));
        raw.map(|raw| Ok(Given::new(self.value(key, raw, check)?, origin)))
            .transpose()
    }

    fn stage(&self, table: &str, raw: RawStage) -> Result<Partial> {
        let any = Ok::<String, String>;
        Ok(Partial {
            region: self.given(table, "region", raw.region, |r: String| check::region(&r))?,
            profile: self.given(table, "profile", raw.profile, any)?,
            memory: self.given(table, "memory", raw.memory, check::memory)?,
            timeout: self.given(table, "timeout", raw.timeout, check::timeout)?,
            arch: self.given(table, "arch", raw.arch, |a| match a.as_str() {
                "x86_64" => Ok(Arch::X86_64),
                "arm64" => Ok(Arch::Arm64),
                _ => Err(format!("'{a}' is not one of \"x86_64\", \"arm64\"")),
            })?,
            log_retention: self.given(
                table,
                "log-retention",
                raw.log_retention,
                check::log_retention,
            )?,
            throttle_rate: self.given(
                table,
                "throttle-rate",
                raw.throttle_rate,
                check::throttle_rate,
            )?,
            throttle_burst: self.given(
                table,
                "throttle-burst",
                raw.throttle_burst,
                check::throttle_burst,
            )?,
            connections_rate: self.given(
                table,
                "connections-rate",
                raw.connections_rate,
                check::connections_rate,
            )?,
            max_message_rate: self.given(
                table,
                "max-message-rate",
                raw.max_message_rate,
                check::max_message_rate,
            )?,
            max_room_size: self.given(
                table,
                "max-room-size",
                raw.max_room_size,
                check::max_room_size,
            )?,
            history_ttl: self.given(table, "history-ttl", raw.history_ttl, |t| {
                check::history_ttl(&t)
            })?,
            history_on_join: self.given(
                table,
                "history-on-join",
                raw.history_on_join,
                check::history_on_join,
            )?,
            auth: self.given(table, "auth", raw.auth, |a| {
                AuthMode::parse(&a)
                    .ok_or_else(|| format!("'{a}' is not one of \"open\", \"token\", \"jwt\""))
            })?,
            allowed_origins: self.given(
                table,
                "allowed-origins",
                raw.allowed_origins,
                |origins| origins.iter().map(|o| check::web_origin(o)).collect(),
            )?,
            jwt_issuer: self.given(table, "jwt-issuer", raw.jwt_issuer, |i| {
                check::issuer_url(&i)
            })?,
            jwt_audience: self.given(table, "jwt-audience", raw.jwt_audience, any)?,
            jwt_name_claim: self.given(table, "jwt-name-claim", raw.jwt_name_claim, any)?,
            alarm_email: self.given(table, "alarm-email", raw.alarm_email, |e| check::email(&e))?,
            alarm_topic: self.given(table, "alarm-topic", raw.alarm_topic, |t| {
                check::topic_arn(&t)
            })?,
            access_logs: self.given(table, "access-logs", raw.access_logs, Ok)?,
            domain: self.given(table, "domain", raw.domain, |d| check::domain(&d))?,
            domain_path: self.given(table, "domain-path", raw.domain_path, |p| {
                check::domain_path(&p)
            })?,
            certificate_arn: self.given(table, "certificate-arn", raw.certificate_arn, |a| {
                check::certificate_arn(&a)
            })?,
        })
    }
}

/// What `wschat init` writes: every key, today's defaults, and what each means.
pub fn template(name: &str) -> String {
    let defaults = crate::spec::Settings::default();
    format!(
        r#"# wschat.toml: the stack `wschat deploy` builds and `wschat status` checks.
# Every command reads it from this directory or the nearest one above. A flag
# or WSCHAT_* variable overrides a value for one run; `wschat deploy -v` says
# where each value came from. Keys are the flags' names.

# Every resource is named {{name}}-{{stage}}.
name = "{name}"

# What every stage gets unless its own table says otherwise.
[defaults]
# region = "us-east-1"        # else AWS_REGION or the profile's region
# profile = "default"         # else AWS_PROFILE or the default credential chain
memory = {memory}             # MB per function: 128 to 10240
timeout = {timeout}           # seconds per invocation; API Gateway waits at most 29
arch = "{arch}"               # "x86_64" or "arm64"; pinned so every machine agrees
log-retention = {retention}   # days the functions' logs are kept
throttle-rate = {rate:?}      # steady requests per second per route
throttle-burst = {burst}      # burst of requests per route
connections-rate = {connections}   # @connections posts per second, all deliveries together
max-message-rate = {messages:?}    # messages per second one connection may send; 0 for no limit
max-room-size = 0             # members a room may have; 0 for no limit
history-ttl = "7d"            # how long messages are kept; "0" for no history
history-on-join = 50          # stored messages a client gets on joining a room
auth = "open"                 # "open" (unverified names), "token" or "jwt"
# allowed-origins = ["https://chat.example.com"]   # browsers from other origins get 403
# jwt-issuer = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123"
# jwt-audience = "your app client id"
# jwt-name-claim = "sub"      # the claim that holds the username
# alarm-email = "ops@example.com"   # the alarms mail this address (it confirms the subscription)
# alarm-topic = "arn:aws:sns:us-east-1:123456789012:oncall"   # or notify your own topic
access-logs = false           # the stage logs each request to /aws/apigateway/{{name}}-{{stage}}

# A stage at its own address (usually in its own table: one domain per stage).
# domain = "chat.example.com"   # wss://chat.example.com; certificate and DNS by deploy
# domain-path = ""              # the API mapping key: wss://chat.example.com/{{path}}
# certificate-arn = "arn:aws:acm:..."   # your certificate instead of one the stack requests

# `wschat deploy` (stage dev), and `wschat --stage prod deploy`. A stage with
# no table of its own gets [defaults].
[stages.dev]

[stages.prod]
# memory = 256
"#,
        arch = Arch::host().lambda_name(),
        memory = defaults.memory_mb,
        timeout = defaults.timeout_s,
        retention = defaults.log_retention_days,
        rate = defaults.throttle_rate,
        burst = defaults.throttle_burst,
        connections = defaults.connections_rate,
        messages = defaults.max_message_rate,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<StackFile> {
        parse(Path::new("wschat.toml"), text)
    }

    fn error(text: &str) -> String {
        parsed(text).unwrap_err().to_string()
    }

    #[test]
    fn the_template_parses_to_the_defaults() {
        let file = parsed(&template("chat")).unwrap();
        assert_eq!(file.name.as_deref(), Some("chat"));
        let dev = file.stage("dev").settings().unwrap();
        assert_eq!(dev, crate::spec::Settings::default());
        assert!(file.stages.contains_key("prod"));
        assert_eq!(
            file.stage("pr-42"),
            file.stage("dev"),
            "no table: the defaults"
        );
    }

    #[test]
    fn a_stage_table_overrides_the_defaults() {
        let file = parsed("[defaults]\nmemory = 256\ntimeout = 10\n[stages.prod]\nmemory = 1024\n")
            .unwrap();
        let prod = file.stage("prod");
        assert_eq!(prod.memory.as_ref().unwrap().value, 1024);
        assert_eq!(prod.timeout.as_ref().unwrap().value, 10);
        assert_eq!(
            prod.memory.unwrap().origin,
            Origin::File("wschat.toml [stages.prod]".into())
        );
        assert_eq!(file.stage("dev").memory.unwrap().value, 256);
    }

    #[test]
    fn errors_name_the_line_and_column() {
        let unknown = error("name = \"chat\"\n[defaults]\nmemroy = 256\n");
        assert!(
            unknown.starts_with("wschat.toml:3:1: unknown field `memroy`"),
            "{unknown}"
        );
        assert!(
            unknown.contains("`memory`") && unknown.contains("`log-retention`"),
            "{unknown}"
        );
        let malformed = error("name = \"chat\n");
        assert!(malformed.starts_with("wschat.toml:1:"), "{malformed}");
        let range = error("[stages.dev]\n  memory = 64\n");
        assert!(
            range.starts_with("wschat.toml:2:12: memory: Lambda takes"),
            "{range}"
        );
        let kind = error("[defaults]\nmemory = \"big\"\n");
        assert!(kind.starts_with("wschat.toml:2:10:"), "{kind}");
        let name = error("name = \"1bad\"\n");
        assert!(name.starts_with("wschat.toml:1:8: name:"), "{name}");
        let stage = error("[stages.\"no/slash\"]\n");
        assert!(stage.contains("[stages.no/slash]"), "{stage}");
    }

    #[test]
    fn the_nearest_file_above_is_found() {
        let root = std::env::temp_dir().join(format!("wschat-find-{}", std::process::id()));
        let deep = root.join("a/b");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(root.join(FILE_NAME), "").unwrap();
        assert_eq!(find(&deep), Some(root.join(FILE_NAME)));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
