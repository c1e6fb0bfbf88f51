//! End-to-end tests: the real `wschat` binary, real WebSocket clients, real
//! moto, the real Lambda zips through the Runtime API, headless Chromium.
//!
//! # Where things go
//!
//! - `harness.rs`: what many tests use: running `wschat` ([`harness::run`]),
//!   a `wschat dev` ([`harness::Dev`]), WebSocket clients ([`harness::Client`]),
//!   raw HTTP, the management API's client, and [`harness::eventually`], the one
//!   way a test waits for something to happen (no test sleeps to synchronise).
//! - `checks.rs`: one check per AWS resource of a deployed stack, reading it
//!   with the stack's own `find`; a new resource adds its check there.
//! - One file per area, named for what it drives: `deploy` (deploy, status,
//!   teardown against moto), `domain` (a custom domain's certificate, DNS and
//!   mapping), `faults` (a bad network, racing deploys),
//!   `stackfile`, `build`, `doctor`, `shell`; `dev`, `history` (history, resume,
//!   moderation, typing), `fidelity` (one test per
//!   row of docs/fidelity.md) and `hostile` (the sandbox against hostile
//!   clients); `identity`, `ops`, `store`; `bootstrap` (the zips through the
//!   Runtime API), `browser` (Chromium), `models` (AWS's model check).
//! - `tests/support` (crate `wschat-test-support`), shared with the benchmarks:
//!   moto behind its model-checking front, the recording proxy with AWS's
//!   realism and faults, the Runtime API.

mod harness;

mod bootstrap;
mod browser;
mod build;
mod checks;
mod deploy;
mod dev;
mod doctor;
mod domain;
mod faults;
mod fidelity;
mod health;
mod history;
mod hostile;
mod identity;
mod models;
mod ops;
mod rooms;
mod shell;
mod stackfile;
mod store;
