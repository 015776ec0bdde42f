//! The activity log: pages of raw records by a log-id cursor, with their
//! computers, users, strings and productivity.

use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension};

use super::classify::Classify;
use super::runs;
use super::scope::{bind_scope, scope_sql};
use super::texts::TextReader;
use crate::workforce::{
    ActivityLogPage, ActivityLogQuery, LogComputer, LogNames, LogPosition, LogRow, LogText,
    LogUser, Scoping, TextSpan,
};
use crate::StoreResult;

/// A log id at or below the smallest of the account's records dated
/// `from_day..=to_day`, from the day bounds (one row per day).
fn first_log_id(
    conn: &Connection,
    account_id: i64,
    from_day: i32,
    to_day: Option<i32>,
) -> StoreResult<Option<i64>> {
    Ok(conn
        .prepare_cached(
            "SELECT min(first_log_id) FROM wf_record_days
             WHERE account_id = ?1 AND day >= ?2 AND (?3 IS NULL OR day <= ?3)",
        )?
        .query_row(params![account_id, from_day, to_day], |r| r.get(0))?)
}

/// The activity-log page query: ?1 after, ?2 watermark, ?3/?4 day bounds,
/// ?5/?6 duration bounds, ?7 limit, plus the scoping parameters. The rows'
/// computers and users are read once per page ([`load_log_names`]), not joined.
fn log_sql(scoping: &Scoping) -> String {
    format!(
        "SELECT t.log_id, t.client_id, t.computer_id, t.session, t.start_ms, t.duration_s,
                t.exe_id, t.title_id, t.url_id, t.app_id, t.website_id, t.idle
         FROM wf_records t
         WHERE t.account_id = ?100 AND t.log_id > ?1
           AND (t.log_id > ?2 OR (t.day >= ?3 AND (?4 IS NULL OR t.day <= ?4)))
           AND (?5 IS NULL OR t.duration_s >= ?5)
           AND (?6 IS NULL OR t.duration_s <= ?6)
           {}
         ORDER BY t.log_id LIMIT ?7",
        scope_sql(scoping)
    )
}

/// The computers and users a page's rows name, each read when a row first
/// names it (a page names few), with the last pair at hand: consecutive rows
/// mostly come from one agent batch.
struct LogNamesReader<'c> {
    conn: &'c Connection,
    account_id: i64,
    names: LogNames,
    last: Option<(i64, i64, Arc<LogComputer>, Arc<LogUser>)>,
}

impl<'c> LogNamesReader<'c> {
    fn new(conn: &'c Connection, account_id: i64) -> Self {
        LogNamesReader {
            conn,
            account_id,
            names: LogNames::default(),
            last: None,
        }
    }

    /// The computer and user of record `log_id`.
    fn of(
        &mut self,
        log_id: i64,
        computer_id: i64,
        client_id: i64,
    ) -> StoreResult<(Arc<LogComputer>, Arc<LogUser>)> {
        if let Some((m, c, computer, user)) = &self.last {
            if (*m, *c) == (computer_id, client_id) {
                return Ok((Arc::clone(computer), Arc::clone(user)));
            }
        }
        if !self.names.knows_computer(computer_id) {
            let computer = self
                .conn
                .prepare_cached(
                    "SELECT id, name, primary_domain, private_ip, public_ip FROM wf_computers
                     WHERE account_id = ?1 AND id = ?2",
                )?
                .query_row(params![self.account_id, computer_id], |r| {
                    Ok(LogComputer {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        primary_domain: r.get(2)?,
                        private_ip: r.get(3)?,
                        public_ip: r.get(4)?,
                    })
                })
                .optional()?;
            if let Some(computer) = computer {
                self.names.add_computer(computer);
            }
        }
        if !self.names.knows_user(client_id) {
            let user = self
                .conn
                .prepare_cached(
                    "SELECT id, login_domain, name FROM wf_clients
                     WHERE account_id = ?1 AND id = ?2",
                )?
                .query_row(params![self.account_id, client_id], |r| {
                    Ok(LogUser {
                        id: r.get(0)?,
                        login_domain: r.get(1)?,
                        name: r.get(2)?,
                    })
                })
                .optional()?;
            if let Some(user) = user {
                self.names.add_user(user);
            }
        }
        let (computer, user) = self.names.of(log_id, computer_id, client_id)?;
        self.last = Some((
            computer_id,
            client_id,
            Arc::clone(&computer),
            Arc::clone(&user),
        ));
        Ok((computer, user))
    }
}

pub(super) fn activity_log(
    conn: &Connection,
    account_id: i64,
    q: &ActivityLogQuery,
) -> StoreResult<ActivityLogPage> {
    let position = match q.position {
        Some(p) => p,
        None => {
            let watermark = runs::newest_log_id(conn)?;
            // Start just before the first record of the dates, so the walk by
            // log id does not cross the account's older history.
            let first = first_log_id(conn, account_id, q.from_day, q.to_day)?;
            LogPosition {
                after: first.map_or(watermark, |f| (f - 1).min(watermark)),
                watermark,
                from_day: q.from_day,
                to_day: q.to_day,
            }
        }
    };
    let mut stmt = conn.prepare_cached(&log_sql(&q.scoping))?;
    stmt.raw_bind_parameter(1, position.after)?;
    stmt.raw_bind_parameter(2, position.watermark)?;
    stmt.raw_bind_parameter(3, position.from_day)?;
    stmt.raw_bind_parameter(4, position.to_day)?;
    stmt.raw_bind_parameter(5, q.min_duration)?;
    stmt.raw_bind_parameter(6, q.max_duration)?;
    stmt.raw_bind_parameter(7, i64::from(q.limit))?;
    bind_scope(&mut stmt, account_id, &q.scoping)?;
    let mut names = LogNamesReader::new(conn, account_id);
    let mut classify = Classify::new(conn, account_id)?;
    // Each distinct string goes into the page's text once; rows share its span.
    let mut text = LogText::with_capacity(q.limit as usize * 16);
    let mut strings: TextReader<'_, TextSpan> = TextReader::new(conn);
    let empty = text.push("");
    let mut out = Vec::with_capacity(q.limit as usize);
    let mut rows = stmt.raw_query();
    while let Some(r) = rows.next()? {
        let log_id: i64 = r.get(0)?;
        let client_id: i64 = r.get(1)?;
        let app_id: i64 = r.get(9)?;
        let website_id: Option<i64> = r.get(10)?;
        let (computer, user) = names.of(log_id, r.get(2)?, client_id)?;
        out.push(LogRow {
            log_id,
            productivity: classify.productivity(client_id, website_id.unwrap_or(app_id))?,
            start_ms: r.get(4)?,
            computer,
            user,
            session: r.get(3)?,
            duration_s: r.get(5)?,
            application_id: app_id,
            website_id,
            executable: strings.get(r.get(6)?, |s| text.push(s))?,
            description: match r.get::<_, Option<i64>>(7)? {
                None => empty,
                Some(id) => strings.get(id, |s| text.push(s))?,
            },
            url: match r.get::<_, Option<i64>>(8)? {
                None => None,
                Some(id) => Some(strings.get(id, |s| text.push(s))?),
            },
            idle: r.get(11)?,
        });
    }
    let position = position.after_page(out.last().map(|r| r.log_id), q.position.is_none());
    Ok(ActivityLogPage {
        rows: out,
        text,
        position,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::{DatabaseKey, SqliteStore};

    /// The activity log must walk the records by log id (a range of the
    /// table's key), never sort an account's whole history for each page.
    #[tokio::test]
    async fn the_log_query_walks_the_account_log_index() {
        let dir = tempfile::tempdir().unwrap();
        let key = DatabaseKey::resolve(None, dir.path()).unwrap();
        let store = SqliteStore::open(dir.path(), key).await.unwrap();
        let plan = store
            .db
            .read(|conn| {
                let sql = format!("EXPLAIN QUERY PLAN {}", log_sql(&Scoping::default()));
                let mut stmt = conn.prepare(&sql)?;
                let mut rows = stmt.raw_query();
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    out.push(r.get::<_, String>(3)?);
                }
                Ok(out)
            })
            .await
            .unwrap();
        let text = plan.join("\n");
        println!("{text}");
        assert!(
            text.contains("USING PRIMARY KEY (account_id=? AND log_id>?)"),
            "{text}"
        );
        assert!(!text.contains("TEMP B-TREE"), "{text}");
    }
}
