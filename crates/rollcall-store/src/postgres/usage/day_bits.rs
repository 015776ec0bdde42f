//! PostgreSQL's reads of the per-(event, local day) bitmaps an insight reads
//! (`usage_day_bits`), through the bitmaps this store keeps
//! (`crate::usage::kept_day_bits`).
//!
//! A bitmap is kept with the `xmin` of the row it was read from: the
//! transaction that wrote that version of the row. Every change of a bitmap
//! (a push's upsert, an erasure's rewrite, a delete and a new insert) writes a
//! new row version with its own transaction's id, through whichever process,
//! so writers maintain nothing. A read sends the versions it keeps for the
//! window with its one statement, which returns a bitmap's bytes only when
//! the row's `xmin` differs: beside constant ingest only today's bitmaps come
//! over the wire again, and the read is still the one statement of the
//! insight's first flight.
//!
//! `xmin` is a 32-bit counter, so a row rewritten exactly 2^32 transactions
//! later would carry the same one again: a kept bitmap is offered for a match
//! only for an hour after its bytes were read (`kept_day_bits::OFFERED_FOR`).

use std::collections::HashMap;
use std::sync::Arc;

use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;

use crate::usage::kept_day_bits::{DayKey, Kept, KeptDayBits};
use crate::usage::{DayBits, EventSel, InsightQuery};
use crate::{StoreError, StoreResult};

/// At most this many (event, day) slots of kept versions go with a read
/// (128 KB): events with higher ids are read whole.
const MAX_SLOTS: usize = 16_384;

/// The per-day bitmaps of any event.
const ANY_SQL: &str = "SELECT '', 0, day, xmin::text::bigint,
            CASE WHEN 0 < $6 AND ($5::bigint[])[day - $3 + 1] = xmin::text::bigint
                 THEN NULL ELSE bits END
     FROM usage_day_bits
     WHERE account_id = $1
       AND app = (SELECT id FROM usage_apps WHERE account_id = $1 AND app_id = $2)
       AND event_id = 0 AND day BETWEEN $3 AND $4 ORDER BY day";

/// The bitmaps of the events (all, or those `$filter` keeps), per event in
/// id order and day.
macro_rules! per_event_sql {
    ($filter:literal) => {
        concat!(
            "SELECT n.name, n.event_id, d.day, d.version,
                    CASE WHEN n.event_id < $6
                              AND ($5::bigint[])[n.event_id * ($4 - $3 + 1) + d.day - $3 + 1]
                                  = d.version
                         THEN NULL ELSE d.bits END
             FROM usage_event_names n,
             LATERAL (SELECT day, xmin::text::bigint AS version, bits FROM usage_day_bits b
                      WHERE b.account_id = n.account_id AND b.app = n.app
                        AND b.event_id = n.event_id AND b.day BETWEEN $3 AND $4
                      OFFSET 0) AS d
             WHERE n.account_id = $1
               AND n.app = (SELECT id FROM usage_apps WHERE account_id = $1 AND app_id = $2)",
            $filter,
            " ORDER BY n.event_id, d.day"
        )
    };
}

/// The bitmaps of every event.
const ALL_SQL: &str = per_event_sql!("");

/// The bitmaps of a feature group's events (`$7`).
pub(super) const GROUP_SQL: &str = per_event_sql!(" AND n.name = ANY($7::text[])");

/// The statement [`read`] runs for `sel`.
pub(super) fn sql(sel: &EventSel) -> &'static str {
    match sel {
        EventSel::Any => ANY_SQL,
        EventSel::All => ALL_SQL,
        EventSel::Group(_) => GROUP_SQL,
    }
}

/// The kept bitmaps of a read's window, as its statement's parameters:
/// `versions[event * days + (day - from)]` is the `xmin` a bitmap is kept at
/// (0, never a row's, where none is), for the events below `events`.
#[derive(Debug)]
struct Known {
    versions: Vec<i64>,
    events: i32,
    bits: HashMap<DayKey, Arc<[u8]>>,
}

impl Known {
    fn of(kept: Vec<Kept>, (from, to): (i32, i32)) -> Known {
        let days = (to - from + 1) as usize;
        let highest = kept.iter().map(|k| k.key.0 + 1).max().unwrap_or(0);
        let events = highest.clamp(0, (MAX_SLOTS / days) as i64) as usize;
        let mut versions = vec![0; events * days];
        let mut bits = HashMap::with_capacity(kept.len());
        for k in kept {
            let (event, day) = k.key;
            if (0..events as i64).contains(&event) && (from..=to).contains(&day) {
                versions[event as usize * days + (day - from) as usize] = k.version;
                bits.insert(k.key, k.bits);
            }
        }
        Known {
            versions,
            events: events as i32,
            bits,
        }
    }
}

/// The bitmaps of the selected events on the query's days, per event (in
/// event-id order) and day; `names` are the group's events for
/// [`EventSel::Group`]. The app is named by its public id (a subquery finds
/// its internal one). Per event one primary-key range scan: the lateral
/// subquery (`OFFSET 0` keeps it from being flattened) stops the planner from
/// scanning all the app's days and filtering, which it may choose on stale
/// statistics. Bitmaps kept at their row's version come from `kept`; the
/// others are read, and kept.
pub(super) async fn read(
    tx: &impl GenericClient,
    kept: &KeptDayBits,
    (account_id, app_id): (i64, &str),
    query: &InsightQuery,
    names: Option<&[String]>,
) -> StoreResult<Vec<DayBits>> {
    let (from, to) = (query.from_day, query.to_day);
    if from > to {
        return Ok(Vec::new());
    }
    let names = match &query.events {
        EventSel::Group(_) => match names {
            Some(names) if !names.is_empty() => Some(names),
            _ => return Ok(Vec::new()),
        },
        _ => None,
    };
    let app = (account_id, app_id);
    let known = Known::of(kept.kept_between(app, (from, to)), (from, to));
    let stmt = tx.prepare_cached(sql(&query.events)).await?;
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![
        &account_id,
        &app_id,
        &from,
        &to,
        &known.versions,
        &known.events,
    ];
    if let Some(names) = &names {
        params.push(names);
    }
    let rows = tx.query(&stmt, &params).await?;
    rows.into_iter()
        .map(|r| {
            let key: DayKey = (i64::from(r.get::<_, i32>(1)), r.get(2));
            let version: i64 = r.get(3);
            let bits = match r.get::<_, Option<Vec<u8>>>(4) {
                Some(read) => {
                    let bits: Arc<[u8]> = read.into();
                    kept.keep(app, key, version, &bits);
                    bits
                }
                None => known.bits.get(&key).cloned().ok_or_else(|| {
                    StoreError::Internal(format!("day bitmap {key:?} neither read nor kept"))
                })?,
            };
            Ok(DayBits::new(r.get(0), key.1, bits))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::test_db::fresh_database;
    use crate::postgres::PgStore;
    use crate::usage::kept_day_bits::scenario;
    use crate::usage::{NewEvent, UsageStore};

    /// The kept bitmaps follow pushes and erasures through this store, and a
    /// push through another process (a second store on the database).
    #[tokio::test]
    #[ignore = "needs PostgreSQL: scripts/test.sh runs it under scripts/with-postgres.sh"]
    async fn kept_day_bitmaps_follow_their_rows_versions() {
        let options = fresh_database("kept_bits").await;
        let store = PgStore::open(&options).await.expect("open");
        let db = store.client().await.expect("client");
        let account: i64 = db
            .query_one(
                "INSERT INTO accounts (name, created_ms) VALUES ('a', 0) RETURNING id",
                &[],
            )
            .await
            .expect("account")
            .get(0);
        scenario::kept_bitmaps_follow_their_days(&store, account, true).await;

        let app = store.list_apps(account).await.expect("apps")[0]
            .app_id
            .clone();
        let query = InsightQuery {
            from_day: 20_000,
            to_day: 20_001,
            events: EventSel::All,
            last_activity: false,
            provisioned: false,
            provisioned_summary: false,
        };
        let read = || async {
            store
                .insight_data(account, &app, query.clone())
                .await
                .expect("read")
        };
        let other = PgStore::open(&options).await.expect("open again");
        let push_other = |email: &'static str, day: i32| {
            let event = NewEvent {
                index: 0,
                ts_ms: i64::from(day) * 86_400_000,
                email: rollcall_core::Email::parse(email).expect("email"),
                event_name: "sent".into(),
                day,
            };
            other.push_events(account, &app, vec![event])
        };
        // The scenario left day 20,001 alone (day 20,000 went empty).
        let before = read().await;
        assert_eq!(before.days.len(), 1);
        push_other("zed@x.com", 20_000).await.expect("push");
        let after = read().await;
        let zed = after.emails.id("zed@x.com").expect("zed has an id");
        assert!(after.days[0].day == 20_000 && after.days[0].contains(zed));
        assert!(Arc::ptr_eq(before.days[0].shared(), after.days[1].shared()));
        push_other("yu@x.com", 20_001).await.expect("push");
        let last = read().await;
        let yu = last.emails.id("yu@x.com").expect("yu has an id");
        assert!(
            last.days[1].contains(yu),
            "another process's change is read"
        );
        assert!(Arc::ptr_eq(after.days[0].shared(), last.days[0].shared()));
    }

    fn kept(event: i64, day: i32, version: i64) -> Kept {
        Kept {
            key: (event, day),
            version,
            bits: vec![event as u8].into(),
        }
    }

    #[test]
    fn known_versions_sit_at_their_event_and_day() {
        let known = Known::of(
            vec![kept(0, 10, 7), kept(2, 12, 9), kept(1, 9, 5)],
            (10, 12),
        );
        assert_eq!(known.events, 3);
        assert_eq!(known.versions, [7, 0, 0, 0, 0, 0, 0, 0, 9]);
        // The day outside the window is not sent, so its bitmap is not used.
        assert_eq!(known.bits.len(), 2);
        assert!(!known.bits.contains_key(&(1, 9)));
    }

    #[test]
    fn events_past_the_slots_are_read_whole() {
        let days = 100;
        let top = (MAX_SLOTS / days) as i64;
        let known = Known::of(
            vec![kept(top - 1, 0, 3), kept(top, 0, 4), kept(top + 50, 5, 4)],
            (0, days as i32 - 1),
        );
        assert_eq!(known.events as i64, top);
        assert_eq!(known.versions.len(), top as usize * days);
        assert_eq!(known.versions[(top as usize - 1) * days], 3);
        assert_eq!(known.bits.len(), 1);
        let none = Known::of(Vec::new(), (0, 0));
        assert_eq!((none.events, none.versions.len()), (0, 0));
    }
}
