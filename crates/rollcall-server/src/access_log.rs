//! Access records off the request path (SPEC §11): a report that shows one
//! person's individual data to someone else *notes* the view here, in memory;
//! a background task ([`flush_loop`]) stores what was noted every
//! [`FLUSH_EVERY`], and [`crate::serve`] flushes once more on shutdown. A
//! report pays a mutex and a few hash look-ups, never a database write.
//!
//! Each process remembers what it already stored today, so a person viewed a
//! thousand times a day by the same viewer costs one row; the store keeps at
//! most one row per (person, viewer, day) whatever the processes send.
//! What counts as one person's individual data is written in docs/privacy.md.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use rollcall_core::Role;
use rollcall_store::access_records::{AccessKind, AccessRecord};
use rollcall_store::{now_ms, AccessRecordStore, StoreResult};

use crate::auth::Caller;

/// How often noted views are stored.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Most (person, viewer, day) keys a process remembers having stored before it
/// forgets the older days (a forgotten key is only sent again, never doubled).
const MAX_REMEMBERED: usize = 200_000;

const DAY_MS: i64 = 86_400_000;

/// (account, subject, viewer, UTC day).
type Key = (i64, String, String, i32);

/// Views noted and not yet stored, and what this process stored already.
#[derive(Default)]
pub struct AccessLog {
    /// Off for a measurement of what recording costs (`ServerConfig::record_access`).
    disabled: bool,
    pending: Mutex<HashMap<Key, (i64, u8)>>,
    stored: Mutex<HashMap<Key, u8>>,
}

impl AccessLog {
    pub fn new(enabled: bool) -> AccessLog {
        AccessLog {
            disabled: !enabled,
            ..AccessLog::default()
        }
    }

    /// Notes that `caller` viewed `kind` data of each of `subjects` (see
    /// [`rollcall_store::access_records`]). An employee reading their own
    /// data and a viewer reading their own email's usage are no access records.
    pub fn note(
        &self,
        caller: &Caller,
        kind: AccessKind,
        subjects: impl IntoIterator<Item = String>,
    ) {
        if self.disabled || caller.role == Role::Employee {
            return;
        }
        let now = now_ms();
        let day = now.div_euclid(DAY_MS) as i32;
        let own = rollcall_store::access_records::email_subject(&caller.actor_email);
        let subjects: HashSet<String> = subjects.into_iter().filter(|s| *s != own).collect();
        if subjects.is_empty() {
            return;
        }
        let bit = kind.bit();
        let viewer = caller.actor_email.to_lowercase();
        let stored = self.stored.lock().unwrap_or_else(|p| p.into_inner());
        let mut fresh: Vec<Key> = Vec::new();
        for subject in subjects {
            let key = (caller.account_id, subject, viewer.clone(), day);
            if stored.get(&key).is_some_and(|k| k & bit != 0) {
                continue;
            }
            fresh.push(key);
        }
        drop(stored);
        if fresh.is_empty() {
            return;
        }
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        for key in fresh {
            pending.entry(key).or_insert((now, 0)).1 |= bit;
        }
    }

    /// How many noted keys wait to be stored.
    pub fn pending(&self) -> usize {
        self.pending.lock().map(|p| p.len()).unwrap_or(0)
    }

    /// Stores every noted view; on failure they stay noted for the next flush.
    pub async fn flush(&self, store: &dyn AccessRecordStore) -> StoreResult<usize> {
        let batch: HashMap<Key, (i64, u8)> = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::take(&mut *pending)
        };
        if batch.is_empty() {
            return Ok(0);
        }
        let records: Vec<AccessRecord> = batch
            .iter()
            .map(
                |((account_id, subject, viewer, day), (first_ms, kinds))| AccessRecord {
                    account_id: *account_id,
                    subject: subject.clone(),
                    viewer: viewer.clone(),
                    day: *day,
                    first_ms: *first_ms,
                    kinds: *kinds,
                },
            )
            .collect();
        let count = records.len();
        if let Err(e) = store.record_access(records).await {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            for (key, (first, kinds)) in batch {
                let entry = pending.entry(key).or_insert((first, 0));
                entry.0 = entry.0.min(first);
                entry.1 |= kinds;
            }
            return Err(e);
        }
        let mut stored = self.stored.lock().unwrap_or_else(|p| p.into_inner());
        if stored.len() + batch.len() > MAX_REMEMBERED {
            let today = (now_ms().div_euclid(DAY_MS)) as i32;
            stored.retain(|k, _| k.3 >= today);
            if stored.len() + batch.len() > MAX_REMEMBERED {
                stored.clear();
            }
        }
        for (key, (_, kinds)) in batch {
            *stored.entry(key).or_insert(0) |= kinds;
        }
        Ok(count)
    }
}

/// Stores noted views every [`FLUSH_EVERY`] until the task is stopped.
pub async fn flush_loop(state: crate::AppState) {
    let mut ticker = tokio::time::interval(FLUSH_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(e) = state.access_log.flush(state.store.as_ref()).await {
            tracing::warn!(error = %e, "storing access records failed; will retry");
        }
    }
}
