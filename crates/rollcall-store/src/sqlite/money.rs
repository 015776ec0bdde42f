//! Money in SQLite: spend records and contracts upserted by their natural keys,
//! contract PDFs as BLOBs in the encrypted database, and the contract and spend
//! summaries app insights read. Every statement filters by `account_id`.

use async_trait::async_trait;
use rollcall_core::money::{self, Contract, SpendKind, SpendRecord};
use rusqlite::{params, Connection, OptionalExtension, Row};
use sha2::{Digest, Sha256};

use super::{audit, SqliteStore};
use crate::audit::{Actor, AuditAction};
use crate::money::{
    ContractFile, ContractSummary, MoneyStore, NewContractFile, SpendSource, SpendTotal,
    StoredFile, UpsertCounts,
};
use crate::{now_ms, StoreError, StoreResult};

/// Deletes an app's spend records, contracts and their files. Called by the app
/// removal inside its own write transaction (SPEC §4: removing an app removes all
/// its data).
pub(crate) fn delete_app_money(
    conn: &Connection,
    account_id: i64,
    app_id: &str,
) -> StoreResult<()> {
    conn.prepare_cached(
        "DELETE FROM contract_files WHERE account_id = ?1 AND contract_id IN
           (SELECT contract_id FROM contracts WHERE account_id = ?1 AND app_id = ?2)",
    )?
    .execute(params![account_id, app_id])?;
    conn.prepare_cached("DELETE FROM contracts WHERE account_id = ?1 AND app_id = ?2")?
        .execute(params![account_id, app_id])?;
    conn.prepare_cached("DELETE FROM spend_records WHERE account_id = ?1 AND app_id = ?2")?
        .execute(params![account_id, app_id])?;
    Ok(())
}

const SPEND_COLUMNS: &str = "signature_id, app_id, created_ms, amount_units, currency, kind, \
                             vendor, identifier, name, category";

fn spend_row(r: &Row<'_>) -> rusqlite::Result<SpendRecord> {
    let kind: String = r.get(5)?;
    Ok(SpendRecord {
        signature_id: r.get(0)?,
        app_id: r.get(1)?,
        created_ms: r.get(2)?,
        amount_units: r.get(3)?,
        currency: r.get(4)?,
        kind: SpendKind::parse(&kind).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                5,
                rusqlite::types::Type::Text,
                format!("unknown spend type '{kind}'").into(),
            )
        })?,
        vendor: r.get(6)?,
        identifier: r.get(7)?,
        name: r.get(8)?,
        category: r.get(9)?,
    })
}

const CONTRACT_COLUMNS: &str = "contract_id, app_id, vendor, start_date, end_date, \
                                licenses_purchased, annual_cost_units, currency";

fn contract_row(r: &Row<'_>) -> rusqlite::Result<Contract> {
    Ok(Contract {
        contract_id: r.get(0)?,
        app_id: r.get(1)?,
        vendor: r.get(2)?,
        start_date: r.get(3)?,
        end_date: r.get(4)?,
        licenses_purchased: r.get(5)?,
        annual_cost_units: r.get(6)?,
        currency: r.get(7)?,
    })
}

fn upsert_spend(
    conn: &Connection,
    account_id: i64,
    records: &[SpendRecord],
) -> StoreResult<UpsertCounts> {
    let mut counts = UpsertCounts::default();
    let mut find = conn.prepare_cached(&format!(
        "SELECT {SPEND_COLUMNS} FROM spend_records WHERE account_id = ?1 AND signature_id = ?2"
    ))?;
    let mut put = conn.prepare_cached(
        "INSERT INTO spend_records (account_id, signature_id, app_id, created_ms, amount_units,
             currency, kind, vendor, identifier, name, category, stored_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (account_id, signature_id) DO UPDATE SET
             app_id = excluded.app_id, created_ms = excluded.created_ms,
             amount_units = excluded.amount_units, currency = excluded.currency,
             kind = excluded.kind, vendor = excluded.vendor, identifier = excluded.identifier,
             name = excluded.name, category = excluded.category, stored_ms = excluded.stored_ms",
    )?;
    let now = now_ms();
    for record in records {
        let stored = find
            .query_row(params![account_id, record.signature_id], spend_row)
            .optional()?;
        match stored {
            Some(s) if &s == record => {
                counts.duplicates += 1;
                continue;
            }
            Some(_) => counts.replaced += 1,
            None => {}
        }
        counts.accepted += 1;
        put.execute(params![
            account_id,
            record.signature_id,
            record.app_id,
            record.created_ms,
            record.amount_units,
            record.currency,
            record.kind.as_str(),
            record.vendor,
            record.identifier,
            record.name,
            record.category,
            now
        ])?;
    }
    Ok(counts)
}

fn upsert_contracts(
    conn: &Connection,
    account_id: i64,
    contracts: &[Contract],
) -> StoreResult<UpsertCounts> {
    let mut counts = UpsertCounts::default();
    let mut find = conn.prepare_cached(&format!(
        "SELECT {CONTRACT_COLUMNS} FROM contracts WHERE account_id = ?1 AND contract_id = ?2"
    ))?;
    let mut put = conn.prepare_cached(
        "INSERT INTO contracts (account_id, contract_id, app_id, vendor, start_date, end_date,
             licenses_purchased, annual_cost_units, currency, stored_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (account_id, contract_id) DO UPDATE SET
             app_id = excluded.app_id, vendor = excluded.vendor,
             start_date = excluded.start_date, end_date = excluded.end_date,
             licenses_purchased = excluded.licenses_purchased,
             annual_cost_units = excluded.annual_cost_units, currency = excluded.currency,
             stored_ms = excluded.stored_ms",
    )?;
    let now = now_ms();
    for contract in contracts {
        let stored = find
            .query_row(params![account_id, contract.contract_id], contract_row)
            .optional()?;
        match stored {
            Some(s) if &s == contract => {
                counts.duplicates += 1;
                continue;
            }
            Some(_) => counts.replaced += 1,
            None => {}
        }
        counts.accepted += 1;
        put.execute(params![
            account_id,
            contract.contract_id,
            contract.app_id,
            contract.vendor,
            contract.start_date,
            contract.end_date,
            contract.licenses_purchased,
            contract.annual_cost_units,
            contract.currency,
            now
        ])?;
    }
    Ok(counts)
}

fn find_contract(conn: &Connection, account_id: i64, contract_id: &str) -> StoreResult<Contract> {
    conn.prepare_cached(&format!(
        "SELECT {CONTRACT_COLUMNS} FROM contracts WHERE account_id = ?1 AND contract_id = ?2"
    ))?
    .query_row(params![account_id, contract_id], contract_row)
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("contract '{contract_id}' does not exist")))
}

const FILE_COLUMNS: &str =
    "f.file_id, f.contract_id, c.app_id, f.name, f.size, f.sha256, f.uploaded_ms";
const FILE_FROM: &str = "FROM contract_files f JOIN contracts c
     ON c.account_id = f.account_id AND c.contract_id = f.contract_id";

fn file_row(r: &Row<'_>) -> rusqlite::Result<ContractFile> {
    Ok(ContractFile {
        file_id: r.get(0)?,
        contract_id: r.get(1)?,
        app_id: r.get(2)?,
        name: r.get(3)?,
        size: r.get(4)?,
        sha256: r.get(5)?,
        uploaded_ms: r.get(6)?,
    })
}

fn insert_file(
    conn: &Connection,
    account_id: i64,
    actor: &Actor,
    file: &NewContractFile,
    sha256: &str,
) -> StoreResult<StoredFile> {
    let contract = find_contract(conn, account_id, &file.contract_id)?;
    let existing = conn
        .prepare_cached(&format!(
            "SELECT {FILE_COLUMNS} {FILE_FROM}
             WHERE f.account_id = ?1 AND f.contract_id = ?2 AND f.sha256 = ?3
             ORDER BY f.id LIMIT 1"
        ))?
        .query_row(params![account_id, file.contract_id, sha256], file_row)
        .optional()?;
    if let Some(file) = existing {
        return Ok(StoredFile {
            file,
            duplicate: true,
        });
    }
    let file_id = rollcall_core::secret::random_hex(16);
    let name = file
        .name
        .clone()
        .unwrap_or_else(|| format!("contract-{}.pdf", contract.contract_id));
    let uploaded_ms = now_ms();
    conn.prepare_cached(
        "INSERT INTO contract_files (account_id, file_id, contract_id, name, size, sha256, uploaded_ms, data)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        account_id,
        file_id,
        file.contract_id,
        name,
        file.bytes.len() as i64,
        sha256,
        uploaded_ms,
        file.bytes
    ])?;
    audit::append(
        conn,
        account_id,
        actor,
        &AuditAction::UploadedContractFile {
            contract_id: contract.contract_id.clone(),
            app_id: contract.app_id.clone(),
            file_id: file_id.clone(),
            name: name.clone(),
            size: file.bytes.len(),
        },
    )?;
    Ok(StoredFile {
        file: ContractFile {
            file_id,
            contract_id: contract.contract_id,
            app_id: contract.app_id,
            name,
            size: file.bytes.len() as i64,
            sha256: sha256.to_string(),
            uploaded_ms,
        },
        duplicate: false,
    })
}

/// The app filter as SQL: `None` = every app; otherwise a JSON array bound as a
/// parameter and matched with `json_each`.
fn apps_param(apps: &Option<Vec<String>>) -> StoreResult<Option<String>> {
    apps.as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(StoreError::from)
}

/// `date` (`YYYY-MM-DD`) as the contracts table compares it.
fn summary_date(date: &str) -> StoreResult<String> {
    Ok(rollcall_core::time::parse_date(date)
        .map_err(StoreError::invalid)?
        .to_string())
}

/// The contract of `app_id` in force on `date` (the latest-starting one if
/// several overlap), else the one that ends last.
fn contract_summary(
    conn: &Connection,
    account_id: i64,
    app_id: &str,
    date: &str,
) -> StoreResult<Option<ContractSummary>> {
    let contract = conn
        .prepare_cached(&format!(
            "SELECT {CONTRACT_COLUMNS} FROM contracts
             WHERE account_id = ?1 AND app_id = ?2
             ORDER BY (start_date <= ?3 AND end_date >= ?3) DESC,
                      CASE WHEN start_date <= ?3 AND end_date >= ?3
                           THEN start_date END DESC,
                      end_date DESC, start_date DESC, contract_id
             LIMIT 1"
        ))?
        .query_row(params![account_id, app_id, date], contract_row)
        .optional()?;
    Ok(contract.map(ContractSummary::from))
}

#[async_trait]
impl MoneyStore for SqliteStore {
    async fn contract_summary(
        &self,
        account_id: i64,
        app_id: &str,
        date: &str,
    ) -> StoreResult<Option<ContractSummary>> {
        let app_id = app_id.to_string();
        let date = summary_date(date)?;
        self.db
            .read(move |conn| contract_summary(conn, account_id, &app_id, &date))
            .await
    }

    async fn contract_summaries(
        &self,
        account_id: i64,
        app_ids: Vec<String>,
        date: &str,
    ) -> StoreResult<Vec<Option<ContractSummary>>> {
        let date = summary_date(date)?;
        self.db
            .read(move |conn| {
                app_ids
                    .iter()
                    .map(|app_id| contract_summary(conn, account_id, app_id, &date))
                    .collect()
            })
            .await
    }

    async fn spend_totals(
        &self,
        account_id: i64,
        app_id: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> StoreResult<Vec<SpendTotal>> {
        let app_id = app_id.to_string();
        self.db
            .read(move |conn| {
                // Summed in Rust as i128: SQLite's SUM raises on i64 overflow.
                let mut stmt = conn.prepare_cached(
                    "SELECT currency, amount_units FROM spend_records
                     WHERE account_id = ?1 AND app_id = ?2 AND created_ms >= ?3 AND created_ms < ?4",
                )?;
                let mut sums: std::collections::BTreeMap<String, i128> = Default::default();
                let mut rows = stmt.query(params![account_id, app_id, from_ms, to_ms])?;
                while let Some(row) = rows.next()? {
                    let currency: String = row.get(0)?;
                    let units: i64 = row.get(1)?;
                    *sums.entry(currency).or_default() += i128::from(units);
                }
                Ok(sums
                    .into_iter()
                    .map(|(currency, units)| SpendTotal {
                        currency,
                        amount: money::wide_units_to_f64(units),
                    })
                    .collect())
            })
            .await
    }

    async fn put_spend(
        &self,
        account_id: i64,
        actor: &Actor,
        source: SpendSource,
        records: Vec<SpendRecord>,
    ) -> StoreResult<UpsertCounts> {
        let actor = actor.clone();
        self.db
            .write(move |conn| {
                let counts = upsert_spend(conn, account_id, &records)?;
                if source == SpendSource::Csv {
                    audit::append(
                        conn,
                        account_id,
                        &actor,
                        &AuditAction::UploadedSpendCsv {
                            rows: records.len(),
                            accepted: counts.accepted,
                            duplicates: counts.duplicates,
                        },
                    )?;
                }
                Ok(counts)
            })
            .await
    }

    async fn spend_records(
        &self,
        account_id: i64,
        apps: Option<Vec<String>>,
    ) -> StoreResult<Vec<SpendRecord>> {
        let apps = apps_param(&apps)?;
        self.db
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {SPEND_COLUMNS} FROM spend_records
                     WHERE account_id = ?1
                       AND (?2 IS NULL OR app_id IN (SELECT value FROM json_each(?2)))
                     ORDER BY created_ms, signature_id"
                ))?;
                let rows = stmt
                    .query_map(params![account_id, apps], spend_row)?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await
    }

    async fn put_contracts(
        &self,
        account_id: i64,
        actor: &Actor,
        contracts: Vec<Contract>,
    ) -> StoreResult<UpsertCounts> {
        let actor = actor.clone();
        self.db
            .write(move |conn| {
                let counts = upsert_contracts(conn, account_id, &contracts)?;
                audit::append(
                    conn,
                    account_id,
                    &actor,
                    &AuditAction::UploadedContractCsv {
                        rows: contracts.len(),
                        accepted: counts.accepted,
                        duplicates: counts.duplicates,
                    },
                )?;
                Ok(counts)
            })
            .await
    }

    async fn contracts(
        &self,
        account_id: i64,
        apps: Option<Vec<String>>,
    ) -> StoreResult<Vec<Contract>> {
        let apps = apps_param(&apps)?;
        self.db
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {CONTRACT_COLUMNS} FROM contracts
                     WHERE account_id = ?1
                       AND (?2 IS NULL OR app_id IN (SELECT value FROM json_each(?2)))
                     ORDER BY contract_id"
                ))?;
                let rows = stmt
                    .query_map(params![account_id, apps], contract_row)?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await
    }

    async fn contract(&self, account_id: i64, contract_id: &str) -> StoreResult<Contract> {
        let contract_id = contract_id.to_string();
        self.db
            .read(move |conn| find_contract(conn, account_id, &contract_id))
            .await
    }

    async fn add_contract_file(
        &self,
        account_id: i64,
        actor: &Actor,
        file: NewContractFile,
    ) -> StoreResult<StoredFile> {
        let actor = actor.clone();
        // Hash outside the writer: it blocks every other write while it runs.
        let sha256 = hex::encode(Sha256::digest(&file.bytes));
        self.db
            .write(move |conn| insert_file(conn, account_id, &actor, &file, &sha256))
            .await
    }

    async fn contract_files(
        &self,
        account_id: i64,
        contract_id: &str,
    ) -> StoreResult<Vec<ContractFile>> {
        let contract_id = contract_id.to_string();
        self.db
            .read(move |conn| {
                find_contract(conn, account_id, &contract_id)?;
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {FILE_COLUMNS} {FILE_FROM}
                     WHERE f.account_id = ?1 AND f.contract_id = ?2 ORDER BY f.id"
                ))?;
                let rows = stmt
                    .query_map(params![account_id, contract_id], file_row)?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await
    }

    async fn contract_file(
        &self,
        account_id: i64,
        contract_id: &str,
        file_id: &str,
    ) -> StoreResult<(ContractFile, Vec<u8>)> {
        let contract_id = contract_id.to_string();
        let file_id = file_id.to_string();
        self.db
            .read(move |conn| {
                find_contract(conn, account_id, &contract_id)?;
                conn.prepare_cached(&format!(
                    "SELECT {FILE_COLUMNS}, f.data {FILE_FROM}
                     WHERE f.account_id = ?1 AND f.contract_id = ?2 AND f.file_id = ?3"
                ))?
                .query_row(params![account_id, contract_id, file_id], |r| {
                    Ok((file_row(r)?, r.get::<_, Vec<u8>>(7)?))
                })
                .optional()?
                .ok_or_else(|| {
                    StoreError::NotFound(format!(
                        "contract '{contract_id}' has no file '{file_id}'"
                    ))
                })
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::DatabaseKey;

    fn spend(signature: &str, app: &str, created_ms: i64, units: i64) -> SpendRecord {
        SpendRecord {
            signature_id: signature.into(),
            app_id: app.into(),
            created_ms,
            amount_units: units,
            currency: "USD".into(),
            kind: SpendKind::Expense,
            vendor: None,
            identifier: None,
            name: None,
            category: None,
        }
    }

    fn contract(id: &str, app: &str) -> Contract {
        Contract {
            contract_id: id.into(),
            app_id: app.into(),
            vendor: None,
            start_date: "2026-01-01".into(),
            end_date: "2026-12-31".into(),
            licenses_purchased: 1,
            annual_cost_units: 10_000,
            currency: "USD".into(),
        }
    }

    async fn store_with_accounts() -> (tempfile::TempDir, SqliteStore, i64, i64) {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = DatabaseKey::resolve(None, dir.path()).expect("key");
        let store = SqliteStore::open(dir.path(), key).await.expect("open");
        let (a, b) = store
            .db
            .write(|conn| {
                let add = |name: &str| -> StoreResult<i64> {
                    conn.execute(
                        "INSERT INTO accounts (name, created_ms) VALUES (?1, 0)",
                        [name],
                    )?;
                    Ok(conn.last_insert_rowid())
                };
                Ok((add("a")?, add("b")?))
            })
            .await
            .expect("accounts");
        (dir, store, a, b)
    }

    #[tokio::test]
    async fn deleting_an_app_removes_its_money_and_nothing_else() {
        let (_dir, store, a, b) = store_with_accounts().await;
        for account in [a, b] {
            store
                .put_spend(
                    account,
                    &crate::audit::Actor::new("t@example.com", None),
                    SpendSource::FinanceJson,
                    vec![spend("s1", "mail", 10, 5), spend("s2", "chat", 10, 7)],
                )
                .await
                .expect("spend");
            store
                .put_contracts(
                    account,
                    &crate::audit::Actor::new("t@example.com", None),
                    vec![contract("c-mail", "mail"), contract("c-chat", "chat")],
                )
                .await
                .expect("contracts");
            for c in ["c-mail", "c-chat"] {
                store
                    .add_contract_file(
                        account,
                        &crate::audit::Actor::new("t@example.com", None),
                        NewContractFile {
                            contract_id: c.into(),
                            name: None,
                            bytes: b"%PDF-1.4\n%%EOF".to_vec(),
                        },
                    )
                    .await
                    .expect("file");
            }
        }
        store
            .db
            .write(move |conn| delete_app_money(conn, a, "mail"))
            .await
            .expect("delete");

        let apps = |records: Vec<SpendRecord>| -> Vec<String> {
            records.into_iter().map(|r| r.app_id).collect()
        };
        assert_eq!(
            apps(store.spend_records(a, None).await.expect("read")),
            ["chat"]
        );
        assert_eq!(store.spend_records(b, None).await.expect("read").len(), 2);
        let contracts = store.contracts(a, None).await.expect("read");
        assert_eq!(contracts.len(), 1);
        assert_eq!(contracts[0].contract_id, "c-chat");
        assert_eq!(store.contracts(b, None).await.expect("read").len(), 2);
        assert!(matches!(
            store.contract_files(a, "c-mail").await,
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(
            store
                .contract_files(a, "c-chat")
                .await
                .expect("files")
                .len(),
            1
        );
        assert_eq!(
            store
                .contract_files(b, "c-mail")
                .await
                .expect("files")
                .len(),
            1
        );
        let orphans: i64 = store
            .db
            .read(move |conn| {
                Ok(conn.query_row(
                    "SELECT count(*) FROM contract_files WHERE account_id = ?1 AND contract_id = 'c-mail'",
                    [a],
                    |r| r.get(0),
                )?)
            })
            .await
            .expect("count");
        assert_eq!(orphans, 0);
        assert!(store
            .spend_totals(a, "mail", 0, 100)
            .await
            .expect("totals")
            .is_empty());
        assert_eq!(
            store
                .spend_totals(a, "chat", 0, 100)
                .await
                .expect("totals")
                .len(),
            1
        );
    }

    #[tokio::test]
    async fn app_filters_limit_what_is_read() {
        let (_dir, store, a, _) = store_with_accounts().await;
        store
            .put_spend(
                a,
                &crate::audit::Actor::new("t@example.com", None),
                SpendSource::Csv,
                vec![spend("s1", "mail", 10, 5), spend("s2", "chat", 10, 7)],
            )
            .await
            .expect("spend");
        let only_mail = store
            .spend_records(a, Some(vec!["mail".into()]))
            .await
            .expect("read");
        assert_eq!(only_mail.len(), 1);
        assert_eq!(only_mail[0].signature_id, "s1");
        assert!(store
            .spend_records(a, Some(vec![]))
            .await
            .expect("read")
            .is_empty());
    }
}
