//! The four Lambda functions. API Gateway's permission to invoke them is
//! [`super::permission`]; Lambda's waits are [`super::waits`].

use super::waits::{
    uploading, wait_ready, wait_updated, while_role_propagates, OnConflict, RoleGate,
};
use super::{Change, Ctx, Leftover, Ownership, Resource, Stack};
use crate::aws::{checked, or_absent};
use crate::build::package::Package;
use crate::error::{CliError, Result};
use crate::progress::Task;
use crate::spec::{Arch, Function, StackSpec};
use aws_sdk_lambda::operation::get_function::GetFunctionOutput;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Architecture, Environment, FunctionCode, FunctionConfiguration, Runtime,
};
use std::collections::HashMap;
use wschat_lambdas::auth::{self, AuthMode, AuthSettings};
use wschat_lambdas::telemetry;

const FUNCTION: &str = "function";
const HANDLER: &str = "bootstrap";
/// Time for one shard of a large room: 6,250 members of a 100,000-member
/// room at a 312/s share of the default `--connections-rate` take 20 s.
pub const DELIVER_TIMEOUT_S: i32 = 300;
/// Lambda gives a function CPU in proportion to its memory (one vCPU at
/// 1,769 MB). A post to `@connections` costs a worker about 170 µs of CPU
/// (measured, docs/benchmarks.md): at 128 MB, 16 workers would manage about
/// 6,800 posts/s, short of a raised quota; at 1,024 MB about 55,000.
pub const DELIVER_MEMORY_MB: i32 = 1_024;

/// What bounds a client's cost: its message rate and its room's size.
fn limits_environment(spec: &StackSpec) -> HashMap<String, String> {
    let settings = &spec.settings;
    HashMap::from([
        (
            "WSCHAT_MAX_MESSAGE_RATE".to_owned(),
            settings.max_message_rate.to_string(),
        ),
        (
            "WSCHAT_MAX_ROOM_SIZE".to_owned(),
            settings.max_room_size.to_string(),
        ),
    ])
}

/// What the chat keeps: every function but `disconnect` reads history or sanctions.
fn history_environment(spec: &StackSpec) -> HashMap<String, String> {
    let settings = &spec.settings;
    HashMap::from([
        (
            "WSCHAT_HISTORY_TTL".to_owned(),
            settings.history_ttl_s.to_string(),
        ),
        (
            "WSCHAT_HISTORY_ON_JOIN".to_owned(),
            settings.history_on_join.to_string(),
        ),
    ])
}

fn architecture(arch: Arch) -> Architecture {
    match arch {
        Arch::X86_64 => Architecture::X8664,
        Arch::Arm64 => Architecture::Arm64,
    }
}

/// What a function should be.
#[derive(Debug, Clone)]
pub struct DesiredFunction {
    pub arch: Arch,
    pub memory_mb: i32,
    pub timeout_s: i32,
    pub role_arn: String,
    pub environment: HashMap<String, String>,
    /// `None` when the code is not compared (status).
    pub code_sha256: Option<String>,
}

impl DesiredFunction {
    fn of(
        ctx: &Ctx<'_>,
        function: Function,
        package: Option<&Package>,
        secret_version: Option<i64>,
    ) -> DesiredFunction {
        let settings = &ctx.spec.settings;
        let mut environment = HashMap::from([
            ("TABLE_NAME".to_owned(), ctx.spec.table()),
            (telemetry::ENV_STACK.to_owned(), ctx.spec.prefix()),
        ]);
        if function != Function::Disconnect {
            environment.insert("MESSAGES_TABLE".to_owned(), ctx.spec.messages_table());
            environment.extend(history_environment(&ctx.spec));
        }
        // Connect hands a new connection's history to the delivery function.
        if matches!(function, Function::Connect | Function::Message) {
            environment.insert(
                "WSCHAT_DELIVER_FUNCTION".to_owned(),
                ctx.spec.function_name(Function::Deliver),
            );
        }
        match function {
            Function::Connect => {
                environment.extend(connect_environment(&ctx.spec, secret_version));
                environment.extend(limits_environment(&ctx.spec));
            }
            Function::Message => {
                environment.extend(limits_environment(&ctx.spec));
                environment.insert(
                    "WSCHAT_CONNECTIONS_RATE".to_owned(),
                    settings.connections_rate.to_string(),
                );
            }
            Function::Disconnect | Function::Deliver => {}
        }
        DesiredFunction {
            arch: settings.arch,
            memory_mb: match function {
                Function::Deliver => settings.memory_mb.max(DELIVER_MEMORY_MB),
                _ => settings.memory_mb,
            },
            // The delivery function is not behind API Gateway's 29 s.
            timeout_s: match function {
                Function::Deliver => DELIVER_TIMEOUT_S,
                _ => settings.timeout_s,
            },
            role_arn: ctx.spec.role_arn(),
            environment,
            code_sha256: package.map(|p| p.sha256.clone()),
        }
    }

    fn environment(&self) -> Environment {
        Environment::builder()
            .set_variables(Some(self.environment.clone()))
            .build()
    }
}

/// What differs between a function as it is and as it should be.
#[derive(Debug, Default, PartialEq)]
pub struct FunctionDiff {
    pub code: bool,
    pub architecture: bool,
    pub runtime: bool,
    pub role: bool,
    /// Current and wanted MB.
    pub memory: Option<(i32, i32)>,
    /// Current and wanted seconds.
    pub timeout: Option<(i32, i32)>,
    pub environment: bool,
}

impl FunctionDiff {
    pub fn between(current: &FunctionConfiguration, desired: &DesiredFunction) -> FunctionDiff {
        let changed = |now: Option<i32>, wanted: i32| {
            (now != Some(wanted)).then_some((now.unwrap_or(0), wanted))
        };
        let environment = current
            .environment
            .as_ref()
            .and_then(|e| e.variables.clone())
            .unwrap_or_default();
        FunctionDiff {
            code: desired
                .code_sha256
                .as_ref()
                .is_some_and(|sha| current.code_sha256.as_ref() != Some(sha)),
            architecture: current.architectures().first() != Some(&architecture(desired.arch)),
            runtime: current.runtime != Some(Runtime::Providedal2023)
                || current.handler.as_deref() != Some(HANDLER),
            role: current.role.as_ref() != Some(&desired.role_arn),
            memory: changed(current.memory_size, desired.memory_mb),
            timeout: changed(current.timeout, desired.timeout_s),
            environment: environment != desired.environment,
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == FunctionDiff::default()
    }

    /// A new architecture needs new code: both go in one UpdateFunctionCode.
    fn needs_code(&self) -> bool {
        self.code || self.architecture
    }

    fn needs_configuration(&self) -> bool {
        self.runtime
            || self.role
            || self.memory.is_some()
            || self.timeout.is_some()
            || self.environment
    }

    /// The report's words, in the order a reader checks them.
    pub fn fields(&self, desired: &DesiredFunction) -> Vec<String> {
        let mut fields = Vec::new();
        if self.code {
            fields.push("code".to_owned());
        }
        if self.architecture {
            fields.push(format!("architecture → {}", desired.arch.lambda_name()));
        }
        if self.runtime {
            fields.push("runtime".to_owned());
        }
        if self.role {
            fields.push("role".to_owned());
        }
        if let Some((now, wanted)) = self.memory {
            fields.push(format!("memory {now} → {wanted} MB"));
        }
        if let Some((now, wanted)) = self.timeout {
            fields.push(format!("timeout {now} → {wanted} s"));
        }
        if self.environment {
            fields.push("environment".to_owned());
        }
        fields
    }
}

/// The function named `name`, with its configuration and tags, if it exists.
pub async fn find(stack: &Stack, name: &str) -> Result<Option<GetFunctionOutput>> {
    let request = stack.clients.lambda.get_function().function_name(name);
    or_absent(request.send().await, "Lambda GetFunction", name)
}

async fn create(
    ctx: &Ctx<'_>,
    task: &Task,
    function: Function,
    name: &str,
    desired: &DesiredFunction,
    package: &Package,
    gate: &RoleGate,
) -> Result<()> {
    task.set("waiting for the IAM role");
    let guard = gate.propagated.lock().await;
    // Holding the lock makes this create the probe.
    let probe = (!*guard).then_some(guard);
    task.set("creating");
    let created = while_role_propagates(
        task,
        "Lambda CreateFunction",
        name,
        OnConflict::Exists,
        || {
            ctx.clients
                .lambda
                .create_function()
                .function_name(name)
                .runtime(Runtime::Providedal2023)
                .handler(HANDLER)
                .role(&desired.role_arn)
                .architectures(architecture(desired.arch))
                .memory_size(desired.memory_mb)
                .timeout(desired.timeout_s)
                .environment(desired.environment())
                .code(
                    FunctionCode::builder()
                        .zip_file(Blob::new(package.zip.clone()))
                        .build(),
                )
                .description(format!(
                    "wschat {} ({})",
                    function.name(),
                    ctx.spec.prefix()
                ))
                .set_tags(Some(ctx.spec.tags()))
                .customize()
                .config_override(uploading(ctx))
                .send()
        },
    )
    .await;
    if let (Ok(_), Some(mut propagated)) = (&created, probe) {
        *propagated = true;
    }
    created.map(|_| ())
}

/// Sends only what differs: code (with its architecture) first, then configuration.
async fn update(
    ctx: &Ctx<'_>,
    task: &Task,
    name: &str,
    diff: &FunctionDiff,
    desired: &DesiredFunction,
    package: Option<&Package>,
) -> Result<()> {
    let lambda = &ctx.clients.lambda;
    if diff.needs_code() {
        let package = package.ok_or_else(|| {
            CliError::failed(format!(
                "{name}: a new architecture needs the code built for it"
            ))
        })?;
        // A function still Pending after its create, or InProgress after an update, refuses another update (409).
        wait_ready(ctx, name, task).await?;
        task.set("uploading code");
        while_role_propagates(
            task,
            "Lambda UpdateFunctionCode",
            name,
            OnConflict::Retry,
            || {
                lambda
                    .update_function_code()
                    .function_name(name)
                    .zip_file(Blob::new(package.zip.clone()))
                    .architectures(architecture(desired.arch))
                    .customize()
                    .config_override(uploading(ctx))
                    .send()
            },
        )
        .await?;
        wait_updated(ctx, name, task).await?;
    }
    if diff.needs_configuration() {
        wait_ready(ctx, name, task).await?;
        task.set("updating configuration");
        while_role_propagates(
            task,
            "Lambda UpdateFunctionConfiguration",
            name,
            OnConflict::Retry,
            || {
                let mut update = lambda.update_function_configuration().function_name(name);
                if diff.runtime {
                    update = update.runtime(Runtime::Providedal2023).handler(HANDLER);
                }
                if diff.role {
                    update = update.role(&desired.role_arn);
                }
                if diff.memory.is_some() {
                    update = update.memory_size(desired.memory_mb);
                }
                if diff.timeout.is_some() {
                    update = update.timeout(desired.timeout_s);
                }
                if diff.environment {
                    update = update.environment(desired.environment());
                }
                update.send()
            },
        )
        .await?;
        wait_updated(ctx, name, task).await?;
    }
    Ok(())
}

/// Only `$connect` decides who connects: its function alone carries the auth
/// settings and, in token mode, where the secret is. The secret's version is
/// part of it, so a rotation updates the function and retires warm containers.
fn connect_environment(spec: &StackSpec, secret_version: Option<i64>) -> Vec<(String, String)> {
    let auth = &spec.settings.auth;
    let mut env = auth.to_env();
    if auth.mode == AuthMode::Token {
        env.push((auth::ENV_TOKEN_AUDIENCE.to_owned(), spec.token_audience()));
        env.push((auth::ENV_TOKEN_PARAMETER.to_owned(), spec.token_parameter()));
        if let Some(version) = secret_version {
            env.push((auth::ENV_TOKEN_VERSION.to_owned(), version.to_string()));
        }
    }
    env
}

/// The auth settings a deployed connect function runs with.
pub async fn deployed_auth(stack: &Stack) -> Result<Option<AuthSettings>> {
    let name = stack.spec.function_name(Function::Connect);
    let Some(current) = find(stack, &name).await? else {
        return Ok(None);
    };
    let variables = current
        .configuration
        .and_then(|c| c.environment)
        .and_then(|e| e.variables)
        .unwrap_or_default();
    Ok(AuthSettings::from_lookup(|k| variables.get(k).cloned()).ok())
}

/// Creates or converges one function. `package` is `None` for status, which
/// does not compare code; `secret_version` is token mode's secret.
pub async fn ensure(
    ctx: &Ctx<'_>,
    function: Function,
    package: Option<&Package>,
    secret_version: Option<i64>,
    gate: &RoleGate,
) -> Result<Resource> {
    let name = ctx.spec.function_name(function);
    let desired = DesiredFunction::of(ctx, function, package, secret_version);
    ctx.track(FUNCTION, &name, async |task| {
        let Some(current) = find(ctx, &name).await? else {
            if !ctx.dry_run {
                let package = package.expect("deploy always has packages");
                create(ctx, task, function, &name, &desired, package, gate).await?;
            }
            return Ok(Change::Created);
        };
        if !ctx.spec.owns(&current.tags.clone().unwrap_or_default()) {
            return Ok(Change::Foreign);
        }
        let config = current
            .configuration
            .unwrap_or_else(|| FunctionConfiguration::builder().build());
        let diff = FunctionDiff::between(&config, &desired);
        if diff.is_empty() {
            return Ok(Change::Unchanged);
        }
        if !ctx.dry_run {
            update(ctx, task, &name, &diff, &desired, package).await?;
        }
        Ok(Change::Updated {
            fields: diff.fields(&desired),
        })
    })
    .await
}

async fn ownership(stack: &Stack, name: &str) -> Result<Ownership> {
    Ok(Ownership::of(find(stack, name).await?, |f| {
        stack.spec.owns(&f.tags.clone().unwrap_or_default())
    }))
}

/// Deleting a function deletes its resource policy (the permission) with it.
pub async fn delete(ctx: &Ctx<'_>, function: Function) -> Result<Vec<Resource>> {
    let name = ctx.spec.function_name(function);
    let removed = ctx.remove(FUNCTION, &name, ownership(ctx, &name), async |_| {
        let request = ctx.clients.lambda.delete_function().function_name(&name);
        or_absent(request.send().await, "Lambda DeleteFunction", &name)?;
        Ok(())
    });
    Ok(vec![removed.await?])
}

/// Functions named `{name}-{stage}-*` and tagged as this stack's that still exist.
pub async fn leftovers(stack: &Stack) -> Result<Vec<Leftover>> {
    let prefix = format!("{}-", stack.spec.prefix());
    let listing = stack.clients.lambda.list_functions().into_paginator();
    let all = checked(
        listing.items().send().try_collect().await,
        "Lambda ListFunctions",
        &prefix,
    )?;
    let mut ours = Vec::new();
    for name in all
        .into_iter()
        .filter_map(|f| f.function_name)
        .filter(|n| n.starts_with(&prefix))
    {
        if ownership(stack, &name).await? == Ownership::Ours {
            ours.push(Leftover::new(FUNCTION, name));
        }
    }
    Ok(ours)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_lambda::types::EnvironmentResponse;

    fn desired() -> DesiredFunction {
        DesiredFunction {
            arch: Arch::X86_64,
            memory_mb: 128,
            timeout_s: 29,
            role_arn: "arn:aws:iam::1:role/chat-dev-lambda".into(),
            environment: HashMap::from([("TABLE_NAME".into(), "chat-dev-connections".into())]),
            code_sha256: Some("abc=".into()),
        }
    }

    /// A function exactly as `desired()` wants it.
    fn matching() -> aws_sdk_lambda::types::builders::FunctionConfigurationBuilder {
        FunctionConfiguration::builder()
            .code_sha256("abc=")
            .architectures(Architecture::X8664)
            .runtime(Runtime::Providedal2023)
            .handler("bootstrap")
            .role("arn:aws:iam::1:role/chat-dev-lambda")
            .memory_size(128)
            .timeout(29)
            .environment(
                EnvironmentResponse::builder()
                    .variables("TABLE_NAME", "chat-dev-connections")
                    .build(),
            )
    }

    fn diff(
        current: aws_sdk_lambda::types::builders::FunctionConfigurationBuilder,
    ) -> FunctionDiff {
        FunctionDiff::between(&current.build(), &desired())
    }

    #[test]
    fn a_matching_function_needs_nothing() {
        assert!(diff(matching()).is_empty());
        let unknown_code = DesiredFunction {
            code_sha256: None,
            ..desired()
        };
        let other_code = matching().code_sha256("zzz=").build();
        assert!(
            FunctionDiff::between(&other_code, &unknown_code).is_empty(),
            "status does not compare code"
        );
    }

    #[test]
    fn each_field_is_its_own_difference() {
        let cases: [(_, FunctionDiff, &[&str]); 8] = [
            (
                matching().code_sha256("old="),
                FunctionDiff {
                    code: true,
                    ..Default::default()
                },
                &["code"],
            ),
            (
                matching().set_architectures(Some(vec![Architecture::Arm64])),
                FunctionDiff {
                    architecture: true,
                    ..Default::default()
                },
                &["architecture → x86_64"],
            ),
            (
                matching().runtime(Runtime::Nodejs20x),
                FunctionDiff {
                    runtime: true,
                    ..Default::default()
                },
                &["runtime"],
            ),
            (
                matching().handler("index.handler"),
                FunctionDiff {
                    runtime: true,
                    ..Default::default()
                },
                &["runtime"],
            ),
            (
                matching().role("arn:aws:iam::1:role/other"),
                FunctionDiff {
                    role: true,
                    ..Default::default()
                },
                &["role"],
            ),
            (
                matching().memory_size(256),
                FunctionDiff {
                    memory: Some((256, 128)),
                    ..Default::default()
                },
                &["memory 256 → 128 MB"],
            ),
            (
                matching().timeout(3),
                FunctionDiff {
                    timeout: Some((3, 29)),
                    ..Default::default()
                },
                &["timeout 3 → 29 s"],
            ),
            (
                matching().environment(
                    EnvironmentResponse::builder()
                        .variables("TABLE_NAME", "x")
                        .build(),
                ),
                FunctionDiff {
                    environment: true,
                    ..Default::default()
                },
                &["environment"],
            ),
        ];
        for (current, expected, words) in cases {
            let found = diff(current);
            assert_eq!(found, expected);
            assert_eq!(found.fields(&desired()), words.to_vec());
        }
    }

    #[test]
    fn code_and_architecture_go_up_together_and_settings_apart() {
        let arch = diff(matching().set_architectures(Some(vec![Architecture::Arm64])));
        assert!(arch.needs_code() && !arch.needs_configuration());
        let memory = diff(matching().memory_size(512));
        assert!(!memory.needs_code() && memory.needs_configuration());
        let missing_env = diff(matching().set_environment(None));
        assert!(
            missing_env.environment,
            "a function with no variables lacks TABLE_NAME"
        );
    }
}
