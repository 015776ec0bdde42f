//! Agent ingest: one transaction per batch, serialized per account by the
//! workforce advisory lock (taken first, so log ids are handed out in commit
//! order; see the module doc of `workforce`). Every table is written with one
//! multi-row statement per batch: the computer and client upserts, the
//! activities, the records (`unnest … ON CONFLICT DO NOTHING RETURNING`, whose
//! rows are exactly the records accepted), then the rollups, added to only for
//! the records that were inserted: active and whole idle time per activity
//! (`wf_day_time`), the idle histogram (`wf_day_idle`), and the spans with the
//! per-day counts of users and computers (`wf_day_counts`, one statement).
//! Independent statements are pipelined.

use std::collections::{BTreeMap, HashMap, HashSet};

use deadpool_postgres::GenericClient;
use rollcall_core::workforce::Piece;

use super::INGEST_LOCK;
use crate::workforce::{ActivityBatch, IngestOutcome, NewRecord};
use crate::{StoreError, StoreResult};

/// Stores one batch inside `tx`; `pieces[i]` are record i's parts per local date.
pub(super) async fn write_batch(
    tx: &impl GenericClient,
    account_id: i64,
    batch: &ActivityBatch,
    pieces: &[Vec<Piece>],
) -> StoreResult<IngestOutcome> {
    // The lock comes first, alone: every later statement of the transaction,
    // and every id it takes, is then ordered after the previous ingest's commit.
    let stmt = tx
        .prepare_cached("SELECT pg_advisory_xact_lock($1, $2)")
        .await?;
    tx.execute(&stmt, &[&INGEST_LOCK, &lock_key(account_id)])
        .await?;
    let keys = ActivityKeys::of(&batch.records);
    let ((computer_id, client_id), activity_ids) =
        tokio::try_join!(register(tx, account_id, batch), keys.upsert(tx, account_id))?;

    let (candidates, repeated) = candidates(batch, pieces, &activity_ids)?;
    let inserted =
        insert_records(tx, account_id, computer_id, client_id, batch, &candidates).await?;
    let accepted = inserted.iter().filter(|new| **new).count();
    let outcome = IngestOutcome {
        accepted: accepted as u64,
        duplicates: (repeated + candidates.len() - accepted) as u64,
    };

    let mut rollups = Rollups::default();
    for (c, _) in candidates.iter().zip(&inserted).filter(|(_, new)| **new) {
        rollups.add(c);
    }
    rollups
        .write(tx, account_id, client_id, computer_id)
        .await?;
    Ok(outcome)
}

/// The records offered to the insert, with their activity ids, and how many
/// were left out as repeats of an earlier record of the batch (duplicates, as
/// the embedded store counts them). Records without pieces are skipped, as there.
fn candidates<'b>(
    batch: &'b ActivityBatch,
    pieces: &'b [Vec<Piece>],
    activity_ids: &HashMap<ActivityKey, i64>,
) -> StoreResult<(Vec<Candidate<'b>>, usize)> {
    let mut seen = HashSet::new();
    let mut repeated = 0;
    let mut out = Vec::with_capacity(batch.records.len());
    for (record, parts) in batch.records.iter().zip(pieces) {
        if parts.is_empty() {
            continue;
        }
        if !seen.insert((record.raw_start_ms, record.executable.as_str())) {
            repeated += 1;
            continue;
        }
        out.push(Candidate {
            record,
            parts,
            app_id: id_of(activity_ids, app_key(record))?,
            website_id: site_key(record)
                .map(|k| id_of(activity_ids, k))
                .transpose()?,
        });
    }
    Ok((out, repeated))
}

/// The advisory-lock key of an account (the two-int form; ids beyond `i32`
/// wrap, which only makes two accounts share a lock).
fn lock_key(account_id: i64) -> i32 {
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
                 RETURNING id",
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
                 RETURNING id",
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
    Ok((computer.get(0), client.get(0)))
}

/// An activity: kind `a` (lower-cased executable) or `w` (website domain).
type ActivityKey = (&'static str, String);

fn app_key(r: &NewRecord) -> ActivityKey {
    ("a", r.executable.to_lowercase())
}

fn site_key(r: &NewRecord) -> Option<ActivityKey> {
    r.website.as_ref().map(|d| ("w", d.clone()))
}

fn id_of(ids: &HashMap<ActivityKey, i64>, key: ActivityKey) -> StoreResult<i64> {
    ids.get(&key)
        .copied()
        .ok_or_else(|| StoreError::Internal(format!("no id for activity {key:?}")))
}

/// The distinct activities of a batch, sorted.
struct ActivityKeys {
    keys: Vec<ActivityKey>,
}

impl ActivityKeys {
    fn of(records: &[NewRecord]) -> Self {
        let mut set: HashSet<ActivityKey> = HashSet::new();
        for r in records {
            set.insert(app_key(r));
            set.extend(site_key(r));
        }
        let mut keys: Vec<ActivityKey> = set.into_iter().collect();
        keys.sort();
        ActivityKeys { keys }
    }

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

/// Inserts the candidates with one statement, in batch order (so their log
/// ids are too); returns, for each candidate, whether it was new.
async fn insert_records(
    tx: &impl GenericClient,
    account_id: i64,
    computer_id: i64,
    client_id: i64,
    batch: &ActivityBatch,
    candidates: &[Candidate<'_>],
) -> StoreResult<Vec<bool>> {
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let col = |f: fn(&Candidate<'_>) -> i64| candidates.iter().map(f).collect::<Vec<i64>>();
    let start = col(|c| c.record.start_ms);
    let raw_start = col(|c| c.record.raw_start_ms);
    let duration = col(|c| c.record.duration_s);
    let app = col(|c| c.app_id);
    let day: Vec<i32> = candidates.iter().map(|c| c.parts[0].day).collect();
    let end_day: Vec<i32> = candidates
        .iter()
        .map(|c| c.parts[c.parts.len() - 1].day)
        .collect();
    let exe: Vec<&str> = candidates
        .iter()
        .map(|c| c.record.executable.as_str())
        .collect();
    let description: Vec<&str> = candidates
        .iter()
        .map(|c| c.record.description.as_str())
        .collect();
    let url: Vec<Option<&str>> = candidates.iter().map(|c| c.record.url.as_deref()).collect();
    let website: Vec<Option<i64>> = candidates.iter().map(|c| c.website_id).collect();
    let idle: Vec<bool> = candidates.iter().map(|c| c.record.idle).collect();
    let stmt = tx
        .prepare_cached(
            "INSERT INTO wf_records (account_id, computer_id, client_id, session, start_ms,
                 raw_start_ms, duration_s, day, end_day, executable, description, url, app_id,
                 website_id, idle)
             SELECT $1, $2, $3, $4, u.start_ms, u.raw_start_ms, u.duration_s, u.day, u.end_day,
                 u.executable, u.description, u.url, u.app_id, u.website_id, u.idle
             FROM unnest($5::bigint[], $6::bigint[], $7::bigint[], $8::int[], $9::int[],
                         $10::text[], $11::text[], $12::text[], $13::bigint[], $14::bigint[],
                         $15::bool[])
                 WITH ORDINALITY AS u(start_ms, raw_start_ms, duration_s, day, end_day,
                                      executable, description, url, app_id, website_id, idle,
                                      ord)
             ORDER BY u.ord
             ON CONFLICT (account_id, computer_id, session, raw_start_ms, executable) DO NOTHING
             RETURNING raw_start_ms, executable",
        )
        .await?;
    let rows = tx
        .query(
            &stmt,
            &[
                &account_id,
                &computer_id,
                &client_id,
                &batch.session,
                &start,
                &raw_start,
                &duration,
                &day,
                &end_day,
                &exe,
                &description,
                &url,
                &app,
                &website,
                &idle,
            ],
        )
        .await?;
    // Candidates are distinct by (raw start, executable): the identity within
    // the batch's computer and session.
    let slot: HashMap<(i64, &str), usize> = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| ((c.record.raw_start_ms, c.record.executable.as_str()), i))
        .collect();
    let mut new = vec![false; candidates.len()];
    for row in &rows {
        if let Some(i) = slot.get(&(row.get::<_, i64>(0), row.get::<_, &str>(1))) {
            new[*i] = true;
        }
    }
    Ok(new)
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
/// upserts lock rows in a consistent order.
#[derive(Default)]
struct Rollups {
    time: BTreeMap<(i32, i64), TimeAcc>,
    idle: BTreeMap<(i32, i64, i64, i64), i64>,
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
                    *self
                        .idle
                        .entry((p.day, activity, p.offset_ms, len))
                        .or_default() += 1;
                    let t = self.time.entry((p.day, activity)).or_default();
                    t.idle_ms += len;
                    t.idle_end_ms = t.idle_end_ms.max(p.offset_ms + len);
                }
            } else {
                self.time.entry((p.day, activity)).or_default().active_ms += len;
                span.first_active =
                    Some(span.first_active.map_or(p.start_ms, |f| f.min(p.start_ms)));
                span.last_active = Some(span.last_active.map_or(p.end_ms, |l| l.max(p.end_ms)));
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
        if self.idle.is_empty() {
            return Ok(());
        }
        let day: Vec<i32> = self.idle.keys().map(|k| k.0).collect();
        let activity: Vec<i64> = self.idle.keys().map(|k| k.1).collect();
        let offset: Vec<i64> = self.idle.keys().map(|k| k.2).collect();
        let len: Vec<i64> = self.idle.keys().map(|k| k.3).collect();
        let n: Vec<i64> = self.idle.values().copied().collect();
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
    use crate::workforce::{ClientInfo, ComputerInfo};

    fn record(start_ms: i64, exe: &str, website: Option<&str>, idle: bool) -> NewRecord {
        NewRecord {
            start_ms,
            raw_start_ms: start_ms,
            duration_s: 60,
            executable: exe.into(),
            description: String::new(),
            url: website.map(|w| format!("https://{w}/")),
            website: website.map(Into::into),
            idle,
        }
    }

    fn batch(records: Vec<NewRecord>) -> ActivityBatch {
        ActivityBatch {
            computer: ComputerInfo {
                name: "PC".into(),
                primary_domain: "corp".into(),
                os: String::new(),
                time_zone: None,
                private_ip: String::new(),
                public_ip: String::new(),
            },
            client: ClientInfo {
                login_domain: "CORP".into(),
                name: "u".into(),
            },
            session: 1,
            records,
        }
    }

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
        let keys = ActivityKeys::of(&b.records);
        assert_eq!(keys.keys.len(), 3, "{:?}", keys.keys);
        let ids: HashMap<ActivityKey, i64> = keys.keys.iter().cloned().zip([10, 11, 20]).collect();
        let (c, repeated) = candidates(&b, &pieces, &ids).unwrap();
        assert_eq!(repeated, 1);
        // Executables differ in case: two identities, one application.
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[0].app_id, c[0].website_id),
            (ids[&app_key(&b.records[0])], None)
        );
        assert_eq!(c[1].app_id, c[0].app_id);
        assert!(c[1].website_id.is_some());
        assert!(candidates(&b, &pieces, &HashMap::new()).is_err());
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
        assert_eq!(r.idle.len(), 1);
        assert_eq!(r.idle[&(2, 9, 0, 30_000)], 1);
        assert_eq!(
            r.time[&(2, 9)],
            TimeAcc {
                active_ms: 0,
                idle_ms: 30_000,
                idle_end_ms: 30_000
            }
        );
        let d2 = &r.spans[&2];
        assert_eq!(
            (d2.first_active, d2.last_active),
            (Some(100_000), Some(120_000))
        );
        assert_eq!(d2.last_any, 170_000);
        assert_eq!(r.spans[&1].last_any, 100_000);
    }
}
