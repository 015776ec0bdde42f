//! Store-level tests on a real PostgreSQL, ignored without one (`scripts/test.sh`
//! runs them under `scripts/with-postgres.sh`, which sets
//! `ROLLCALL_TEST_DATABASE_URL`); each test makes its own database.
//! Two `PgStore`s on one database stand for two `rollcall serve` processes.

use rollcall_core::money::SpendKind;

use super::*;
use crate::postgres::test_db::fresh_database;
use crate::postgres::PgOptions;

/// A fresh database with the schema and two accounts.
async fn fresh_accounts() -> (PgOptions, i64, i64) {
    let options = fresh_database("money").await;
    let store = PgStore::open(&options).await.expect("open");
    let client = store.client().await.expect("client");
    let mut accounts = Vec::new();
    for account in ["a", "b"] {
        let row = client
            .query_one(
                "INSERT INTO accounts (name, created_ms) VALUES ($1, 0) RETURNING id",
                &[&account],
            )
            .await
            .expect("account");
        accounts.push(row.get::<_, i64>(0));
    }
    (options, accounts[0], accounts[1])
}

async fn fresh_store() -> (PgStore, i64, i64) {
    let (options, a, b) = fresh_accounts().await;
    (PgStore::open(&options).await.expect("open"), a, b)
}

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

fn contract(id: &str, app: &str, start: &str, end: &str) -> Contract {
    Contract {
        contract_id: id.into(),
        app_id: app.into(),
        vendor: None,
        start_date: start.into(),
        end_date: end.into(),
        licenses_purchased: 1,
        annual_cost_units: 10_000,
        currency: "USD".into(),
    }
}

fn pdf_for(contract_id: &str, bytes: &[u8]) -> NewContractFile {
    NewContractFile {
        contract_id: contract_id.into(),
        name: None,
        bytes: bytes.to_vec(),
    }
}

fn actor() -> crate::audit::Actor {
    crate::audit::Actor::new("t@example.com", None)
}

async fn audit_count(store: &PgStore, account_id: i64, event_type: &str) -> i64 {
    let client = store.client().await.expect("client");
    client
        .query_one(
            "SELECT count(*) FROM audit_events WHERE account_id = $1 AND event_type = $2",
            &[&account_id, &event_type],
        )
        .await
        .expect("count")
        .get(0)
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it under scripts/with-postgres.sh"]
async fn upserts_count_like_the_embedded_store_and_keep_every_field() {
    let (store, a, _) = fresh_store().await;
    let mut full = spend("s1", "mail", 10, 123_400);
    full.kind = SpendKind::Invoice;
    full.vendor = Some("Acme".into());
    full.identifier = Some("INV-1".into());
    full.name = Some("licences".into());
    full.category = Some("software".into());
    let batch = vec![full.clone(), spend("s2", "mail", 20, 1), full.clone()];
    let counts = store
        .put_spend(a, &actor(), SpendSource::Csv, batch)
        .await
        .expect("put");
    assert_eq!(
        (counts.accepted, counts.replaced, counts.duplicates),
        (2, 0, 1)
    );
    let changed = spend("s2", "mail", 20, 2);
    let counts = store
        .put_spend(
            a,
            &actor(),
            SpendSource::FinanceJson,
            vec![full.clone(), changed.clone()],
        )
        .await
        .expect("put");
    assert_eq!(
        (counts.accepted, counts.replaced, counts.duplicates),
        (1, 1, 1)
    );
    assert_eq!(
        store.spend_records(a, None).await.expect("read"),
        [full, changed]
    );
    // Only the CSV upload is audited.
    assert_eq!(audit_count(&store, a, "UploadedSpendCsv").await, 1);

    let c = contract("c1", "mail", "2026-01-01", "2026-12-31");
    let counts = store
        .put_contracts(a, &actor(), vec![c.clone(), c.clone()])
        .await
        .expect("contracts");
    assert_eq!(
        (counts.accepted, counts.replaced, counts.duplicates),
        (1, 0, 1)
    );
    assert_eq!(store.contract(a, "c1").await.expect("read"), c);
    assert_eq!(audit_count(&store, a, "UploadedContractCsv").await, 1);
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it under scripts/with-postgres.sh"]
async fn the_same_upload_through_two_processes_at_once_counts_exactly() {
    let (options, a, _) = fresh_accounts().await;
    let first = PgStore::open(&options).await.expect("open");
    let second = PgStore::open(&options).await.expect("open");
    let batch: Vec<SpendRecord> = (0..2_000)
        .map(|i| spend(&format!("s{i}"), "mail", i, i))
        .collect();
    // Every row is new to exactly one of the two uploads; a repeat finds them all.
    for new in [batch.len(), 0] {
        let who = actor();
        let (x, y) = tokio::join!(
            first.put_spend(a, &who, SpendSource::Csv, batch.clone()),
            second.put_spend(a, &who, SpendSource::Csv, batch.clone()),
        );
        let (x, y) = (x.expect("first"), y.expect("second"));
        assert_eq!(x.accepted + y.accepted, new);
        assert_eq!(x.duplicates + y.duplicates, 2 * batch.len() - new);
        assert_eq!(x.replaced + y.replaced, 0);
    }
    assert_eq!(audit_count(&first, a, "UploadedSpendCsv").await, 4);
    assert_eq!(
        first.spend_records(a, None).await.expect("read").len(),
        2_000
    );
    let totals = second
        .spend_totals(a, "mail", 0, i64::MAX)
        .await
        .expect("totals");
    assert_eq!(totals.len(), 1);
    assert_eq!(totals[0].amount, (1_999 * 2_000 / 2) as f64 / 10_000.0);

    let c = contract("c1", "mail", "2026-01-01", "2026-12-31");
    first
        .put_contracts(a, &actor(), vec![c])
        .await
        .expect("contract");
    let who = actor();
    let (x, y) = tokio::join!(
        first.add_contract_file(a, &who, pdf_for("c1", b"%PDF-1.4 same")),
        second.add_contract_file(a, &who, pdf_for("c1", b"%PDF-1.4 same")),
    );
    let (x, y) = (x.expect("first"), y.expect("second"));
    assert_ne!(x.duplicate, y.duplicate);
    assert_eq!(x.file, y.file);
    assert_eq!(first.contract_files(a, "c1").await.expect("files").len(), 1);
    assert_eq!(audit_count(&first, a, "UploadedContractFile").await, 1);
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it under scripts/with-postgres.sh"]
async fn deleting_an_app_removes_its_money_and_nothing_else() {
    let (store, a, b) = fresh_store().await;
    for account in [a, b] {
        store
            .put_spend(
                account,
                &actor(),
                SpendSource::FinanceJson,
                vec![spend("s1", "mail", 10, 5), spend("s2", "chat", 10, 7)],
            )
            .await
            .expect("spend");
        let contracts = vec![
            contract("c-mail", "mail", "2026-01-01", "2026-12-31"),
            contract("c-chat", "chat", "2026-01-01", "2026-12-31"),
        ];
        store
            .put_contracts(account, &actor(), contracts)
            .await
            .expect("contracts");
        for c in ["c-mail", "c-chat"] {
            store
                .add_contract_file(account, &actor(), pdf_for(c, b"%PDF-1.4\n%%EOF"))
                .await
                .expect("file");
        }
    }
    let mut client = store.client().await.expect("client");
    let tx = client.transaction().await.expect("tx");
    delete_app_money(&tx, a, "mail").await.expect("delete");
    tx.commit().await.expect("commit");

    let spend_apps: Vec<String> = store
        .spend_records(a, None)
        .await
        .expect("read")
        .into_iter()
        .map(|r| r.app_id)
        .collect();
    assert_eq!(spend_apps, ["chat"]);
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
    let orphans: i64 = client
        .query_one(
            "SELECT count(*) FROM contract_files WHERE account_id = $1 AND contract_id = 'c-mail'",
            &[&a],
        )
        .await
        .expect("count")
        .get(0);
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
#[ignore = "needs PostgreSQL: scripts/test.sh runs it under scripts/with-postgres.sh"]
async fn reads_filter_by_app_and_sort_by_bytes() {
    let (store, a, _) = fresh_store().await;
    let records = vec![
        spend("b", "mail", 10, 5),
        spend("B", "mail", 10, 5),
        spend("a", "chat", 10, 7),
        spend("_", "mail", 5, 7),
    ];
    store
        .put_spend(a, &actor(), SpendSource::Csv, records)
        .await
        .expect("spend");
    let order = |records: Vec<SpendRecord>| -> Vec<String> {
        records.into_iter().map(|r| r.signature_id).collect()
    };
    assert_eq!(
        order(store.spend_records(a, None).await.expect("read")),
        ["_", "B", "a", "b"]
    );
    assert_eq!(
        order(
            store
                .spend_records(a, Some(vec!["chat".into()]))
                .await
                .expect("read")
        ),
        ["a"]
    );
    assert!(store
        .spend_records(a, Some(vec![]))
        .await
        .expect("read")
        .is_empty());
    let contracts = vec![
        contract("c", "mail", "2026-01-01", "2026-12-31"),
        contract("C", "chat", "2026-01-01", "2026-12-31"),
    ];
    store
        .put_contracts(a, &actor(), contracts)
        .await
        .expect("put");
    let ids = |contracts: Vec<Contract>| -> Vec<String> {
        contracts.into_iter().map(|c| c.contract_id).collect()
    };
    assert_eq!(
        ids(store.contracts(a, None).await.expect("read")),
        ["C", "c"]
    );
    assert_eq!(
        ids(store
            .contracts(a, Some(vec!["mail".into()]))
            .await
            .expect("read")),
        ["c"]
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it under scripts/with-postgres.sh"]
async fn the_summary_prefers_the_contract_in_force() {
    let (store, a, _) = fresh_store().await;
    let contracts = vec![
        contract("old", "mail", "2024-01-01", "2024-12-31"),
        contract("long", "mail", "2025-01-01", "2027-12-31"),
        contract("renewal", "mail", "2026-01-01", "2026-12-31"),
        contract("future", "mail", "2028-01-01", "2028-12-31"),
    ];
    store
        .put_contracts(a, &actor(), contracts)
        .await
        .expect("put");
    let summary = |date: &'static str| {
        let store = &store;
        async move {
            store
                .contract_summary(a, "mail", date)
                .await
                .expect("summary")
                .map(|s| s.contract_id)
        }
    };
    // Two in force: the later-starting one.
    assert_eq!(summary("2026-06-01").await.as_deref(), Some("renewal"));
    assert_eq!(summary("2025-06-01").await.as_deref(), Some("long"));
    // None in force: the one that ends last.
    assert_eq!(summary("2020-01-01").await.as_deref(), Some("future"));
    assert!(store
        .contract_summary(a, "chat", "2026-01-01")
        .await
        .expect("summary")
        .is_none());
    assert!(matches!(
        store.contract_summary(a, "mail", "June").await,
        Err(StoreError::Invalid { .. })
    ));
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it under scripts/with-postgres.sh"]
async fn files_are_found_only_under_their_contract_and_account() {
    let (store, a, b) = fresh_store().await;
    let contracts = vec![
        contract("c1", "mail", "2026-01-01", "2026-12-31"),
        contract("c2", "mail", "2026-01-01", "2026-12-31"),
    ];
    store
        .put_contracts(a, &actor(), contracts)
        .await
        .expect("put");
    assert!(store
        .contract_files(a, "c1")
        .await
        .expect("files")
        .is_empty());
    let first = store
        .add_contract_file(a, &actor(), pdf_for("c1", b"%PDF-1 one"))
        .await
        .expect("file");
    let second = store
        .add_contract_file(
            a,
            &actor(),
            NewContractFile {
                name: Some("signed.pdf".into()),
                ..pdf_for("c1", b"%PDF-1 two")
            },
        )
        .await
        .expect("file");
    assert_eq!(first.file.name, "contract-c1.pdf");
    assert_eq!(second.file.name, "signed.pdf");
    assert_eq!(
        store.contract_files(a, "c1").await.expect("files"),
        [first.file.clone(), second.file]
    );
    let (meta, bytes) = store
        .contract_file(a, "c1", &first.file.file_id)
        .await
        .expect("read");
    assert_eq!(meta, first.file);
    assert_eq!(bytes, b"%PDF-1 one");
    for (account, contract_id) in [(a, "c2"), (b, "c1"), (a, "nope")] {
        assert!(matches!(
            store
                .contract_file(account, contract_id, &first.file.file_id)
                .await,
            Err(StoreError::NotFound(_))
        ));
    }
    assert!(matches!(
        store
            .add_contract_file(a, &actor(), pdf_for("nope", b"%PDF"))
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.contract(b, "c1").await,
        Err(StoreError::NotFound(_))
    ));
}
