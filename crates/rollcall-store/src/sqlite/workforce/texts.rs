//! The strings of activity records (executables, window titles, URLs), each
//! stored once per account in `wf_texts` and named by id (migration 0018).
//!
//! The writer keeps a bounded map string → id per account ([`TextIds`], a
//! field of the store) so that a string seen before costs no look-up. The map
//! is trusted only while `wf_text_state.epoch` is the value it last saw: the
//! epoch takes a new random value whenever a string is deleted (a trigger)
//! and, before the first new string of a write is inserted, by that write. So
//! a rolled-back write (its savepoint or its whole group's commit) leaves the
//! stored epoch different from the map's, and the next write empties the map
//! rather than use ids that were never committed.
//!
//! The same map holds the ids of the account's activities (`wf_activities`:
//! lowercased executables and website domains, never deleted), added to under
//! the same epoch.
//!
//! The references of new records are counted here and appended once per write
//! ([`super::text_refs`]).

use std::sync::{Mutex, MutexGuard};

use rollcall_core::fxhash::FxHashMap;
use rusqlite::{params, Connection, OptionalExtension};

use crate::{StoreError, StoreResult};

/// Most strings the writer's map holds over all accounts before it starts
/// afresh (about 100 bytes each).
const MAX_CACHED: usize = 200_000;

#[derive(Default)]
struct Cache {
    /// The `wf_text_state.epoch` the map agrees with.
    epoch: Option<i64>,
    accounts: FxHashMap<i64, FxHashMap<String, i64>>,
    /// Activity ids per (account, kind).
    activities: FxHashMap<(i64, ActivityKind), FxHashMap<String, i64>>,
    len: usize,
}

/// The writer's string → id maps, per account.
#[derive(Default)]
pub(in crate::sqlite) struct TextIds {
    cache: Mutex<Cache>,
}

impl TextIds {
    /// Starts interning the strings of one write for `account_id` (on the
    /// writer's connection, in its transaction).
    pub(super) fn begin<'a>(
        &'a self,
        conn: &'a Connection,
        account_id: i64,
    ) -> StoreResult<Interner<'a>> {
        let mut cache = self
            .cache
            .lock()
            .map_err(|_| StoreError::Internal("the string map is poisoned".into()))?;
        let epoch = current_epoch(conn)?;
        if cache.epoch != Some(epoch) || cache.len > MAX_CACHED {
            cache.accounts.clear();
            cache.activities.clear();
            cache.len = 0;
            cache.epoch = Some(epoch);
        }
        Ok(Interner {
            conn,
            account_id,
            cache,
            refs: FxHashMap::default(),
            bumped: false,
        })
    }
}

fn current_epoch(conn: &Connection) -> StoreResult<i64> {
    Ok(conn
        .prepare_cached("SELECT epoch FROM wf_text_state WHERE id = 1")?
        .query_row([], |r| r.get(0))?)
}

/// What an activity is: an application (by lowercased executable) or a website
/// (by domain).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum ActivityKind {
    App,
    Website,
}

impl ActivityKind {
    /// Its `wf_activities.kind`.
    fn code(self) -> &'static str {
        match self {
            ActivityKind::App => "a",
            ActivityKind::Website => "w",
        }
    }
}

/// Interns one write's strings and activities and counts the strings' new
/// references.
pub(super) struct Interner<'a> {
    conn: &'a Connection,
    account_id: i64,
    cache: MutexGuard<'a, Cache>,
    /// References added by this write, per string id.
    refs: FxHashMap<i64, i64>,
    /// Whether this write has moved the epoch (before its first new string).
    bumped: bool,
}

impl Interner<'_> {
    /// The id of `text` if the account has it stored.
    pub(super) fn find(&mut self, text: &str) -> StoreResult<Option<i64>> {
        if let Some(id) = self
            .cache
            .accounts
            .get(&self.account_id)
            .and_then(|m| m.get(text))
        {
            return Ok(Some(*id));
        }
        let id: Option<i64> = self
            .conn
            .prepare_cached("SELECT id FROM wf_texts WHERE account_id = ?1 AND text = ?2")?
            .query_row(params![self.account_id, text], |r| r.get(0))
            .optional()?;
        if let Some(id) = id {
            self.remember(text, id);
        }
        Ok(id)
    }

    /// The id of `text`, storing it if the account does not have it, with
    /// one more reference.
    pub(super) fn reference(&mut self, text: &str) -> StoreResult<i64> {
        let id = match self.find(text)? {
            Some(id) => id,
            None => {
                self.bump_epoch()?;
                let id: i64 = self
                    .conn
                    .prepare_cached(
                        "INSERT INTO wf_texts (account_id, refs, text) VALUES (?1, 0, ?2)
                         RETURNING id",
                    )?
                    .query_row(params![self.account_id, text], |r| r.get(0))?;
                self.remember(text, id);
                id
            }
        };
        *self.refs.entry(id).or_default() += 1;
        Ok(id)
    }

    /// The id of the account's activity `key` of `kind`, stored if new.
    pub(super) fn activity(&mut self, kind: ActivityKind, key: &str) -> StoreResult<i64> {
        let known = self.cache.activities.get(&(self.account_id, kind));
        if let Some(id) = known.and_then(|m| m.get(key)) {
            return Ok(*id);
        }
        let stored: Option<i64> = self
            .conn
            .prepare_cached(
                "SELECT id FROM wf_activities WHERE account_id = ?1 AND kind = ?2 AND key = ?3",
            )?
            .query_row(params![self.account_id, kind.code(), key], |r| r.get(0))
            .optional()?;
        let id = match stored {
            Some(id) => id,
            None => {
                self.bump_epoch()?;
                self.conn
                    .prepare_cached(
                        "INSERT INTO wf_activities (account_id, kind, key) VALUES (?1, ?2, ?3)
                         RETURNING id",
                    )?
                    .query_row(params![self.account_id, kind.code(), key], |r| r.get(0))?
            }
        };
        let cache = &mut *self.cache;
        cache
            .activities
            .entry((self.account_id, kind))
            .or_default()
            .insert(key.to_string(), id);
        cache.len += 1;
        Ok(id)
    }

    /// Moves the epoch before this write's first new string or activity, so
    /// that the map is dropped if the write does not commit.
    fn bump_epoch(&mut self) -> StoreResult<()> {
        if !self.bumped {
            self.bumped = true;
            let epoch: i64 = self
                .conn
                .prepare_cached(
                    "UPDATE wf_text_state SET epoch = random() WHERE id = 1 RETURNING epoch",
                )?
                .query_row([], |r| r.get(0))?;
            self.cache.epoch = Some(epoch);
        }
        Ok(())
    }

    fn remember(&mut self, text: &str, id: i64) {
        let cache = &mut *self.cache;
        cache
            .accounts
            .entry(self.account_id)
            .or_default()
            .insert(text.to_string(), id);
        cache.len += 1;
    }

    /// Stores the references this write added.
    pub(super) fn finish(self) -> StoreResult<()> {
        super::text_refs::append(self.conn, self.account_id, &self.refs)
    }
}

/// The strings one read names, each read once: ids → whatever the caller
/// makes of the text (a span of a page's text, an owned string).
pub(super) struct TextReader<'c, T> {
    conn: &'c Connection,
    known: FxHashMap<i64, T>,
}

impl<'c, T: Clone> TextReader<'c, T> {
    pub(super) fn new(conn: &'c Connection) -> Self {
        TextReader {
            conn,
            known: FxHashMap::default(),
        }
    }

    /// What `make` made of string `id` (made on its first request).
    pub(super) fn get(&mut self, id: i64, make: impl FnOnce(&str) -> T) -> StoreResult<T> {
        if let Some(t) = self.known.get(&id) {
            return Ok(t.clone());
        }
        let mut stmt = self
            .conn
            .prepare_cached("SELECT text FROM wf_texts WHERE id = ?1")?;
        let mut rows = stmt.query([id])?;
        let row = rows
            .next()?
            .ok_or_else(|| StoreError::Internal(format!("activity string {id} is missing")))?;
        let value = make(row.get_ref(0)?.as_str().map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
        })?);
        self.known.insert(id, value.clone());
        Ok(value)
    }
}
