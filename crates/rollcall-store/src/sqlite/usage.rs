//! Custom-app usage in SQLite.

use async_trait::async_trait;

use super::SqliteStore;
use crate::usage::UsageStore;

#[async_trait]
impl UsageStore for SqliteStore {}
