//! Agent ingest with its per-day rollups: one write closure per agent batch
//! registers the computer and client, stores the records (interned strings,
//! log ids from the runs), and adds to the rollups (`wf_day_active`,
//! `wf_day_idle`, `wf_day_span`) and the idle stretches.
//!
//! Ingest also counts, per local day, the users and computers that have
//! activity (`wf_day_counts`), so an unfiltered working-hours total is a sum over
//! the days rather than a grouping of every rollup row; filtered totals group.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rollcall_core::idle_stretch::{self, HistogramDelta, NewIdle, Stretch};
use rollcall_core::time;
use rollcall_core::workforce::{DaySplitter, Piece};
use rusqlite::{params, Connection, OptionalExtension};

use super::record_rows::{self, RecordRow};
use super::runs;
use super::texts::{ActivityKind, TextIds};
use crate::sqlite::admin::load_settings;
use crate::sqlite::SqliteStore;
use crate::workforce::{ActivityBatch, IngestOutcome, NewRecord};
use crate::{StoreError, StoreResult};

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
    crate::sqlite::privacy::count_redactions(
        conn,
        account_id,
        &batch.redaction_keys,
        &outcome.redacted,
    )?;
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
            runs::stored_identities(conn, account_id, (computer_id, session), (lo, hi))?
        }
        _ => Default::default(),
    };
    let mut runs = runs::RunWriter::new(conn, account_id, (computer_id, client_id), session)?;
    let mut rows: Vec<RecordRow<'_>> = Vec::with_capacity(records.len());
    for (index, (record, parts)) in records.iter().zip(pieces).enumerate() {
        let app_id = interner.activity(ActivityKind::App, &record.executable.to_lowercase())?;
        let website_id = match &record.website {
            None => None,
            Some(domain) => Some(interner.activity(ActivityKind::Website, domain)?),
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
        rows.push(RecordRow {
            account_id,
            log_id,
            computer_id,
            client_id,
            session,
            start_ms: record.start_ms,
            raw_skew_ms: record.raw_start_ms - record.start_ms,
            duration_s: record.duration_s,
            day: first_piece.day,
            end_days: last_piece.day - first_piece.day,
            exe_id,
            title_id,
            url_id,
            app_id,
            website_id,
            idle: record.idle,
            idle_lead_ms: idle_lead,
            split_zone,
        });
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
    record_rows::insert(conn, &rows)?;
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

/// Splits the batch's records into local days (in the computer's zone, else
/// the account's) off the writer thread, then stores it in one write.
pub(super) async fn ingest_activity(
    store: &SqliteStore,
    account_id: i64,
    batch: ActivityBatch,
) -> StoreResult<IngestOutcome> {
    let zone_name = match &batch.computer.time_zone {
        Some(tz) => tz.clone(),
        None => {
            store
                .db
                .read(move |conn| Ok(load_settings(conn, account_id)?.time_zone))
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
    let texts = Arc::clone(&store.wf_texts);
    store
        .db
        .write(move |conn| write_batch(conn, &texts, account_id, &batch, &pieces, &zone_name))
        .await
}
