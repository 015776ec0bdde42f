//! The audit chain in SQLite: `append` is called inside the writer transaction of
//! the action it records; reading and verifying walk `(account_id, seq)` order.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};

use super::SqliteStore;
use crate::audit::{
    Actor, AuditAction, AuditEvent, AuditFilter, AuditPosition, AuditStore, ChainHead, ChainReport,
    ChainWalk, NewLink, StoredLink,
};
use crate::{now_ms, StoreResult};

/// Appends `action` by `actor` to the account's chain (see [`NewLink::after`]);
/// an action that changed nothing is not recorded.
pub(crate) fn append(
    conn: &Connection,
    account_id: i64,
    actor: &Actor,
    action: &AuditAction,
) -> StoreResult<()> {
    if !action.changes_anything() {
        return Ok(());
    }
    let entry = &action.entry(actor);
    let actor = actor.email.as_str();
    let head = conn
        .prepare_cached("SELECT seq, ts_ms, hash FROM audit_heads WHERE account_id = ?1")?
        .query_row([account_id], |r| {
            Ok(ChainHead {
                seq: r.get(0)?,
                ts_ms: r.get(1)?,
                hash: r.get(2)?,
            })
        })
        .optional()?
        .unwrap_or_else(ChainHead::genesis);
    let link = NewLink::after(&head, account_id, actor, entry, now_ms());
    conn.prepare_cached(
        "INSERT INTO audit_events (account_id, seq, id, ts_ms, event_type, user_id, properties, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        account_id,
        link.seq,
        link.id,
        link.ts_ms,
        entry.event_type,
        actor,
        link.properties,
        link.hash
    ])?;
    conn.prepare_cached(
        "INSERT INTO audit_heads (account_id, seq, ts_ms, hash) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (account_id) DO UPDATE SET seq = excluded.seq, ts_ms = excluded.ts_ms, hash = excluded.hash",
    )?
    .execute(params![account_id, link.seq, link.ts_ms, link.hash])?;
    Ok(())
}

fn verify(conn: &Connection) -> StoreResult<ChainReport> {
    let heads: Vec<(i64, i64, String)> = conn
        .prepare("SELECT account_id, seq, hash FROM audit_heads ORDER BY account_id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut events = 0u64;
    let mut stmt = conn.prepare(
        "SELECT seq, id, ts_ms, event_type, user_id, properties, hash FROM audit_events
         WHERE account_id = ?1 ORDER BY seq",
    )?;
    for (account_id, head_seq, head_hash) in &heads {
        let mut walk = ChainWalk::new(*account_id);
        let mut rows = stmt.query([account_id])?;
        while let Some(row) = rows.next()? {
            let (id, event_type, user_id, properties, hash): (
                String,
                String,
                String,
                String,
                String,
            ) = (
                row.get(1)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
                row.get(6)?,
            );
            let link = StoredLink {
                seq: row.get(0)?,
                id: &id,
                ts_ms: row.get(2)?,
                event_type: &event_type,
                user_id: &user_id,
                properties: &properties,
                hash: &hash,
            };
            if let Err(broken) = walk.check(&link) {
                return Ok(broken);
            }
        }
        match walk.finish(*head_seq, head_hash) {
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
impl AuditStore for SqliteStore {
    async fn audit_events(
        &self,
        account_id: i64,
        after: AuditPosition,
        end_ms: i64,
        filter: &AuditFilter,
        limit: usize,
    ) -> StoreResult<Vec<AuditEvent>> {
        let filter = filter.clone();
        self.db
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT seq, id, ts_ms, event_type, user_id, properties FROM audit_events
                     WHERE account_id = ?1 AND (ts_ms, seq) > (?2, ?3) AND ts_ms < ?4
                       AND (?6 IS NULL OR event_type = ?6)
                       AND (?7 IS NULL OR user_id = ?7 COLLATE NOCASE)
                     ORDER BY ts_ms, seq LIMIT ?5",
                )?;
                let rows = stmt.query_map(
                    params![
                        account_id,
                        after.ts_ms,
                        after.seq,
                        end_ms,
                        limit as i64,
                        filter.event_type,
                        filter.user_id
                    ],
                    |r| {
                        let properties: String = r.get(5)?;
                        Ok(AuditEvent {
                            seq: r.get(0)?,
                            id: r.get(1)?,
                            ts_ms: r.get(2)?,
                            event_type: r.get(3)?,
                            user_id: r.get(4)?,
                            properties: serde_json::from_str(&properties).ok(),
                        })
                    },
                )?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await
    }

    async fn record_audit(
        &self,
        account_id: i64,
        actor: &Actor,
        action: AuditAction,
    ) -> StoreResult<()> {
        let actor = actor.clone();
        self.db
            .write(move |conn| append(conn, account_id, &actor, &action))
            .await
    }

    async fn verify_audit_chain(&self) -> StoreResult<ChainReport> {
        self.db.read(verify).await
    }
}
