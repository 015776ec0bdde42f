//! Embedded schema migrations, applied in order at start; `PRAGMA user_version`
//! records how many have run.

use rusqlite::Connection;

use crate::StoreResult;

const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_foundation.sql"),
    include_str!("migrations/0002_usage.sql"),
    include_str!("migrations/0003_workforce.sql"),
    include_str!("migrations/0004_money.sql"),
    include_str!("migrations/0005_workforce_reads.sql"),
    include_str!("migrations/0007_idle_stretches.sql"),
    include_str!("migrations/0009_credential_owner.sql"),
    include_str!("migrations/0012_org_snapshots.sql"),
    include_str!("migrations/0006_sessions.sql"),
    include_str!("migrations/0014_segment.sql"),
    include_str!("migrations/0015_privacy.sql"),
    include_str!("migrations/0016_employees.sql"),
    include_str!("migrations/0018_interned_records.sql"),
    include_str!("migrations/0019_wf_day_key_versions.sql"),
    include_str!("migrations/0020_usage_last_version.sql"),
    include_str!("migrations/0021_usage_day_versions.sql"),
    include_str!("migrations/0022_usage_last_pending.sql"),
    include_str!("migrations/0023_wf_member_versions.sql"),
    include_str!("migrations/0024_wf_text_refs_pending.sql"),
];

pub(crate) fn run(conn: &Connection) -> StoreResult<()> {
    let applied: usize =
        conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        conn.execute_batch(sql)?;
        conn.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records stored before idle stretches existed become stretches: touching
    /// idle records of one computer and user move to their offsets in the
    /// histogram; one crossing midnight stays a stretch of its own.
    #[test]
    fn stored_idle_records_become_stretches() {
        let conn = Connection::open_in_memory().unwrap();
        let before = MIGRATIONS
            .iter()
            .position(|m| m.contains("wf_idle_stretches"))
            .unwrap();
        for sql in &MIGRATIONS[..before] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(&format!("PRAGMA user_version = {before}"))
            .unwrap();
        // Two touching 200 s idle records and a later one, as the old ingest
        // stored them (each at offset 0), and one crossing into day 11.
        for (log_id, start, day, end_day) in [
            (1, 0, 10, 10),
            (2, 200_000, 10, 10),
            (3, 1_000_000, 10, 10),
            (4, 2_000_000, 10, 11),
        ] {
            conn.execute(
                "INSERT INTO wf_records (log_id, account_id, computer_id, client_id, session,
                     start_ms, raw_start_ms, duration_s, day, end_day, executable,
                     description, app_id, idle)
                 VALUES (?1, 1, 5, 6, 1, ?2, ?2, 200, ?3, ?4, 'x.exe', '', 9, 1)",
                rusqlite::params![log_id, start, day, end_day],
            )
            .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO wf_day_idle VALUES (1, 10, 6, 5, 9, 0, 200000, 3);
             INSERT INTO wf_day_idle VALUES (1, 10, 6, 5, 9, 0, 100000, 1);
             INSERT INTO wf_day_idle VALUES (1, 11, 6, 5, 9, 100000, 100000, 1);",
        )
        .unwrap();
        run(&conn).unwrap();
        let idle: Vec<(i32, i64, i64, i64)> = conn
            .prepare(
                "SELECT day, offset_ms, len_ms, n FROM wf_day_idle ORDER BY day, offset_ms, len_ms",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            idle,
            vec![
                (10, 0, 100_000, 1),
                (10, 0, 200_000, 2),
                (10, 200_000, 200_000, 1),
                (11, 100_000, 100_000, 1),
            ]
        );
        let stretches: Vec<(i64, i64, i64)> = conn
            .prepare("SELECT start_ms, end_ms, origin_ms FROM wf_idle_stretches ORDER BY start_ms")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            stretches,
            vec![(0, 400_000, 0), (1_000_000, 1_200_000, 1_000_000)]
        );
    }
}
