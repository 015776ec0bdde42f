//! The HTTP conformance suite: every behaviour is shown through the public API of a
//! server bound to port 0. One test binary for the whole crate keeps linking fast.

mod bench;
mod common;
mod data;
mod foundation;
mod hardening;
mod money;
mod postgres;
mod reports;
mod robustness;
mod scaleout;
mod ui;
mod usage;
mod wf;
mod workforce;
