//! The Segment tracking API on the embedded store: write keys, and the ingest of
//! a batch in one writer transaction, in the steps `crate::segment` describes.
//! The resolved events go through the native push's write path
//! ([`PreparedPush`]), so they are de-duplicated and rolled up exactly as pushed
//! events are.

use std::collections::{HashMap, HashSet, VecDeque};

use async_trait::async_trait;
use rollcall_core::segment::Profile;
use rollcall_core::Email;
use rusqlite::{params, Connection, OptionalExtension};

use super::usage::push::{CommittedEmails, PreparedPush, TimesWritten};
use super::usage::{bump_provisioned, load_app, sync_event_names};
use super::SqliteStore;
use crate::admin::RateLimit;
use crate::segment::{
    auto_definition, fresh_messages, sorted_keys, Action, Alias, Identify, Message, MessageKey,
    SegmentOutcome, SegmentStore, WriteKey, MAX_LINKED_IDENTITIES, MESSAGE_IDS_KEPT_MS,
};
use crate::usage::NewEvent;
use crate::{now_ms, StoreError, StoreResult};

#[async_trait]
impl SegmentStore for SqliteStore {
    async fn write_key(&self, secret_hash: &str) -> StoreResult<Option<WriteKey>> {
        let hash = secret_hash.to_string();
        self.db
            .read_in_place(move |conn| {
                Ok(conn
                    .prepare_cached(
                        "SELECT c.id, c.account_id, c.app_id, a.rate_per_second, a.rate_burst,
                                a.time_zone, a.usage_retention_days
                         FROM credentials c JOIN accounts a ON a.id = c.account_id
                         WHERE c.secret_hash = ?1 AND c.kind = 'writeKey'
                           AND c.revoked_ms IS NULL AND c.app_id IS NOT NULL",
                    )?
                    .query_row([&hash], |r| {
                        Ok(WriteKey {
                            credential_id: r.get(0)?,
                            account_id: r.get(1)?,
                            app_id: r.get(2)?,
                            rate_limit: RateLimit {
                                per_second: r.get(3)?,
                                burst: r.get(4)?,
                            },
                            time_zone: r.get(5)?,
                            usage_retention_days: r.get(6)?,
                        })
                    })
                    .optional()?)
            })
            .await
    }

    async fn ingest_segment(
        &self,
        account_id: i64,
        app_id: &str,
        messages: Vec<Message>,
    ) -> StoreResult<SegmentOutcome> {
        let app_id = app_id.to_string();
        let committed = std::sync::Arc::clone(&self.committed_emails);
        let known = self.known_emails(account_id, &app_id, &messages).await?;
        let ready = Ready::new(account_id, &app_id, &messages, &known, &committed);
        let app = app_id.clone();
        let written = self
            .db
            .write(move |conn| {
                Ingest::new(conn, account_id, &app)?.run(&messages, known, &committed, ready)
            })
            .await?;
        // The write resolved after its COMMIT: these email ids are durable now,
        // the times kept for reports may move to its version, and the
        // identities it renamed have their new email.
        if let Some((push, fresh)) = written.push {
            push.remember(&self.committed_emails, &fresh);
        }
        if let Some(times) = &written.times {
            self.report_caches.times_written(account_id, &app_id, times);
        }
        self.identity_emails
            .forget(account_id, &app_id, &written.renamed);
        Ok(written.outcome)
    }
}

impl SqliteStore {
    /// The emails already known for the identities of the batch's events that
    /// carry none, read on a reader connection so that the single writer
    /// looks up only the identities still unknown (an identify committed
    /// meanwhile is then seen there). An email read here may be replaced by an
    /// identify committing before this batch: the batch then uses the previous
    /// one, as if it had been committed first.
    async fn known_emails(
        &self,
        account_id: i64,
        app_id: &str,
        messages: &[Message],
    ) -> StoreResult<HashMap<String, Email>> {
        let mut idents: Vec<String> = messages
            .iter()
            .filter_map(|m| match &m.action {
                Action::Event(e) if e.email.is_none() => e.ident.clone(),
                _ => None,
            })
            .collect();
        if idents.is_empty() {
            return Ok(HashMap::new());
        }
        idents.sort_unstable();
        idents.dedup();
        let (cached, generation) = self.identity_emails.get(account_id, app_id, &idents);
        idents.retain(|i| !cached.contains_key(i));
        let mut known: HashMap<String, Email> = cached.into_iter().collect();
        if idents.is_empty() {
            return Ok(known);
        }
        let app = app_id.to_string();
        let read = self
            .db
            .read_in_place(move |conn| {
                let Some(app) = conn
                    .prepare_cached(
                        "SELECT id FROM usage_apps WHERE account_id = ?1 AND app_id = ?2",
                    )?
                    .query_row(params![account_id, app], |r| r.get::<_, i64>(0))
                    .optional()?
                else {
                    return Ok(HashMap::new());
                };
                let mut stmt = conn.prepare_cached(
                    "SELECT email FROM seg_identities WHERE app = ?1 AND ident = ?2",
                )?;
                let mut known = HashMap::with_capacity(idents.len());
                for ident in idents {
                    let email: Option<Option<String>> = stmt
                        .query_row(params![app, ident], |r| r.get(0))
                        .optional()?;
                    if let Some(email) = email.flatten().and_then(|e| Email::parse(&e).ok()) {
                        known.insert(ident, email);
                    }
                }
                Ok(known)
            })
            .await?;
        self.identity_emails.remember(
            account_id,
            app_id,
            generation,
            read.iter().map(|(i, e)| (i.clone(), e.clone())),
        );
        known.extend(read);
        Ok(known)
    }
}

/// A batch of `track`-like messages whose people are all known already,
/// prepared for the native write path outside the writer: the writer then
/// only claims the messageIds and, when all are new (the usual case), writes.
/// A batch with an identify or alias, an unknown person or a retried message
/// takes the full path.
struct Ready {
    push: PreparedPush,
    names: Vec<String>,
}

impl Ready {
    fn new(
        account_id: i64,
        app_id: &str,
        messages: &[Message],
        known: &HashMap<String, Email>,
        committed: &CommittedEmails,
    ) -> Option<Ready> {
        let mut events = Vec::with_capacity(messages.len());
        for m in messages {
            match &m.action {
                Action::Event(e) => {
                    let email = match (&e.email, &e.ident) {
                        (Some(email), _) => email.clone(),
                        (None, Some(ident)) => known.get(ident)?.clone(),
                        (None, None) => return None,
                    };
                    events.push(NewEvent {
                        index: events.len(),
                        ts_ms: e.ts_ms,
                        email,
                        event_name: e.event_name.clone(),
                        day: e.day,
                    });
                }
                Action::Nothing => {}
                Action::Identify(_) | Action::Alias(_) => return None,
            }
        }
        if events.is_empty() {
            return None;
        }
        let mut names: Vec<String> = events.iter().map(|e| e.event_name.clone()).collect();
        names.sort_unstable();
        names.dedup();
        Some(Ready {
            push: PreparedPush::new(account_id, app_id, &events, committed),
            names,
        })
    }
}

/// What a batch's write did.
struct Written {
    outcome: SegmentOutcome,
    /// The native write, for remembering its email ids once committed.
    push: Option<(PreparedPush, Vec<i64>)>,
    /// The latest times it wrote, to move the kept ones along once committed.
    times: Option<TimesWritten>,
    /// Identities given an email.
    renamed: Vec<String>,
}

/// One batch's ingest inside the writer's transaction.
struct Ingest<'c> {
    conn: &'c Connection,
    account_id: i64,
    app_id: String,
    app: i64,
    definition: rollcall_core::usage::AppDefinition,
    /// Events ready to be stored (their `index` is their place here).
    events: Vec<NewEvent>,
    /// Whether any provisioned user changed.
    provisioned_changed: bool,
    /// Identities given an email by this batch.
    renamed: Vec<String>,
}

impl<'c> Ingest<'c> {
    fn new(conn: &'c Connection, account_id: i64, app_id: &str) -> StoreResult<Ingest<'c>> {
        let (app, rec) = load_app(conn, account_id, app_id)?;
        if !rec.is_connected() {
            return Err(StoreError::invalid(format!(
                "app {app_id} is disconnected and accepts no more data"
            )));
        }
        Ok(Ingest {
            conn,
            account_id,
            app_id: app_id.to_string(),
            app,
            definition: rec.definition,
            events: Vec::new(),
            provisioned_changed: false,
            renamed: Vec::new(),
        })
    }

    fn run(
        mut self,
        messages: &[Message],
        read_before: HashMap<String, Email>,
        committed: &CommittedEmails,
        ready: Option<Ready>,
    ) -> StoreResult<Written> {
        let stored = self.claim(messages)?;
        let fresh = fresh_messages(messages, |k| !stored.contains(k));
        if let Some(ready) = ready.filter(|_| fresh.iter().all(|f| *f)) {
            self.define(ready.names.iter().map(String::as_str))?;
            let (pushed, fresh_ids, times) = ready.push.write(self.conn)?;
            let outcome = SegmentOutcome {
                accepted: pushed.accepted,
                duplicates: pushed.duplicates,
                pending: 0,
            };
            return Ok(Written {
                outcome,
                push: Some((ready.push, fresh_ids)),
                times: Some(times),
                renamed: Vec::new(),
            });
        }
        let mut outcome = SegmentOutcome {
            duplicates: fresh.iter().filter(|f| !**f).count() as u64,
            ..SegmentOutcome::default()
        };
        let fresh: Vec<&Message> = messages
            .iter()
            .zip(&fresh)
            .filter(|(_, f)| **f)
            .map(|(m, _)| m)
            .collect();
        for m in &fresh {
            match &m.action {
                Action::Identify(i) => self.identify(i)?,
                Action::Alias(a) => self.alias(a)?,
                Action::Event(_) | Action::Nothing => {}
            }
        }
        // Identities an identify of this batch named are looked up again.
        let renamed: HashSet<&str> = fresh
            .iter()
            .flat_map(|m| match &m.action {
                Action::Identify(i) => vec![i.user_id.as_deref(), i.anonymous_id.as_deref()],
                Action::Alias(a) => vec![Some(a.previous_id.as_str()), Some(a.user_id.as_str())],
                _ => Vec::new(),
            })
            .flatten()
            .collect();
        let mut known: HashMap<&str, Option<Email>> = read_before
            .iter()
            .filter(|(ident, _)| !renamed.contains(ident.as_str()))
            .map(|(ident, email)| (ident.as_str(), Some(email.clone())))
            .collect();
        let mut names: HashSet<String> = HashSet::new();
        for m in &fresh {
            let Action::Event(e) = &m.action else {
                continue;
            };
            names.insert(e.event_name.clone());
            let email = match (&e.email, &e.ident) {
                (Some(email), _) => Some(email.clone()),
                (None, Some(ident)) => match known.get(ident.as_str()) {
                    Some(email) => email.clone(),
                    None => {
                        let email = self.email_of(ident)?;
                        known.insert(ident, email.clone());
                        email
                    }
                },
                (None, None) => None,
            };
            match (email, &e.ident) {
                (Some(email), _) => self.events.push(NewEvent {
                    index: self.events.len(),
                    ts_ms: e.ts_ms,
                    email,
                    event_name: e.event_name.clone(),
                    day: e.day,
                }),
                (None, Some(ident)) => {
                    outcome.pending += self
                        .conn
                        .prepare_cached(
                            "INSERT OR IGNORE INTO seg_pending (app, ident, ts_ms, event_name, day)
                             VALUES (?1, ?2, ?3, ?4, ?5)",
                        )?
                        .execute(params![self.app, ident, e.ts_ms, e.event_name, e.day])?
                        as u64;
                }
                // The server refuses an event with neither an identity nor an email.
                (None, None) => {}
            }
        }
        names.extend(self.events.iter().map(|e| e.event_name.clone()));
        self.define(names.iter().map(String::as_str))?;
        if self.provisioned_changed {
            bump_provisioned(self.conn, self.app)?;
        }
        if self.events.is_empty() {
            return Ok(Written {
                outcome,
                push: None,
                times: None,
                renamed: self.renamed,
            });
        }
        let push = PreparedPush::new(self.account_id, &self.app_id, &self.events, committed);
        let (pushed, fresh_ids, times) = push.write(self.conn)?;
        outcome.accepted = pushed.accepted;
        outcome.duplicates += pushed.duplicates;
        Ok(Written {
            outcome,
            push: Some((push, fresh_ids)),
            times: Some(times),
            renamed: self.renamed,
        })
    }

    /// Stores the batch's message keys; returns those stored now (the others
    /// were already).
    ///
    /// One row a statement: the changed-row count says whether it is new, and
    /// no `RETURNING` (which builds an ephemeral table each time) is needed.
    fn claim(&self, messages: &[Message]) -> StoreResult<HashSet<MessageKey>> {
        let keys = sorted_keys(messages);
        let mut stored = HashSet::with_capacity(keys.len());
        let mut insert = self.conn.prepare_cached(
            "INSERT OR IGNORE INTO seg_messages (app, ts_ms, message_hash) VALUES (?1, ?2, ?3)",
        )?;
        for k in keys {
            if insert.execute(params![self.app, k.ts_ms, k.hash])? == 1 {
                stored.insert(k);
            }
        }
        Ok(stored)
    }

    fn email_of(&self, ident: &str) -> StoreResult<Option<Email>> {
        let email: Option<Option<String>> = self
            .conn
            .prepare_cached("SELECT email FROM seg_identities WHERE app = ?1 AND ident = ?2")?
            .query_row(params![self.app, ident], |r| r.get(0))
            .optional()?;
        Ok(email.flatten().and_then(|e| Email::parse(&e).ok()))
    }

    fn link(&self, a: &str, b: &str) -> StoreResult<()> {
        if a == b {
            return Ok(());
        }
        let mut stmt = self.conn.prepare_cached(
            "INSERT OR IGNORE INTO seg_links (app, ident, other) VALUES (?1, ?2, ?3)",
        )?;
        stmt.execute(params![self.app, a, b])?;
        stmt.execute(params![self.app, b, a])?;
        Ok(())
    }

    fn identify(&mut self, i: &Identify) -> StoreResult<()> {
        let idents: Vec<&str> = [i.user_id.as_deref(), i.anonymous_id.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        if let [a, b] = idents[..] {
            self.link(a, b)?;
        }
        let email = match &i.email {
            Some(e) => Some(e.clone()),
            None => self.first_email(&idents)?,
        };
        let Some(email) = email else {
            return Ok(());
        };
        self.name_identities(&idents, &email)?;
        if let Some(user_id) = &i.user_id {
            self.provision(user_id, &email, &i.profile)?;
        }
        Ok(())
    }

    fn alias(&mut self, a: &Alias) -> StoreResult<()> {
        self.link(&a.previous_id, &a.user_id)?;
        let idents = [a.user_id.as_str(), a.previous_id.as_str()];
        if let Some(email) = self.first_email(&idents)? {
            self.name_identities(&idents, &email)?;
        }
        Ok(())
    }

    fn first_email(&self, idents: &[&str]) -> StoreResult<Option<Email>> {
        for ident in idents {
            if let Some(e) = self.email_of(ident)? {
                return Ok(Some(e));
            }
        }
        Ok(None)
    }

    /// Gives `email` to `start` and every identity linked to them, and releases
    /// their kept events.
    fn name_identities(&mut self, start: &[&str], email: &Email) -> StoreResult<()> {
        let mut seen: HashSet<String> = start.iter().map(|s| s.to_string()).collect();
        let mut queue: VecDeque<String> = seen.iter().cloned().collect();
        let mut linked = self
            .conn
            .prepare_cached("SELECT other FROM seg_links WHERE app = ?1 AND ident = ?2")?;
        let mut set = self.conn.prepare_cached(
            "INSERT INTO seg_identities (app, ident, email) VALUES (?1, ?2, ?3)
             ON CONFLICT (app, ident) DO UPDATE SET email = excluded.email",
        )?;
        let mut take = self.conn.prepare_cached(
            "DELETE FROM seg_pending WHERE app = ?1 AND ident = ?2
             RETURNING ts_ms, event_name, day",
        )?;
        while let Some(ident) = queue.pop_front() {
            set.execute(params![self.app, ident, email.as_str()])?;
            self.renamed.push(ident.clone());
            let mut rows = take.query(params![self.app, ident])?;
            while let Some(r) = rows.next()? {
                self.events.push(NewEvent {
                    index: self.events.len(),
                    ts_ms: r.get(0)?,
                    email: email.clone(),
                    event_name: r.get(1)?,
                    day: r.get(2)?,
                });
            }
            let others: Vec<String> = linked
                .query_map(params![self.app, ident], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            for other in others {
                if seen.len() < MAX_LINKED_IDENTITIES && seen.insert(other.clone()) {
                    queue.push_back(other);
                }
            }
        }
        Ok(())
    }

    /// Creates or updates the provisioned user `user_id` with the identify's
    /// email and profile (fields it does not name are kept).
    fn provision(&mut self, user_id: &str, email: &Email, profile: &Profile) -> StoreResult<()> {
        let stored: Option<Option<String>> = self
            .conn
            .prepare_cached(
                "SELECT profile FROM usage_provisioned
                 WHERE account_id = ?1 AND app = ?2 AND app_user_id = ?3",
            )?
            .query_row(params![self.account_id, self.app, user_id], |r| r.get(0))
            .optional()?;
        let before: Profile = stored
            .flatten()
            .and_then(|p| serde_json::from_str(&p).ok())
            .unwrap_or_default();
        let merged = before.updated_with(profile);
        self.conn
            .prepare_cached(
                "INSERT INTO usage_provisioned
                     (account_id, app, app_user_id, email, username, license, updated_ms, profile)
                 VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6, ?7)
                 ON CONFLICT (account_id, app, app_user_id) DO UPDATE SET
                     email = excluded.email,
                     username = coalesce(excluded.username, usage_provisioned.username),
                     updated_ms = excluded.updated_ms, profile = excluded.profile",
            )?
            .execute(params![
                self.account_id,
                self.app,
                user_id,
                email.as_str(),
                merged.display_name(),
                now_ms(),
                (!merged.is_empty())
                    .then(|| serde_json::to_string(&merged))
                    .transpose()?,
            ])?;
        self.provisioned_changed = true;
        Ok(())
    }

    /// Defines the names the app lacks (type `Other`, no feature group).
    fn define<'a>(&mut self, names: impl Iterator<Item = &'a str>) -> StoreResult<()> {
        let Some(def) = auto_definition(&self.definition, names) else {
            return Ok(());
        };
        self.conn
            .prepare_cached("UPDATE usage_apps SET definition = ?2, updated_ms = ?3 WHERE id = ?1")?
            .execute(params![self.app, serde_json::to_string(&def)?, now_ms()])?;
        sync_event_names(self.conn, self.account_id, self.app, &def)?;
        self.definition = def;
        Ok(())
    }
}

/// Forgets the messageIds older than [`MESSAGE_IDS_KEPT_MS`], app by app (a
/// range of each app's key, which starts with time).
pub(super) fn prune_message_ids(conn: &Connection, now_ms: i64) -> StoreResult<()> {
    let apps: Vec<i64> = conn
        .prepare_cached("SELECT id FROM usage_apps")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut delete =
        conn.prepare_cached("DELETE FROM seg_messages WHERE app = ?1 AND ts_ms < ?2")?;
    for app in apps {
        delete.execute(params![app, now_ms - MESSAGE_IDS_KEPT_MS])?;
    }
    Ok(())
}
