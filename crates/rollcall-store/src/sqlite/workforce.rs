//! Workforce activity in SQLite: ingest with its per-day rollups (one write
//! closure per agent batch), clients, computers, groups, the classification set,
//! working hours (read from the rollups only) and the activity log (a log-id
//! cursor over the raw records).
//!
//! Ingest also counts, per local day, the users and computers that have
//! activity (`wf_day_counts`), so an unfiltered working-hours total is a sum over
//! the days rather than a grouping of every rollup row; filtered totals group.
//!
//! Scoping (a filter of the request and a viewer's groups) is applied to every
//! (client, computer) pair: a pair is in a group when its client or its computer
//! is a member.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use rollcall_core::fxhash::FxHashMap;
use rollcall_core::idle_stretch::{self, HistogramDelta, NewIdle, Stretch};
use rollcall_core::time;
use rollcall_core::workforce::{Activity, ClassificationSet, Classifier, DaySplitter, Piece};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::json;

use super::wf_texts::{TextIds, TextReader};
use super::{audit, wf_runs, SqliteStore};
use crate::audit::{Actor, AuditAction};
use crate::error::ItemError;
use crate::workforce::{
    sees_group, sees_member, ActivityBatch, ActivityLogPage, ActivityLogQuery, ClientPatch,
    ComputerPatch, Group, GroupPatch, IngestOutcome, LogComputer, LogNames, LogPosition, LogRow,
    LogText, LogUser, Member, MoveOutcome, NewRecord, Scoping, TextSpan, WfClient, WfComputer,
    WorkforceStore, WorkingHoursPage, WorkingHoursQuery,
};
use crate::{now_ms, StoreError, StoreResult};

pub(super) const KIND_CLIENT: &str = "c";
pub(super) const KIND_COMPUTER: &str = "m";

/// The scoping conditions on a table aliased `t` with `client_id`/`computer_id`
/// columns, with only the clauses a query needs (absent filters cost nothing per
/// row). Parameters: ?100 account, ?101 client, ?102 computer, ?103 group, ?104
/// viewable groups (a JSON array), bound by [`bind_scope`].
pub(super) fn scope_sql(s: &Scoping) -> String {
    let mut sql = String::new();
    if s.client_id.is_some() {
        sql.push_str(" AND t.client_id = ?101");
    }
    if s.computer_id.is_some() {
        sql.push_str(" AND t.computer_id = ?102");
    }
    if s.group_id.is_some() {
        sql.push_str(
            " AND (t.client_id IN (SELECT member_id FROM wf_group_members
                                   WHERE group_id = ?103 AND kind = 'c' AND account_id = ?100)
                OR t.computer_id IN (SELECT member_id FROM wf_group_members
                                     WHERE group_id = ?103 AND kind = 'm' AND account_id = ?100))",
        );
    }
    if s.viewable_groups.is_some() {
        sql.push_str(
            " AND (t.client_id IN (SELECT member_id FROM wf_group_members
                                   WHERE account_id = ?100 AND kind = 'c'
                                     AND group_id IN (SELECT value FROM json_each(?104)))
                OR t.computer_id IN (SELECT member_id FROM wf_group_members
                                     WHERE account_id = ?100 AND kind = 'm'
                                       AND group_id IN (SELECT value FROM json_each(?104))))",
        );
    }
    sql
}

fn viewable_json(v: &Option<Vec<i64>>) -> Option<String> {
    v.as_ref().map(|g| json!(g).to_string())
}

/// Binds the account (?100) and the scoping parameters that [`scope_sql`] used.
pub(super) fn bind_scope(
    stmt: &mut rusqlite::CachedStatement<'_>,
    account_id: i64,
    s: &Scoping,
) -> rusqlite::Result<()> {
    stmt.raw_bind_parameter(100, account_id)?;
    if let Some(id) = s.client_id {
        stmt.raw_bind_parameter(101, id)?;
    }
    if let Some(id) = s.computer_id {
        stmt.raw_bind_parameter(102, id)?;
    }
    if let Some(id) = s.group_id {
        stmt.raw_bind_parameter(103, id)?;
    }
    if let Some(groups) = viewable_json(&s.viewable_groups) {
        stmt.raw_bind_parameter(104, groups)?;
    }
    Ok(())
}

/// Group ids by member, ascending.
type MemberGroups = FxHashMap<i64, Vec<i64>>;

/// The groups of every member of `kind` (or of member `id` alone), in one query:
/// a listing used to ask once per client or computer.
fn member_groups_of(
    conn: &Connection,
    account_id: i64,
    kind: &str,
    id: Option<i64>,
) -> StoreResult<MemberGroups> {
    let mut stmt = conn.prepare_cached(
        "SELECT member_id, group_id FROM wf_group_members
         WHERE account_id = ?1 AND kind = ?2 AND (?3 IS NULL OR member_id = ?3)
         ORDER BY member_id, group_id",
    )?;
    let mut groups = MemberGroups::default();
    let mut rows = stmt.query(params![account_id, kind, id])?;
    while let Some(r) = rows.next()? {
        groups.entry(r.get(0)?).or_default().push(r.get(1)?);
    }
    Ok(groups)
}

fn load_classifier(conn: &Connection, account_id: i64) -> StoreResult<Classifier> {
    Ok(Classifier::new(&load_classifications(conn, account_id)?))
}

fn load_classifications(conn: &Connection, account_id: i64) -> StoreResult<ClassificationSet> {
    let body: Option<String> = conn
        .prepare_cached("SELECT body FROM wf_classifications WHERE account_id = ?1")?
        .query_row([account_id], |r| r.get(0))
        .optional()?;
    Ok(match body {
        Some(b) => serde_json::from_str(&b)?,
        None => ClassificationSet::default(),
    })
}

/// Classifies activities for clients, caching the activity names and each
/// client's first group for the duration of one read.
pub(super) struct Classify<'c> {
    conn: &'c Connection,
    account_id: i64,
    classifier: Classifier,
    activities: HashMap<i64, Activity>,
    first_group: HashMap<i64, Option<i64>>,
    /// Asked once a row by the activity log: hashed cheaply.
    cache: FxHashMap<(i64, i64), i8>,
}

impl<'c> Classify<'c> {
    pub(super) fn new(conn: &'c Connection, account_id: i64) -> StoreResult<Self> {
        Ok(Classify {
            conn,
            account_id,
            classifier: load_classifier(conn, account_id)?,
            activities: HashMap::new(),
            first_group: HashMap::new(),
            cache: HashMap::default(),
        })
    }

    pub(super) fn productivity(&mut self, client_id: i64, activity_id: i64) -> StoreResult<i8> {
        if let Some(p) = self.cache.get(&(client_id, activity_id)) {
            return Ok(*p);
        }
        if !self.activities.contains_key(&activity_id) {
            let (kind, key): (String, String) = self
                .conn
                .prepare_cached("SELECT kind, key FROM wf_activities WHERE id = ?1")?
                .query_row([activity_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            let activity = if kind == "w" {
                Activity::Website(key)
            } else {
                Activity::Application(key)
            };
            self.activities.insert(activity_id, activity);
        }
        if !self.first_group.contains_key(&client_id) {
            let g: Option<i64> = self
                .conn
                .prepare_cached(
                    "SELECT min(group_id) FROM wf_group_members
                     WHERE account_id = ?1 AND kind = 'c' AND member_id = ?2",
                )?
                .query_row(params![self.account_id, client_id], |r| r.get(0))?;
            self.first_group.insert(client_id, g);
        }
        let group = self.first_group.get(&client_id).copied().flatten();
        let p = self
            .activities
            .get(&activity_id)
            .map_or(0, |a| self.classifier.classify(group, a));
        self.cache.insert((client_id, activity_id), p);
        Ok(p)
    }
}

fn activity_id(conn: &Connection, account_id: i64, kind: &str, key: &str) -> StoreResult<i64> {
    Ok(conn
        .prepare_cached(
            "INSERT INTO wf_activities (account_id, kind, key) VALUES (?1, ?2, ?3)
             ON CONFLICT (account_id, kind, key) DO UPDATE SET key = excluded.key
             RETURNING id",
        )?
        .query_row(params![account_id, kind, key], |r| r.get(0))?)
}

#[derive(Default)]
struct SpanAcc {
    first_active: Option<i64>,
    last_active: Option<i64>,
    last_any: i64,
}

/// Upserts the batch's computer and client; returns the ids their activity
/// goes to (the one each was merged into, if it was).
fn register(conn: &Connection, account_id: i64, batch: &ActivityBatch) -> StoreResult<(i64, i64)> {
    let (first, last) = batch.span();
    let c = &batch.computer;
    let computer: (i64, Option<i64>) = conn
        .prepare_cached(
            "INSERT INTO wf_computers (account_id, name, primary_domain, os, time_zone,
                 private_ip, public_ip, first_log_ms, last_log_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (account_id, primary_domain, name) DO UPDATE SET
                 os = excluded.os, time_zone = excluded.time_zone,
                 private_ip = excluded.private_ip, public_ip = excluded.public_ip,
                 first_log_ms = min(first_log_ms, excluded.first_log_ms),
                 last_log_ms = max(last_log_ms, excluded.last_log_ms)
             RETURNING id, merged_into",
        )?
        .query_row(
            params![
                account_id,
                c.name,
                c.primary_domain,
                c.os,
                c.time_zone,
                c.private_ip,
                c.public_ip,
                first,
                last
            ],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
    let client: (i64, Option<i64>) = conn
        .prepare_cached(
            "INSERT INTO wf_clients (account_id, login_domain, name, first_log_ms, last_log_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (account_id, login_domain, name) DO UPDATE SET
                 first_log_ms = min(first_log_ms, excluded.first_log_ms),
                 last_log_ms = max(last_log_ms, excluded.last_log_ms)
             RETURNING id, merged_into",
        )?
        .query_row(
            params![
                account_id,
                batch.client.login_domain,
                batch.client.name,
                first,
                last
            ],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;

    let seen = |table: &str, id: i64| -> StoreResult<()> {
        conn.prepare_cached(&format!(
            "UPDATE {table} SET first_log_ms = min(first_log_ms, ?2),
                 last_log_ms = max(last_log_ms, ?3) WHERE id = ?1"
        ))?
        .execute(params![id, first, last])?;
        Ok(())
    };
    let computer_id = match computer {
        (_, Some(into)) => {
            seen("wf_computers", into)?;
            into
        }
        (id, None) => id,
    };
    let client_id = match client {
        (_, Some(into)) => {
            seen("wf_clients", into)?;
            into
        }
        (id, None) => id,
    };
    Ok((computer_id, client_id))
}

/// Stores one batch; `pieces[i]` are record i's parts per local date, split in
/// `zone`.
fn write_batch(
    conn: &Connection,
    texts: &TextIds,
    account_id: i64,
    batch: &ActivityBatch,
    pieces: &[Vec<Piece>],
    zone: &str,
) -> StoreResult<IngestOutcome> {
    if batch.records.is_empty() {
        // Nothing happened on the computer: no phantom computer or client.
        return Ok(IngestOutcome::default());
    }
    let (computer_id, client_id) = register(conn, account_id, batch)?;
    let outcome = write_records(
        conn,
        texts,
        account_id,
        (computer_id, client_id),
        batch.session,
        &batch.records,
        pieces,
        zone,
    )?;
    super::privacy::count_redactions(conn, account_id, &batch.redaction_keys, &outcome.redacted)?;
    Ok(outcome)
}

/// Stores records of one (computer, client) and session with their rollups;
/// `pieces[i]` are record i's parts per local date, split in `zone`. A record
/// whose identity (computer, session, raw start, executable) is stored already,
/// or came earlier in `records`, is a duplicate.
#[allow(clippy::too_many_arguments)]
pub(super) fn write_records(
    conn: &Connection,
    texts: &TextIds,
    account_id: i64,
    (computer_id, client_id): (i64, i64),
    session: i64,
    records: &[NewRecord],
    pieces: &[Vec<Piece>],
    zone: &str,
) -> StoreResult<IngestOutcome> {
    let mut app_ids: HashMap<String, i64> = HashMap::new();
    let mut site_ids: HashMap<String, i64> = HashMap::new();
    let mut active: HashMap<(i32, i64), i64> = HashMap::new();
    // New idle records of positive length: (record index, log id, activity).
    let mut new_idle: Vec<(usize, i64, i64)> = Vec::new();
    let mut spans: BTreeMap<i32, SpanAcc> = BTreeMap::new();
    let mut outcome = IngestOutcome::default();
    let mut interner = texts.begin(conn, account_id)?;
    let mut identities = match (
        records.iter().map(|r| r.raw_start_ms).min(),
        records.iter().map(|r| r.raw_start_ms).max(),
    ) {
        (Some(lo), Some(hi)) => {
            wf_runs::stored_identities(conn, account_id, (computer_id, session), (lo, hi))?
        }
        _ => Default::default(),
    };
    let mut runs = wf_runs::RunWriter::new(conn, account_id, (computer_id, client_id), session)?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO wf_records (account_id, log_id, computer_id, client_id, session, start_ms,
             raw_skew_ms, duration_s, day, end_days, exe_id, title_id, url_id, app_id,
             website_id, idle, idle_lead_ms, split_zone)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
    )?;
    for (index, (record, parts)) in records.iter().zip(pieces).enumerate() {
        let exe_key = record.executable.to_lowercase();
        let app_id = match app_ids.get(&exe_key) {
            Some(id) => *id,
            None => {
                let id = activity_id(conn, account_id, "a", &exe_key)?;
                app_ids.insert(exe_key, id);
                id
            }
        };
        let website_id = match &record.website {
            None => None,
            Some(domain) => Some(match site_ids.get(domain) {
                Some(id) => *id,
                None => {
                    let id = activity_id(conn, account_id, "w", domain)?;
                    site_ids.insert(domain.clone(), id);
                    id
                }
            }),
        };
        let (Some(first_piece), Some(last_piece)) = (parts.first(), parts.last()) else {
            continue;
        };
        // An executable the account never stored cannot make a duplicate.
        if let Some(exe) = interner.find(&record.executable)? {
            if identities.contains(&(record.raw_start_ms, exe)) {
                outcome.duplicates += 1;
                continue;
            }
        }
        let exe_id = interner.reference(&record.executable)?;
        identities.insert((record.raw_start_ms, exe_id));
        let title_id = match record.description.as_str() {
            "" => None,
            title => Some(interner.reference(title)?),
        };
        let url_id = match &record.url {
            None => None,
            Some(url) => Some(interner.reference(url)?),
        };
        let stretchy = record.idle && record.duration_s > 0;
        let idle_lead = stretchy.then(|| record.idle_offset_s * 1000);
        let split_zone = (stretchy && first_piece.day != last_piece.day).then_some(zone);
        let log_id = runs.next(record.raw_start_ms, first_piece.day);
        insert.execute(params![
            account_id,
            log_id,
            computer_id,
            client_id,
            session,
            record.start_ms,
            record.raw_start_ms - record.start_ms,
            record.duration_s,
            first_piece.day,
            last_piece.day - first_piece.day,
            exe_id,
            title_id,
            url_id,
            app_id,
            website_id,
            record.idle,
            idle_lead,
            split_zone
        ])?;
        outcome.accepted += 1;
        outcome.redacted.add(record.redacted_by);
        let activity = website_id.unwrap_or(app_id);
        if stretchy {
            new_idle.push((index, log_id, activity));
        }
        for p in parts {
            let len = p.end_ms - p.start_ms;
            let span = spans.entry(p.day).or_default();
            span.last_any = span.last_any.max(p.end_ms);
            if !record.idle {
                *active.entry((p.day, activity)).or_default() += len;
                span.first_active =
                    Some(span.first_active.map_or(p.start_ms, |f| f.min(p.start_ms)));
                span.last_active = Some(span.last_active.map_or(p.end_ms, |l| l.max(p.end_ms)));
            }
        }
    }
    interner.finish()?;
    runs.finish(conn)?;
    let mut up_active = conn.prepare_cached(
        "INSERT INTO wf_day_active (account_id, day, client_id, computer_id, activity_id, ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT DO UPDATE SET ms = ms + excluded.ms",
    )?;
    for ((day, activity), ms) in active {
        up_active.execute(params![
            account_id,
            day,
            client_id,
            computer_id,
            activity,
            ms
        ])?;
    }
    let idle = merge_stretches(
        conn,
        account_id,
        (computer_id, client_id),
        records,
        pieces,
        &new_idle,
    )?;
    let mut up_idle = conn.prepare_cached(
        "INSERT INTO wf_day_idle (account_id, day, client_id, computer_id, activity_id,
             offset_ms, len_ms, n)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT DO UPDATE SET n = n + excluded.n",
    )?;
    for ((day, activity, offset, len), n) in &idle.0 {
        up_idle.execute(params![
            account_id,
            day,
            client_id,
            computer_id,
            activity,
            offset,
            len,
            n
        ])?;
    }
    if idle.has_removals() {
        let mut drop_empty = conn.prepare_cached(
            "DELETE FROM wf_day_idle WHERE account_id = ?1 AND day = ?2 AND client_id = ?3
                 AND computer_id = ?4 AND activity_id = ?5 AND offset_ms = ?6 AND len_ms = ?7
                 AND n <= 0",
        )?;
        for ((day, activity, offset, len), n) in &idle.0 {
            if *n < 0 {
                drop_empty.execute(params![
                    account_id,
                    day,
                    client_id,
                    computer_id,
                    activity,
                    offset,
                    len
                ])?;
            }
        }
    }
    let mut up_span = conn.prepare_cached(
        "INSERT INTO wf_day_span (account_id, day, client_id, computer_id, first_active_ms,
             last_active_ms, last_any_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT DO UPDATE SET
             first_active_ms = CASE WHEN first_active_ms IS NULL THEN excluded.first_active_ms
                                    WHEN excluded.first_active_ms IS NULL THEN first_active_ms
                                    ELSE min(first_active_ms, excluded.first_active_ms) END,
             last_active_ms = max(coalesce(last_active_ms, excluded.last_active_ms),
                                  coalesce(excluded.last_active_ms, last_active_ms)),
             last_any_ms = max(last_any_ms, excluded.last_any_ms)",
    )?;
    let mut is_new = conn.prepare_cached(
        "SELECT NOT EXISTS (SELECT 1 FROM wf_day_span
                            WHERE account_id = ?1 AND day = ?2 AND client_id = ?3),
                NOT EXISTS (SELECT 1 FROM wf_day_span INDEXED BY wf_day_span_computer
                            WHERE account_id = ?1 AND day = ?2 AND computer_id = ?4)",
    )?;
    let mut count_day = conn.prepare_cached(
        "INSERT INTO wf_day_counts (account_id, day, users, computers) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO UPDATE SET users = users + excluded.users,
                                   computers = computers + excluded.computers",
    )?;
    for (day, s) in spans {
        let (new_user, new_computer): (bool, bool) = is_new
            .query_row(params![account_id, day, client_id, computer_id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        if new_user || new_computer {
            count_day.execute(params![
                account_id,
                day,
                i64::from(new_user),
                i64::from(new_computer)
            ])?;
        }
        up_span.execute(params![
            account_id,
            day,
            client_id,
            computer_id,
            s.first_active,
            s.last_active,
            s.last_any
        ])?;
    }
    Ok(outcome)
}

/// Joins the batch's new idle records (`new_idle`: record index, log id,
/// activity) to the stored stretches of its (computer, client), moves the
/// records of stretches whose origin moved, and returns the changes to the idle
/// histogram.
fn merge_stretches(
    conn: &Connection,
    account_id: i64,
    (computer_id, client_id): (i64, i64),
    records: &[NewRecord],
    pieces: &[Vec<Piece>],
    new_idle: &[(usize, i64, i64)],
) -> StoreResult<HistogramDelta> {
    let mut delta = HistogramDelta::default();
    if new_idle.is_empty() {
        return Ok(delta);
    }
    let news: Vec<NewIdle> = new_idle
        .iter()
        .map(|(i, _, _)| {
            let r = &records[*i];
            NewIdle {
                start_ms: r.start_ms,
                end_ms: r.start_ms + r.duration_s * 1000,
                origin_ms: r.start_ms - r.idle_offset_s * 1000,
            }
        })
        .collect();
    // Every stored stretch touching a new interval: those starting inside it,
    // and the last one starting before it if it reaches it.
    let mut existing: BTreeMap<i64, Stretch> = BTreeMap::new();
    let stretch = |r: &rusqlite::Row<'_>| -> rusqlite::Result<Stretch> {
        Ok(Stretch {
            start_ms: r.get(0)?,
            end_ms: r.get(1)?,
            origin_ms: r.get(2)?,
        })
    };
    let mut inside = conn.prepare_cached(
        "SELECT start_ms, end_ms, origin_ms FROM wf_idle_stretches
         WHERE account_id = ?1 AND computer_id = ?2 AND client_id = ?3
           AND start_ms BETWEEN ?4 AND ?5",
    )?;
    let mut before = conn.prepare_cached(
        "SELECT start_ms, end_ms, origin_ms FROM wf_idle_stretches
         WHERE account_id = ?1 AND computer_id = ?2 AND client_id = ?3 AND start_ms < ?4
         ORDER BY start_ms DESC LIMIT 1",
    )?;
    for (s, e) in idle_stretch::reach(&news) {
        for st in inside.query_map(params![account_id, computer_id, client_id, s, e], stretch)? {
            let st = st?;
            existing.insert(st.start_ms, st);
        }
        if let Some(st) = before
            .query_row(params![account_id, computer_id, client_id, s], stretch)
            .optional()?
        {
            if st.end_ms >= s {
                existing.insert(st.start_ms, st);
            }
        }
    }
    let existing: Vec<Stretch> = existing.into_values().collect();
    let plan = idle_stretch::plan(&existing, &news);
    let mut remove = conn.prepare_cached(
        "DELETE FROM wf_idle_stretches
         WHERE account_id = ?1 AND computer_id = ?2 AND client_id = ?3 AND start_ms = ?4",
    )?;
    for start in &plan.removed {
        remove.execute(params![account_id, computer_id, client_id, start])?;
    }
    let mut add = conn.prepare_cached(
        "INSERT INTO wf_idle_stretches (account_id, computer_id, client_id, start_ms, end_ms,
             origin_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for st in &plan.inserted {
        add.execute(params![
            account_id,
            computer_id,
            client_id,
            st.start_ms,
            st.end_ms,
            st.origin_ms
        ])?;
    }
    // The stored records of a moved stretch: every idle record in its range that
    // was there before this batch.
    let first_new = new_idle.iter().map(|n| n.1).min().unwrap_or(i64::MAX);
    let mut members = conn.prepare_cached(
        "SELECT start_ms, duration_s, day, split_zone, coalesce(website_id, app_id)
         FROM wf_records INDEXED BY wf_records_idle
         WHERE account_id = ?1 AND computer_id = ?2 AND client_id = ?3
           AND idle_lead_ms IS NOT NULL AND start_ms BETWEEN ?4 AND ?5 AND log_id < ?6",
    )?;
    let mut zones: HashMap<String, jiff::tz::TimeZone> = HashMap::new();
    for m in &plan.moved {
        let mut rows = members.query(params![
            account_id,
            computer_id,
            client_id,
            m.stretch.start_ms,
            m.stretch.end_ms,
            first_new
        ])?;
        while let Some(r) = rows.next()? {
            let start: i64 = r.get(0)?;
            let len_ms = r.get::<_, i64>(1)? * 1000;
            let zone: Option<String> = r.get(3)?;
            let tz = match zone {
                None => None,
                Some(name) => Some(match zones.get(&name) {
                    Some(tz) => tz.clone(),
                    None => {
                        let tz = time::parse_time_zone(&name).map_err(StoreError::Internal)?;
                        zones.insert(name, tz.clone());
                        tz
                    }
                }),
            };
            let activity: i64 = r.get(4)?;
            for p in idle_stretch::stored_pieces(start, len_ms, r.get(2)?, tz.as_ref()) {
                let len = p.end_ms - p.start_ms;
                let old = start - m.stretch.origin_ms + p.offset_ms;
                delta.add(p.day, activity, old, len, -1);
                delta.add(p.day, activity, old + m.delta_ms, len, 1);
            }
        }
    }
    for ((i, _, activity), offset) in new_idle.iter().zip(&plan.offsets) {
        for p in &pieces[*i] {
            delta.add(
                p.day,
                *activity,
                offset + p.offset_ms,
                p.end_ms - p.start_ms,
                1,
            );
        }
    }
    Ok(delta)
}

fn client_row(
    r: &rusqlite::Row<'_>,
    groups: &mut MemberGroups,
    merged: &mut MergedNames,
) -> StoreResult<WfClient> {
    let id: i64 = r.get(0)?;
    Ok(WfClient {
        id,
        login_domain: r.get(1)?,
        name: r.get(2)?,
        alias: r.get(3)?,
        employee_email: r.get(4)?,
        first_log_ms: r.get(5)?,
        last_log_ms: r.get(6)?,
        groups: groups.remove(&id).unwrap_or_default(),
        merged: merged.remove(&id).unwrap_or_default(),
    })
}

const CLIENT_SQL: &str = "SELECT id, login_domain, name, alias, employee_email, first_log_ms,
    last_log_ms FROM wf_clients WHERE account_id = ?1 AND merged_into IS NULL";

/// Per row of `table`, the identities merged into it: (id, domain, name), by id.
type MergedNames = HashMap<i64, Vec<(i64, String, String)>>;

/// [`MergedNames`] of an account's rows of `table`, read at once (one query per
/// row scanned the whole table for each, since `merged_into` has no index).
fn merged_names(
    conn: &Connection,
    table: &str,
    domain: &str,
    account_id: i64,
) -> StoreResult<MergedNames> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT merged_into, id, {domain}, name FROM {table}
         WHERE account_id = ?1 AND merged_into IS NOT NULL ORDER BY id"
    ))?;
    let mut out = MergedNames::new();
    let mut rows = stmt.query([account_id])?;
    while let Some(r) = rows.next()? {
        out.entry(r.get(0)?)
            .or_default()
            .push((r.get(1)?, r.get(2)?, r.get(3)?));
    }
    Ok(out)
}

pub(super) fn list_clients(
    conn: &Connection,
    account_id: i64,
    id: Option<i64>,
) -> StoreResult<Vec<WfClient>> {
    let mut stmt = conn.prepare_cached(&format!(
        "{CLIENT_SQL} AND (?2 IS NULL OR id = ?2) ORDER BY id"
    ))?;
    let mut merged = merged_names(conn, "wf_clients", "login_domain", account_id)?;
    let mut groups = member_groups_of(conn, account_id, KIND_CLIENT, id)?;
    let mut rows = stmt.query(params![account_id, id])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(client_row(r, &mut groups, &mut merged)?);
    }
    Ok(out)
}

const COMPUTER_SQL: &str = "SELECT id, name, primary_domain, alias, os, time_zone, private_ip,
    public_ip, first_log_ms, last_log_ms FROM wf_computers
    WHERE account_id = ?1 AND merged_into IS NULL";

pub(super) fn list_computers(
    conn: &Connection,
    account_id: i64,
    id: Option<i64>,
) -> StoreResult<Vec<WfComputer>> {
    let mut stmt = conn.prepare_cached(&format!(
        "{COMPUTER_SQL} AND (?2 IS NULL OR id = ?2) ORDER BY id"
    ))?;
    let mut merged = merged_names(conn, "wf_computers", "primary_domain", account_id)?;
    let mut groups = member_groups_of(conn, account_id, KIND_COMPUTER, id)?;
    let mut rows = stmt.query(params![account_id, id])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        out.push(WfComputer {
            id,
            name: r.get(1)?,
            primary_domain: r.get(2)?,
            alias: r.get(3)?,
            os: r.get(4)?,
            time_zone: r.get(5)?,
            private_ip: r.get(6)?,
            public_ip: r.get(7)?,
            first_log_ms: r.get(8)?,
            last_log_ms: r.get(9)?,
            groups: groups.remove(&id).unwrap_or_default(),
            merged: merged.remove(&id).unwrap_or_default(),
        });
    }
    Ok(out)
}

pub(super) fn load_group(conn: &Connection, account_id: i64, id: i64) -> StoreResult<Group> {
    let name: String = conn
        .prepare_cached("SELECT name FROM wf_groups WHERE account_id = ?1 AND id = ?2")?
        .query_row([account_id, id], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("group {id} does not exist")))?;
    let mut stmt = conn.prepare_cached(
        "SELECT kind, member_id FROM wf_group_members WHERE group_id = ?1 ORDER BY kind, member_id",
    )?;
    let mut clients = Vec::new();
    let mut computers = Vec::new();
    for row in stmt.query_map([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
        let (kind, member) = row?;
        if kind == KIND_CLIENT {
            clients.push(member);
        } else {
            computers.push(member);
        }
    }
    Ok(Group {
        id,
        name,
        clients,
        computers,
    })
}

/// Replaces a group's members of one kind after checking they exist in the account.
fn set_members(
    conn: &Connection,
    account_id: i64,
    group_id: i64,
    kind: &str,
    ids: &[i64],
) -> StoreResult<()> {
    let (table, field) = if kind == KIND_CLIENT {
        ("wf_clients", "clients")
    } else {
        ("wf_computers", "computers")
    };
    let mut items = Vec::new();
    {
        let mut exists = conn.prepare_cached(&format!(
            "SELECT count(*) FROM {table} WHERE account_id = ?1 AND id = ?2
                 AND merged_into IS NULL"
        ))?;
        for (index, id) in ids.iter().enumerate() {
            if exists.query_row([account_id, *id], |r| r.get::<_, i64>(0))? == 0 {
                items.push(ItemError {
                    index: Some(index),
                    field: Some(field.into()),
                    message: format!("{field} id {id} does not exist"),
                });
            }
        }
    }
    if !items.is_empty() {
        return Err(StoreError::Invalid {
            message: format!("the group names {field} that do not exist"),
            items,
        });
    }
    conn.prepare_cached("DELETE FROM wf_group_members WHERE group_id = ?1 AND kind = ?2")?
        .execute(params![group_id, kind])?;
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO wf_group_members (account_id, group_id, kind, member_id)
         VALUES (?1, ?2, ?3, ?4)",
    )?;
    for id in ids {
        insert.execute(params![account_id, group_id, kind, id])?;
    }
    Ok(())
}

fn check_group_name(
    conn: &Connection,
    account_id: i64,
    name: &str,
    except: i64,
) -> StoreResult<()> {
    let taken: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM wf_groups WHERE account_id = ?1 AND name = ?2 AND id <> ?3",
        )?
        .query_row(params![account_id, name, except], |r| r.get(0))?;
    if taken > 0 {
        return Err(StoreError::Conflict(format!(
            "a group named '{name}' already exists"
        )));
    }
    Ok(())
}

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

fn activity_log(
    conn: &Connection,
    account_id: i64,
    q: &ActivityLogQuery,
) -> StoreResult<ActivityLogPage> {
    let position = match q.position {
        Some(p) => p,
        None => {
            let watermark = wf_runs::newest_log_id(conn)?;
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

#[async_trait]
impl WorkforceStore for SqliteStore {
    async fn ingest_activity(
        &self,
        account_id: i64,
        batch: ActivityBatch,
    ) -> StoreResult<IngestOutcome> {
        let zone_name = match &batch.computer.time_zone {
            Some(tz) => tz.clone(),
            None => {
                self.db
                    .read(move |conn| Ok(super::admin::load_settings(conn, account_id)?.time_zone))
                    .await?
            }
        };
        let tz = time::parse_time_zone(&zone_name).map_err(StoreError::invalid)?;
        // Splitting happens here, not on the writer thread.
        let mut splitter = DaySplitter::new(tz);
        let pieces: Vec<Vec<Piece>> = batch
            .records
            .iter()
            .map(|r| splitter.split(r.start_ms, r.duration_s * 1000))
            .collect();
        let texts = Arc::clone(&self.wf_texts);
        self.db
            .write(move |conn| write_batch(conn, &texts, account_id, &batch, &pieces, &zone_name))
            .await
    }

    async fn wf_clients(&self, account_id: i64, scoping: Scoping) -> StoreResult<Vec<WfClient>> {
        self.db
            .read(move |conn| {
                Ok(list_clients(conn, account_id, None)?
                    .into_iter()
                    .filter(|c| sees_member(&scoping.viewable_groups, &c.groups))
                    .collect())
            })
            .await
    }

    async fn group_employee_emails(
        &self,
        account_id: i64,
        groups: Vec<i64>,
    ) -> StoreResult<Vec<String>> {
        let groups = json!(groups).to_string();
        self.db
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT DISTINCT c.employee_email FROM wf_group_members g
                     JOIN wf_clients c ON c.id = g.member_id
                     WHERE g.group_id IN (SELECT value FROM json_each(?2)) AND g.kind = ?3
                       AND g.account_id = ?1 AND c.account_id = ?1
                       AND c.merged_into IS NULL AND c.employee_email IS NOT NULL",
                )?;
                let emails = stmt
                    .query_map(params![account_id, groups, KIND_CLIENT], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()?;
                Ok(emails)
            })
            .await
    }

    async fn wf_client(&self, account_id: i64, scoping: Scoping, id: i64) -> StoreResult<WfClient> {
        self.db
            .read(move |conn| {
                list_clients(conn, account_id, Some(id))?
                    .into_iter()
                    .find(|c| sees_member(&scoping.viewable_groups, &c.groups))
                    .ok_or_else(|| StoreError::NotFound(format!("client {id} does not exist")))
            })
            .await
    }

    async fn update_wf_client(
        &self,
        account_id: i64,
        actor: &Actor,
        id: i64,
        patch: ClientPatch,
    ) -> StoreResult<WfClient> {
        let actor = actor.clone();
        self.db
            .write(move |conn| {
                let Some(before) = list_clients(conn, account_id, Some(id))?.into_iter().next()
                else {
                    return Err(StoreError::NotFound(format!("client {id} does not exist")));
                };
                if let Some(alias) = &patch.alias {
                    conn.prepare_cached("UPDATE wf_clients SET alias = ?1 WHERE id = ?2")?
                        .execute(params![alias, id])?;
                }
                if let Some(email) = &patch.employee_email {
                    conn.prepare_cached("UPDATE wf_clients SET employee_email = ?1 WHERE id = ?2")?
                        .execute(params![email, id])?;
                }
                let after = list_clients(conn, account_id, Some(id))?
                    .into_iter()
                    .next()
                    .ok_or_else(|| StoreError::NotFound(format!("client {id} does not exist")))?;
                let action = AuditAction::client_updated(&before, &after);
                audit::append(conn, account_id, &actor, &action)?;
                Ok(after)
            })
            .await
    }

    async fn wf_computers(
        &self,
        account_id: i64,
        scoping: Scoping,
    ) -> StoreResult<Vec<WfComputer>> {
        self.db
            .read(move |conn| {
                Ok(list_computers(conn, account_id, None)?
                    .into_iter()
                    .filter(|c| sees_member(&scoping.viewable_groups, &c.groups))
                    .collect())
            })
            .await
    }

    async fn wf_computer(
        &self,
        account_id: i64,
        scoping: Scoping,
        id: i64,
    ) -> StoreResult<WfComputer> {
        self.db
            .read(move |conn| {
                list_computers(conn, account_id, Some(id))?
                    .into_iter()
                    .find(|c| sees_member(&scoping.viewable_groups, &c.groups))
                    .ok_or_else(|| StoreError::NotFound(format!("computer {id} does not exist")))
            })
            .await
    }

    async fn update_wf_computer(
        &self,
        account_id: i64,
        actor: &Actor,
        id: i64,
        patch: ComputerPatch,
    ) -> StoreResult<WfComputer> {
        let actor = actor.clone();
        self.db
            .write(move |conn| {
                let Some(before) = list_computers(conn, account_id, Some(id))?
                    .into_iter()
                    .next()
                else {
                    return Err(StoreError::NotFound(format!(
                        "computer {id} does not exist"
                    )));
                };
                if let Some(alias) = &patch.alias {
                    conn.prepare_cached("UPDATE wf_computers SET alias = ?1 WHERE id = ?2")?
                        .execute(params![alias, id])?;
                }
                let after = list_computers(conn, account_id, Some(id))?
                    .into_iter()
                    .next()
                    .ok_or_else(|| StoreError::NotFound(format!("computer {id} does not exist")))?;
                let action = AuditAction::computer_updated(&before, &after);
                audit::append(conn, account_id, &actor, &action)?;
                Ok(after)
            })
            .await
    }

    async fn merge_wf(
        &self,
        account_id: i64,
        actor: &Actor,
        kind: Member,
        from: i64,
        into: i64,
    ) -> StoreResult<MoveOutcome> {
        let actor = actor.clone();
        let texts = Arc::clone(&self.wf_texts);
        self.db
            .write(move |conn| {
                super::wf_directory::merge(conn, &texts, account_id, &actor, kind, (from, into))
            })
            .await
    }

    async fn delete_wf(
        &self,
        account_id: i64,
        actor: &Actor,
        kind: Member,
        id: i64,
    ) -> StoreResult<u64> {
        let actor = actor.clone();
        self.db
            .write(move |conn| super::wf_directory::delete(conn, account_id, &actor, kind, id))
            .await
    }

    async fn groups(&self, account_id: i64, viewable: Option<Vec<i64>>) -> StoreResult<Vec<Group>> {
        self.db
            .read(move |conn| {
                let ids: Vec<i64> = conn
                    .prepare_cached("SELECT id FROM wf_groups WHERE account_id = ?1 ORDER BY id")?
                    .query_map([account_id], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                ids.into_iter()
                    .filter(|id| sees_group(&viewable, *id))
                    .map(|id| load_group(conn, account_id, id))
                    .collect()
            })
            .await
    }

    async fn group(
        &self,
        account_id: i64,
        viewable: Option<Vec<i64>>,
        id: i64,
    ) -> StoreResult<Group> {
        if !sees_group(&viewable, id) {
            return Err(StoreError::NotFound(format!("group {id} does not exist")));
        }
        self.db
            .read(move |conn| load_group(conn, account_id, id))
            .await
    }

    async fn create_group(
        &self,
        account_id: i64,
        actor: &Actor,
        name: String,
        clients: Vec<i64>,
        computers: Vec<i64>,
    ) -> StoreResult<i64> {
        let actor = actor.clone();
        self.db
            .write(move |conn| {
                check_group_name(conn, account_id, &name, 0)?;
                let id: i64 = conn
                    .prepare_cached(
                        "INSERT INTO wf_groups (account_id, name, created_ms) VALUES (?1, ?2, ?3)
                         RETURNING id",
                    )?
                    .query_row(params![account_id, name, now_ms()], |r| r.get(0))?;
                set_members(conn, account_id, id, KIND_CLIENT, &clients)?;
                set_members(conn, account_id, id, KIND_COMPUTER, &computers)?;
                audit::append(
                    conn,
                    account_id,
                    &actor,
                    &AuditAction::GroupCreated {
                        group_id: id,
                        name,
                        clients,
                        computers,
                    },
                )?;
                Ok(id)
            })
            .await
    }

    async fn update_group(
        &self,
        account_id: i64,
        actor: &Actor,
        id: i64,
        patch: GroupPatch,
    ) -> StoreResult<Group> {
        let actor = actor.clone();
        self.db
            .write(move |conn| {
                load_group(conn, account_id, id)?;
                if let Some(name) = &patch.name {
                    check_group_name(conn, account_id, name, id)?;
                    conn.prepare_cached("UPDATE wf_groups SET name = ?1 WHERE id = ?2")?
                        .execute(params![name, id])?;
                }
                if let Some(clients) = &patch.clients {
                    set_members(conn, account_id, id, KIND_CLIENT, clients)?;
                }
                if let Some(computers) = &patch.computers {
                    set_members(conn, account_id, id, KIND_COMPUTER, computers)?;
                }
                let group = load_group(conn, account_id, id)?;
                audit::append(
                    conn,
                    account_id,
                    &actor,
                    &AuditAction::GroupUpdated {
                        group_id: id,
                        name: group.name.clone(),
                        clients: group.clients.clone(),
                        computers: group.computers.clone(),
                    },
                )?;
                Ok(group)
            })
            .await
    }

    async fn delete_group(&self, account_id: i64, actor: &Actor, id: i64) -> StoreResult<()> {
        let actor = actor.clone();
        self.db
            .write(move |conn| {
                let group = load_group(conn, account_id, id)?;
                conn.prepare_cached("DELETE FROM wf_group_members WHERE group_id = ?1")?
                    .execute([id])?;
                conn.prepare_cached("DELETE FROM wf_groups WHERE id = ?1")?
                    .execute([id])?;
                audit::append(
                    conn,
                    account_id,
                    &actor,
                    &AuditAction::GroupDeleted {
                        group_id: id,
                        name: group.name,
                    },
                )?;
                Ok(())
            })
            .await
    }

    async fn classifications(&self, account_id: i64) -> StoreResult<ClassificationSet> {
        self.db
            .read(move |conn| load_classifications(conn, account_id))
            .await
    }

    async fn put_classifications(
        &self,
        account_id: i64,
        actor: &Actor,
        set: ClassificationSet,
    ) -> StoreResult<()> {
        let actor = actor.clone();
        let body = serde_json::to_string(&set)
            .map_err(|e| StoreError::Internal(format!("cannot encode classifications: {e}")))?;
        self.db
            .write(move |conn| {
                overridden_groups_exist(
                    conn,
                    account_id,
                    set.group_overrides.iter().map(|o| o.group_id),
                )?;
                let before = load_classifications(conn, account_id)?;
                conn.prepare_cached(
                    "INSERT INTO wf_classifications (account_id, body, updated_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT (account_id) DO UPDATE SET body = excluded.body,
                         updated_ms = excluded.updated_ms",
                )?
                .execute(params![account_id, body, now_ms()])?;
                audit::append(
                    conn,
                    account_id,
                    &actor,
                    &AuditAction::ClassificationChanged { before, after: set },
                )?;
                Ok(())
            })
            .await
    }

    async fn working_hours(
        &self,
        account_id: i64,
        query: WorkingHoursQuery,
    ) -> StoreResult<WorkingHoursPage> {
        let day_keys = self.wf_day_keys.clone();
        self.db
            .read(move |conn| super::wf_hours::working_hours(conn, &day_keys, account_id, &query))
            .await
    }

    async fn activity_log(
        &self,
        account_id: i64,
        query: ActivityLogQuery,
    ) -> StoreResult<ActivityLogPage> {
        // A cursor scan asks for page after page: each is on its critical path.
        self.db
            .read_in_place(move |conn| activity_log(conn, account_id, &query))
            .await
    }
}

/// Deletes activity older than each account's `activityRetentionDays`: whole
/// local days before the cut-off day go from the rollups, and raw records whose
/// last day is before it, so the reports and the log agree with what remains.
pub(crate) fn apply_retention(conn: &Connection, now_ms: i64) -> StoreResult<()> {
    let accounts: Vec<(i64, String, i64)> = conn
        .prepare_cached("SELECT id, time_zone, activity_retention_days FROM accounts")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    for (account_id, zone, days) in accounts {
        let tz = time::parse_time_zone(&zone).unwrap_or(jiff::tz::TimeZone::UTC);
        let cutoff_ms = now_ms.saturating_sub(days.saturating_mul(86_400_000));
        let cutoff_day = time::day_number(time::local_date(cutoff_ms, &tz));
        // The day bounds give the log-id range of every record dated before the
        // cut-off; the end day keeps those that reach into retained days.
        // Deleting drops the strings no other record names (migration 0017).
        if let Some((first, last)) = wf_runs::through_day(conn, account_id, cutoff_day - 1)? {
            let deleted = conn
                .prepare_cached(
                    "DELETE FROM wf_records WHERE account_id = ?1 AND log_id BETWEEN ?3 AND ?4
                         AND day < ?2 AND day + end_days < ?2",
                )?
                .execute(params![account_id, cutoff_day, first, last])?;
            wf_runs::prune_days(conn, account_id, cutoff_day)?;
            if deleted > 0 {
                wf_runs::prune_runs(conn, account_id)?;
            }
        }
        // A stretch that ends before the cut-off day has only deleted records.
        conn.prepare_cached("DELETE FROM wf_idle_stretches WHERE account_id = ?1 AND end_ms < ?2")?
            .execute(params![
                account_id,
                time::start_of_day_ms(time::date_of_day_number(cutoff_day), &tz)
            ])?;
        for table in [
            "wf_day_span",
            "wf_day_active",
            "wf_day_idle",
            "wf_day_counts",
        ] {
            conn.prepare_cached(&format!(
                "DELETE FROM {table} WHERE account_id = ?1 AND day < ?2"
            ))?
            .execute(params![account_id, cutoff_day])?;
        }
    }
    Ok(())
}

/// Refuses group overrides (of classifications or of the privacy policy) that
/// name groups the account does not have, naming each by its index.
pub(super) fn overridden_groups_exist(
    conn: &Connection,
    account_id: i64,
    group_ids: impl Iterator<Item = i64>,
) -> StoreResult<()> {
    let mut items = Vec::new();
    let mut exists =
        conn.prepare_cached("SELECT count(*) FROM wf_groups WHERE account_id = ?1 AND id = ?2")?;
    for (index, group_id) in group_ids.enumerate() {
        if exists.query_row([account_id, group_id], |r| r.get::<_, i64>(0))? == 0 {
            items.push(ItemError {
                index: Some(index),
                field: Some("groupOverrides.groupId".into()),
                message: format!("group {group_id} does not exist"),
            });
        }
    }
    if items.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            message: "group overrides name groups that do not exist".into(),
            items,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::DatabaseKey;

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
