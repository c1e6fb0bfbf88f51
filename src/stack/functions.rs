//! The three Lambda functions and API Gateway's permission to invoke each.

use super::{Change, Ctx, Ownership, Resource, Stack};
use crate::aws::{aws_error, checked, created, or_absent};
use crate::build::package::Package;
use crate::error::{CliError, Result};
use crate::progress::Task;
use crate::spec::{Arch, Function, StackSpec};
use aws_sdk_lambda::client::Waiters;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::operation::get_function::GetFunctionOutput;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Architecture, Environment, FunctionCode, FunctionConfiguration, LastUpdateStatus, Runtime,
};
use aws_smithy_runtime_api::client::waiters::error::WaiterError;
use std::collections::HashMap;
use std::time::Duration;
use wschat_lambdas::auth::{self, AuthMode, AuthSettings};
use wschat_lambdas::retry::{retry, Backoff, Limits, Verdict};

const FUNCTION: &str = "function";
const PERMISSION: &str = "permission";
const STATEMENT_ID: &str = "wschat-apigateway-invoke";
const HANDLER: &str = "bootstrap";
/// A new role can take minutes before Lambda may assume it.
const IAM_PROPAGATION_DEADLINE: Duration = Duration::from_secs(240);
/// How long an update may stay `InProgress` before deploy gives up.
const UPDATE_DEADLINE: Duration = Duration::from_secs(300);

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
        let mut environment = HashMap::from([("TABLE_NAME".to_owned(), ctx.spec.table())]);
        if function == Function::Connect {
            environment.extend(connect_environment(&ctx.spec, secret_version));
        }
        DesiredFunction {
            arch: settings.arch,
            memory_mb: settings.memory_mb,
            timeout_s: settings.timeout_s,
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

async fn get(stack: &Stack, name: &str) -> Result<Option<GetFunctionOutput>> {
    let request = stack.clients.lambda.get_function().function_name(name);
    or_absent(request.send().await, "Lambda GetFunction", name)
}

/// Lambda's modelled answer while a new role has not reached it yet.
fn role_not_ready<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("InvalidParameterValueException")
        && e.message().is_some_and(|m| {
            m.contains("cannot be assumed") || m.contains("role defined for the function")
        })
}

/// A call carrying a zip: its upload counts against the answer's wait.
fn uploading(ctx: &Ctx<'_>) -> aws_sdk_lambda::config::Builder {
    aws_sdk_lambda::config::Builder::default()
        .timeout_config(crate::aws::upload_timeouts(ctx.clients.timeout))
}

/// What a 409 ResourceConflictException means to a call.
#[derive(Clone, Copy, PartialEq)]
enum OnConflict {
    /// A create: the function is there (a lost reply's retry, or another deploy).
    Exists,
    /// An update: another update is in progress; wait, then try again.
    Retry,
}

/// Runs `call` until the role has propagated (and, for updates, until no
/// other update is in progress), backing off with jitter under a deadline.
/// `Ok(None)`: a create found the function already there.
async fn while_role_propagates<T, E, F, Fut>(
    task: &Task,
    operation: &str,
    name: &str,
    on_conflict: OnConflict,
    mut call: F,
) -> Result<Option<T>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<
        Output = std::result::Result<T, SdkError<E, aws_sdk_lambda::config::http::HttpResponse>>,
    >,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(10));
    // The role's wait is not contention: a steady poll ends it soonest.
    let role_poll = Backoff::new(Duration::from_millis(250), Duration::from_secs(1));
    let conflict = |e: &SdkError<E, _>| {
        e.as_service_error()
            .is_some_and(|e| e.code() == Some("ResourceConflictException"))
    };
    let attempt = |_| {
        let answer = call();
        async {
            match answer.await {
                Ok(out) => Ok(Some(out)),
                Err(e) if conflict(&e) && on_conflict == OnConflict::Exists => Ok(None),
                Err(e) => Err(e),
            }
        }
    };
    let judge = |e: &SdkError<E, _>, attempt: u32, elapsed: Duration| {
        if conflict(e) && elapsed < UPDATE_DEADLINE {
            task.set(format!(
                "another update is in progress; retrying (attempt {attempt})"
            ));
            Verdict::Retry(backoff.delay(attempt))
        } else if e.as_service_error().is_some_and(role_not_ready)
            && elapsed < IAM_PROPAGATION_DEADLINE
        {
            task.set(format!(
                "waiting for the IAM role to reach Lambda (attempt {attempt}, {}s)",
                elapsed.as_secs()
            ));
            Verdict::Retry(role_poll.delay(attempt))
        } else {
            Verdict::Stop
        }
    };
    retry(Limits::default(), attempt, judge)
        .await
        .map_err(|failed| aws_error(operation, name, &failed.error))
}

/// Until the function is Active (a new one is Pending for a while) and no
/// update is in progress.
async fn wait_ready(ctx: &Ctx<'_>, name: &str, task: &Task) -> Result<()> {
    task.set("waiting for the function to be active");
    let waited = ctx
        .clients
        .lambda
        .wait_until_function_active_v2()
        .function_name(name)
        .wait(UPDATE_DEADLINE)
        .await;
    match waited {
        Ok(_) => wait_updated(ctx, name, task).await,
        Err(WaiterError::OperationFailed(e)) => Err(aws_error(
            "Lambda GetFunction (waiting for it to be active)",
            name,
            e.error(),
        )),
        Err(e) => Err(CliError::failed(format!("{name} did not become active: {e}"))
            .with_hint("check the function in the Lambda console; `wschat deploy` continues where it stopped")),
    }
}

/// Lambda refuses a second update while one is in progress: the SDK's waiter
/// polls until `LastUpdateStatus` is `Successful`.
async fn wait_updated(ctx: &Ctx<'_>, name: &str, task: &Task) -> Result<()> {
    task.set("waiting for the update to finish");
    let waited = ctx
        .clients
        .lambda
        .wait_until_function_updated_v2()
        .function_name(name)
        .wait(UPDATE_DEADLINE)
        .await;
    match waited {
        Ok(_) => Ok(()),
        Err(WaiterError::FailureState(failed)) => {
            let reason = failed
                .final_poll()
                .as_result()
                .ok()
                .and_then(|out| out.configuration.as_ref())
                .filter(|c| c.last_update_status == Some(LastUpdateStatus::Failed))
                .and_then(|c| c.last_update_status_reason.clone())
                .unwrap_or_default();
            Err(CliError::failed(format!(
                "Lambda could not apply the update to {name}: {reason}"
            )))
        }
        Err(WaiterError::OperationFailed(e)) => Err(aws_error(
            "Lambda GetFunction (waiting for an update)",
            name,
            e.error(),
        )),
        Err(e) => Err(CliError::failed(format!(
            "{name} did not finish updating within {} s: {e}",
            UPDATE_DEADLINE.as_secs()
        ))
        .with_hint("run `wschat deploy` again; it continues where it stopped")),
    }
}

/// While a role made by this run propagates to Lambda, one function's create
/// probes for it and the others wait on that probe, so each attempt uploads
/// one zip rather than one per function; once it lands, the rest go at once.
pub struct RoleGate {
    propagated: tokio::sync::Mutex<bool>,
}

impl RoleGate {
    /// `fresh`: the role was created by this run.
    pub fn new(fresh: bool) -> Self {
        RoleGate {
            propagated: tokio::sync::Mutex::new(!fresh),
        }
    }
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
    let Some(current) = get(stack, &name).await? else {
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
        let Some(current) = get(ctx, &name).await? else {
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

/// The source ARN API Gateway's invoke statement is limited to, if present.
async fn permitted_source(ctx: &Ctx<'_>, name: &str) -> Result<Option<String>> {
    let request = ctx.clients.lambda.get_policy().function_name(name);
    let policy =
        or_absent(request.send().await, "Lambda GetPolicy", name)?.and_then(|out| out.policy);
    Ok(policy.and_then(|policy| source_arn_of(&policy)))
}

/// The `AWS:SourceArn` condition of wschat's statement in a function's resource policy.
fn source_arn_of(policy: &str) -> Option<String> {
    let policy: serde_json::Value = serde_json::from_str(policy).ok()?;
    let statement = policy["Statement"]
        .as_array()?
        .iter()
        .find(|s| s["Sid"] == STATEMENT_ID)?;
    Some(
        statement["Condition"]["ArnLike"]["AWS:SourceArn"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

/// API Gateway may invoke the function, from this API only.
pub async fn ensure_permission(
    ctx: &Ctx<'_>,
    function: Function,
    api_id: Option<&str>,
    function_created: bool,
) -> Result<Resource> {
    let name = ctx.spec.function_name(function);
    ctx.track(PERMISSION, format!("{name} ← apigateway"), async |_| {
        let Some(api_id) = api_id else {
            return Ok(Change::Created);
        };
        let wanted = ctx.spec.api_source_arn(api_id);
        let current = if function_created {
            None
        } else {
            permitted_source(ctx, &name).await?
        };
        let change = Change::of_value(current.as_deref(), wanted.as_str(), "source ARN");
        if ctx.dry_run || change == Change::Unchanged {
            return Ok(change);
        }
        let lambda = &ctx.clients.lambda;
        if matches!(change, Change::Updated { .. }) {
            let request = lambda
                .remove_permission()
                .function_name(&name)
                .statement_id(STATEMENT_ID);
            checked(request.send().await, "Lambda RemovePermission", &name)?;
        }
        let request = lambda
            .add_permission()
            .function_name(&name)
            .statement_id(STATEMENT_ID)
            .action("lambda:InvokeFunction")
            .principal("apigateway.amazonaws.com")
            .source_arn(&wanted);
        created(request.send().await, "Lambda AddPermission", &name)?;
        Ok(change)
    })
    .await
}

async fn ownership(stack: &Stack, name: &str) -> Result<Ownership> {
    Ok(Ownership::of(get(stack, name).await?, |f| {
        stack.spec.owns(&f.tags.clone().unwrap_or_default())
    }))
}

/// Deleting a function deletes its resource policy (the permission) with it.
pub async fn delete(ctx: &Ctx<'_>, function: Function) -> Result<Resource> {
    let name = ctx.spec.function_name(function);
    ctx.remove(FUNCTION, &name, ownership(ctx, &name), async |_| {
        let request = ctx.clients.lambda.delete_function().function_name(&name);
        or_absent(request.send().await, "Lambda DeleteFunction", &name)?;
        Ok(())
    })
    .await
}

/// Functions named `{name}-{stage}-*` and tagged as this stack's that still exist.
pub async fn leftovers(stack: &Stack) -> Result<Vec<String>> {
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
            ours.push(format!("{FUNCTION} {name}"));
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

    #[test]
    fn the_permission_names_wschats_statement() {
        let wanted = "arn:aws:execute-api:eu-west-1:1:abc/*";
        let policy = serde_json::json!({"Statement": [
            {"Sid": "other", "Condition": {"ArnLike": {"AWS:SourceArn": "x"}}},
            {"Sid": STATEMENT_ID, "Condition": {"ArnLike": {"AWS:SourceArn": wanted}}}
        ]});
        assert_eq!(source_arn_of(&policy.to_string()).as_deref(), Some(wanted));
        assert_eq!(source_arn_of(r#"{"Statement": []}"#), None);
    }
}
