//! The store's usage reads end to end: the latest times and the day bitmaps
//! kept in memory follow pushes and erasures, and are read again only when
//! their version moved.

use std::collections::BTreeMap;
use std::sync::Arc;

use rollcall_core::usage::AppDefinition;
use rollcall_core::Email;

use crate::audit::Actor;
use crate::erasure::ErasureStore;
use crate::sqlite::SqliteStore;
use crate::usage::{EventSel, InsightQuery, LastTimes, NewEvent, UsageStore};

async fn store_with_app() -> (tempfile::TempDir, SqliteStore, i64, String) {
    let (dir, store, account) = crate::sqlite::tests::store_with_account().await;
    let definition: AppDefinition = serde_json::from_value(serde_json::json!({
        "name": "Mail", "events": [{"eventName": "sent"}]
    }))
    .expect("definition");
    let app = store
        .create_app(account, &Actor::new("t@example.com", None), definition)
        .await
        .expect("app");
    (dir, store, account, app.app_id)
}

/// Pushes "sent" events of (email, timestamp, local day).
async fn push_sent(store: &SqliteStore, account: i64, app: &str, events: &[(&str, i64, i32)]) {
    let events = events
        .iter()
        .enumerate()
        .map(|(index, &(email, ts_ms, day))| NewEvent {
            index,
            ts_ms,
            email: Email::parse(email).expect("email"),
            event_name: "sent".into(),
            day,
        })
        .collect();
    store.push_events(account, app, events).await.expect("push");
}

/// Pushes "sent" events of (email, timestamp), all on day 20,000.
async fn push(store: &SqliteStore, account: i64, app: &str, events: &[(&str, i64)]) {
    let events: Vec<_> = events.iter().map(|&(e, ts)| (e, ts, 20_000)).collect();
    push_sent(store, account, app, &events).await;
}

async fn latest(
    store: &SqliteStore,
    account: i64,
    app: &str,
) -> (Arc<LastTimes>, Vec<(String, i64)>) {
    let query = InsightQuery {
        from_day: 20_000,
        to_day: 20_000,
        events: EventSel::Any,
        last_activity: true,
        provisioned: false,
        provisioned_summary: false,
    };
    let data = store.insight_data(account, app, query).await.expect("read");
    let named = data
        .last_ms
        .iter()
        .map(|(id, ms)| (data.emails.email(id).unwrap_or("?").to_string(), ms))
        .collect();
    (data.last_ms, named)
}

/// Reports use the latest times kept in memory while they are the
/// version their snapshot holds: pushes move them along after their
/// commit; a change they did not see (another writer) is read again.
#[tokio::test]
async fn kept_latest_times_follow_pushes_and_are_read_again_after_other_changes() {
    let (_dir, store, account, app) = store_with_app().await;
    push(&store, account, &app, &[("ana@x.com", 1_000)]).await;
    let (first, times) = latest(&store, account, &app).await;
    assert_eq!(times, [("ana@x.com".to_string(), 1_000)]);
    let (again, _) = latest(&store, account, &app).await;
    assert!(Arc::ptr_eq(&first, &again), "kept between reads");

    // A push moves the kept times: a later time, an earlier one (ignored),
    // a new email.
    push(
        &store,
        account,
        &app,
        &[("ana@x.com", 3_000), ("bo@x.com", 2_000)],
    )
    .await;
    push(&store, account, &app, &[("ana@x.com", 2_500)]).await;
    let kept_version = store.report_caches.with(account, |a| {
        a.app(&app).and_then(|x| x.last.as_ref()).map(|(v, _)| *v)
    });
    assert_eq!(
        kept_version,
        Some(3),
        "moved along by both pushes, not read again"
    );
    let (_, times) = latest(&store, account, &app).await;
    assert_eq!(
        times,
        [
            ("ana@x.com".to_string(), 3_000),
            ("bo@x.com".to_string(), 2_000)
        ]
    );

    // Another writer's change, with its version: read from the database.
    store
        .db
        .write(move |conn| {
            let app: i64 = conn.query_row("SELECT id FROM usage_apps", [], |r| r.get(0))?;
            super::last::fold(conn, (account, app))?;
            conn.execute("UPDATE usage_last SET last_ms = 9000", [])?;
            super::push::bump_last_version(conn, app)?;
            Ok(())
        })
        .await
        .expect("change");
    let (_, times) = latest(&store, account, &app).await;
    assert_eq!(
        times,
        [
            ("ana@x.com".to_string(), 9_000),
            ("bo@x.com".to_string(), 9_000)
        ]
    );
}

/// Latest times wait in pending rows until an app has `FOLD_AT` of them;
/// before, at and after the fold every read sees each email's latest time
/// (late, older times never win), and an erasure removes a pending one.
#[tokio::test]
async fn latest_times_are_the_same_before_and_after_their_pending_rows_fold() {
    let (_dir, store, account, app) = store_with_app().await;
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    let app_id: &str = &app;
    let check = |expected: BTreeMap<String, i64>, pushes: i64| {
        let store = &store;
        async move {
            // Read from the database, not from the kept copy.
            store.report_caches.forget_account(account);
            let (_, times) = latest(store, account, app_id).await;
            let times: BTreeMap<String, i64> = times.into_iter().collect();
            assert_eq!(times, expected, "after {pushes} pushes");
            let (pending, looked_up) = store
                .db
                .read(move |conn| {
                    let app: i64 = conn.query_row("SELECT id FROM usage_apps", [], |r| r.get(0))?;
                    let pending: i64 =
                        conn.query_row("SELECT count(*) FROM usage_last_pending", [], |r| {
                            r.get(0)
                        })?;
                    let ids: Vec<u32> = (0..=40).collect();
                    Ok((pending, super::last::look_up(conn, (account, app), &ids)?))
                })
                .await
                .expect("read");
            assert!(pending < super::last::FOLD_AT, "{pending} pending rows");
            assert_eq!(looked_up.len(), expected.len(), "after {pushes} pushes");
            let mut looked: Vec<i64> = looked_up.into_values().collect();
            let mut wanted: Vec<i64> = expected.values().copied().collect();
            looked.sort_unstable();
            wanted.sort_unstable();
            assert_eq!(looked, wanted, "look-ups after {pushes} pushes");
        }
    };
    for n in 0..super::last::FOLD_AT + 10 {
        // Each push: a new time for one of 30 people, and an older one
        // (late data) for another.
        let fresh = format!("p{}@x.com", n % 30);
        let late = format!("p{}@x.com", (n + 7) % 30);
        let ms = 1_000_000 + n * 1_000;
        push(&store, account, &app, &[(&fresh, ms), (&late, 5)]).await;
        for (email, t) in [(fresh, ms), (late, 5)] {
            let at = expected.entry(email).or_insert(t);
            *at = (*at).max(t);
        }
        if [
            0,
            1,
            super::last::FOLD_AT - 2,
            super::last::FOLD_AT - 1,
            super::last::FOLD_AT + 9,
        ]
        .contains(&n)
        {
            check(expected.clone(), n + 1).await;
        }
    }

    // An erasure of someone whose latest time is still pending.
    push(&store, account, &app, &[("p3@x.com", 99_000_000)]).await;
    store
        .erase_person(account, &Actor::new("admin@x.com", None), "p3@x.com")
        .await
        .expect("erase");
    expected.remove("p3@x.com");
    check(expected, super::last::FOLD_AT + 11).await;
}

/// Reports use the day bitmaps kept in memory while their day's version is
/// the one their snapshot holds (`crate::usage::kept_day_bits::scenario`).
#[tokio::test]
async fn kept_day_bitmaps_are_read_again_only_for_the_days_that_changed() {
    let (_dir, store, account, _) = store_with_app().await;
    crate::usage::kept_day_bits::scenario::kept_bitmaps_follow_their_days(&store, account, false)
        .await;
}
