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
    // Sessions run after idle stretches although numbered before: the list is
    // positional (`user_version`), and databases of main already ran idle
    // stretches as their sixth migration.
    include_str!("migrations/0006_sessions.sql"),
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
