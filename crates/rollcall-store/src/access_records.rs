//! Access records (SPEC §11): who read one person's individual data, and on
//! which day. A person is named by a *subject*: `email:<address>` for usage
//! data, `client:<id>` for an agent login's working hours and activity; an
//! employee's records are those of their email and of their logins' clients.
//! At most one record is kept per (subject, viewer, day); the kinds of data
//! viewed that day are merged into it.

use async_trait::async_trait;

use crate::StoreResult;

/// What kind of individual data was viewed (a bit of [`AccessRecord::kinds`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccessKind {
    WorkingHours,
    ActivityLog,
    Usage,
}

impl AccessKind {
    pub const ALL: [AccessKind; 3] = [
        AccessKind::WorkingHours,
        AccessKind::ActivityLog,
        AccessKind::Usage,
    ];

    pub fn bit(self) -> u8 {
        match self {
            AccessKind::WorkingHours => 1,
            AccessKind::ActivityLog => 2,
            AccessKind::Usage => 4,
        }
    }

    /// The name the API gives this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessKind::WorkingHours => "workingHours",
            AccessKind::ActivityLog => "activityLog",
            AccessKind::Usage => "usage",
        }
    }

    /// The kinds whose bits are set in `kinds`.
    pub fn of_bits(kinds: u8) -> Vec<AccessKind> {
        AccessKind::ALL
            .into_iter()
            .filter(|k| kinds & k.bit() != 0)
            .collect()
    }
}

/// The subject of a person's usage data.
pub fn email_subject(email: &str) -> String {
    format!("email:{}", email.trim().to_lowercase())
}

/// The subject of an agent login's (client's) workforce data.
pub fn client_subject(client_id: i64) -> String {
    format!("client:{client_id}")
}

/// One view of one person's data by someone else, to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRecord {
    pub account_id: i64,
    pub subject: String,
    /// The viewer's email (for an OAuth client, its owner's).
    pub viewer: String,
    /// UTC day number (days since 1970-01-01).
    pub day: i32,
    /// When the first view of the day was seen (Unix ms).
    pub first_ms: i64,
    /// [`AccessKind`] bits.
    pub kinds: u8,
}

/// One stored record as an employee reads it: per viewer and day, over all of
/// the employee's subjects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRecordRow {
    pub viewer: String,
    pub day: i32,
    pub first_ms: i64,
    pub kinds: u8,
}

#[async_trait]
pub trait AccessRecordStore: Send + Sync {
    /// Stores `records`, at most one per (account, subject, viewer, day): a
    /// record already stored keeps its earliest time and gains the new kinds.
    /// `records` holds each key once.
    async fn record_access(&self, records: Vec<AccessRecord>) -> StoreResult<()>;

    /// The records of any of `subjects`, one per (viewer, day), newest day first.
    async fn access_records(
        &self,
        account_id: i64,
        subjects: Vec<String>,
    ) -> StoreResult<Vec<AccessRecordRow>>;
}

/// Folds the stored rows of several subjects into one per (viewer, day).
pub fn merge_rows(rows: impl IntoIterator<Item = AccessRecordRow>) -> Vec<AccessRecordRow> {
    let mut by_key: std::collections::BTreeMap<(i32, String), AccessRecordRow> =
        std::collections::BTreeMap::new();
    for r in rows {
        by_key
            .entry((r.day, r.viewer.clone()))
            .and_modify(|m| {
                m.first_ms = m.first_ms.min(r.first_ms);
                m.kinds |= r.kinds;
            })
            .or_insert(r);
    }
    let mut out: Vec<AccessRecordRow> = by_key.into_values().collect();
    out.sort_by(|a, b| b.day.cmp(&a.day).then_with(|| a.viewer.cmp(&b.viewer)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_several_subjects_become_one_per_viewer_and_day() {
        let row = |viewer: &str, day, first_ms, kinds| AccessRecordRow {
            viewer: viewer.into(),
            day,
            first_ms,
            kinds,
        };
        let merged = merge_rows([
            row("a@x", 10, 500, 1),
            row("a@x", 10, 300, 4),
            row("b@x", 10, 900, 2),
            row("a@x", 11, 100, 2),
        ]);
        assert_eq!(
            merged,
            vec![
                row("a@x", 11, 100, 2),
                row("a@x", 10, 300, 5),
                row("b@x", 10, 900, 2)
            ]
        );
        assert_eq!(
            AccessKind::of_bits(5),
            vec![AccessKind::WorkingHours, AccessKind::Usage]
        );
        assert_eq!(email_subject(" Ana@Example.com"), "email:ana@example.com");
    }
}
