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
use rollcall_store::access_records::{client_subject, email_subject, AccessKind, AccessRecord};
use rollcall_store::{now_ms, AccessRecordStore, StoreResult};

use crate::auth::Caller;

/// How often noted views are stored.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Most (viewer, day) entries a process remembers having stored before it
/// forgets the older days (a forgotten view is only sent again, never doubled).
const MAX_REMEMBERED: usize = 200_000;

const DAY_MS: i64 = 86_400_000;

/// Whose data was viewed: an agent login (client) or an email.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    Client(i64),
    Email(String),
}

impl Subject {
    /// The name the store keeps it under.
    fn stored_as(&self) -> String {
        match self {
            Subject::Client(id) => client_subject(*id),
            Subject::Email(e) => email_subject(e),
        }
    }
}

/// (account, viewer, UTC day).
type Who = (i64, String, i32);
/// Per subject of one viewer and day: the first view noted and the kinds.
type Noted = HashMap<Subject, (i64, u8)>;

/// Views noted and not yet stored, and what this process stored already.
#[derive(Default)]
pub struct AccessLog {
    /// Off for a measurement of what recording costs (`ServerConfig::record_access`).
    disabled: bool,
    /// Per viewer and day: each subject's first view and kinds.
    pending: Mutex<HashMap<Who, Noted>>,
    /// Per viewer and day: the kinds stored of each subject.
    stored: Mutex<HashMap<Who, HashMap<Subject, u8>>>,
}

impl AccessLog {
    pub fn new(enabled: bool) -> AccessLog {
        AccessLog {
            disabled: !enabled,
            ..AccessLog::default()
        }
    }

    /// Notes that `caller` viewed `kind` data of each of `subjects`. An
    /// employee reading their own data and a viewer reading their own email's
    /// usage are no access records. The common case (every subject stored
    /// already today) takes one lock and no allocation per subject.
    pub fn note(
        &self,
        caller: &Caller,
        kind: AccessKind,
        subjects: impl IntoIterator<Item = Subject>,
    ) {
        if self.disabled || caller.role == Role::Employee {
            return;
        }
        let now = now_ms();
        let who: Who = (
            caller.account_id,
            caller.actor_email.to_lowercase(),
            now.div_euclid(DAY_MS) as i32,
        );
        let bit = kind.bit();
        let mut seen: HashSet<Subject> = HashSet::new();
        let fresh: Vec<Subject> = {
            let stored = self.stored.lock().unwrap_or_else(|p| p.into_inner());
            let done = stored.get(&who);
            subjects
                .into_iter()
                .filter(|s| match s {
                    Subject::Email(e) => !e.eq_ignore_ascii_case(&who.1),
                    Subject::Client(_) => true,
                })
                .filter(|s| done.and_then(|d| d.get(s)).is_none_or(|k| k & bit == 0))
                .filter(|s| seen.insert(s.clone()))
                .collect()
        };
        if fresh.is_empty() {
            return;
        }
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let mine = pending.entry(who).or_default();
        for subject in fresh {
            mine.entry(subject).or_insert((now, 0)).1 |= bit;
        }
    }

    /// How many noted (viewer, day, subject) keys wait to be stored.
    pub fn pending(&self) -> usize {
        self.pending
            .lock()
            .map(|p| p.values().map(HashMap::len).sum())
            .unwrap_or(0)
    }

    /// Stores every noted view; on failure they stay noted for the next flush.
    pub async fn flush(&self, store: &dyn AccessRecordStore) -> StoreResult<usize> {
        let batch = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::take(&mut *pending)
        };
        if batch.is_empty() {
            return Ok(0);
        }
        let records: Vec<AccessRecord> = batch
            .iter()
            .flat_map(|((account_id, viewer, day), subjects)| {
                subjects
                    .iter()
                    .map(move |(subject, (first_ms, kinds))| AccessRecord {
                        account_id: *account_id,
                        subject: subject.stored_as(),
                        viewer: viewer.clone(),
                        day: *day,
                        first_ms: *first_ms,
                        kinds: *kinds,
                    })
            })
            .collect();
        let count = records.len();
        if let Err(e) = store.record_access(records).await {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            for (who, subjects) in batch {
                let mine = pending.entry(who).or_default();
                for (subject, (first, kinds)) in subjects {
                    let entry = mine.entry(subject).or_insert((first, 0));
                    entry.0 = entry.0.min(first);
                    entry.1 |= kinds;
                }
            }
            return Err(e);
        }
        let mut stored = self.stored.lock().unwrap_or_else(|p| p.into_inner());
        if stored.len() + batch.len() > MAX_REMEMBERED {
            let today = now_ms().div_euclid(DAY_MS) as i32;
            stored.retain(|who, _| who.2 >= today);
            if stored.len() + batch.len() > MAX_REMEMBERED {
                stored.clear();
            }
        }
        for (who, subjects) in batch {
            let mine = stored.entry(who).or_default();
            for (subject, (_, kinds)) in subjects {
                *mine.entry(subject).or_insert(0) |= kinds;
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use rollcall_store::access_records::AccessRecordRow;
    use rollcall_store::admin::RateLimit;
    use rollcall_store::auth::Principal;

    #[derive(Default)]
    struct Kept(Mutex<Vec<AccessRecord>>);

    #[async_trait::async_trait]
    impl AccessRecordStore for Kept {
        async fn record_access(&self, records: Vec<AccessRecord>) -> StoreResult<()> {
            self.0.lock().unwrap().extend(records);
            Ok(())
        }
        async fn access_records(
            &self,
            _: i64,
            _: Vec<String>,
        ) -> StoreResult<Vec<AccessRecordRow>> {
            Ok(Vec::new())
        }
    }

    fn caller(email: &str, role: Role) -> Caller {
        Caller(Principal {
            account_id: 1,
            credential_id: 1,
            actor_email: email.into(),
            role,
            scopes: role.scopes(),
            viewable_groups: None,
            allowed_apps: None,
            rate_limit: RateLimit {
                per_second: 1,
                burst: 1,
            },
            consumer_id: Some(1),
            via_oauth_client: false,
        })
    }

    #[tokio::test]
    async fn a_view_is_sent_once_per_viewer_subject_and_kind() {
        let log = AccessLog::new(true);
        let store = Kept::default();
        let boss = caller("Boss@corp.com", Role::Viewer);
        let rows = [Subject::Client(7), Subject::Client(7), Subject::Client(8)];
        log.note(&boss, AccessKind::WorkingHours, rows.clone());
        log.note(&boss, AccessKind::WorkingHours, rows.clone());
        // Their own usage is no access record; an employee's reads never are.
        log.note(
            &boss,
            AccessKind::Usage,
            [Subject::Email("boss@CORP.com".into())],
        );
        log.note(
            &caller("e@corp.com", Role::Employee),
            AccessKind::Usage,
            [Subject::Email("x@corp.com".into())],
        );
        assert_eq!(log.pending(), 2);
        assert_eq!(log.flush(&store).await.unwrap(), 2);
        // Stored already: the same views send nothing again; a new kind does.
        log.note(&boss, AccessKind::WorkingHours, rows.clone());
        assert_eq!(log.pending(), 0);
        log.note(&boss, AccessKind::ActivityLog, [Subject::Client(7)]);
        assert_eq!(log.flush(&store).await.unwrap(), 1);
        let kept = store.0.lock().unwrap().clone();
        assert_eq!(kept.len(), 3);
        assert!(kept.iter().all(|r| r.viewer == "boss@corp.com"));
        assert_eq!(kept[2].subject, "client:7");
        assert_eq!(kept[2].kinds, AccessKind::ActivityLog.bit());
        let off = AccessLog::new(false);
        off.note(&boss, AccessKind::Usage, [Subject::Client(1)]);
        assert_eq!(off.pending(), 0);
    }
}
