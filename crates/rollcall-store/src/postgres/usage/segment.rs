//! The Segment tracking API on PostgreSQL: write keys, and the ingest of a
//! batch in one transaction, in the steps `crate::segment` describes.
//!
//! An ingest locks its app's row for writing (`Lock::Write`) since it may add
//! event names to the definition: ingests to one app are serialised (across
//! processes too), which keeps the messageId claims, identities and kept events
//! exact. The resolved events are then written by the native push's
//! [`push::push_group`] in the same transaction, which commits it.

use std::collections::{HashMap, HashSet, VecDeque};

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Transaction};
use rollcall_core::segment::Profile;
use rollcall_core::usage::AppDefinition;
use rollcall_core::Email;

use super::apps::{disconnected, load_app, sync_event_names, Lock};
use super::email_ids::EmailIds;
use super::push::{self, Raw};
use super::PgStore;
use crate::segment::{
    auto_definition, fresh_messages, sorted_keys, Action, Alias, Identify, Message, MessageKey,
    SegmentOutcome, SegmentStore, WriteKey, MAX_LINKED_IDENTITIES,
};
use crate::usage::NewEvent;
use crate::{now_ms, StoreResult};

#[async_trait]
impl SegmentStore for PgStore {
    async fn write_key(&self, secret_hash: &str) -> StoreResult<Option<WriteKey>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT c.id, c.account_id, c.app_id, a.rate_per_second, a.rate_burst,
                        a.time_zone, a.usage_retention_days
                 FROM credentials c JOIN accounts a ON a.id = c.account_id
                 WHERE c.secret_hash = $1 AND c.kind = 'writeKey'
                   AND c.revoked_ms IS NULL AND c.app_id IS NOT NULL",
            )
            .await?;
        Ok(client
            .query_opt(&stmt, &[&secret_hash])
            .await?
            .map(|r| WriteKey {
                credential_id: r.get(0),
                account_id: r.get(1),
                app_id: r.get(2),
                rate_limit: crate::postgres::auth::rate_limit(&r, 3, 4),
                time_zone: r.get(5),
                usage_retention_days: r.get::<_, i64>(6).clamp(0, i64::from(u32::MAX)) as u32,
            }))
    }

    async fn ingest_segment(
        &self,
        account_id: i64,
        app_id: &str,
        messages: Vec<Message>,
    ) -> StoreResult<SegmentOutcome> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let app = load_app(&tx, account_id, app_id, Lock::Write).await?;
        if !app.rec.is_connected() {
            return Err(disconnected(app_id));
        }
        let mut ingest = Ingest {
            tx: &tx,
            account_id,
            app: app.id,
            definition: app.rec.definition,
            events: Vec::new(),
            provisioned_changed: false,
        };
        let mut outcome = ingest.prepare(&messages).await?;
        let events = std::mem::take(&mut ingest.events);
        if events.is_empty() {
            tx.commit().await?;
            return Ok(outcome);
        }
        commit_with_events(
            tx,
            &self.caches.email_ids,
            account_id,
            app_id,
            &events,
            &mut outcome,
        )
        .await?;
        Ok(outcome)
    }
}

/// Writes the resolved events with the native push's write path, which commits `tx`.
async fn commit_with_events(
    tx: Transaction<'_>,
    email_ids: &EmailIds,
    account_id: i64,
    app_id: &str,
    events: &[NewEvent],
    outcome: &mut SegmentOutcome,
) -> StoreResult<()> {
    let answers = push::push_group(
        tx,
        email_ids,
        account_id,
        app_id,
        &[events],
        Raw::SkipStored,
    )
    .await?
    .ok_or_else(|| crate::StoreError::Internal("a push skipping stored rows failed".into()))?;
    for answer in answers {
        let pushed = answer?;
        outcome.accepted += pushed.accepted;
        outcome.duplicates += pushed.duplicates;
    }
    Ok(())
}

/// One batch's ingest inside its transaction.
struct Ingest<'t, C: GenericClient> {
    tx: &'t C,
    account_id: i64,
    app: i64,
    definition: AppDefinition,
    events: Vec<NewEvent>,
    provisioned_changed: bool,
}

impl<C: GenericClient + Sync> Ingest<'_, C> {
    /// Everything but the events' write: claims, identities, kept events,
    /// definitions. Leaves the events to store in `self.events`.
    async fn prepare(&mut self, messages: &[Message]) -> StoreResult<SegmentOutcome> {
        let stored = self.claim(messages).await?;
        let fresh = fresh_messages(messages, |k| !stored.contains(k));
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
                Action::Identify(i) => self.identify(i).await?,
                Action::Alias(a) => self.alias(a).await?,
                Action::Event(_) | Action::Nothing => {}
            }
        }
        let mut known: HashMap<String, Option<Email>> = HashMap::new();
        let mut names: HashSet<String> = HashSet::new();
        for m in &fresh {
            let Action::Event(e) = &m.action else {
                continue;
            };
            names.insert(e.event_name.clone());
            let email = match (&e.email, &e.ident) {
                (Some(email), _) => Some(email.clone()),
                (None, Some(ident)) => match known.get(ident) {
                    Some(email) => email.clone(),
                    None => {
                        let email = self.email_of(ident).await?;
                        known.insert(ident.clone(), email.clone());
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
                        .tx
                        .execute(
                            "INSERT INTO seg_pending (app, ident, ts_ms, event_name, day)
                             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                            &[&self.app, ident, &e.ts_ms, &e.event_name, &e.day],
                        )
                        .await?;
                }
                (None, None) => {}
            }
        }
        names.extend(self.events.iter().map(|e| e.event_name.clone()));
        self.define(names.iter().map(String::as_str)).await?;
        if self.provisioned_changed {
            self.tx
                .execute(
                    "UPDATE usage_apps SET prov_version = prov_version + 1
                     WHERE account_id = $1 AND id = $2",
                    &[&self.account_id, &self.app],
                )
                .await?;
        }
        Ok(outcome)
    }

    /// Stores the batch's message keys; returns those stored now.
    async fn claim(&self, messages: &[Message]) -> StoreResult<HashSet<MessageKey>> {
        let keys = sorted_keys(messages);
        if keys.is_empty() {
            return Ok(HashSet::new());
        }
        let ts: Vec<i64> = keys.iter().map(|k| k.ts_ms).collect();
        let hashes: Vec<i64> = keys.iter().map(|k| k.hash).collect();
        let stmt = self
            .tx
            .prepare_cached(
                "INSERT INTO seg_messages (app, ts_ms, message_hash)
                 SELECT $1, t, h FROM unnest($2::bigint[], $3::bigint[]) AS k(t, h)
                 ON CONFLICT DO NOTHING RETURNING ts_ms, message_hash",
            )
            .await?;
        Ok(self
            .tx
            .query(&stmt, &[&self.app, &ts, &hashes])
            .await?
            .iter()
            .map(|r| MessageKey {
                ts_ms: r.get(0),
                hash: r.get(1),
            })
            .collect())
    }

    async fn email_of(&self, ident: &str) -> StoreResult<Option<Email>> {
        let row = self
            .tx
            .query_opt(
                "SELECT email FROM seg_identities WHERE app = $1 AND ident = $2",
                &[&self.app, &ident],
            )
            .await?;
        Ok(row
            .and_then(|r| r.get::<_, Option<String>>(0))
            .and_then(|e| Email::parse(&e).ok()))
    }

    async fn link(&self, a: &str, b: &str) -> StoreResult<()> {
        if a == b {
            return Ok(());
        }
        self.tx
            .execute(
                "INSERT INTO seg_links (app, ident, other) VALUES ($1, $2, $3), ($1, $3, $2)
                 ON CONFLICT DO NOTHING",
                &[&self.app, &a, &b],
            )
            .await?;
        Ok(())
    }

    async fn identify(&mut self, i: &Identify) -> StoreResult<()> {
        let idents: Vec<&str> = [i.user_id.as_deref(), i.anonymous_id.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        if let [a, b] = idents[..] {
            self.link(a, b).await?;
        }
        let email = match &i.email {
            Some(e) => Some(e.clone()),
            None => self.first_email(&idents).await?,
        };
        let Some(email) = email else {
            return Ok(());
        };
        self.name_identities(&idents, &email).await?;
        if let Some(user_id) = &i.user_id {
            self.provision(user_id, &email, &i.profile).await?;
        }
        Ok(())
    }

    async fn alias(&mut self, a: &Alias) -> StoreResult<()> {
        self.link(&a.previous_id, &a.user_id).await?;
        let idents = [a.user_id.as_str(), a.previous_id.as_str()];
        if let Some(email) = self.first_email(&idents).await? {
            self.name_identities(&idents, &email).await?;
        }
        Ok(())
    }

    async fn first_email(&self, idents: &[&str]) -> StoreResult<Option<Email>> {
        for ident in idents {
            if let Some(e) = self.email_of(ident).await? {
                return Ok(Some(e));
            }
        }
        Ok(None)
    }

    /// Gives `email` to `start` and every identity linked to them, and releases
    /// their kept events.
    async fn name_identities(&mut self, start: &[&str], email: &Email) -> StoreResult<()> {
        let mut seen: HashSet<String> = start.iter().map(|s| s.to_string()).collect();
        let mut queue: VecDeque<String> = seen.iter().cloned().collect();
        while let Some(ident) = queue.pop_front() {
            self.tx
                .execute(
                    "INSERT INTO seg_identities (app, ident, email) VALUES ($1, $2, $3)
                     ON CONFLICT (app, ident) DO UPDATE SET email = excluded.email",
                    &[&self.app, &ident, &email.as_str()],
                )
                .await?;
            let kept = self
                .tx
                .query(
                    "DELETE FROM seg_pending WHERE app = $1 AND ident = $2
                     RETURNING ts_ms, event_name, day",
                    &[&self.app, &ident],
                )
                .await?;
            for r in kept {
                self.events.push(NewEvent {
                    index: self.events.len(),
                    ts_ms: r.get(0),
                    email: email.clone(),
                    event_name: r.get(1),
                    day: r.get(2),
                });
            }
            let others = self
                .tx
                .query(
                    "SELECT other FROM seg_links WHERE app = $1 AND ident = $2",
                    &[&self.app, &ident],
                )
                .await?;
            for r in others {
                let other: String = r.get(0);
                if seen.len() < MAX_LINKED_IDENTITIES && seen.insert(other.clone()) {
                    queue.push_back(other);
                }
            }
        }
        Ok(())
    }

    /// Creates or updates the provisioned user `user_id` with the identify's
    /// email and profile (fields it does not name are kept).
    async fn provision(
        &mut self,
        user_id: &str,
        email: &Email,
        profile: &Profile,
    ) -> StoreResult<()> {
        let stored = self
            .tx
            .query_opt(
                "SELECT profile FROM usage_provisioned
                 WHERE account_id = $1 AND app = $2 AND app_user_id = $3",
                &[&self.account_id, &self.app, &user_id],
            )
            .await?;
        let before: Profile = stored
            .and_then(|r| r.get::<_, Option<String>>(0))
            .and_then(|p| serde_json::from_str(&p).ok())
            .unwrap_or_default();
        let merged = before.updated_with(profile);
        let profile_json = (!merged.is_empty())
            .then(|| serde_json::to_string(&merged))
            .transpose()?;
        self.tx
            .execute(
                "INSERT INTO usage_provisioned
                     (account_id, app, app_user_id, email, username, license, updated_ms, profile)
                 VALUES ($1, $2, $3, $4, $5, NULL, $6, $7)
                 ON CONFLICT (account_id, app, app_user_id) DO UPDATE SET
                     email = excluded.email,
                     username = coalesce(excluded.username, usage_provisioned.username),
                     updated_ms = excluded.updated_ms, profile = excluded.profile",
                &[
                    &self.account_id,
                    &self.app,
                    &user_id,
                    &email.as_str(),
                    &merged.display_name(),
                    &now_ms(),
                    &profile_json,
                ],
            )
            .await?;
        self.provisioned_changed = true;
        Ok(())
    }

    /// Defines the names the app lacks (type `Other`, no feature group).
    async fn define<'a>(&mut self, names: impl Iterator<Item = &'a str>) -> StoreResult<()> {
        let Some(def) = auto_definition(&self.definition, names) else {
            return Ok(());
        };
        self.tx
            .execute(
                "UPDATE usage_apps SET definition = $2, updated_ms = $3 WHERE id = $1",
                &[&self.app, &serde_json::to_string(&def)?, &now_ms()],
            )
            .await?;
        sync_event_names(self.tx, self.account_id, self.app, &def).await?;
        self.definition = def;
        Ok(())
    }
}
