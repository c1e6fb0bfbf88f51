//! End-to-end tests: the real `wschat` binary, real WebSocket clients, real moto.

mod harness;
#[allow(dead_code)]
#[path = "../support/moto.rs"]
mod moto;

mod browser;
mod deploy;
mod dev;
mod ops;
#[allow(dead_code)]
#[path = "../support/proxy.rs"]
mod proxy;
