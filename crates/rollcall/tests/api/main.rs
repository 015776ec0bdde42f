//! The HTTP conformance suite: every behaviour is shown through the public API of a
//! server bound to port 0. One test binary for the whole crate keeps linking fast.

mod admin;
mod bench;
mod common;
mod data;
mod foundation;
mod hardening;
mod login_guard;
mod money;
mod ops;
mod org;
mod postgres;
mod reports;
mod robustness;
mod scaleout;
mod stream;
mod ui;
mod usage;
mod wf;
mod workforce;
