//! Erasure of one person's data in PostgreSQL (see [`crate::erasure`]): one
//! transaction holding the account's workforce lock, the usage bitmap rows
//! locked as they are rewritten (so a concurrent push's OR is not lost).
//!
//! Caches: this store's caches of emails and people are cleared. Those of other
//! processes (or other stores) on the same database are keyed by versions the
//! erasure moves: each app's provisioned version, and the current org
//! snapshot's completion time (moved on by 1 ms), so their directories,
//! resolvers and summaries rebuild. Their email tables may still name the
//! erased email's tombstoned id, which no rollup refers to any more, so no
//! report shows it; their email-id caches may still map the email to that id,
//! so a push of the same email through such a process before its cache is
//! cleared lands on the tombstone (docs/privacy.md).

use std::collections::BTreeSet;

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use rollcall_core::usage_report::Employee;

use super::audit;
use super::workforce::members::{lock, remove_member};
use super::PgStore;
use crate::audit::{Actor, AuditAction};
use crate::erasure::{ErasedCounts, ErasureStore};
use crate::workforce::Member;
use crate::StoreResult;

#[async_trait]
impl ErasureStore for PgStore {
    async fn erase_person(
        &self,
        account_id: i64,
        actor: &Actor,
        email: &str,
    ) -> StoreResult<Option<ErasedCounts>> {
        let email = email.to_lowercase();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock(&tx, account_id).await?;
        let counts = erase(&tx, account_id, &email).await?;
        if counts.is_empty() {
            return Ok(None);
        }
        audit::append(
            &tx,
            account_id,
            actor,
            &AuditAction::PersonErased {
                email: email.clone(),
                counts,
            },
        )
        .await?;
        tx.commit().await?;
        self.caches.forget_people();
        self.caches.member_emails.forget_account(account_id);
        self.caches.day_bits.forget_account(account_id);
        Ok(Some(counts))
    }
}

async fn erase(tx: &impl GenericClient, account_id: i64, email: &str) -> StoreResult<ErasedCounts> {
    let mut counts = ErasedCounts::default();
    let emails = person_emails(tx, account_id, email).await?;
    let apps: Vec<i64> = tx
        .query(
            // Locked, so pushes to the account's apps (which share-lock their
            // app) wait for the erasure and then no longer find the email.
            "SELECT id FROM usage_apps WHERE account_id = $1 ORDER BY id FOR UPDATE",
            &[&account_id],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let email_list: Vec<String> = emails.iter().cloned().collect();
    erase_usage(tx, account_id, &apps, &email_list, &mut counts).await?;
    for app in &apps {
        let gone = tx
            .execute(
                "DELETE FROM usage_provisioned WHERE account_id = $1 AND app = $2
                 AND lower(email) = ANY($3)",
                &[&account_id, app, &email_list],
            )
            .await?;
        if gone > 0 {
            tx.execute(
                "UPDATE usage_apps SET prov_version = prov_version + 1
                 WHERE account_id = $1 AND id = $2",
                &[&account_id, app],
            )
            .await?;
            counts.provisioned_users += gone;
        }
    }
    counts.org_chart_entries = tx
        .execute(
            "DELETE FROM usage_org_people WHERE account_id = $1 AND email = $2",
            &[&account_id, &email],
        )
        .await?;
    if counts.org_chart_entries > 0 {
        tx.execute(
            "UPDATE usage_org_snapshots SET completed_ms = completed_ms + 1
             WHERE account_id = $1 AND completed_ms IS NOT NULL",
            &[&account_id],
        )
        .await?;
    }
    erase_segment(tx, &apps, &email_list, &mut counts).await?;
    let clients = erase_agent_activity(tx, account_id, email, &mut counts).await?;
    let mut subjects: Vec<String> = emails.iter().map(|e| format!("email:{e}")).collect();
    subjects.extend(clients.iter().map(|c| format!("client:{c}")));
    counts.access_records = tx
        .execute(
            "DELETE FROM access_records WHERE account_id = $1 AND subject = ANY($2)",
            &[&account_id, &subjects],
        )
        .await?;
    Ok(counts)
}

/// The email and the aliases of the org-chart person whose primary email it
/// is, in any snapshot; lower-cased.
async fn person_emails(
    tx: &impl GenericClient,
    account_id: i64,
    email: &str,
) -> StoreResult<BTreeSet<String>> {
    let mut emails = BTreeSet::from([email.to_string()]);
    for row in tx
        .query(
            "SELECT person FROM usage_org_people WHERE account_id = $1 AND email = $2",
            &[&account_id, &email],
        )
        .await?
    {
        let person: String = row.get(0);
        if let Ok(p) = serde_json::from_str::<Employee>(&person) {
            emails.extend(p.additional_emails.iter().map(|e| e.to_lowercase()));
        }
    }
    Ok(emails)
}

/// Usage events of `emails`, their bits in the day bitmaps (rows left empty
/// go), their latest-activity rows, and the interned emails (tombstoned).
async fn erase_usage(
    tx: &impl GenericClient,
    account_id: i64,
    apps: &[i64],
    emails: &[String],
    counts: &mut ErasedCounts,
) -> StoreResult<()> {
    let ids: Vec<i32> = tx
        .query(
            "SELECT id FROM usage_emails WHERE account_id = $1 AND email = ANY($2)",
            &[&account_id, &emails],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    for app in apps {
        counts.usage_events += tx
            .execute(
                "DELETE FROM usage_events WHERE app = $1 AND email_id = ANY($2)",
                &[app, &ids],
            )
            .await?;
        super::usage::last::clear(tx, account_id, *app, &ids).await?;
        let rows = tx
            .query(
                "SELECT event_id, day, bits FROM usage_day_bits
                 WHERE account_id = $1 AND app = $2 ORDER BY event_id, day FOR UPDATE",
                &[&account_id, app],
            )
            .await?;
        let wide: Vec<i64> = ids.iter().map(|&i| i64::from(i)).collect();
        for row in rows {
            let (event_id, day, mut bits): (i32, i32, Vec<u8>) =
                (row.get(0), row.get(1), row.get(2));
            if !crate::erasure::clear_bits(&mut bits, &wide) {
                continue;
            }
            if bits.iter().all(|b| *b == 0) {
                tx.execute(
                    "DELETE FROM usage_day_bits
                     WHERE account_id = $1 AND app = $2 AND event_id = $3 AND day = $4",
                    &[&account_id, app, &event_id, &day],
                )
                .await?;
            } else {
                tx.execute(
                    "UPDATE usage_day_bits SET bits = $5
                     WHERE account_id = $1 AND app = $2 AND event_id = $3 AND day = $4",
                    &[&account_id, app, &event_id, &day, &bits],
                )
                .await?;
            }
        }
    }
    counts.usage_emails = tx
        .execute(
            "UPDATE usage_emails SET email = '~erased~' || id
             WHERE account_id = $1 AND id = ANY($2)",
            &[&account_id, &ids],
        )
        .await?;
    Ok(())
}

/// The Segment identities naming one of `emails`, those linked to them, their
/// links and their pending events.
async fn erase_segment(
    tx: &impl GenericClient,
    apps: &[i64],
    emails: &[String],
    counts: &mut ErasedCounts,
) -> StoreResult<()> {
    for app in apps {
        let mut idents: BTreeSet<String> = tx
            .query(
                "SELECT ident FROM seg_identities WHERE app = $1 AND email = ANY($2)",
                &[app, &emails],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let named: Vec<String> = idents.iter().cloned().collect();
        idents.extend(
            tx.query(
                "SELECT other FROM seg_links WHERE app = $1 AND ident = ANY($2)",
                &[app, &named],
            )
            .await?
            .iter()
            .map(|r| r.get::<_, String>(0)),
        );
        let all: Vec<String> = idents.into_iter().collect();
        counts.segment_identities += tx
            .execute(
                "DELETE FROM seg_identities WHERE app = $1 AND ident = ANY($2)",
                &[app, &all],
            )
            .await?;
        tx.execute(
            "DELETE FROM seg_links WHERE app = $1 AND (ident = ANY($2) OR other = ANY($2))",
            &[app, &all],
        )
        .await?;
        counts.segment_pending_events += tx
            .execute(
                "DELETE FROM seg_pending WHERE app = $1 AND ident = ANY($2)",
                &[app, &all],
            )
            .await?;
    }
    Ok(())
}

/// The clients of the person's agent logins (a web user of role `employee`
/// with that email), or marked as theirs, with all their activity.
async fn erase_agent_activity(
    tx: &impl GenericClient,
    account_id: i64,
    email: &str,
    counts: &mut ErasedCounts,
) -> StoreResult<Vec<i64>> {
    let mut clients = BTreeSet::new();
    for row in tx
        .query(
            "SELECT logins FROM consumers
             WHERE account_id = $1 AND lower(email) = $2 AND role = 'employee'",
            &[&account_id, &email],
        )
        .await?
    {
        let logins: String = row.get(0);
        for login in serde_json::from_str::<Vec<String>>(&logins).unwrap_or_default() {
            let Some((domain, name)) = login.split_once('\\') else {
                continue;
            };
            clients.extend(
                tx.query(
                    "SELECT coalesce(merged_into, id) FROM wf_clients
                     WHERE account_id = $1 AND lower(login_domain) = lower($2)
                     AND lower(name) = lower($3)",
                    &[&account_id, &domain, &name],
                )
                .await?
                .iter()
                .map(|r| r.get::<_, i64>(0)),
            );
        }
    }
    clients.extend(
        tx.query(
            "SELECT coalesce(merged_into, id) FROM wf_clients
             WHERE account_id = $1 AND lower(employee_email) = $2",
            &[&account_id, &email],
        )
        .await?
        .iter()
        .map(|r| r.get::<_, i64>(0)),
    );
    let mut computers = BTreeSet::new();
    for &client in &clients {
        computers.extend(
            tx.query(
                "SELECT DISTINCT computer_id FROM wf_records WHERE account_id = $1 AND client_id = $2",
                &[&account_id, &client],
            )
            .await?
            .iter()
            .map(|r| r.get::<_, i64>(0)),
        );
        let stretches: i64 = tx
            .query_one(
                "SELECT count(*) FROM wf_idle_stretches WHERE account_id = $1 AND client_id = $2",
                &[&account_id, &client],
            )
            .await?
            .get(0);
        counts.idle_stretches += stretches as u64;
        counts.activity_records += remove_member(tx, account_id, Member::Client, client).await?;
        counts.agent_logins += 1;
    }
    for computer in computers {
        let left: i64 = tx
            .query_one(
                "SELECT count(*) FROM wf_records WHERE account_id = $1 AND computer_id = $2",
                &[&account_id, &computer],
            )
            .await?
            .get(0);
        if left == 0 {
            remove_member(tx, account_id, Member::Computer, computer).await?;
            counts.computers += 1;
        }
    }
    Ok(clients.into_iter().collect())
}
