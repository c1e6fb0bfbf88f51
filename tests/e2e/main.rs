//! End-to-end tests: the real `wschat` binary, real WebSocket clients, real
//! moto, the real Lambda zips through the Runtime API, headless Chromium.

mod harness;

mod bootstrap;
mod browser;
mod build;
mod deploy;
mod dev;
mod doctor;
mod faults;
mod fidelity;
mod hostile;
mod identity;
mod models;
mod ops;
mod shell;
mod stackfile;
mod store;
