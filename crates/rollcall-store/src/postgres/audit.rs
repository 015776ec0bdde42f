//! The audit chain in PostgreSQL. `append` runs inside the transaction of the
//! action it records and locks the account's chain head until that transaction
//! commits, so concurrent actions on many processes still form one chain whose
//! order is both time order and commit order.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use rollcall_core::audit_chain::GENESIS;

use super::PgStore;
use crate::audit::{
    Actor, AuditAction, AuditEvent, AuditFilter, AuditPosition, AuditStore, ChainHead, ChainReport,
    ChainWalk, NewLink, StoredLink,
};
use crate::{now_ms, StoreResult};

/// Appends `action` by `actor` to the account's chain; call it inside a
/// transaction. An action that changed nothing is not recorded.
pub(crate) async fn append(
    tx: &impl GenericClient,
    account_id: i64,
    actor: &Actor,
    action: &AuditAction,
) -> StoreResult<()> {
    if !action.changes_anything() {
        return Ok(());
    }
    let entry = &action.entry(actor);
    let actor = actor.email.as_str();
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
    let head = ChainHead {
        seq: head.get(0),
        ts_ms: head.get(1),
        hash: head.get(2),
    };
    let link = NewLink::after(&head, account_id, actor, entry, now_ms());
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
            &link.seq,
            &link.id,
            &link.ts_ms,
            &entry.event_type,
            &actor,
            &link.properties,
            &link.hash,
        ],
    )
    .await?;
    tx.execute(
        "UPDATE audit_heads SET seq = $2, ts_ms = $3, hash = $4 WHERE account_id = $1",
        &[&account_id, &link.seq, &link.ts_ms, &link.hash],
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
        let mut walk = ChainWalk::new(account_id);
        for row in &rows {
            let link = StoredLink {
                seq: row.get(0),
                id: row.get(1),
                ts_ms: row.get(2),
                event_type: row.get(3),
                user_id: row.get(4),
                properties: row.get(5),
                hash: row.get(6),
            };
            if let Err(broken) = walk.check(&link) {
                return Ok(broken);
            }
        }
        match walk.finish(head_seq, &head_hash) {
            Ok(n) => events += n,
            Err(broken) => return Ok(broken),
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
        filter: &AuditFilter,
        limit: usize,
    ) -> StoreResult<Vec<AuditEvent>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT seq, id, ts_ms, event_type, user_id, properties FROM audit_events
                 WHERE account_id = $1 AND (ts_ms, seq) > ($2, $3) AND ts_ms < $4
                   AND ($6::text IS NULL OR event_type = $6)
                   AND ($7::text IS NULL OR lower(user_id) = lower($7))
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
                    &filter.event_type,
                    &filter.user_id,
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
        actor: &Actor,
        action: AuditAction,
    ) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        append(&tx, account_id, actor, &action).await?;
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
