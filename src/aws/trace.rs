//! `-vv`: every AWS call on stderr, one line each (service, operation, HTTP
//! status, attempts, duration), through `tracing` under the target
//! `wschat::aws`, so `RUST_LOG` can narrow or widen it.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use std::time::Instant;

/// Logs each call when it ends.
#[derive(Debug, Clone, Copy)]
pub struct CallLog;

#[derive(Debug, Clone)]
struct Started(Instant);

impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

#[derive(Debug, Clone)]
struct Attempts(u32);

impl Storable for Attempts {
    type Storer = StoreReplace<Self>;
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "wschat-call-log"
    }

    fn read_before_execution(
        &self,
        _: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(Started(Instant::now()));
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let attempts = cfg.load::<Attempts>().map_or(0, |a| a.0);
        cfg.interceptor_state().store_put(Attempts(attempts + 1));
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = cfg
            .load::<Metadata>()
            .map_or(("?", "?"), |m| (m.service(), m.name()));
        let ms = cfg
            .load::<Started>()
            .map_or(0, |s| s.0.elapsed().as_millis());
        let attempts = cfg.load::<Attempts>().map_or(0, |a| a.0);
        match context.response() {
            Some(response) => tracing::debug!(
                target: "wschat::aws",
                "{service} {operation}: HTTP {} in {ms} ms, {attempts} attempt(s)",
                response.status().as_u16()
            ),
            None => tracing::debug!(
                target: "wschat::aws",
                "{service} {operation}: no answer after {ms} ms, {attempts} attempt(s)"
            ),
        }
        Ok(())
    }
}

/// Where `-vv` (or `RUST_LOG`) sends the command's logs: stderr, one line each.
/// Without `RUST_LOG`, the AWS calls and warnings.
pub fn install() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "warn,wschat::aws=debug".into());
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_target(false)
        .without_time()
        .try_init();
}
