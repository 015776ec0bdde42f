//! The audit chain in PostgreSQL. `append` runs inside the transaction of the
//! action it records and locks the account's chain head until that transaction
//! commits, so concurrent actions on many processes still form one chain whose
//! order is both time order and commit order.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use rollcall_core::audit_chain::{link_hash, Link, GENESIS};

use super::PgStore;
use crate::audit::{AuditEntry, AuditEvent, AuditPosition, AuditStore, ChainReport};
use crate::{now_ms, StoreResult};

/// Appends `entry` to the account's chain; call it inside a transaction.
pub(crate) async fn append(
    tx: &impl GenericClient,
    account_id: i64,
    actor: &str,
    entry: &AuditEntry,
) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO audit_heads (account_id, seq, ts_ms, hash) VALUES ($1, 0, 0, $2)
         ON CONFLICT (account_id) DO NOTHING",
        &[&account_id, &GENESIS],
    )
    .await?;
    let head = tx
        .query_one(
            "SELECT seq, ts_ms, hash FROM audit_heads WHERE account_id = $1 FOR UPDATE",
            &[&account_id],
        )
        .await?;
    let prev_seq: i64 = head.get(0);
    let prev_ts: i64 = head.get(1);
    let prev_hash: String = head.get(2);
    let seq = prev_seq + 1;
    let ts_ms = now_ms().max(prev_ts);
    let id = rollcall_core::secret::random_hex(16);
    let properties = entry
        .properties
        .as_ref()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let hash = link_hash(
        &prev_hash,
        &Link {
            account_id,
            seq,
            id: &id,
            ts_ms,
            event_type: entry.event_type,
            user_id: actor,
            properties: &properties,
        },
    );
    let insert = tx
        .prepare_cached(
            "INSERT INTO audit_events (account_id, seq, id, ts_ms, event_type, user_id, properties, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .await?;
    tx.execute(
        &insert,
        &[
            &account_id,
            &seq,
            &id,
            &ts_ms,
            &entry.event_type,
            &actor,
            &properties,
            &hash,
        ],
    )
    .await?;
    tx.execute(
        "UPDATE audit_heads SET seq = $2, ts_ms = $3, hash = $4 WHERE account_id = $1",
        &[&account_id, &seq, &ts_ms, &hash],
    )
    .await?;
    Ok(())
}

async fn verify(client: &impl GenericClient) -> StoreResult<ChainReport> {
    let heads = client
        .query(
            "SELECT account_id, seq, hash FROM audit_heads ORDER BY account_id",
            &[],
        )
        .await?;
    let mut events = 0u64;
    for head in &heads {
        let account_id: i64 = head.get(0);
        let head_seq: i64 = head.get(1);
        let head_hash: String = head.get(2);
        let rows = client
            .query(
                "SELECT seq, id, ts_ms, event_type, user_id, properties, hash FROM audit_events
                 WHERE account_id = $1 ORDER BY seq",
                &[&account_id],
            )
            .await?;
        let mut prev = GENESIS.to_string();
        let mut expected_seq = 1;
        for row in rows {
            let seq: i64 = row.get(0);
            let id: String = row.get(1);
            if seq != expected_seq {
                return Ok(ChainReport::Broken {
                    account_id,
                    seq: expected_seq,
                    id: None,
                    reason: format!("event {expected_seq} is missing (next present is {seq})"),
                });
            }
            let stored: String = row.get(6);
            let computed = link_hash(
                &prev,
                &Link {
                    account_id,
                    seq,
                    id: &id,
                    ts_ms: row.get(2),
                    event_type: row.get(3),
                    user_id: row.get(4),
                    properties: row.get(5),
                },
            );
            if computed != stored {
                return Ok(ChainReport::Broken {
                    account_id,
                    seq,
                    id: Some(id),
                    reason: "its contents do not match its hash (altered)".to_string(),
                });
            }
            prev = stored;
            expected_seq += 1;
            events += 1;
        }
        if expected_seq - 1 != head_seq || prev != head_hash {
            return Ok(ChainReport::Broken {
                account_id,
                seq: expected_seq,
                id: None,
                reason: format!(
                    "the chain ends at event {} but {head_seq} events were written (deleted from the end)",
                    expected_seq - 1
                ),
            });
        }
    }
    Ok(ChainReport::Intact {
        accounts: heads.len() as u64,
        events,
    })
}

#[async_trait]
impl AuditStore for PgStore {
    async fn audit_events(
        &self,
        account_id: i64,
        after: AuditPosition,
        end_ms: i64,
        limit: usize,
    ) -> StoreResult<Vec<AuditEvent>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT seq, id, ts_ms, event_type, user_id, properties FROM audit_events
                 WHERE account_id = $1 AND (ts_ms, seq) > ($2, $3) AND ts_ms < $4
                 ORDER BY ts_ms, seq LIMIT $5",
            )
            .await?;
        let rows = client
            .query(
                &stmt,
                &[
                    &account_id,
                    &after.ts_ms,
                    &after.seq,
                    &end_ms,
                    &(limit as i64),
                ],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| AuditEvent {
                seq: r.get(0),
                id: r.get(1),
                ts_ms: r.get(2),
                event_type: r.get(3),
                user_id: r.get(4),
                properties: serde_json::from_str(r.get::<_, &str>(5)).ok(),
            })
            .collect())
    }

    async fn record_audit(
        &self,
        account_id: i64,
        actor: &str,
        entry: AuditEntry,
    ) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        append(&tx, account_id, actor, &entry).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn verify_audit_chain(&self) -> StoreResult<ChainReport> {
        let mut client = self.client().await?;
        // One snapshot for the whole walk, so concurrent appends cannot make an
        // intact chain look truncated.
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let report = verify(&tx).await?;
        tx.commit().await?;
        Ok(report)
    }
}
