//! Agent ingest: one transaction per batch, serialized per account by the
//! workforce advisory lock (taken first, so log ids are handed out in commit
//! order; see the module doc of `workforce`). Every table is written with one
//! multi-row statement per batch: the computer and client upserts, the
//! activities, the records not stored yet (their stored identities are read
//! through the runs, `record_runs`; the rest go in one binary `COPY`, see
//! `record_copy`), then the rollups, added to only for the records that were
//! inserted: active and whole idle time per activity (`wf_day_time`), the
//! idle histogram (`wf_day_idle`), and the spans with the per-day counts of
//! users and computers (`wf_day_counts`, one statement), and the runs and day
//! bounds of the records' log ids (`record_runs`, `record_days`).
//! New idle records join the stored idle stretches of their computer and user
//! (`wf_idle_stretches`, see rollcall-core's `idle_stretch`): the histogram
//! counts each piece at its offset into its stretch, and the stored records of
//! a stretch whose origin moved earlier are moved in it.
//! Independent statements are pipelined. An empty batch stores nothing.

use std::collections::{BTreeMap, HashMap, HashSet};

use deadpool_postgres::{GenericClient, Transaction};
use rollcall_core::idle_stretch::{self, HistogramDelta, NewIdle, Stretch};
use rollcall_core::time;
use rollcall_core::workforce::Piece;

use super::record_copy::{self, Owner, RecordRow};
use super::record_days;
use super::record_runs;
use super::INGEST_LOCK;
use crate::workforce::{ActivityBatch, IngestOutcome, NewRecord};
use crate::{StoreError, StoreResult};

/// Stores one batch inside `tx`; `planned` is its records' plan (see
/// [`Planned::of`]), made before the transaction, split in `zone`.
pub(super) async fn write_batch(
    tx: &Transaction<'_>,
    account_id: i64,
    batch: &ActivityBatch,
    planned: &Planned<'_>,
    zone: &str,
) -> StoreResult<IngestOutcome> {
    if batch.records.is_empty() {
        // Nothing happened on the computer: no phantom computer or client.
        return Ok(IngestOutcome::default());
    }
    // The lock comes first, alone: every later statement of the transaction,
    // and every id it takes, is then ordered after the previous ingest's commit.
    let stmt = tx
        .prepare_cached("SELECT pg_advisory_xact_lock($1, $2)")
        .await?;
    tx.execute(&stmt, &[&INGEST_LOCK, &lock_key(account_id)])
        .await?;
    let (who, activity_ids) = tokio::try_join!(
        async { Ok(register(tx, account_id, batch).await?) },
        planned.activity_ids(tx, account_id)
    )?;
    let outcome = write_records(
        tx,
        account_id,
        (who, batch.session),
        (planned, &activity_ids),
        zone,
    )
    .await?;
    crate::postgres::privacy::count_redactions(
        tx,
        account_id,
        &batch.redaction_keys,
        &outcome.redacted,
    )
    .await?;
    Ok(outcome)
}

/// Stores the planned records of one (computer, client) and session that are
/// not stored yet, with their rollups, inside `tx`, which holds the account's
/// ingest lock; the records were split in `zone`, and `activity_ids` are the
/// ids of the plan's activity keys (see [`Planned::activity_ids`]).
pub(super) async fn write_records(
    tx: &Transaction<'_>,
    account_id: i64,
    (who, session): ((i64, i64), i64),
    (planned, activity_ids): (&Planned<'_>, &[i64]),
    zone: &str,
) -> StoreResult<IngestOutcome> {
    let (computer_id, client_id) = who;
    let candidates = planned.candidates(activity_ids)?;
    let repeated = planned.repeated;
    // The stored stretches the batch's idle records may touch are read while
    // the records are inserted: a superset of those the inserted ones touch.
    let offered: Vec<NewIdle> = candidates
        .iter()
        .filter(|c| c.stretchy())
        .map(|c| c.new_idle())
        .collect();
    let (inserted, existing) = tokio::try_join!(
        insert_new(tx, account_id, who, session, &candidates, zone),
        touching_stretches(tx, account_id, who, &offered)
    )?;
    let accepted = inserted.new.iter().filter(|new| **new).count();
    let mut outcome = IngestOutcome {
        accepted: accepted as u64,
        duplicates: (repeated + candidates.len() - accepted) as u64,
        ..IngestOutcome::default()
    };

    let mut rollups = Rollups::default();
    let mut new_idle: Vec<&Candidate<'_>> = Vec::new();
    let mut new_days: Vec<i32> = Vec::new();
    for (c, new) in candidates.iter().zip(&inserted.new) {
        if *new {
            outcome.redacted.add(c.record.redacted_by);
            rollups.add(c);
            new_days.push(c.parts[0].day);
            if c.stretchy() {
                new_idle.push(c);
            }
        }
    }
    let stretches = merge_stretches(
        tx,
        account_id,
        who,
        &existing,
        (&new_idle, inserted.first_id),
    )
    .await?;
    rollups.idle = stretches.delta;
    rollups.reach_idle();
    tokio::try_join!(
        rollups.write(tx, account_id, client_id, computer_id),
        async {
            stretches
                .changes
                .write(tx, account_id, who)
                .await
                .map_err(StoreError::from)
        },
        async {
            record_days::widen(tx, account_id, new_days, inserted.first_id)
                .await
                .map_err(StoreError::from)
        },
        async {
            let raws = candidates
                .iter()
                .zip(&inserted.new)
                .filter(|(_, new)| **new)
                .map(|(c, _)| c.record.raw_start_ms);
            record_runs::add(tx, account_id, who, session, raws, inserted.first_id)
                .await
                .map_err(StoreError::from)
        },
    )?;
    Ok(outcome)
}

/// The stored stretches of (computer, client) that touch one of `news`' intervals.
async fn touching_stretches(
    tx: &impl GenericClient,
    account_id: i64,
    (computer_id, client_id): (i64, i64),
    news: &[NewIdle],
) -> StoreResult<Vec<Stretch>> {
    if news.is_empty() {
        return Ok(Vec::new());
    }
    let (s, e): (Vec<i64>, Vec<i64>) = idle_stretch::reach(news).into_iter().unzip();
    // Per interval: the stretches starting inside it, and the last one starting
    // before it (stretches are disjoint, so only that one can reach into it).
    let stmt = tx
        .prepare_cached(
            "SELECT DISTINCT st.start_ms, st.end_ms, st.origin_ms
             FROM unnest($4::bigint[], $5::bigint[]) AS u(s, e)
             CROSS JOIN LATERAL (
                 (SELECT start_ms, end_ms, origin_ms FROM wf_idle_stretches
                  WHERE account_id = $1 AND computer_id = $2 AND client_id = $3
                    AND start_ms BETWEEN u.s AND u.e)
                 UNION ALL
                 (SELECT start_ms, end_ms, origin_ms FROM wf_idle_stretches
                  WHERE account_id = $1 AND computer_id = $2 AND client_id = $3
                    AND start_ms < u.s
                  ORDER BY start_ms DESC LIMIT 1)) AS st
             WHERE st.end_ms >= u.s
             ORDER BY st.start_ms",
        )
        .await?;
    let rows = tx
        .query(&stmt, &[&account_id, &computer_id, &client_id, &s, &e])
        .await?;
    Ok(rows
        .iter()
        .map(|r| Stretch {
            start_ms: r.get(0),
            end_ms: r.get(1),
            origin_ms: r.get(2),
        })
        .collect())
}

/// The stretch rows a batch deletes and stores.
#[derive(Default)]
struct StretchChanges {
    removed: Vec<i64>,
    inserted: Vec<Stretch>,
}

impl StretchChanges {
    async fn write(
        &self,
        tx: &impl GenericClient,
        account_id: i64,
        (computer_id, client_id): (i64, i64),
    ) -> Result<(), tokio_postgres::Error> {
        if !self.removed.is_empty() {
            let stmt = tx
                .prepare_cached(
                    "DELETE FROM wf_idle_stretches
                     WHERE account_id = $1 AND computer_id = $2 AND client_id = $3
                       AND start_ms = ANY($4::bigint[])",
                )
                .await?;
            tx.execute(
                &stmt,
                &[&account_id, &computer_id, &client_id, &self.removed],
            )
            .await?;
        }
        if !self.inserted.is_empty() {
            let start: Vec<i64> = self.inserted.iter().map(|s| s.start_ms).collect();
            let end: Vec<i64> = self.inserted.iter().map(|s| s.end_ms).collect();
            let origin: Vec<i64> = self.inserted.iter().map(|s| s.origin_ms).collect();
            let stmt = tx
                .prepare_cached(
                    "INSERT INTO wf_idle_stretches (account_id, computer_id, client_id,
                         start_ms, end_ms, origin_ms)
                     SELECT $1, $2, $3, u.s, u.e, u.o
                     FROM unnest($4::bigint[], $5::bigint[], $6::bigint[]) AS u(s, e, o)",
                )
                .await?;
            tx.execute(
                &stmt,
                &[&account_id, &computer_id, &client_id, &start, &end, &origin],
            )
            .await?;
        }
        Ok(())
    }
}

/// What merging a batch's idle records does: the histogram's changes and the
/// stretch rows to replace.
struct Merged {
    delta: HistogramDelta,
    changes: StretchChanges,
}

/// Plans the merge of the new idle records into the stored stretches
/// `existing`, and reads the stored records of each stretch whose origin
/// moved, to move their histogram pieces: those with log ids below
/// `first_new`, the batch's first (ids of this batch are above every stored
/// one, by the ingest lock).
async fn merge_stretches(
    tx: &impl GenericClient,
    account_id: i64,
    (computer_id, client_id): (i64, i64),
    existing: &[Stretch],
    (new_idle, first_new): (&[&Candidate<'_>], i64),
) -> StoreResult<Merged> {
    let mut delta = HistogramDelta::default();
    if new_idle.is_empty() {
        return Ok(Merged {
            delta,
            changes: StretchChanges::default(),
        });
    }
    let news: Vec<NewIdle> = new_idle.iter().map(|c| c.new_idle()).collect();
    let plan = idle_stretch::plan(existing, &news);
    if !plan.moved.is_empty() {
        let stmt = tx
            .prepare_cached(
                "SELECT start_ms, duration_s, day, split_zone, coalesce(website_id, app_id)
                 FROM wf_records
                 WHERE account_id = $1 AND computer_id = $2 AND client_id = $3
                   AND idle_lead_ms IS NOT NULL AND start_ms BETWEEN $4 AND $5
                   AND log_id < $6",
            )
            .await?;
        let mut zones: HashMap<String, jiff::tz::TimeZone> = HashMap::new();
        for m in &plan.moved {
            let rows = tx
                .query(
                    &stmt,
                    &[
                        &account_id,
                        &computer_id,
                        &client_id,
                        &m.stretch.start_ms,
                        &m.stretch.end_ms,
                        &first_new,
                    ],
                )
                .await?;
            for r in rows {
                let start: i64 = r.get(0);
                let len_ms = r.get::<_, i64>(1) * 1000;
                let tz = match r.get::<_, Option<String>>(3) {
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
                let activity: i64 = r.get(4);
                for p in idle_stretch::stored_pieces(start, len_ms, r.get(2), tz.as_ref()) {
                    let len = p.end_ms - p.start_ms;
                    let old = start - m.stretch.origin_ms + p.offset_ms;
                    delta.add(p.day, activity, old, len, -1);
                    delta.add(p.day, activity, old + m.delta_ms, len, 1);
                }
            }
        }
    }
    for (c, offset) in new_idle.iter().zip(&plan.offsets) {
        let activity = c.website_id.unwrap_or(c.app_id);
        for p in c.parts {
            delta.add(
                p.day,
                activity,
                offset + p.offset_ms,
                p.end_ms - p.start_ms,
                1,
            );
        }
    }
    Ok(Merged {
        delta,
        changes: StretchChanges {
            removed: plan.removed,
            inserted: plan.inserted,
        },
    })
}

/// What can be worked out of a batch's records before its transaction takes
/// the ingest lock: the distinct activity keys (of every record, sorted), and
/// the records that will be offered to the insert, each with the places of
/// its keys, leaving out records without pieces (as the embedded store does)
/// and repeats of an earlier record of the batch (`repeated`: duplicates, as
/// the embedded store counts them).
pub(super) struct Planned<'b> {
    keys: ActivityKeys,
    picks: Vec<Pick<'b>>,
    repeated: usize,
}

/// A record offered to the insert, with its pieces (`pieces[i]` of record i,
/// split per local date) and the places of its application and website in
/// the plan's keys.
struct Pick<'b> {
    record: &'b NewRecord,
    parts: &'b [Piece],
    app: usize,
    site: Option<usize>,
}

impl<'b> Planned<'b> {
    pub fn of(records: &'b [NewRecord], pieces: &'b [Vec<Piece>]) -> Planned<'b> {
        // Each record's keys, numbered as first met, then renumbered in key order.
        let mut place: HashMap<ActivityKey, usize> = HashMap::new();
        let mut number = |key: ActivityKey| {
            let next = place.len();
            *place.entry(key).or_insert(next)
        };
        let slots: Vec<(usize, Option<usize>)> = records
            .iter()
            .map(|r| (number(app_key(r)), site_key(r).map(&mut number)))
            .collect();
        let mut keys: Vec<(ActivityKey, usize)> = place.into_iter().collect();
        keys.sort();
        let mut sorted_place = vec![0; keys.len()];
        for (i, (_, first_met)) in keys.iter().enumerate() {
            sorted_place[*first_met] = i;
        }
        let mut seen = HashSet::new();
        let mut repeated = 0;
        let mut picks = Vec::with_capacity(records.len());
        for ((record, parts), (app, site)) in records.iter().zip(pieces).zip(slots) {
            if parts.is_empty() {
                continue;
            }
            if !seen.insert((record.raw_start_ms, record.executable.as_str())) {
                repeated += 1;
                continue;
            }
            picks.push(Pick {
                record,
                parts,
                app: sorted_place[app],
                site: site.map(|s| sorted_place[s]),
            });
        }
        Planned {
            keys: ActivityKeys {
                keys: keys.into_iter().map(|(k, _)| k).collect(),
            },
            picks,
            repeated,
        }
    }

    /// The ids of the plan's keys, in key order, inserting the new ones.
    pub async fn activity_ids(
        &self,
        tx: &impl GenericClient,
        account_id: i64,
    ) -> StoreResult<Vec<i64>> {
        let ids = self.keys.upsert(tx, account_id).await?;
        self.keys
            .keys
            .iter()
            .map(|key| {
                ids.get(key)
                    .copied()
                    .ok_or_else(|| StoreError::Internal(format!("no id for activity {key:?}")))
            })
            .collect()
    }

    /// The records offered to the insert, with the ids of their activities
    /// (`ids`: of the plan's keys, in key order).
    fn candidates(&self, ids: &[i64]) -> StoreResult<Vec<Candidate<'b>>> {
        let id = |place: usize| {
            ids.get(place)
                .copied()
                .ok_or_else(|| StoreError::Internal(format!("no id for activity key {place}")))
        };
        self.picks
            .iter()
            .map(|p| {
                Ok(Candidate {
                    record: p.record,
                    parts: p.parts,
                    app_id: id(p.app)?,
                    website_id: p.site.map(id).transpose()?,
                })
            })
            .collect()
    }
}

/// The advisory-lock key of an account (the two-int form; ids beyond `i32`
/// wrap, which only makes two accounts share a lock).
pub(super) fn lock_key(account_id: i64) -> i32 {
    account_id as i32
}

/// Upserts the batch's computer and client (pipelined); returns their ids. An
/// empty batch still registers them, seen now.
async fn register(
    tx: &impl GenericClient,
    account_id: i64,
    batch: &ActivityBatch,
) -> Result<(i64, i64), tokio_postgres::Error> {
    let (first, last) = batch.span();
    let c = &batch.computer;
    let computer = async {
        let stmt = tx
            .prepare_cached(
                "INSERT INTO wf_computers AS t (account_id, name, primary_domain, os, time_zone,
                     private_ip, public_ip, first_log_ms, last_log_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (account_id, lower(primary_domain), lower(name)) DO UPDATE SET
                     os = excluded.os, time_zone = excluded.time_zone,
                     private_ip = excluded.private_ip, public_ip = excluded.public_ip,
                     first_log_ms = LEAST(t.first_log_ms, excluded.first_log_ms),
                     last_log_ms = GREATEST(t.last_log_ms, excluded.last_log_ms)
                 RETURNING id, merged_into",
            )
            .await?;
        tx.query_one(
            &stmt,
            &[
                &account_id,
                &c.name,
                &c.primary_domain,
                &c.os,
                &c.time_zone,
                &c.private_ip,
                &c.public_ip,
                &first,
                &last,
            ],
        )
        .await
    };
    let client = async {
        let stmt = tx
            .prepare_cached(
                "INSERT INTO wf_clients AS t (account_id, login_domain, name, first_log_ms,
                     last_log_ms)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (account_id, lower(login_domain), lower(name)) DO UPDATE SET
                     first_log_ms = LEAST(t.first_log_ms, excluded.first_log_ms),
                     last_log_ms = GREATEST(t.last_log_ms, excluded.last_log_ms)
                 RETURNING id, merged_into",
            )
            .await?;
        tx.query_one(
            &stmt,
            &[
                &account_id,
                &batch.client.login_domain,
                &batch.client.name,
                &first,
                &last,
            ],
        )
        .await
    };
    let (computer, client) = tokio::try_join!(computer, client)?;
    // A merged computer or client is an alias: its activity goes to the one it
    // was merged into, which is then seen too.
    let mut ids = [0i64; 2];
    for (slot, (row, table)) in [(computer, "wf_computers"), (client, "wf_clients")]
        .into_iter()
        .enumerate()
    {
        ids[slot] = match row.get::<_, Option<i64>>(1) {
            None => row.get(0),
            Some(into) => {
                tx.execute(
                    &format!(
                        "UPDATE {table} SET first_log_ms = LEAST(first_log_ms, $2),
                             last_log_ms = GREATEST(last_log_ms, $3) WHERE id = $1"
                    ),
                    &[&into, &first, &last],
                )
                .await?;
                into
            }
        };
    }
    Ok((ids[0], ids[1]))
}

/// An activity: kind `a` (lower-cased executable) or `w` (website domain).
pub(super) type ActivityKey = (&'static str, String);

fn app_key(r: &NewRecord) -> ActivityKey {
    ("a", r.executable.to_lowercase())
}

fn site_key(r: &NewRecord) -> Option<ActivityKey> {
    r.website.as_ref().map(|d| ("w", d.clone()))
}

/// The distinct activities of a batch, sorted (see [`Planned::of`]).
struct ActivityKeys {
    keys: Vec<ActivityKey>,
}

impl ActivityKeys {
    /// Inserts the new activities and returns every key's id, in one statement:
    /// the CTE's inserted rows plus the rows that already existed (the outer
    /// query's snapshot does not see the CTE's inserts, so none is counted twice).
    /// A key another transaction inserted after that snapshot (impossible under
    /// the ingest lock, but cheap to cover) is read again by a second statement,
    /// whose snapshot sees it.
    async fn upsert(
        &self,
        tx: &impl GenericClient,
        account_id: i64,
    ) -> Result<HashMap<ActivityKey, i64>, tokio_postgres::Error> {
        if self.keys.is_empty() {
            return Ok(HashMap::new());
        }
        let stmt = tx
            .prepare_cached(
                "WITH input AS (SELECT * FROM unnest($2::text[], $3::text[]) AS u(kind, key)),
                 ins AS (
                     INSERT INTO wf_activities (account_id, kind, key)
                     SELECT $1, kind, key FROM input
                     ON CONFLICT (account_id, kind, key) DO NOTHING
                     RETURNING id, kind, key)
                 SELECT id, kind, key FROM ins
                 UNION ALL
                 SELECT a.id, a.kind, a.key FROM wf_activities a
                 JOIN input USING (kind, key) WHERE a.account_id = $1",
            )
            .await?;
        let mut ids = Self::query_ids(tx, &stmt, account_id, &self.keys).await?;
        let missing: Vec<ActivityKey> = self
            .keys
            .iter()
            .filter(|k| !ids.contains_key(*k))
            .cloned()
            .collect();
        if !missing.is_empty() {
            let stmt = tx
                .prepare_cached(
                    "SELECT a.id, a.kind, a.key FROM wf_activities a
                     JOIN unnest($2::text[], $3::text[]) AS u(kind, key) USING (kind, key)
                     WHERE a.account_id = $1",
                )
                .await?;
            ids.extend(Self::query_ids(tx, &stmt, account_id, &missing).await?);
        }
        Ok(ids)
    }

    /// Runs `stmt` ($1 account, $2 kinds, $3 keys; returns id, kind, key).
    async fn query_ids(
        tx: &impl GenericClient,
        stmt: &tokio_postgres::Statement,
        account_id: i64,
        keys: &[ActivityKey],
    ) -> Result<HashMap<ActivityKey, i64>, tokio_postgres::Error> {
        let kinds: Vec<&str> = keys.iter().map(|k| k.0).collect();
        let names: Vec<&str> = keys.iter().map(|k| k.1.as_str()).collect();
        let rows = tx.query(stmt, &[&account_id, &kinds, &names]).await?;
        Ok(rows
            .iter()
            .map(|row| {
                let kind = if row.get::<_, &str>(1) == "w" {
                    "w"
                } else {
                    "a"
                };
                ((kind, row.get::<_, String>(2)), row.get::<_, i64>(0))
            })
            .collect())
    }
}

/// A record that will be offered to the insert.
struct Candidate<'b> {
    record: &'b NewRecord,
    parts: &'b [Piece],
    app_id: i64,
    website_id: Option<i64>,
}

impl Candidate<'_> {
    /// Whether the record takes part in idle stretches (idle, of positive length).
    fn stretchy(&self) -> bool {
        self.record.idle && self.record.duration_s > 0
    }

    fn new_idle(&self) -> NewIdle {
        let r = self.record;
        NewIdle {
            start_ms: r.start_ms,
            end_ms: r.start_ms + r.duration_s * 1000,
            origin_ms: r.start_ms - r.idle_offset_s * 1000,
        }
    }
}

/// What inserting the candidates stored: `new[i]` tells whether candidate i
/// was (not already there), and `first_id` is the batch's first log id or
/// less: no stored record's id is below it.
struct Inserted {
    new: Vec<bool>,
    first_id: i64,
}

/// The rows of `candidates`, in their order.
fn record_rows<'b>(
    candidates: impl Iterator<Item = &'b Candidate<'b>>,
    zone: &'b str,
) -> Vec<RecordRow<'b>> {
    candidates
        .map(|c| RecordRow {
            start_ms: c.record.start_ms,
            raw_start_ms: c.record.raw_start_ms,
            duration_s: c.record.duration_s,
            day: c.parts[0].day,
            end_day: c.parts[c.parts.len() - 1].day,
            executable: c.record.executable.as_str(),
            description: c.record.description.as_str(),
            url: c.record.url.as_deref(),
            app_id: c.app_id,
            website_id: c.website_id,
            idle: c.record.idle,
            idle_lead_ms: c.stretchy().then(|| c.record.idle_offset_s * 1000),
            split_zone: (c.stretchy() && c.parts.len() > 1).then_some(zone),
        })
        .collect()
}

/// The account's newest log id (0 without records). One backward index seek,
/// not `max(log_id)`: for an account the statistics have not seen yet (its
/// first ingest, or a table autovacuum has not analysed) that was planned as a
/// scan of all its records, under the ingest lock.
const NEWEST_LOG_ID_SQL: &str = "SELECT coalesce((SELECT log_id FROM wf_records
     WHERE account_id = $1 ORDER BY log_id DESC LIMIT 1), 0)";

/// Stores the candidates not stored yet, in batch order (so their log ids are
/// too), with one binary `COPY` (`record_copy`). First, in one flight, the
/// account's newest log id (the batch's ids are above it: ingest lock) and
/// the identities the computer and session stored with raw starts in the
/// batch's range (`record_runs`) are read.
async fn insert_new(
    tx: &Transaction<'_>,
    account_id: i64,
    (computer_id, client_id): (i64, i64),
    session: i64,
    candidates: &[Candidate<'_>],
    zone: &str,
) -> StoreResult<Inserted> {
    let raws = candidates.iter().map(|c| c.record.raw_start_ms);
    let (Some(lo), Some(hi)) = (raws.clone().min(), raws.max()) else {
        return Ok(Inserted {
            new: Vec::new(),
            first_id: i64::MAX,
        });
    };
    let newest = tx.prepare_cached(NEWEST_LOG_ID_SQL).await?;
    let (newest, stored) = tokio::try_join!(
        async { tx.query_one(&newest, &[&account_id]).await },
        record_runs::stored_identities(tx, account_id, (computer_id, session), (lo, hi)),
    )?;
    let newest: i64 = newest.get(0);
    // Candidates are distinct by (raw start, executable): the identity within
    // the batch's computer and session.
    let new: Vec<bool> = candidates
        .iter()
        .map(|c| {
            stored.is_empty()
                || !stored.contains(&(c.record.raw_start_ms, c.record.executable.clone()))
        })
        .collect();
    let fresh = candidates.iter().zip(&new).filter(|(_, n)| **n);
    let rows = record_rows(fresh.map(|(c, _)| c), zone);
    if !rows.is_empty() {
        let owner = Owner {
            account_id,
            computer_id,
            client_id,
            session,
        };
        record_copy::copy_records(tx, &owner, &rows).await?;
    }
    Ok(Inserted {
        new,
        first_id: newest + 1,
    })
}

#[derive(Default)]
struct SpanAcc {
    first_active: Option<i64>,
    last_active: Option<i64>,
    last_any: i64,
}

/// One (day, activity) of `wf_day_time`: active milliseconds, whole idle
/// milliseconds and the furthest an idle piece reaches into its stretch.
#[derive(Default, Debug, PartialEq, Eq)]
struct TimeAcc {
    active_ms: i64,
    idle_ms: i64,
    idle_end_ms: i64,
}

/// The batch's additions to the rollups, keyed in primary-key order so the
/// upserts lock rows in a consistent order. `idle` comes from the stretch merge.
#[derive(Default)]
struct Rollups {
    time: BTreeMap<(i32, i64), TimeAcc>,
    idle: HistogramDelta,
    spans: BTreeMap<i32, SpanAcc>,
}

impl Rollups {
    fn add(&mut self, c: &Candidate<'_>) {
        let activity = c.website_id.unwrap_or(c.app_id);
        for p in c.parts {
            let len = p.end_ms - p.start_ms;
            let span = self.spans.entry(p.day).or_default();
            span.last_any = span.last_any.max(p.end_ms);
            if c.record.idle {
                if len > 0 {
                    self.time.entry((p.day, activity)).or_default().idle_ms += len;
                }
            } else {
                self.time.entry((p.day, activity)).or_default().active_ms += len;
                span.first_active =
                    Some(span.first_active.map_or(p.start_ms, |f| f.min(p.start_ms)));
                span.last_active = Some(span.last_active.map_or(p.end_ms, |l| l.max(p.end_ms)));
            }
        }
    }

    /// Raises each (day, activity)'s `idle_end_ms` to the furthest its new
    /// histogram pieces reach into their stretches (offsets only ever grow).
    fn reach_idle(&mut self) {
        for ((day, activity, offset, len), n) in &self.idle.0 {
            if *n > 0 {
                let t = self.time.entry((*day, *activity)).or_default();
                t.idle_end_ms = t.idle_end_ms.max(offset + len);
            }
        }
    }

    /// Adds to the three rollups, one pipelined statement each.
    async fn write(
        &self,
        tx: &impl GenericClient,
        account_id: i64,
        client_id: i64,
        computer_id: i64,
    ) -> StoreResult<()> {
        tokio::try_join!(
            self.write_time(tx, account_id, client_id, computer_id),
            self.write_idle(tx, account_id, client_id, computer_id),
            self.write_spans(tx, account_id, client_id, computer_id),
        )?;
        Ok(())
    }

    async fn write_time(
        &self,
        tx: &impl GenericClient,
        account_id: i64,
        client_id: i64,
        computer_id: i64,
    ) -> Result<(), tokio_postgres::Error> {
        if self.time.is_empty() {
            return Ok(());
        }
        let day: Vec<i32> = self.time.keys().map(|k| k.0).collect();
        let activity: Vec<i64> = self.time.keys().map(|k| k.1).collect();
        let ms: Vec<i64> = self.time.values().map(|t| t.active_ms).collect();
        let idle: Vec<i64> = self.time.values().map(|t| t.idle_ms).collect();
        let idle_end: Vec<i64> = self.time.values().map(|t| t.idle_end_ms).collect();
        let stmt = tx
            .prepare_cached(
                "INSERT INTO wf_day_time AS t (account_id, day, client_id, computer_id,
                     activity_id, ms, idle_ms, idle_end_ms)
                 SELECT $1, u.day, $2, $3, u.activity_id, u.ms, u.idle_ms, u.idle_end_ms
                 FROM unnest($4::int[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[])
                     AS u(day, activity_id, ms, idle_ms, idle_end_ms)
                 ON CONFLICT (account_id, day, client_id, computer_id, activity_id)
                 DO UPDATE SET ms = t.ms + excluded.ms, idle_ms = t.idle_ms + excluded.idle_ms,
                     idle_end_ms = GREATEST(t.idle_end_ms, excluded.idle_end_ms)",
            )
            .await?;
        tx.execute(
            &stmt,
            &[
                &account_id,
                &client_id,
                &computer_id,
                &day,
                &activity,
                &ms,
                &idle,
                &idle_end,
            ],
        )
        .await?;
        Ok(())
    }

    async fn write_idle(
        &self,
        tx: &impl GenericClient,
        account_id: i64,
        client_id: i64,
        computer_id: i64,
    ) -> Result<(), tokio_postgres::Error> {
        let idle = &self.idle.0;
        if idle.is_empty() {
            return Ok(());
        }
        let day: Vec<i32> = idle.keys().map(|k| k.0).collect();
        let activity: Vec<i64> = idle.keys().map(|k| k.1).collect();
        let offset: Vec<i64> = idle.keys().map(|k| k.2).collect();
        let len: Vec<i64> = idle.keys().map(|k| k.3).collect();
        let n: Vec<i64> = idle.values().copied().collect();
        let stmt = tx
            .prepare_cached(
                "INSERT INTO wf_day_idle AS t (account_id, day, client_id, computer_id,
                     activity_id, offset_ms, len_ms, n)
                 SELECT $1, u.day, $2, $3, u.activity_id, u.offset_ms, u.len_ms, u.n
                 FROM unnest($4::int[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[])
                     AS u(day, activity_id, offset_ms, len_ms, n)
                 ON CONFLICT (account_id, day, client_id, computer_id, activity_id, offset_ms,
                              len_ms)
                 DO UPDATE SET n = t.n + excluded.n",
            )
            .await?;
        tx.execute(
            &stmt,
            &[
                &account_id,
                &client_id,
                &computer_id,
                &day,
                &activity,
                &offset,
                &len,
                &n,
            ],
        )
        .await?;
        if self.idle.has_removals() {
            // Pieces moved away from an offset leave rows at 0.
            let stmt = tx
                .prepare_cached(
                    "DELETE FROM wf_day_idle t
                     USING unnest($4::int[], $5::bigint[], $6::bigint[], $7::bigint[])
                         AS u(day, activity_id, offset_ms, len_ms)
                     WHERE t.account_id = $1 AND t.client_id = $2 AND t.computer_id = $3
                       AND t.day = u.day AND t.activity_id = u.activity_id
                       AND t.offset_ms = u.offset_ms AND t.len_ms = u.len_ms AND t.n <= 0",
                )
                .await?;
            tx.execute(
                &stmt,
                &[
                    &account_id,
                    &client_id,
                    &computer_id,
                    &day,
                    &activity,
                    &offset,
                    &len,
                ],
            )
            .await?;
        }
        Ok(())
    }

    async fn write_spans(
        &self,
        tx: &impl GenericClient,
        account_id: i64,
        client_id: i64,
        computer_id: i64,
    ) -> Result<(), tokio_postgres::Error> {
        if self.spans.is_empty() {
            return Ok(());
        }
        let day: Vec<i32> = self.spans.keys().copied().collect();
        let first: Vec<Option<i64>> = self.spans.values().map(|s| s.first_active).collect();
        let last: Vec<Option<i64>> = self.spans.values().map(|s| s.last_active).collect();
        let any: Vec<i64> = self.spans.values().map(|s| s.last_any).collect();
        // LEAST and GREATEST ignore NULLs: a day without active time keeps NULL
        // until an active record arrives. Every part of the statement sees the
        // spans as they were before it, so `fresh` tells which days gain their
        // first row of this client or of this computer; the ingest lock makes
        // that exact (no other ingest of the account runs meanwhile).
        let stmt = tx
            .prepare_cached(
                "WITH u AS (
                     SELECT * FROM unnest($4::int[], $5::bigint[], $6::bigint[], $7::bigint[])
                         AS u(day, first_active_ms, last_active_ms, last_any_ms)),
                 fresh AS (
                     SELECT u.day,
                            NOT EXISTS (SELECT 1 FROM wf_day_span s WHERE s.account_id = $1
                                        AND s.day = u.day AND s.client_id = $2) AS new_user,
                            NOT EXISTS (SELECT 1 FROM wf_day_span s WHERE s.account_id = $1
                                        AND s.day = u.day AND s.computer_id = $3) AS new_computer
                     FROM u),
                 counts AS (
                     INSERT INTO wf_day_counts AS c (account_id, day, users, computers)
                     SELECT $1, day, new_user::int, new_computer::int FROM fresh
                     WHERE new_user OR new_computer
                     ORDER BY day
                     ON CONFLICT (account_id, day) DO UPDATE SET
                         users = c.users + excluded.users,
                         computers = c.computers + excluded.computers)
                 INSERT INTO wf_day_span AS t (account_id, day, client_id, computer_id,
                     first_active_ms, last_active_ms, last_any_ms)
                 SELECT $1, u.day, $2, $3, u.first_active_ms, u.last_active_ms, u.last_any_ms
                 FROM u
                 ON CONFLICT (account_id, day, client_id, computer_id) DO UPDATE SET
                     first_active_ms = LEAST(t.first_active_ms, excluded.first_active_ms),
                     last_active_ms = GREATEST(t.last_active_ms, excluded.last_active_ms),
                     last_any_ms = GREATEST(t.last_any_ms, excluded.last_any_ms)",
            )
            .await?;
        tx.execute(
            &stmt,
            &[
                &account_id,
                &client_id,
                &computer_id,
                &day,
                &first,
                &last,
                &any,
            ],
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workforce::fixtures::{batch, record};

    fn piece(day: i32, start_ms: i64, end_ms: i64, offset_ms: i64) -> Piece {
        Piece {
            day,
            start_ms,
            end_ms,
            offset_ms,
        }
    }

    #[test]
    fn repeats_in_a_batch_are_duplicates_and_records_without_pieces_are_skipped() {
        let b = batch(vec![
            record(1_000, "A.exe", None, false),
            record(1_000, "A.exe", None, true),
            record(1_000, "a.exe", Some("x.com"), false),
            record(2_000, "b.exe", None, false),
        ]);
        let pieces = vec![
            vec![piece(1, 1_000, 61_000, 0)],
            vec![piece(1, 1_000, 61_000, 0)],
            vec![piece(1, 1_000, 61_000, 0)],
            vec![],
        ];
        let plan = Planned::of(&b.records, &pieces);
        // Keys of every record (skipped ones too), sorted: two applications
        // (executables lower-cased) and a website.
        assert_eq!(
            plan.keys.keys,
            vec![
                ("a", "a.exe".to_string()),
                ("a", "b.exe".to_string()),
                ("w", "x.com".to_string())
            ]
        );
        assert_eq!(plan.repeated, 1);
        let c = plan.candidates(&[10, 11, 20]).unwrap();
        // Executables differ in case: two identities, one application.
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].app_id, c[0].website_id), (10, None));
        assert_eq!((c[1].app_id, c[1].website_id), (10, Some(20)));
        assert!(plan.candidates(&[10]).is_err());
    }

    #[test]
    fn rollups_add_active_time_idle_pieces_and_spans_per_day() {
        let active = record(0, "a.exe", None, false);
        let idle = record(0, "a.exe", None, true);
        let mut r = Rollups::default();
        // Active across midnight: 10 s on day 1, 20 s on day 2.
        r.add(&Candidate {
            record: &active,
            parts: &[
                piece(1, 90_000, 100_000, 0),
                piece(2, 100_000, 120_000, 10_000),
            ],
            app_id: 7,
            website_id: None,
        });
        // Idle on day 2, with a zero-length piece that only moves the last log.
        r.add(&Candidate {
            record: &idle,
            parts: &[
                piece(2, 130_000, 160_000, 0),
                piece(2, 170_000, 170_000, 30_000),
            ],
            app_id: 7,
            website_id: Some(9),
        });
        assert_eq!(r.time[&(1, 7)].active_ms, 10_000);
        assert_eq!(r.time[&(2, 7)].active_ms, 20_000);
        // The histogram comes from the stretch merge, which sets how far idle
        // pieces reach.
        assert!(r.idle.0.is_empty());
        assert_eq!(
            r.time[&(2, 9)],
            TimeAcc {
                active_ms: 0,
                idle_ms: 30_000,
                idle_end_ms: 0
            }
        );
        r.idle.add(2, 9, 0, 30_000, 1);
        r.reach_idle();
        assert_eq!(r.time[&(2, 9)].idle_end_ms, 30_000);
        let d2 = &r.spans[&2];
        assert_eq!(
            (d2.first_active, d2.last_active),
            (Some(100_000), Some(120_000))
        );
        assert_eq!(d2.last_any, 170_000);
        assert_eq!(r.spans[&1].last_any, 100_000);
    }

    /// The newest log id, read under the ingest lock, is one backward index
    /// seek even for an account the statistics have not seen (as `max`, it
    /// was planned as a scan of all the account's records).
    #[tokio::test]
    #[ignore = "needs PostgreSQL: scripts/test.sh runs it under scripts/with-postgres.sh"]
    async fn the_newest_log_id_of_an_account_unknown_to_the_statistics_is_one_seek() {
        let store = crate::postgres::test_db::fresh_store("newest_log_id").await;
        let db = store.client().await.expect("client");
        let add = |account: i64| {
            format!(
                "INSERT INTO wf_records (account_id, computer_id, client_id, session, start_ms,
                     raw_start_ms, duration_s, day, end_day, executable, description, app_id, idle)
                 SELECT {account}, 1, 1, 1, i, i, 1, 0, 0, 'x', '', 1, false
                 FROM generate_series(1, 20000) AS i"
            )
        };
        db.batch_execute(&format!("{}; ANALYZE wf_records; {}", add(1), add(2)))
            .await
            .expect("records");
        db.batch_execute(&format!(
            "SET plan_cache_mode = force_custom_plan; PREPARE newest(bigint) AS {NEWEST_LOG_ID_SQL}"
        ))
        .await
        .expect("prepare");
        let plan: Vec<String> = db
            .query(
                "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) EXECUTE newest(2)",
                &[],
            )
            .await
            .expect("explain")
            .iter()
            .map(|r| r.get(0))
            .collect();
        let plan = plan.join("\n");
        assert!(plan.contains("Index Only Scan Backward"), "{plan}");
        assert!(!plan.contains("rows=20000"), "{plan}");
        let newest: i64 = db
            .query_one("EXECUTE newest(2)", &[])
            .await
            .expect("newest")
            .get(0);
        assert_eq!(newest, 40_000);
    }

    /// Runs: a resent record is found through the run of the write that
    /// stored it, whatever batch carries it; retention forgets the runs whose
    /// records it deleted and keeps the others.
    #[tokio::test]
    #[ignore = "needs PostgreSQL: scripts/test.sh runs it under scripts/with-postgres.sh"]
    async fn runs_find_resent_records_and_retention_forgets_only_emptied_ones() {
        use crate::workforce::WorkforceStore;
        let store = crate::postgres::test_db::fresh_store("record_runs").await;
        let db = store.client().await.expect("client");
        let account: i64 = db
            .query_one(
                "INSERT INTO accounts (name, created_ms, activity_retention_days)
                 VALUES ('a', 0, 30) RETURNING id",
                &[],
            )
            .await
            .expect("account")
            .get(0);
        let now = 1_800_000_000_000_i64;
        let day = 86_400_000;
        let minutes = |from: i64, n: i64| {
            (0..n).map(move |i| record(from + i * 60_000, "a.exe", None, false))
        };
        let in_utc = |records: Vec<NewRecord>| {
            let mut b = batch(records);
            b.computer.time_zone = Some("UTC".into());
            b
        };
        let ingest = |records: Vec<NewRecord>| {
            let store = &store;
            let b = in_utc(records);
            async move {
                let o = store.ingest_activity(account, b).await.expect("ingest");
                (o.accepted, o.duplicates)
            }
        };
        let old = now - 100 * day;
        let recent = now - 2 * day;
        assert_eq!(ingest(minutes(old, 30).collect()).await, (30, 0));
        assert_eq!(ingest(minutes(recent, 30).collect()).await, (30, 0));
        // Both writes' records again, among new ones, in one batch.
        let mixed: Vec<NewRecord> = minutes(old + 20 * 60_000, 20)
            .chain(minutes(recent + 25 * 60_000, 10))
            .collect();
        assert_eq!(ingest(mixed).await, (15, 15));
        async fn runs(db: &deadpool_postgres::Object) -> Vec<(i64, i64)> {
            db.query(
                "SELECT min_raw_ms, max_raw_ms FROM wf_record_runs ORDER BY min_raw_ms",
                &[],
            )
            .await
            .expect("runs")
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
        }
        assert_eq!(
            runs(&db).await,
            vec![
                (old, old + 29 * 60_000),
                (old + 30 * 60_000, old + 39 * 60_000),
                (recent, recent + 29 * 60_000),
                (recent + 30 * 60_000, recent + 34 * 60_000),
            ]
        );
        super::super::apply_retention(&db, now)
            .await
            .expect("retention");
        assert_eq!(
            runs(&db).await,
            vec![
                (recent, recent + 29 * 60_000),
                (recent + 30 * 60_000, recent + 34 * 60_000),
            ]
        );
        assert_eq!(ingest(minutes(recent, 35).collect()).await, (0, 35));
    }
}
