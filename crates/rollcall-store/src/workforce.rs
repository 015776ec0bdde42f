//! Workforce activity (SPEC §5): agent ingest, clients, computers, groups,
//! classifications, working hours and the activity log.

use async_trait::async_trait;

#[async_trait]
pub trait WorkforceStore: Send + Sync {}
