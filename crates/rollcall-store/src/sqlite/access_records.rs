//! Access records (SPEC §11) in SQLite.

use async_trait::async_trait;
use rusqlite::params;

use super::SqliteStore;
use crate::access_records::{merge_rows, AccessRecord, AccessRecordRow, AccessRecordStore};
use crate::StoreResult;

#[async_trait]
impl AccessRecordStore for SqliteStore {
    async fn record_access(&self, records: Vec<AccessRecord>) -> StoreResult<()> {
        if records.is_empty() {
            return Ok(());
        }
        self.db
            .write(move |conn| {
                let mut insert = conn.prepare_cached(
                    "INSERT INTO access_records (account_id, subject, viewer, day, first_ms, kinds)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (account_id, subject, viewer, day) DO UPDATE SET
                        first_ms = min(first_ms, excluded.first_ms),
                        kinds = kinds | excluded.kinds",
                )?;
                for r in &records {
                    insert.execute(params![
                        r.account_id,
                        r.subject,
                        r.viewer,
                        r.day,
                        r.first_ms,
                        r.kinds
                    ])?;
                }
                Ok(())
            })
            .await
    }

    async fn access_records(
        &self,
        account_id: i64,
        subjects: Vec<String>,
    ) -> StoreResult<Vec<AccessRecordRow>> {
        self.db
            .read(move |conn| {
                let mut query = conn.prepare_cached(
                    "SELECT viewer, day, first_ms, kinds FROM access_records
                     WHERE account_id = ?1 AND subject = ?2",
                )?;
                let mut rows = Vec::new();
                for subject in &subjects {
                    let found = query
                        .query_map(params![account_id, subject], |r| {
                            Ok(AccessRecordRow {
                                viewer: r.get(0)?,
                                day: r.get(1)?,
                                first_ms: r.get(2)?,
                                kinds: r.get(3)?,
                            })
                        })?
                        .collect::<Result<Vec<_>, _>>()?;
                    rows.extend(found);
                }
                Ok(merge_rows(rows))
            })
            .await
    }
}
