//! Rollcall's domain types and pure logic. Nothing here performs I/O: the store and
//! the server build on these types, and the unit tests sit beside the code.

pub mod audit_chain;
pub mod bounded;
pub mod csv_cell;
pub mod email;
pub mod fxhash;
pub mod histogram;
pub mod idle_stretch;
pub mod json_spans;
pub mod login;
pub mod money;
pub mod privacy;
pub mod rate;
pub mod role;
pub mod scope;
pub mod secret;
pub mod segment;
pub mod time;
pub mod token;
pub mod usage;
pub mod usage_bits;
pub mod usage_report;
pub mod usage_trend;
pub mod varint;
pub mod workforce;

pub use email::Email;
pub use role::Role;
pub use scope::{Scope, ScopeSet};
