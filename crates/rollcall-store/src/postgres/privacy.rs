//! The privacy policy on PostgreSQL: the policy row, the redaction counters
//! the ingest transaction adds to (under the account's ingest lock), a login's
//! groups (which pick its capture), and the title retention the maintenance
//! job applies.

use std::collections::HashMap;

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use rollcall_core::privacy::PrivacyPolicy;

use super::audit;
use super::PgStore;
use crate::audit::{Actor, AuditAction};
use crate::privacy::{PrivacyStore, RedactionTally};
use crate::{now_ms, StoreError, StoreResult};

async fn load_policy(client: &impl GenericClient, account_id: i64) -> StoreResult<PrivacyPolicy> {
    let stmt = client
        .prepare_cached("SELECT body FROM privacy_policies WHERE account_id = $1")
        .await?;
    match client.query_opt(&stmt, &[&account_id]).await? {
        None => Ok(PrivacyPolicy::default()),
        Some(row) => serde_json::from_str(row.get::<_, &str>(0))
            .map_err(|e| StoreError::Internal(format!("stored privacy policy unreadable: {e}"))),
    }
}

/// Adds a batch's redaction tally to the account's counters (in the ingest
/// transaction).
pub(crate) async fn count_redactions(
    tx: &impl GenericClient,
    account_id: i64,
    keys: &[String],
    tally: &RedactionTally,
) -> StoreResult<()> {
    let counts = tally.nonzero(keys);
    if counts.is_empty() {
        return Ok(());
    }
    let (rule_keys, records): (Vec<&str>, Vec<i64>) = counts.into_iter().unzip();
    let stmt = tx
        .prepare_cached(
            "INSERT INTO privacy_redaction_counts (account_id, rule_key, records)
             SELECT $1, u.k, u.n FROM unnest($2::text[], $3::bigint[]) AS u(k, n)
             ORDER BY u.k
             ON CONFLICT (account_id, rule_key)
             DO UPDATE SET records = privacy_redaction_counts.records + excluded.records",
        )
        .await?;
    tx.execute(&stmt, &[&account_id, &rule_keys, &records])
        .await?;
    Ok(())
}

/// Blanks the titles and URLs of records that started before each account's
/// title retention. Durations, applications and websites stay, so working
/// hours do not change. Records whose text is already blank are not rewritten.
pub(super) async fn apply_title_retention(
    client: &impl GenericClient,
    now_ms: i64,
) -> StoreResult<()> {
    let rows = client
        .query("SELECT account_id, body FROM privacy_policies", &[])
        .await?;
    for row in rows {
        let account_id: i64 = row.get(0);
        let Ok(policy) = serde_json::from_str::<PrivacyPolicy>(row.get::<_, &str>(1)) else {
            continue;
        };
        let Some(days) = policy.title_retention_days else {
            continue;
        };
        let cutoff_ms = now_ms.saturating_sub(i64::from(days) * 86_400_000);
        // `day` (a local date) is at most a day after the UTC date of the
        // start: the day bounds of the days up to it bound the scan,
        // `start_ms` decides.
        let cutoff_day = cutoff_ms.div_euclid(86_400_000) as i32 + 1;
        client
            .execute(
                "UPDATE wf_records SET description = '', url = NULL
                 WHERE account_id = $1
                   AND log_id BETWEEN (SELECT min(first_log_id) FROM wf_record_days
                                       WHERE account_id = $1 AND day <= $2)
                                  AND (SELECT max(last_log_id) FROM wf_record_days
                                       WHERE account_id = $1 AND day <= $2)
                   AND day <= $2 AND start_ms < $3
                   AND (description <> '' OR url IS NOT NULL)",
                &[&account_id, &cutoff_day, &cutoff_ms],
            )
            .await?;
    }
    Ok(())
}

#[async_trait]
impl PrivacyStore for PgStore {
    async fn privacy_policy(&self, account_id: i64) -> StoreResult<PrivacyPolicy> {
        let client = self.client().await?;
        load_policy(&client, account_id).await
    }

    async fn put_privacy_policy(
        &self,
        account_id: i64,
        actor: &Actor,
        policy: PrivacyPolicy,
    ) -> StoreResult<()> {
        let body = serde_json::to_string(&policy)
            .map_err(|e| StoreError::Internal(format!("cannot encode the privacy policy: {e}")))?;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Concurrent replacements of one account's policy take turns, so each
        // audit event's old value is what the other left.
        tx.execute(
            "SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE",
            &[&account_id],
        )
        .await?;
        super::workforce::overridden_groups_exist(
            &tx,
            account_id,
            policy.group_overrides.iter().map(|o| o.group_id).collect(),
        )
        .await?;
        let before = load_policy(&tx, account_id).await?;
        tx.execute(
            "INSERT INTO privacy_policies (account_id, body, updated_ms) VALUES ($1, $2, $3)
             ON CONFLICT (account_id) DO UPDATE SET body = excluded.body,
                 updated_ms = excluded.updated_ms",
            &[&account_id, &body, &now_ms()],
        )
        .await?;
        audit::append(
            &tx,
            account_id,
            actor,
            &AuditAction::PrivacyChanged {
                before: Box::new(before),
                after: Box::new(policy),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn redaction_counts(&self, account_id: i64) -> StoreResult<HashMap<String, u64>> {
        let client = self.client().await?;
        Ok(client
            .query(
                "SELECT rule_key, records FROM privacy_redaction_counts WHERE account_id = $1",
                &[&account_id],
            )
            .await?
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1).max(0) as u64))
            .collect())
    }

    async fn login_groups(
        &self,
        account_id: i64,
        login_domain: &str,
        name: &str,
    ) -> StoreResult<Vec<i64>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT m.group_id FROM wf_clients c
                 JOIN wf_group_members m ON m.account_id = c.account_id AND m.kind = 'c'
                     AND m.member_id = coalesce(c.merged_into, c.id)
                 WHERE c.account_id = $1 AND c.login_domain = $2 AND c.name = $3
                 ORDER BY m.group_id",
            )
            .await?;
        Ok(client
            .query(&stmt, &[&account_id, &login_domain, &name])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }
}
