//! What one run works with, resolved once: the parsed flags over their
//! `WSCHAT_*` variables over wschat.toml's table for the stage (for status,
//! then what the last deploy recorded), over the defaults. Nothing below
//! this module reads a flag; each layer takes the plain values built here.

use crate::aws::AwsConfig;
use crate::cli::{
    ArchArg, ArgOrigins, AuthArgs, DevArgs, Global, LimitsArgs, LocalArgs, SettingsArgs,
    DEFAULT_NAME,
};
use crate::error::Result;
use crate::layers::{Given, Origin, Partial};
use crate::ops::Place;
use crate::output::Format;
use crate::progress::Progress;
use crate::spec::{Arch, StackId};
use std::path::PathBuf;
use wschat_lambdas::auth::AuthSettings;

/// The run's global settings, with the stack file read and layered in.
pub struct Resolved {
    pub name: String,
    pub stage: String,
    /// Region and profile: the flags', else the file's, else the SDK's chain.
    pub aws: AwsConfig,
    pub output: Format,
    pub verbose: u8,
    pub quiet: bool,
    /// The stack file read, if any.
    pub stack_file: Option<PathBuf>,
    /// The file's settings for this stage, with --region and --profile over them.
    file: Partial,
    /// Which arguments were typed and which came from their variable.
    origins: ArgOrigins,
}

impl Resolved {
    /// Reads the stack file (`--config`, else the nearest wschat.toml) and
    /// layers the flags over it.
    pub fn new(global: Global, origins: ArgOrigins) -> Result<Resolved> {
        let path = match &global.config {
            Some(path) => Some(path.clone()),
            None => std::env::current_dir()
                .ok()
                .and_then(|dir| crate::stackfile::find(&dir)),
        };
        let file = path.map(|p| crate::stackfile::load(&p)).transpose()?;
        let flags = Partial {
            region: global
                .region
                .map(|r| Given::new(r, Origin::Flag("--region".into()))),
            profile: global
                .profile
                .map(|p| Given::new(p, Origin::Flag("--profile".into()))),
            ..Partial::default()
        };
        let layer = flags.or(file
            .as_ref()
            .map(|f| f.stage(&global.stage))
            .unwrap_or_default());
        Ok(Resolved {
            name: global
                .name
                .or_else(|| file.as_ref().and_then(|f| f.name.clone()))
                .unwrap_or_else(|| DEFAULT_NAME.to_owned()),
            stage: global.stage,
            aws: AwsConfig {
                region: layer.region.as_ref().map(|g| g.value.clone()),
                profile: layer.profile.as_ref().map(|g| g.value.clone()),
                endpoint_url: global.endpoint_url,
                timeout: global.request_timeout,
            },
            output: global.output,
            verbose: global.verbose,
            quiet: global.quiet,
            stack_file: file.map(|f| f.path),
            file: layer,
            origins,
        })
    }

    /// The stack's name and stage, validated before anything else happens.
    pub fn stack_id(&self) -> Result<StackId> {
        StackId::new(&self.name, &self.stage)
    }

    /// What the settings are compared against, for reports: the file, or the flags alone.
    pub fn settings_source(&self) -> String {
        match &self.stack_file {
            Some(path) => path.display().to_string(),
            None => "the flags and WSCHAT_* variables".to_owned(),
        }
    }

    pub fn progress(&self) -> Progress {
        Progress::new(self.quiet, self.verbose > 0)
    }

    /// The sandbox when `--local` was given, else AWS.
    pub fn place<'a>(&'a self, local: &'a LocalArgs) -> Place<'a> {
        match &local.local {
            Some(url) => Place::Local(url, self.aws.timeout),
            None => Place::Aws(&self.aws),
        }
    }

    /// The stack's settings: these flags over the stack file's.
    pub fn layered(&self, args: &SettingsArgs) -> Partial {
        let o = &self.origins;
        let flags = Partial {
            memory: o.given("memory", args.memory),
            timeout: o.given("timeout", args.timeout),
            arch: o.given("arch", args.arch.map(Arch::from)),
            log_retention: o.given("log_retention", args.log_retention),
            throttle_rate: o.given("throttle_rate", args.throttle_rate),
            throttle_burst: o.given("throttle_burst", args.throttle_burst),
            alarm_email: o.given("alarm_email", args.alarms.alarm_email.clone()),
            alarm_topic: o.given("alarm_topic", args.alarms.alarm_topic.clone()),
            access_logs: o.given("access_logs", args.access_logs),
            domain: o.given("domain", args.domain.domain.clone()),
            domain_path: o.given("domain_path", args.domain.domain_path.clone()),
            certificate_arn: o.given("certificate_arn", args.domain.certificate_arn.clone()),
            ..self.auth_layer(&args.auth)
        };
        flags
            .or(self.limits_layer(&args.limits))
            .or(self.file.clone())
    }

    fn limits_layer(&self, args: &LimitsArgs) -> Partial {
        let o = &self.origins;
        Partial {
            connections_rate: o.given("connections_rate", args.connections_rate),
            max_message_rate: o.given("max_message_rate", args.max_message_rate),
            max_room_size: o.given("max_room_size", args.max_room_size),
            history_ttl: o.given("history_ttl", args.history_ttl),
            history_on_join: o.given("history_on_join", args.history_on_join),
            ..Partial::default()
        }
    }

    fn auth_layer(&self, args: &AuthArgs) -> Partial {
        let o = &self.origins;
        let origins = (!args.allowed_origins.is_empty()).then(|| args.allowed_origins.clone());
        Partial {
            auth: o.given("auth", args.auth.map(Into::into)),
            allowed_origins: o.given("allowed_origins", origins),
            jwt_issuer: o.given("jwt_issuer", args.jwt_issuer.clone()),
            jwt_audience: o.given("jwt_audience", args.jwt_audience.clone()),
            jwt_name_claim: o.given("jwt_name_claim", args.jwt_name_claim.clone()),
            ..Partial::default()
        }
    }

    /// Who may connect: these flags over the stack file's (dev takes only these).
    pub fn auth(&self, args: &AuthArgs) -> Result<AuthSettings> {
        Ok(self.auth_layer(args).or(self.file.clone()).settings()?.auth)
    }

    /// `--arch` if given, else wschat.toml's, else this machine's.
    pub fn arch(&self, arch: Option<ArchArg>) -> Arch {
        arch.map(Arch::from)
            .or_else(|| self.file.arch.as_ref().map(|g| g.value))
            .unwrap_or_else(Arch::host)
    }

    /// `--domain` if given, else wschat.toml's.
    pub fn domain(&self, domain: Option<String>) -> Option<String> {
        domain.or_else(|| self.file.domain.as_ref().map(|g| g.value.clone()))
    }

    /// `wschat dev`'s options.
    pub fn dev_options(&self, args: DevArgs) -> Result<crate::sandbox::Options> {
        let settings = self
            .auth_layer(&args.auth)
            .or(self.limits_layer(&args.limits))
            .or(self.file.clone())
            .settings()?;
        Ok(crate::sandbox::Options {
            id: self.stack_id()?,
            region: self.aws.region.clone(),
            auth: settings.auth,
            limits: crate::sandbox::ChatLimits {
                connections_rate: settings.connections_rate,
                max_message_rate: settings.max_message_rate,
                max_room_size: settings.max_room_size,
                history_ttl_s: settings.history_ttl_s,
                history_on_join: settings.history_on_join,
            },
            host: args.host,
            port: args.port,
            dynamodb_endpoint: args.dynamodb_endpoint,
            idle_timeout: args.idle_timeout,
            max_lifetime: args.max_lifetime,
            integration_timeout: args.integration_timeout,
            serial_frames: args.serial_frames,
            outbound_limit: args.max_outbound_buffer,
            outbound_total: args.max_outbound_total,
            max_connections: args.max_connections.map(|n| n as usize),
            verbose: self.verbose > 0,
        })
    }
}
