//! The privacy policy in SQLite: the policy row, the redaction counters the
//! ingest transaction adds to, a login's groups (which pick its capture), and
//! the title retention the maintenance job applies.

use std::collections::HashMap;

use async_trait::async_trait;
use rollcall_core::privacy::PrivacyPolicy;
use rusqlite::{params, Connection, OptionalExtension};

use super::audit;
use super::workforce::overridden_groups_exist;
use super::SqliteStore;
use crate::audit::{Actor, AuditAction};
use crate::privacy::{PrivacyStore, RedactionTally};
use crate::{now_ms, StoreError, StoreResult};

pub(crate) fn load_policy(conn: &Connection, account_id: i64) -> StoreResult<PrivacyPolicy> {
    let body: Option<String> = conn
        .prepare_cached("SELECT body FROM privacy_policies WHERE account_id = ?1")?
        .query_row([account_id], |r| r.get(0))
        .optional()?;
    match body {
        None => Ok(PrivacyPolicy::default()),
        Some(b) => serde_json::from_str(&b)
            .map_err(|e| StoreError::Internal(format!("stored privacy policy unreadable: {e}"))),
    }
}

/// Adds a batch's redaction tally to the account's counters (in the ingest
/// transaction).
pub(super) fn count_redactions(
    conn: &Connection,
    account_id: i64,
    keys: &[String],
    tally: &RedactionTally,
) -> StoreResult<()> {
    for (key, records) in tally.nonzero(keys) {
        conn.prepare_cached(
            "INSERT INTO privacy_redaction_counts (account_id, rule_key, records)
             VALUES (?1, ?2, ?3)
             ON CONFLICT (account_id, rule_key) DO UPDATE SET records = records + excluded.records",
        )?
        .execute(params![account_id, key, records])?;
    }
    Ok(())
}

/// Blanks the titles and URLs of records that started before each account's
/// title retention. Durations, applications and websites stay, so working
/// hours do not change. Records whose text is already blank are not rewritten.
pub(super) fn apply_title_retention(conn: &Connection, now_ms: i64) -> StoreResult<()> {
    let policies: Vec<(i64, String)> = conn
        .prepare_cached("SELECT account_id, body FROM privacy_policies")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (account_id, body) in policies {
        let Ok(policy) = serde_json::from_str::<PrivacyPolicy>(&body) else {
            continue;
        };
        let Some(days) = policy.title_retention_days else {
            continue;
        };
        let cutoff_ms = now_ms.saturating_sub(i64::from(days) * 86_400_000);
        // `day` (a local date) is at most a day after the UTC date of the
        // start; its log-id bounds limit the scan, `start_ms` decides. Blanking
        // drops the strings no other record names (migration 0024, once the
        // pending references are folded).
        let cutoff_day = cutoff_ms.div_euclid(86_400_000) as i32 + 1;
        let Some((first, last)) = super::workforce::through_day(conn, account_id, cutoff_day)?
        else {
            continue;
        };
        super::workforce::fold_text_refs(conn, account_id)?;
        conn.prepare_cached(
            "UPDATE wf_records SET title_id = NULL, url_id = NULL
             WHERE account_id = ?1 AND log_id BETWEEN ?4 AND ?5 AND day <= ?2 AND start_ms < ?3
               AND (title_id IS NOT NULL OR url_id IS NOT NULL)",
        )?
        .execute(params![account_id, cutoff_day, cutoff_ms, first, last])?;
    }
    Ok(())
}

#[async_trait]
impl PrivacyStore for SqliteStore {
    async fn privacy_policy(&self, account_id: i64) -> StoreResult<PrivacyPolicy> {
        self.db
            .read(move |conn| load_policy(conn, account_id))
            .await
    }

    async fn put_privacy_policy(
        &self,
        account_id: i64,
        actor: &Actor,
        policy: PrivacyPolicy,
    ) -> StoreResult<()> {
        let actor = actor.clone();
        let body = serde_json::to_string(&policy)
            .map_err(|e| StoreError::Internal(format!("cannot encode the privacy policy: {e}")))?;
        self.db
            .write(move |conn| {
                overridden_groups_exist(
                    conn,
                    account_id,
                    policy.group_overrides.iter().map(|o| o.group_id),
                )?;
                let before = load_policy(conn, account_id)?;
                conn.prepare_cached(
                    "INSERT INTO privacy_policies (account_id, body, updated_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT (account_id) DO UPDATE SET body = excluded.body,
                         updated_ms = excluded.updated_ms",
                )?
                .execute(params![account_id, body, now_ms()])?;
                audit::append(
                    conn,
                    account_id,
                    &actor,
                    &AuditAction::PrivacyChanged {
                        before: Box::new(before),
                        after: Box::new(policy),
                    },
                )?;
                Ok(())
            })
            .await
    }

    async fn redaction_counts(&self, account_id: i64) -> StoreResult<HashMap<String, u64>> {
        self.db
            .read(move |conn| {
                let rows = conn
                    .prepare_cached(
                        "SELECT rule_key, records FROM privacy_redaction_counts WHERE account_id = ?1",
                    )?
                    .query_map([account_id], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
                    })?
                    .collect::<Result<_, _>>()?;
                Ok(rows)
            })
            .await
    }

    async fn login_groups(
        &self,
        account_id: i64,
        login_domain: &str,
        name: &str,
    ) -> StoreResult<Vec<i64>> {
        let (login_domain, name) = (login_domain.to_string(), name.to_string());
        self.db
            .read(move |conn| {
                let groups = conn
                    .prepare_cached(
                        "SELECT m.group_id FROM wf_clients c
                         JOIN wf_group_members m ON m.account_id = c.account_id AND m.kind = 'c'
                             AND m.member_id = coalesce(c.merged_into, c.id)
                         WHERE c.account_id = ?1 AND c.login_domain = ?2 AND c.name = ?3
                         ORDER BY m.group_id",
                    )?
                    .query_map(params![account_id, login_domain, name], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                Ok(groups)
            })
            .await
    }
}
