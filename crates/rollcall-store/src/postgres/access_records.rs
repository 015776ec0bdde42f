//! Access records (SPEC §11) in PostgreSQL: one statement per flush, whatever
//! its size, so many server processes flushing at once stay cheap.

use async_trait::async_trait;

use super::PgStore;
use crate::access_records::{merge_rows, AccessRecord, AccessRecordRow, AccessRecordStore};
use crate::StoreResult;

#[async_trait]
impl AccessRecordStore for PgStore {
    async fn record_access(&self, records: Vec<AccessRecord>) -> StoreResult<()> {
        if records.is_empty() {
            return Ok(());
        }
        let accounts: Vec<i64> = records.iter().map(|r| r.account_id).collect();
        let subjects: Vec<&str> = records.iter().map(|r| r.subject.as_str()).collect();
        let viewers: Vec<&str> = records.iter().map(|r| r.viewer.as_str()).collect();
        let days: Vec<i32> = records.iter().map(|r| r.day).collect();
        let firsts: Vec<i64> = records.iter().map(|r| r.first_ms).collect();
        let kinds: Vec<i32> = records.iter().map(|r| i32::from(r.kinds)).collect();
        self.client()
            .await?
            .execute(
                "INSERT INTO access_records (account_id, subject, viewer, day, first_ms, kinds)
                 SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::int[], $5::bigint[], $6::int[])
                 ON CONFLICT (account_id, subject, viewer, day) DO UPDATE SET
                    first_ms = LEAST(access_records.first_ms, excluded.first_ms),
                    kinds = access_records.kinds | excluded.kinds",
                &[&accounts, &subjects, &viewers, &days, &firsts, &kinds],
            )
            .await?;
        Ok(())
    }

    async fn access_records(
        &self,
        account_id: i64,
        subjects: Vec<String>,
    ) -> StoreResult<Vec<AccessRecordRow>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT viewer, day, first_ms, kinds FROM access_records
                 WHERE account_id = $1 AND subject = ANY($2)",
                &[&account_id, &subjects],
            )
            .await?;
        Ok(merge_rows(rows.iter().map(|r| AccessRecordRow {
            viewer: r.get(0),
            day: r.get(1),
            first_ms: r.get(2),
            kinds: r.get::<_, i32>(3).clamp(0, 255) as u8,
        })))
    }
}
