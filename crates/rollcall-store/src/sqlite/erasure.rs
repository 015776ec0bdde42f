//! Erasure of one person's data in SQLite (see [`crate::erasure`]): one write
//! transaction, then the account's per-process caches (report caches, the
//! committed email ids, the Segment identities' emails) are dropped so none
//! serves the person again.

use std::collections::BTreeSet;

use async_trait::async_trait;
use rollcall_core::usage_report::Employee;
use rusqlite::{params, Connection};

use super::audit;
use super::usage::bump_provisioned;
use super::workforce::remove_member;
use super::SqliteStore;
use crate::audit::{Actor, AuditAction};
use crate::erasure::{ErasedCounts, ErasureStore};
use crate::workforce::Member;
use crate::StoreResult;

#[async_trait]
impl ErasureStore for SqliteStore {
    async fn erase_person(
        &self,
        account_id: i64,
        actor: &Actor,
        email: &str,
    ) -> StoreResult<Option<ErasedCounts>> {
        let actor = actor.clone();
        let email = email.to_lowercase();
        let erased = self
            .db
            .write(move |conn| {
                let counts = erase(conn, account_id, &email)?;
                if counts.is_empty() {
                    return Ok(None);
                }
                audit::append(
                    conn,
                    account_id,
                    &actor,
                    &AuditAction::PersonErased { email, counts },
                )?;
                Ok(Some(counts))
            })
            .await?;
        if erased.is_some() {
            self.report_caches.forget_account(account_id);
            self.committed_emails.forget_account(account_id);
            self.identity_emails.forget_account(account_id);
            self.wf_member_emails.forget_account(account_id);
        }
        Ok(erased)
    }
}

/// Removes everything about `email` in the account; the counts of what went.
fn erase(conn: &Connection, account_id: i64, email: &str) -> StoreResult<ErasedCounts> {
    let mut counts = ErasedCounts::default();
    let emails = person_emails(conn, account_id, email)?;
    let apps: Vec<i64> = conn
        .prepare_cached("SELECT id FROM usage_apps WHERE account_id = ?1")?
        .query_map([account_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    erase_usage(conn, account_id, &apps, &emails, &mut counts)?;
    for app in &apps {
        let mut gone = 0;
        for e in &emails {
            gone += conn
                .prepare_cached(
                    "DELETE FROM usage_provisioned WHERE account_id = ?1 AND app = ?2
                     AND lower(email) = ?3",
                )?
                .execute(params![account_id, app, e])? as u64;
        }
        if gone > 0 {
            bump_provisioned(conn, *app)?;
            counts.provisioned_users += gone;
        }
    }
    counts.org_chart_entries = conn
        .prepare_cached("DELETE FROM usage_org_people WHERE account_id = ?1 AND email = ?2")?
        .execute(params![account_id, email])? as u64;
    erase_segment(conn, &apps, &emails, &mut counts)?;
    let clients = erase_agent_activity(conn, account_id, email, &mut counts)?;
    let mut subjects: Vec<String> = emails.iter().map(|e| format!("email:{e}")).collect();
    subjects.extend(clients.iter().map(|c| format!("client:{c}")));
    for subject in subjects {
        counts.access_records += conn
            .prepare_cached("DELETE FROM access_records WHERE account_id = ?1 AND subject = ?2")?
            .execute(params![account_id, subject])? as u64;
    }
    Ok(counts)
}

/// The email and the aliases (`additionalEmails`) of the org-chart person
/// whose primary email it is, in any snapshot; lower-cased.
fn person_emails(conn: &Connection, account_id: i64, email: &str) -> StoreResult<BTreeSet<String>> {
    let mut emails = BTreeSet::from([email.to_string()]);
    let people: Vec<String> = conn
        .prepare_cached("SELECT person FROM usage_org_people WHERE account_id = ?1 AND email = ?2")?
        .query_map(params![account_id, email], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for person in people {
        if let Ok(p) = serde_json::from_str::<Employee>(&person) {
            emails.extend(p.additional_emails.iter().map(|e| e.to_lowercase()));
        }
    }
    Ok(emails)
}

/// Usage events of `emails` and what was derived from them: the person's bit
/// in every day bitmap (rows left empty go), the latest-activity rows, and
/// the interned email, renamed to a tombstone so its dense id stays taken.
fn erase_usage(
    conn: &Connection,
    account_id: i64,
    apps: &[i64],
    emails: &BTreeSet<String>,
    counts: &mut ErasedCounts,
) -> StoreResult<()> {
    let mut ids = Vec::new();
    for e in emails {
        let mut stmt = conn
            .prepare_cached("SELECT id FROM usage_emails WHERE account_id = ?1 AND email = ?2")?;
        let mut rows = stmt.query(params![account_id, e])?;
        while let Some(r) = rows.next()? {
            ids.push(r.get::<_, i64>(0)?);
        }
    }
    if ids.is_empty() {
        return Ok(());
    }
    // Pending latest times go into usage_last first, where the rows of the
    // erased emails are deleted below.
    for &app in apps {
        super::usage::fold_latest_times(conn, (account_id, app))?;
    }
    for &id in &ids {
        for &app in apps {
            counts.usage_events += conn
                .prepare_cached(
                    "DELETE FROM usage_events WHERE account_id = ?1 AND app = ?2 AND email_id = ?3",
                )?
                .execute(params![account_id, app, id])? as u64;
            conn.prepare_cached(
                "DELETE FROM usage_last WHERE account_id = ?1 AND app = ?2 AND email_id = ?3",
            )?
            .execute(params![account_id, app, id])?;
        }
        conn.prepare_cached(
            "UPDATE usage_emails SET email = '~erased~' || id WHERE account_id = ?1 AND id = ?2",
        )?
        .execute(params![account_id, id])?;
        counts.usage_emails += 1;
    }
    for &app in apps {
        // Its latest times changed: kept copies of them are stale now, and so
        // are those of the bitmaps changed below.
        let version = super::usage::push::bump_last_version(conn, app)?;
        let mut changed_days = BTreeSet::new();
        let rows: Vec<(i64, i32, Vec<u8>)> = conn
            .prepare_cached(
                "SELECT event_id, day, bits FROM usage_day_bits WHERE account_id = ?1 AND app = ?2",
            )?
            .query_map(params![account_id, app], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<Result<_, _>>()?;
        for (event_id, day, mut bits) in rows {
            if !crate::erasure::clear_bits(&mut bits, &ids) {
                continue;
            }
            changed_days.insert(day);
            if bits.iter().all(|b| *b == 0) {
                conn.prepare_cached(
                    "DELETE FROM usage_day_bits
                     WHERE account_id = ?1 AND app = ?2 AND event_id = ?3 AND day = ?4",
                )?
                .execute(params![account_id, app, event_id, day])?;
            } else {
                conn.prepare_cached(
                    "UPDATE usage_day_bits SET bits = ?5
                     WHERE account_id = ?1 AND app = ?2 AND event_id = ?3 AND day = ?4",
                )?
                .execute(params![account_id, app, event_id, day, bits])?;
            }
        }
        super::usage::day_bits::set_versions(conn, (account_id, app), changed_days, version)?;
    }
    Ok(())
}

/// The Segment identities naming one of `emails`, the identities linked to
/// them, their links and their pending events.
fn erase_segment(
    conn: &Connection,
    apps: &[i64],
    emails: &BTreeSet<String>,
    counts: &mut ErasedCounts,
) -> StoreResult<()> {
    for &app in apps {
        let mut idents = BTreeSet::new();
        for e in emails {
            let found: Vec<String> = conn
                .prepare_cached("SELECT ident FROM seg_identities WHERE app = ?1 AND email = ?2")?
                .query_map(params![app, e], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            idents.extend(found);
        }
        let named: Vec<String> = idents.iter().cloned().collect();
        for ident in &named {
            let linked: Vec<String> = conn
                .prepare_cached("SELECT other FROM seg_links WHERE app = ?1 AND ident = ?2")?
                .query_map(params![app, ident], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            idents.extend(linked);
        }
        for ident in &idents {
            counts.segment_identities += conn
                .prepare_cached("DELETE FROM seg_identities WHERE app = ?1 AND ident = ?2")?
                .execute(params![app, ident])? as u64;
            conn.prepare_cached(
                "DELETE FROM seg_links WHERE app = ?1 AND (ident = ?2 OR other = ?2)",
            )?
            .execute(params![app, ident])?;
            counts.segment_pending_events += conn
                .prepare_cached("DELETE FROM seg_pending WHERE app = ?1 AND ident = ?2")?
                .execute(params![app, ident])? as u64;
        }
    }
    Ok(())
}

/// The activity of the agent logins of the web user of role `employee` with
/// that email: each login's client (the one it was merged into, if it was)
/// goes with its records, rollups, idle stretches and memberships. Returns
/// the clients removed.
fn erase_agent_activity(
    conn: &Connection,
    account_id: i64,
    email: &str,
    counts: &mut ErasedCounts,
) -> StoreResult<Vec<i64>> {
    let logins: Vec<String> = conn
        .prepare_cached(
            "SELECT logins FROM consumers
             WHERE account_id = ?1 AND lower(email) = ?2 AND role = 'employee'",
        )?
        .query_map(params![account_id, email], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?
        .iter()
        .flat_map(|l| serde_json::from_str::<Vec<String>>(l).unwrap_or_default())
        .collect();
    let mut clients = BTreeSet::new();
    for login in &logins {
        let Some((domain, name)) = login.split_once('\\') else {
            continue;
        };
        let found: Vec<i64> = conn
            .prepare_cached(
                "SELECT coalesce(merged_into, id) FROM wf_clients
                 WHERE account_id = ?1 AND login_domain = ?2 AND name = ?3",
            )?
            .query_map(params![account_id, domain, name], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        clients.extend(found);
    }
    // A client an administrator marked as the person's is theirs too.
    let marked: Vec<i64> = conn
        .prepare_cached(
            "SELECT coalesce(merged_into, id) FROM wf_clients
             WHERE account_id = ?1 AND lower(employee_email) = ?2",
        )?
        .query_map(params![account_id, email], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    clients.extend(marked);
    let mut computers = BTreeSet::new();
    for &client in &clients {
        let used: Vec<i64> = conn
            .prepare_cached(
                "SELECT DISTINCT computer_id FROM wf_records WHERE account_id = ?1 AND client_id = ?2",
            )?
            .query_map(params![account_id, client], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        computers.extend(used);
        counts.idle_stretches +=
            conn.prepare_cached(
                "SELECT count(*) FROM wf_idle_stretches WHERE account_id = ?1 AND client_id = ?2",
            )?
            .query_row(params![account_id, client], |r| r.get::<_, i64>(0))? as u64;
        counts.activity_records += remove_member(conn, account_id, Member::Client, client)?;
        counts.agent_logins += 1;
    }
    for computer in computers {
        let left: i64 = conn
            .prepare_cached(
                "SELECT count(*) FROM wf_records WHERE account_id = ?1 AND computer_id = ?2",
            )?
            .query_row(params![account_id, computer], |r| r.get(0))?;
        if left == 0 {
            remove_member(conn, account_id, Member::Computer, computer)?;
            counts.computers += 1;
        }
    }
    Ok(clients.into_iter().collect())
}
