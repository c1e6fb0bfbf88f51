//! How Lambda treats the delivery function's asynchronous invocations: two
//! retries, a job older than a quarter of an hour dropped, and what failed
//! sent to the dead-letter queue. It lives and dies with the function.

use super::{Change, Ctx, Resource, Stack};
use crate::aws::{checked, or_absent};
use crate::error::Result;
use crate::spec::Function;
use aws_sdk_lambda::operation::get_function_event_invoke_config::GetFunctionEventInvokeConfigOutput;
use aws_sdk_lambda::types::{DestinationConfig, OnFailure};
use std::time::Duration;
use wschat_lambdas::retry::{retry, Limits, Verdict};

const KIND: &str = "invoke config";
/// Lambda's own default, stated: a job fails three times before it is a dead letter.
pub const RETRIES: i32 = 2;
/// A chat message older than this is not worth delivering automatically;
/// the dead-letter queue keeps it for an operator's redrive.
pub const MAX_EVENT_AGE_S: i32 = 900;
/// How long a just-written policy may take to let Lambda see the queue.
const POLICY_PROPAGATION: Duration = Duration::from_secs(60);

pub async fn find(
    stack: &Stack,
    function: &str,
) -> Result<Option<GetFunctionEventInvokeConfigOutput>> {
    let request = stack
        .clients
        .lambda
        .get_function_event_invoke_config()
        .function_name(function);
    or_absent(
        request.send().await,
        "Lambda GetFunctionEventInvokeConfig",
        function,
    )
}

/// What differs from two retries, the age limit and the queue as the destination.
#[derive(Debug, Default, PartialEq)]
pub struct InvokeConfigDiff {
    pub retries: bool,
    pub max_age: bool,
    pub destination: bool,
}

impl InvokeConfigDiff {
    pub fn between(
        found: &GetFunctionEventInvokeConfigOutput,
        queue_arn: &str,
    ) -> InvokeConfigDiff {
        let destination = found
            .destination_config
            .as_ref()
            .and_then(|d| d.on_failure.as_ref())
            .and_then(|f| f.destination.as_deref());
        InvokeConfigDiff {
            retries: found.maximum_retry_attempts != Some(RETRIES),
            max_age: found.maximum_event_age_in_seconds != Some(MAX_EVENT_AGE_S),
            destination: destination != Some(queue_arn),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == InvokeConfigDiff::default()
    }

    pub fn fields(&self) -> Vec<String> {
        [
            (self.retries, "retries"),
            (self.max_age, "maximum event age"),
            (self.destination, "on-failure destination"),
        ]
        .into_iter()
        .filter(|(differs, _)| *differs)
        .map(|(_, field)| field.to_owned())
        .collect()
    }
}

/// Puts the configuration. Lambda checks that the function's role may send
/// to the queue, so a policy written moments ago is waited for.
async fn put(ctx: &Ctx<'_>, function: &str) -> Result<()> {
    let destination = DestinationConfig::builder()
        .on_failure(
            OnFailure::builder()
                .destination(ctx.spec.dead_letter_queue_arn())
                .build(),
        )
        .build();
    let attempt = |_| {
        ctx.clients
            .lambda
            .put_function_event_invoke_config()
            .function_name(function)
            .maximum_retry_attempts(RETRIES)
            .maximum_event_age_in_seconds(MAX_EVENT_AGE_S)
            .destination_config(destination.clone())
            .send()
    };
    let limits = Limits {
        attempts: None,
        within: Some(POLICY_PROPAGATION),
    };
    let judge = |e: &aws_sdk_lambda::error::SdkError<_, _>, n: u32, _| {
        use aws_sdk_lambda::error::ProvideErrorMetadata;
        let e: Option<&aws_sdk_lambda::operation::put_function_event_invoke_config::PutFunctionEventInvokeConfigError> =
            e.as_service_error();
        let code = e.and_then(|e| e.code());
        let message = e.and_then(|e| e.message()).unwrap_or_default();
        match code {
            Some("InvalidParameterValueException") if message.contains("permission") => {
                Verdict::Retry(Duration::from_millis(500 * u64::from(n.min(8))))
            }
            Some("ResourceConflictException" | "TooManyRequestsException") => {
                Verdict::Retry(Duration::from_secs(1))
            }
            _ => Verdict::Stop,
        }
    };
    let answer = retry(limits, attempt, judge).await.map_err(|f| f.error);
    checked(answer, "Lambda PutFunctionEventInvokeConfig", function)?;
    Ok(())
}

/// The delivery function's configuration; after the function, its role's
/// policy and the queue exist.
pub async fn ensure(ctx: &Ctx<'_>) -> Result<Resource> {
    let function = ctx.spec.function_name(Function::Deliver);
    ctx.track(KIND, &function, async |task| {
        let change = match &find(ctx, &function).await? {
            None => Change::Created,
            Some(found) => {
                let diff = InvokeConfigDiff::between(found, &ctx.spec.dead_letter_queue_arn());
                if diff.is_empty() {
                    return Ok(Change::Unchanged);
                }
                Change::Updated {
                    fields: diff.fields(),
                }
            }
        };
        if !ctx.dry_run {
            task.set("writing");
            put(ctx, &function).await?;
        }
        Ok(change)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(retries: i32, destination: Option<&str>) -> GetFunctionEventInvokeConfigOutput {
        let destination = destination.map(|d| {
            DestinationConfig::builder()
                .on_failure(OnFailure::builder().destination(d).build())
                .build()
        });
        GetFunctionEventInvokeConfigOutput::builder()
            .maximum_retry_attempts(retries)
            .maximum_event_age_in_seconds(MAX_EVENT_AGE_S)
            .set_destination_config(destination)
            .build()
    }

    #[test]
    fn retries_and_the_destination_are_each_a_difference() {
        let queue = "arn:aws:sqs:eu-west-1:1:q";
        assert!(InvokeConfigDiff::between(&config(2, Some(queue)), queue).is_empty());
        let none = InvokeConfigDiff::between(&config(0, None), queue);
        assert_eq!(none.fields(), ["retries", "on-failure destination"]);
    }
}
