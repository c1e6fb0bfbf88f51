//! The three Lambda functions and API Gateway's permission to invoke each.

use super::package::Package;
use super::{finish, is_not_found, Change, Ctx, Resource};
use crate::aws::aws_error;
use crate::error::{CliError, Result};
use crate::spec::{Arch, Function};
use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::operation::get_function::GetFunctionOutput;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Architecture, Environment, FunctionCode, FunctionConfiguration, LastUpdateStatus, Runtime,
};
use std::collections::HashMap;
use std::time::Duration;
use wschat_lambdas::retry::Backoff;

const FUNCTION: &str = "function";
const PERMISSION: &str = "permission";
const STATEMENT_ID: &str = "wschat-apigateway-invoke";
/// A new role can take minutes before Lambda may assume it.
const IAM_PROPAGATION_DEADLINE: Duration = Duration::from_secs(240);

fn architecture(arch: Arch) -> Architecture {
    match arch {
        Arch::X86_64 => Architecture::X8664,
        Arch::Arm64 => Architecture::Arm64,
    }
}

fn environment(ctx: &Ctx<'_>) -> HashMap<String, String> {
    HashMap::from([("TABLE_NAME".to_owned(), ctx.spec.table())])
}

async fn get(ctx: &Ctx<'_>, name: &str) -> Result<Option<GetFunctionOutput>> {
    match ctx
        .clients
        .lambda
        .get_function()
        .function_name(name)
        .send()
        .await
    {
        Ok(out) => Ok(Some(out)),
        Err(e) if e.as_service_error().is_some_and(is_not_found) => Ok(None),
        Err(e) => Err(aws_error("Lambda GetFunction", name, e)),
    }
}

/// Lambda's modelled answer while a new role has not reached it yet.
fn role_not_ready<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("InvalidParameterValueException")
        && e.message().is_some_and(|m| {
            m.contains("cannot be assumed") || m.contains("role defined for the function")
        })
}

/// Runs `call` until the role has propagated, backing off with jitter under a deadline.
async fn while_role_propagates<T, E, F, Fut>(
    task: &crate::progress::Task,
    operation: &str,
    name: &str,
    mut call: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<
        Output = std::result::Result<
            T,
            aws_sdk_lambda::error::SdkError<E, aws_sdk_lambda::config::http::HttpResponse>,
        >,
    >,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(10));
    let started = tokio::time::Instant::now();
    let mut attempt = 0;
    loop {
        match call().await {
            Ok(out) => return Ok(out),
            Err(e)
                if e.as_service_error().is_some_and(role_not_ready)
                    && started.elapsed() < IAM_PROPAGATION_DEADLINE =>
            {
                attempt += 1;
                task.set(format!(
                    "waiting for the IAM role to reach Lambda (attempt {attempt}, {}s)",
                    started.elapsed().as_secs()
                ));
                tokio::time::sleep(backoff.delay(attempt)).await;
            }
            Err(e) => return Err(aws_error(operation, name, e)),
        }
    }
}

/// Lambda refuses a second update while one is in progress: wait for it to settle.
async fn wait_updated(ctx: &Ctx<'_>, name: &str, task: &crate::progress::Task) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        let out = ctx
            .clients
            .lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .map_err(|e| aws_error("Lambda GetFunctionConfiguration", name, e))?;
        match out.last_update_status {
            Some(LastUpdateStatus::InProgress) if tokio::time::Instant::now() < deadline => {
                task.set("waiting for the update to finish");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Some(LastUpdateStatus::Failed) => {
                return Err(CliError::failed(format!(
                    "Lambda could not apply the update to {name}: {}",
                    out.last_update_status_reason.unwrap_or_default()
                )))
            }
            _ => return Ok(()),
        }
    }
}

/// Creates or converges one function. `package` is `None` for status, which does not compare code.
pub async fn ensure(
    ctx: &Ctx<'_>,
    function: Function,
    package: Option<&Package>,
) -> Result<Resource> {
    let name = ctx.spec.function_name(function);
    let task = ctx.progress.task(format!("{FUNCTION} {name}"));
    let lambda = &ctx.clients.lambda;
    let settings = &ctx.spec.settings;
    let env = environment(ctx);
    let Some(current) = get(ctx, &name).await? else {
        if !ctx.dry_run {
            let package = package.expect("deploy always has packages");
            task.set("creating");
            while_role_propagates(&task, "Lambda CreateFunction", &name, || {
                lambda
                    .create_function()
                    .function_name(&name)
                    .runtime(Runtime::Providedal2023)
                    .handler("bootstrap")
                    .role(ctx.spec.role_arn())
                    .architectures(architecture(settings.arch))
                    .memory_size(settings.memory_mb)
                    .timeout(settings.timeout_s)
                    .environment(
                        Environment::builder()
                            .set_variables(Some(env.clone()))
                            .build(),
                    )
                    .code(
                        FunctionCode::builder()
                            .zip_file(Blob::new(package.zip.clone()))
                            .build(),
                    )
                    .description(format!(
                        "wschat {} ({})",
                        function.binary(),
                        ctx.spec.prefix()
                    ))
                    .set_tags(Some(ctx.spec.tags()))
                    .send()
            })
            .await?;
        }
        return Ok(finish(
            ctx,
            &task,
            Resource::new(FUNCTION, name, Change::Created),
        ));
    };
    if !ctx.spec.owns(&current.tags.clone().unwrap_or_default()) {
        return Ok(finish(
            ctx,
            &task,
            Resource::new(FUNCTION, name, Change::Foreign),
        ));
    }
    let config = current
        .configuration
        .unwrap_or_else(|| FunctionConfiguration::builder().build());
    let mut fields = Vec::new();
    let code_changed =
        package.is_some_and(|p| config.code_sha256.as_deref() != Some(p.sha256.as_str()));
    let arch_changed = config.architectures().first() != Some(&architecture(settings.arch));
    if code_changed {
        fields.push("code".to_owned());
    }
    if arch_changed {
        fields.push(format!("architecture → {}", settings.arch.lambda_name()));
    }
    let runtime_changed = config.runtime != Some(Runtime::Providedal2023)
        || config.handler.as_deref() != Some("bootstrap");
    let role_changed = config.role.as_deref() != Some(ctx.spec.role_arn().as_str());
    let memory_changed = config.memory_size != Some(settings.memory_mb);
    let timeout_changed = config.timeout != Some(settings.timeout_s);
    let current_env = config
        .environment
        .as_ref()
        .and_then(|e| e.variables.clone())
        .unwrap_or_default();
    let env_changed = current_env != env;
    for (changed, field) in [
        (runtime_changed, "runtime".to_owned()),
        (role_changed, "role".to_owned()),
        (
            memory_changed,
            format!(
                "memory {} → {} MB",
                config.memory_size.unwrap_or(0),
                settings.memory_mb
            ),
        ),
        (
            timeout_changed,
            format!(
                "timeout {} → {} s",
                config.timeout.unwrap_or(0),
                settings.timeout_s
            ),
        ),
        (env_changed, "environment".to_owned()),
    ] {
        if changed {
            fields.push(field);
        }
    }
    if fields.is_empty() {
        return Ok(finish(
            ctx,
            &task,
            Resource::new(FUNCTION, name, Change::Unchanged),
        ));
    }
    if !ctx.dry_run {
        if code_changed || arch_changed {
            let package = package.expect("an architecture change needs the new code");
            task.set("uploading code");
            lambda
                .update_function_code()
                .function_name(&name)
                .zip_file(Blob::new(package.zip.clone()))
                .architectures(architecture(settings.arch))
                .send()
                .await
                .map_err(|e| aws_error("Lambda UpdateFunctionCode", &name, e))?;
            wait_updated(ctx, &name, &task).await?;
        }
        if runtime_changed || role_changed || memory_changed || timeout_changed || env_changed {
            task.set("updating configuration");
            while_role_propagates(&task, "Lambda UpdateFunctionConfiguration", &name, || {
                let mut update = lambda.update_function_configuration().function_name(&name);
                if runtime_changed {
                    update = update.runtime(Runtime::Providedal2023).handler("bootstrap");
                }
                if role_changed {
                    update = update.role(ctx.spec.role_arn());
                }
                if memory_changed {
                    update = update.memory_size(settings.memory_mb);
                }
                if timeout_changed {
                    update = update.timeout(settings.timeout_s);
                }
                if env_changed {
                    update = update.environment(
                        Environment::builder()
                            .set_variables(Some(env.clone()))
                            .build(),
                    );
                }
                update.send()
            })
            .await?;
            wait_updated(ctx, &name, &task).await?;
        }
    }
    Ok(finish(
        ctx,
        &task,
        Resource::new(FUNCTION, name, Change::Updated { fields }),
    ))
}

/// The source ARN API Gateway's invoke statement is limited to, if present.
async fn permitted_source(ctx: &Ctx<'_>, name: &str) -> Result<Option<String>> {
    let policy = match ctx
        .clients
        .lambda
        .get_policy()
        .function_name(name)
        .send()
        .await
    {
        Ok(out) => out.policy.unwrap_or_default(),
        Err(e) if e.as_service_error().is_some_and(is_not_found) => return Ok(None),
        Err(e) => return Err(aws_error("Lambda GetPolicy", name, e)),
    };
    let policy: serde_json::Value = serde_json::from_str(&policy).unwrap_or_default();
    let statements = policy["Statement"].as_array().cloned().unwrap_or_default();
    Ok(statements
        .iter()
        .find(|s| s["Sid"] == STATEMENT_ID)
        .map(|s| {
            s["Condition"]["ArnLike"]["AWS:SourceArn"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        }))
}

/// API Gateway may invoke the function, from this API only.
pub async fn ensure_permission(
    ctx: &Ctx<'_>,
    function: Function,
    api_id: Option<&str>,
    function_created: bool,
) -> Result<Resource> {
    let name = ctx.spec.function_name(function);
    let label = format!("{name} ← apigateway");
    let task = ctx.progress.task(format!("{PERMISSION} {label}"));
    let Some(api_id) = api_id else {
        return Ok(finish(
            ctx,
            &task,
            Resource::new(PERMISSION, label, Change::Created),
        ));
    };
    let wanted = ctx.spec.api_source_arn(api_id);
    let current = if function_created {
        None
    } else {
        permitted_source(ctx, &name).await?
    };
    let change = match current {
        Some(source) if source == wanted => {
            return Ok(finish(
                ctx,
                &task,
                Resource::new(PERMISSION, label, Change::Unchanged),
            ))
        }
        Some(_) => Change::Updated {
            fields: vec!["source ARN".into()],
        },
        None => Change::Created,
    };
    if !ctx.dry_run {
        let lambda = &ctx.clients.lambda;
        if matches!(change, Change::Updated { .. }) {
            lambda
                .remove_permission()
                .function_name(&name)
                .statement_id(STATEMENT_ID)
                .send()
                .await
                .map_err(|e| aws_error("Lambda RemovePermission", &name, e))?;
        }
        lambda
            .add_permission()
            .function_name(&name)
            .statement_id(STATEMENT_ID)
            .action("lambda:InvokeFunction")
            .principal("apigateway.amazonaws.com")
            .source_arn(&wanted)
            .send()
            .await
            .map_err(|e| aws_error("Lambda AddPermission", &name, e))?;
    }
    Ok(finish(ctx, &task, Resource::new(PERMISSION, label, change)))
}

/// Deleting a function deletes its resource policy (the permission) with it.
pub async fn delete(ctx: &Ctx<'_>, function: Function) -> Result<Resource> {
    let name = ctx.spec.function_name(function);
    let task = ctx.progress.task(format!("{FUNCTION} {name}"));
    let Some(current) = get(ctx, &name).await? else {
        return Ok(finish(
            ctx,
            &task,
            Resource::new(FUNCTION, name, Change::Absent),
        ));
    };
    if !ctx.spec.owns(&current.tags.unwrap_or_default()) {
        return Ok(finish(
            ctx,
            &task,
            Resource::new(FUNCTION, name, Change::Foreign),
        ));
    }
    if !ctx.dry_run {
        match ctx
            .clients
            .lambda
            .delete_function()
            .function_name(&name)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(is_not_found) => {}
            Err(e) => return Err(aws_error("Lambda DeleteFunction", &name, e)),
        }
    }
    Ok(finish(
        ctx,
        &task,
        Resource::new(FUNCTION, name, Change::Deleted),
    ))
}

/// Functions named `{name}-{stage}-*` and tagged as this stack's that still exist.
pub async fn leftovers(ctx: &Ctx<'_>) -> Result<Vec<String>> {
    let prefix = format!("{}-", ctx.spec.prefix());
    let mut names = Vec::new();
    let mut pages = ctx.clients.lambda.list_functions().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error("Lambda ListFunctions", &prefix, e))?;
        names.extend(
            page.functions()
                .iter()
                .filter_map(|f| f.function_name.clone())
                .filter(|n| n.starts_with(&prefix)),
        );
    }
    let mut ours = Vec::new();
    for name in names {
        if get(ctx, &name)
            .await?
            .is_some_and(|f| ctx.spec.owns(&f.tags.unwrap_or_default()))
        {
            ours.push(format!("function {name}"));
        }
    }
    Ok(ours)
}
