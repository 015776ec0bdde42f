//! New activity records, written to `wf_records` in multi-row `INSERT`s: a
//! write's records are gathered while it interns and deduplicates them, then
//! stored [`CHUNK`] to a statement (the rest one by one), which spares each
//! record a statement's own run.

use rusqlite::{Connection, ToSql};

use crate::StoreResult;

/// Records a multi-row statement stores (18 parameters each).
const CHUNK: usize = 64;

/// Columns of a record's row.
const COLUMNS: usize = 18;

const HEAD: &str = "INSERT INTO wf_records (account_id, log_id, computer_id, client_id, session,
    start_ms, raw_skew_ms, duration_s, day, end_days, exe_id, title_id, url_id, app_id,
    website_id, idle, idle_lead_ms, split_zone) VALUES ";

/// One record's row, column for column.
pub(super) struct RecordRow<'a> {
    pub account_id: i64,
    pub log_id: i64,
    pub computer_id: i64,
    pub client_id: i64,
    pub session: i64,
    pub start_ms: i64,
    pub raw_skew_ms: i64,
    pub duration_s: i64,
    pub day: i32,
    pub end_days: i32,
    pub exe_id: i64,
    pub title_id: Option<i64>,
    pub url_id: Option<i64>,
    pub app_id: i64,
    pub website_id: Option<i64>,
    pub idle: bool,
    pub idle_lead_ms: Option<i64>,
    pub split_zone: Option<&'a str>,
}

impl RecordRow<'_> {
    fn values(&self) -> [&dyn ToSql; COLUMNS] {
        [
            &self.account_id,
            &self.log_id,
            &self.computer_id,
            &self.client_id,
            &self.session,
            &self.start_ms,
            &self.raw_skew_ms,
            &self.duration_s,
            &self.day,
            &self.end_days,
            &self.exe_id,
            &self.title_id,
            &self.url_id,
            &self.app_id,
            &self.website_id,
            &self.idle,
            &self.idle_lead_ms,
            &self.split_zone,
        ]
    }
}

/// Stores `rows`.
pub(super) fn insert(conn: &Connection, rows: &[RecordRow<'_>]) -> StoreResult<()> {
    let mut chunks = rows.chunks_exact(CHUNK);
    if chunks.len() > 0 {
        let mut stmt = conn.prepare_cached(&statement(CHUNK))?;
        for chunk in &mut chunks {
            bind_and_run(&mut stmt, chunk)?;
        }
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut stmt = conn.prepare_cached(&statement(1))?;
        for row in rest {
            bind_and_run(&mut stmt, std::slice::from_ref(row))?;
        }
    }
    Ok(())
}

fn bind_and_run(stmt: &mut rusqlite::Statement<'_>, rows: &[RecordRow<'_>]) -> StoreResult<()> {
    for (i, row) in rows.iter().enumerate() {
        for (j, value) in row.values().into_iter().enumerate() {
            stmt.raw_bind_parameter(i * COLUMNS + j + 1, value)?;
        }
    }
    stmt.raw_execute()?;
    Ok(())
}

/// The statement storing `rows` records.
fn statement(rows: usize) -> String {
    let one = format!("({})", vec!["?"; COLUMNS].join(","));
    format!("{HEAD}{}", vec![one; rows].join(","))
}
