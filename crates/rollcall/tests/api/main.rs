//! The HTTP conformance suite: every behaviour is shown through the public API of a
//! server bound to port 0. One test binary for the whole crate keeps linking fast.

mod admin;
mod bench;
mod common;
mod config;
mod data;
mod employees;
mod erasure;
mod foundation;
mod hardening;
mod login_guard;
mod metrics;
mod money;
mod openapi;
mod ops;
mod org;
mod perf;
mod postgres;
mod privacy;
mod push;
mod relay;
mod reports;
mod robustness;
mod scaleout;
mod segment;
mod stream;
mod ui;
mod upgrade;
mod usage;
mod wf;
mod workforce;
