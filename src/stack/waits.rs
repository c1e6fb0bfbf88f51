//! Lambda's own pace: a new role is not assumable for a while, a function is
//! `Pending` after its create and `InProgress` after an update (and refuses
//! another update meanwhile, 409). Deploy waits these out here.

use super::Ctx;
use crate::aws::aws_error;
use crate::error::{CliError, Result};
use crate::progress::Task;
use aws_sdk_lambda::client::Waiters;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::types::LastUpdateStatus;
use aws_smithy_runtime_api::client::waiters::error::WaiterError;
use std::time::Duration;
use wschat_lambdas::retry::{retry, Backoff, Limits, Verdict};

/// A new role can take minutes before Lambda may assume it.
const IAM_PROPAGATION_DEADLINE: Duration = Duration::from_secs(240);
/// How long an update may stay `InProgress` before deploy gives up.
const UPDATE_DEADLINE: Duration = Duration::from_secs(300);

/// Lambda's modelled answer while a new role has not reached it yet.
fn role_not_ready<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("InvalidParameterValueException")
        && e.message().is_some_and(|m| {
            m.contains("cannot be assumed") || m.contains("role defined for the function")
        })
}

/// A call carrying a zip: its upload counts against the answer's wait.
pub fn uploading(ctx: &Ctx<'_>) -> aws_sdk_lambda::config::Builder {
    aws_sdk_lambda::config::Builder::default()
        .timeout_config(crate::aws::upload_timeouts(ctx.clients.timeout))
}

/// What a 409 ResourceConflictException means to a call.
#[derive(Clone, Copy, PartialEq)]
pub enum OnConflict {
    /// A create: the function is there (a lost reply's retry, or another deploy).
    Exists,
    /// An update: another update is in progress; wait, then try again.
    Retry,
}

/// Runs `call` until the role has propagated (and, for updates, until no
/// other update is in progress), backing off with jitter under a deadline.
/// `Ok(None)`: a create found the function already there.
pub async fn while_role_propagates<T, E, F, Fut>(
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
pub async fn wait_ready(ctx: &Ctx<'_>, name: &str, task: &Task) -> Result<()> {
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
pub async fn wait_updated(ctx: &Ctx<'_>, name: &str, task: &Task) -> Result<()> {
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
    pub propagated: tokio::sync::Mutex<bool>,
}

impl RoleGate {
    /// `fresh`: the role was created by this run.
    pub fn new(fresh: bool) -> Self {
        RoleGate {
            propagated: tokio::sync::Mutex::new(!fresh),
        }
    }
}
