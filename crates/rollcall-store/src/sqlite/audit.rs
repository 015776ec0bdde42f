//! The audit chain in SQLite: `append` is called inside the writer transaction of
//! the action it records; reading and verifying walk `(account_id, seq)` order.

use async_trait::async_trait;
use rollcall_core::audit_chain::{link_hash, Link, GENESIS};
use rusqlite::{params, Connection, OptionalExtension};

use super::SqliteStore;
use crate::audit::{AuditEntry, AuditEvent, AuditPosition, AuditStore, ChainReport};
use crate::{now_ms, StoreResult};

/// Appends `entry` to the account's chain. Timestamps never go backwards within an
/// account, so chain order and time order agree and page tokens can follow `seq`.
pub(crate) fn append(
    conn: &Connection,
    account_id: i64,
    actor: &str,
    entry: &AuditEntry,
) -> StoreResult<()> {
    let head: Option<(i64, i64, String)> = conn
        .prepare_cached("SELECT seq, ts_ms, hash FROM audit_heads WHERE account_id = ?1")?
        .query_row([account_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let (prev_seq, prev_ts, prev_hash) = head.unwrap_or((0, i64::MIN, GENESIS.to_string()));
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
    conn.prepare_cached(
        "INSERT INTO audit_events (account_id, seq, id, ts_ms, event_type, user_id, properties, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![account_id, seq, id, ts_ms, entry.event_type, actor, properties, hash])?;
    conn.prepare_cached(
        "INSERT INTO audit_heads (account_id, seq, ts_ms, hash) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (account_id) DO UPDATE SET seq = excluded.seq, ts_ms = excluded.ts_ms, hash = excluded.hash",
    )?
    .execute(params![account_id, seq, ts_ms, hash])?;
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
        let mut prev = GENESIS.to_string();
        let mut expected_seq = 1;
        let mut rows = stmt.query([account_id])?;
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            let id: String = row.get(1)?;
            let broken = |reason: String| ChainReport::Broken {
                account_id: *account_id,
                seq,
                id: Some(id.clone()),
                reason,
            };
            if seq != expected_seq {
                return Ok(ChainReport::Broken {
                    account_id: *account_id,
                    seq: expected_seq,
                    id: None,
                    reason: format!("event {expected_seq} is missing (next present is {seq})"),
                });
            }
            let properties: String = row.get(5)?;
            let user_id: String = row.get(4)?;
            let event_type: String = row.get(3)?;
            let stored: String = row.get(6)?;
            let computed = link_hash(
                &prev,
                &Link {
                    account_id: *account_id,
                    seq,
                    id: &id,
                    ts_ms: row.get(2)?,
                    event_type: &event_type,
                    user_id: &user_id,
                    properties: &properties,
                },
            );
            if computed != stored {
                return Ok(broken(
                    "its contents do not match its hash (altered)".to_string(),
                ));
            }
            prev = stored;
            expected_seq += 1;
            events += 1;
        }
        if expected_seq - 1 != *head_seq || &prev != head_hash {
            return Ok(ChainReport::Broken {
                account_id: *account_id,
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
impl AuditStore for SqliteStore {
    async fn audit_events(
        &self,
        account_id: i64,
        after: AuditPosition,
        end_ms: i64,
        limit: usize,
    ) -> StoreResult<Vec<AuditEvent>> {
        self.db
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT seq, id, ts_ms, event_type, user_id, properties FROM audit_events
                     WHERE account_id = ?1 AND (ts_ms, seq) > (?2, ?3) AND ts_ms < ?4
                     ORDER BY ts_ms, seq LIMIT ?5",
                )?;
                let rows = stmt.query_map(
                    params![account_id, after.ts_ms, after.seq, end_ms, limit as i64],
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
        actor: &str,
        entry: AuditEntry,
    ) -> StoreResult<()> {
        let actor = actor.to_string();
        self.db
            .write(move |conn| append(conn, account_id, &actor, &entry))
            .await
    }

    async fn verify_audit_chain(&self) -> StoreResult<ChainReport> {
        self.db.read(verify).await
    }
}
