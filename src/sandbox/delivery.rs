//! The sandbox's delivery function: a large room's shard jobs run as
//! in-process invocations of `deliver`, concurrently, each answered at once
//! (as Lambda answers an asynchronous `Invoke` with 202).

use super::Sandbox;
use futures_util::future::BoxFuture;
use std::sync::Weak;
use std::time::Duration;
use wschat_lambdas::delivery::{DeliveryJob, Dispatch, DispatchError};

/// The delivery function's timeout (it is not behind API Gateway's 29 s).
pub const TIMEOUT: Duration = Duration::from_secs(300);

/// Hands each job to its own in-process invocation.
pub struct InProcess(pub Weak<Sandbox>);

impl Dispatch for InProcess {
    fn dispatch(&self, jobs: Vec<DeliveryJob>) -> BoxFuture<'_, Vec<(DeliveryJob, DispatchError)>> {
        let failed = match self.0.upgrade() {
            Some(sandbox) => {
                jobs.into_iter()
                    .for_each(|job| sandbox.invoke_delivery(job));
                Vec::new()
            }
            // Stopping: the message's own invocation delivers what it can.
            None => jobs
                .into_iter()
                .map(|job| (job, DispatchError("the sandbox is stopping".into())))
                .collect(),
        };
        Box::pin(std::future::ready(failed))
    }
}
