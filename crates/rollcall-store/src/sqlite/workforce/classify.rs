//! The classification set of an account (`wf_classifications`): reading and
//! storing it, and classifying (client, activity) pairs for the reads.

use std::collections::HashMap;

use rollcall_core::fxhash::FxHashMap;
use rollcall_core::workforce::{Activity, ClassificationSet, Classifier};
use rusqlite::{params, Connection, OptionalExtension};

use crate::audit::{Actor, AuditAction};
use crate::sqlite::audit;
use crate::{now_ms, StoreResult};

use super::groups::overridden_groups_exist;

fn load_classifier(conn: &Connection, account_id: i64) -> StoreResult<Classifier> {
    Ok(Classifier::new(&load_classifications(conn, account_id)?))
}

pub(super) fn load_classifications(
    conn: &Connection,
    account_id: i64,
) -> StoreResult<ClassificationSet> {
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

/// Stores the account's classification set (`body` is `set` encoded), audited
/// with the set it replaces.
pub(super) fn put(
    conn: &Connection,
    account_id: i64,
    actor: &Actor,
    set: ClassificationSet,
    body: &str,
) -> StoreResult<()> {
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
        actor,
        &AuditAction::ClassificationChanged { before, after: set },
    )?;
    Ok(())
}
