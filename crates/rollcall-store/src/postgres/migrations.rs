//! Embedded PostgreSQL migrations, applied in order by whichever process gets the
//! migration lock first; `schema_migrations` records which have run.

use deadpool_postgres::Object;

use crate::StoreResult;

/// Held (as a session advisory lock) while migrating, so processes starting
/// together do not race.
const MIGRATION_LOCK: i64 = 0x726f_6c6c_6361_6c6c; // "rollcall"

const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("migrations/0001_foundation.sql")),
    (2, include_str!("migrations/0002_usage.sql")),
    (3, include_str!("migrations/0003_workforce.sql")),
    (4, include_str!("migrations/0004_money.sql")),
    (5, include_str!("migrations/0005_usage_ingest.sql")),
    (6, include_str!("migrations/0006_workforce_reads.sql")),
    (7, include_str!("migrations/0007_sessions.sql")),
    (8, include_str!("migrations/0008_idle_stretches.sql")),
    (10, include_str!("migrations/0010_credential_owner.sql")),
    (13, include_str!("migrations/0013_org_snapshots.sql")),
    (14, include_str!("migrations/0014_segment.sql")),
    (15, include_str!("migrations/0015_privacy.sql")),
    (16, include_str!("migrations/0016_employees.sql")),
    (17, include_str!("migrations/0017_usage_last_blocks.sql")),
    (19, include_str!("migrations/0019_merged_into_indexes.sql")),
    (20, include_str!("migrations/0020_wf_day_key_versions.sql")),
    (21, include_str!("migrations/0021_wf_member_versions.sql")),
    (22, include_str!("migrations/0022_wf_record_days.sql")),
    (23, include_str!("migrations/0023_wf_record_runs.sql")),
];

/// How many migrations a new database gets (what `rollcall migrate` reports first).
pub const MIGRATION_COUNT: usize = MIGRATIONS.len();

/// Applies pending migrations; returns how many ran.
pub(super) async fn run(client: &mut Object) -> StoreResult<usize> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let outcome = apply(client).await;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await?;
    outcome
}

async fn apply(client: &mut Object) -> StoreResult<usize> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version INTEGER PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )
        .await?;
    let applied: Vec<i32> = client
        .query("SELECT version FROM schema_migrations", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut ran = 0;
    for (version, sql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        let tx = client.transaction().await?;
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[version],
        )
        .await?;
        tx.commit().await?;
        ran += 1;
    }
    Ok(ran)
}
