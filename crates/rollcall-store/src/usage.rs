//! Custom-app usage (SPEC §4): connected apps, usage events, provisioned users, the
//! org chart, money, and the insights read from rollups.

use async_trait::async_trait;

#[async_trait]
pub trait UsageStore: Send + Sync {}
