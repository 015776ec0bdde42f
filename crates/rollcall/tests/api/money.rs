//! Money (finance, spend, contracts) through the HTTP API (issue: usage, part 5):
//! finance JSON idempotency and whole-batch validation, spend and contract CSV
//! round trips with their audit events, contract PDF files, permissions and
//! tenant isolation, the summaries app insights read from the store, and the
//! tie to apps: money names apps created through the API (unknown → 404 or a
//! 422 naming the CSV line, disconnected → 422), and removing an app removes
//! its spend, contracts and contract files.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{assert_error, Account, Client, TestServer};

const APPS: &str = "/services/push/v1/customer/apps";
const SPEND_CSV: &str = "/services/push/v1/customer/spend/csv";
const CONTRACTS_CSV: &str = "/services/push/v1/customer/contracts/csv";

fn files_path(contract: &str) -> String {
    format!("/services/push/v1/customer/contracts/{contract}/files")
}

fn finance_path(app: &str) -> String {
    format!("{APPS}/{app}/finance")
}

/// Defines an app named `name` with one event and returns its `appId`: money must
/// name an app that exists in the account.
async fn create_app(client: &Client, name: &str) -> String {
    let (status, body) = client
        .post(
            APPS,
            &json!({"name": name, "events": [{"eventName": "created", "eventType": "Produce",
                                                "groups": ["Sent an Email"]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["appId"].as_str().expect("appId").to_string()
}

/// The two apps a test's money belongs to.
struct Apps {
    mail: String,
    chat: String,
}

impl Apps {
    async fn create(account: &Account) -> Apps {
        Apps {
            mail: create_app(&account.client, "Mail").await,
            chat: create_app(&account.client, "Chat").await,
        }
    }

    /// A CSV template with its `<mail>` and `<chat>` placeholders replaced by the app ids.
    fn fill(&self, template: &str) -> String {
        template
            .replace("<mail>", &self.mail)
            .replace("<chat>", &self.chat)
    }

    /// The finance push path of the mail app.
    fn finance(&self) -> String {
        finance_path(&self.mail)
    }
}

fn record(signature: &str, amount: Value, currency: &str) -> Value {
    json!({"signatureId": signature, "created": 1_767_225_600_000i64, "amount": amount,
           "currency": currency, "type": "invoice", "vendor": "Acme", "identifier": "INV-1",
           "name": "Mail licences", "category": "Software"})
}

async fn post_raw(
    client: &Client,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    client
        .send(
            client
                .request(Method::POST, path)
                .header("content-type", content_type)
                .body(body),
        )
        .await
}

/// GETs `path` and returns the status, content type and raw bytes.
async fn get_bytes(client: &Client, path: &str) -> (StatusCode, String, Vec<u8>) {
    let response = client
        .request(Method::GET, path)
        .send()
        .await
        .expect("request");
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = response.bytes().await.expect("body").to_vec();
    (status, content_type, bytes)
}

async fn get_csv(client: &Client, path: &str) -> String {
    let (status, content_type, bytes) = get_bytes(client, path).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    String::from_utf8(bytes).expect("utf-8 csv")
}

/// The event types of the account's audit log over the last minutes, in order.
async fn audit_types(account: &Account) -> Vec<(String, Value)> {
    let now = rollcall_store::now_ms();
    let path = format!(
        "/services/pull/v1/customer/audit-events?startTime={}&endTime={}",
        rollcall_core::time::format_ms(now - 600_000),
        rollcall_core::time::format_ms(now + 600_000)
    );
    let (status, body) = account.client.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| (e["eventType"].as_str().unwrap_or("").to_string(), e.clone()))
        .collect()
}

fn count_type(events: &[(String, Value)], event_type: &str) -> usize {
    events.iter().filter(|(t, _)| t == event_type).count()
}

/// A small but well-formed PDF document.
fn pdf(marker: &str) -> Vec<u8> {
    format!(
        "%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n\
         2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n% {marker}\n\
         trailer << /Root 1 0 R >>\n%%EOF\n"
    )
    .into_bytes()
}

const CONTRACTS: &str =
    "contractId,appId,vendor,startDate,endDate,licensesPurchased,annualCost,currency\n\
c-2025,<mail>,Acme Mail,2025-01-01,2025-12-31,40,4000,USD\n\
c-2026,<mail>,Acme Mail,2026-01-01,2026-12-31,50,5000.5,USD\n\
c-chat,<chat>,,2026-03-01,2027-02-28,10,999.99,EUR\n";

/// Creates the mail and chat apps and uploads [`CONTRACTS`] for them.
async fn with_contracts(account: &Account) -> Apps {
    let apps = Apps::create(account).await;
    let (status, body) = post_raw(
        &account.client,
        CONTRACTS_CSV,
        "text/csv",
        apps.fill(CONTRACTS).into(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    apps
}

#[tokio::test]
async fn finance_records_are_idempotent_by_signature_id() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let apps = Apps::create(&account).await;
    let finance = apps.finance();
    let batch = json!({"records": [record("s-1", json!(12.34), "USD"), record("s-2", json!("100"), "EUR")]});
    let (status, body) = account.client.post(&finance, &batch).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(
        (body["accepted"].as_u64(), body["duplicates"].as_u64()),
        (Some(2), Some(0))
    );

    // The same batch again (a client retrying after a timeout) stores nothing new.
    let (status, body) = account.client.post(&finance, &batch).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["accepted"].as_u64(), body["duplicates"].as_u64()),
        (Some(0), Some(2))
    );

    // Same signatureId, other content: replaces the stored record.
    let changed =
        json!({"records": [record("s-1", json!(20), "USD"), record("s-2", json!(100), "EUR")]});
    let (status, body) = account.client.post(&finance, &changed).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (
            body["accepted"].as_u64(),
            body["replaced"].as_u64(),
            body["duplicates"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );

    let csv = get_csv(&account.client, SPEND_CSV).await;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(
        lines.contains(
            &apps
                .fill(
                    "s-1,<mail>,1767225600000,20.00,USD,invoice,Acme,INV-1,Mail licences,Software"
                )
                .as_str()
        ),
        "{csv}"
    );
    assert!(
        lines.contains(
            &apps
                .fill(
                    "s-2,<mail>,1767225600000,100.00,EUR,invoice,Acme,INV-1,Mail licences,Software"
                )
                .as_str()
        ),
        "{csv}"
    );

    // The same signatureId twice in one batch with different content is ambiguous.
    let (status, body) = account
        .client
        .post(
            &finance,
            &json!({"records": [record("s-9", json!(1), "USD"), record("s-9", json!(2), "USD")]}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"][0]["index"], 1, "{body}");
}

#[tokio::test]
async fn a_finance_batch_with_a_bad_currency_is_rejected_whole() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let finance = Apps::create(&account).await.finance();
    let batch = json!({"records": [
        record("ok-1", json!(10), "USD"),
        record("bad-1", json!(10), "usd"),
        record("bad-2", json!(10), "ABC"),
    ]});
    let (status, body) = account.client.post(&finance, &batch).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    let errors = body["errors"].as_array().expect("errors");
    let named: Vec<(u64, &str)> = errors
        .iter()
        .map(|e| {
            (
                e["index"].as_u64().unwrap_or(99),
                e["field"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(named, [(1, "currency"), (2, "currency")], "{body}");

    // Nothing of the batch was stored, not even the valid record.
    let csv = get_csv(&account.client, SPEND_CSV).await;
    assert_eq!(csv.lines().count(), 1, "{csv}");

    // Other shapes of bad input.
    let (status, body) = account.client.post(&finance, &json!({"records": []})).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    let too_many: Vec<Value> = (0..1001)
        .map(|i| record(&format!("s{i}"), json!(1), "USD"))
        .collect();
    let (status, body) = account
        .client
        .post(&finance, &json!({"records": too_many}))
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = account
        .client
        .post(
            &finance,
            &json!({"records": [{"signatureId": "x", "created": "soon", "amount": 1,
                                            "currency": "USD", "type": "gift"}]}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"].as_array().map(Vec::len), Some(2), "{body}");
}

#[tokio::test]
async fn spend_csv_round_trips_and_both_directions_are_audited() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let apps = Apps::create(&account).await;
    // Columns in another order and case, a byte order mark, quoted commas, optional
    // columns left out, and an ISO timestamp for `created`.
    let upload = "\u{feff}AppId,signatureId,created,amount,currency,type,vendor,name\n\
                  <mail>,inv-1,1767225600000,1200.5,USD,invoice,\"Acme, Inc.\",Annual\n\
                  <chat>,exp-1,2026-02-01T00:00:00Z,-15,EUR,Expense,,\n\
                  \n";
    let (status, body) = post_raw(
        &account.client,
        SPEND_CSV,
        "text/csv",
        apps.fill(upload).into(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["rows"].as_u64(), body["accepted"].as_u64()),
        (Some(2), Some(2)),
        "{body}"
    );

    let csv = get_csv(&account.client, SPEND_CSV).await;
    assert_eq!(
        csv,
        apps.fill(
            "signatureId,appId,created,amount,currency,type,vendor,identifier,name,category\n\
             inv-1,<mail>,1767225600000,1200.50,USD,invoice,\"Acme, Inc.\",,Annual,\n\
             exp-1,<chat>,1769904000000,-15.00,EUR,expense,,,,\n"
        )
    );

    // The download uploads again unchanged: every row is a duplicate.
    let (status, body) = post_raw(&account.client, SPEND_CSV, "text/csv", csv.clone().into()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["accepted"].as_u64(), body["duplicates"].as_u64()),
        (Some(0), Some(2)),
        "{body}"
    );
    assert_eq!(get_csv(&account.client, SPEND_CSV).await, csv);

    let events = audit_types(&account).await;
    assert_eq!(count_type(&events, "UploadedSpendCsv"), 2, "{events:?}");
    assert_eq!(count_type(&events, "DownloadedSpendCsv"), 2, "{events:?}");
    let (_, upload_event) = events
        .iter()
        .find(|(t, _)| t == "UploadedSpendCsv")
        .expect("event");
    assert_eq!(
        upload_event["userId"],
        account.creds.email.as_str(),
        "{upload_event}"
    );
}

#[tokio::test]
async fn a_spend_csv_with_bad_rows_names_their_lines_and_stores_nothing() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let apps = Apps::create(&account).await;
    let upload = "signatureId,appId,created,amount,currency,type\n\
                  ok-1,<mail>,1767225600000,10,USD,invoice\n\
                  bad-1,<mail>,1767225600000,10.123456,USD,invoice\n\
                  ok-2,<mail>,1767225600000,10,USD,expense\n\
                  bad-2,<mail>,1767225600000,10,USD,gift\n\
                  bad-3,<mail>,1767225600000,10,USD\n";
    let (status, body) = post_raw(
        &account.client,
        SPEND_CSV,
        "text/csv",
        apps.fill(upload).into(),
    )
    .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    let errors = body["errors"].as_array().expect("errors");
    let lines: Vec<u64> = errors.iter().filter_map(|e| e["index"].as_u64()).collect();
    assert_eq!(lines, [3, 5, 6], "{body}");
    assert_eq!(errors[0]["field"], "amount", "{body}");
    assert_eq!(errors[1]["field"], "type", "{body}");
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("line 3"),
        "{body}"
    );

    assert_eq!(get_csv(&account.client, SPEND_CSV).await.lines().count(), 1);
    // A rejected upload is not an upload: no audit event.
    assert_eq!(
        count_type(&audit_types(&account).await, "UploadedSpendCsv"),
        0
    );

    // Unknown and missing columns are named.
    let (status, body) = post_raw(
        &account.client,
        SPEND_CSV,
        "text/csv",
        apps.fill("signatureId,appId,colour\nx,<mail>,red\n").into(),
    )
    .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    let message = body["message"].as_str().unwrap_or("");
    assert!(
        message.contains("colour") && message.contains("amount"),
        "{body}"
    );
    let (status, body) = post_raw(&account.client, SPEND_CSV, "text/csv", Vec::new()).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);

    // A CSV repeating a signatureId with other values contradicts itself.
    let (status, body) = post_raw(
        &account.client,
        SPEND_CSV,
        "text/csv",
        apps.fill(
            "signatureId,appId,created,amount,currency,type\n\
             a,<mail>,1,1,USD,invoice\na,<mail>,1,2,USD,invoice\n",
        )
        .into(),
    )
    .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"][0]["index"], 3, "{body}");
}

#[tokio::test]
async fn contracts_csv_round_trips_and_is_audited() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let apps = with_contracts(&account).await;
    let csv = get_csv(&account.client, CONTRACTS_CSV).await;
    assert_eq!(
        csv,
        apps.fill(
            "contractId,appId,vendor,startDate,endDate,licensesPurchased,annualCost,currency\n\
             c-2025,<mail>,Acme Mail,2025-01-01,2025-12-31,40,4000.00,USD\n\
             c-2026,<mail>,Acme Mail,2026-01-01,2026-12-31,50,5000.50,USD\n\
             c-chat,<chat>,,2026-03-01,2027-02-28,10,999.99,EUR\n"
        )
    );
    // Re-uploading is idempotent; a changed row replaces its contract.
    let changed = csv.replace(
        &apps.fill("c-chat,<chat>,,2026-03-01,2027-02-28,10,"),
        &apps.fill("c-chat,<chat>,,2026-03-01,2027-02-28,12,"),
    );
    let (status, body) = post_raw(
        &account.client,
        CONTRACTS_CSV,
        "text/csv",
        changed.clone().into(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (
            body["accepted"].as_u64(),
            body["replaced"].as_u64(),
            body["duplicates"].as_u64()
        ),
        (Some(1), Some(1), Some(2)),
        "{body}"
    );
    assert_eq!(get_csv(&account.client, CONTRACTS_CSV).await, changed);

    // A bad row names its line; nothing is stored.
    let (status, body) = post_raw(
        &account.client,
        CONTRACTS_CSV,
        "text/csv",
        apps.fill(
            "contractId,appId,startDate,endDate,licensesPurchased,annualCost,currency\n\
             c-new,<mail>,2027-01-01,2027-12-31,5,10,USD\n\
             c-bad,<mail>,2027-12-31,2027-01-01,5,10,USD\n",
        )
        .into(),
    )
    .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"][0]["index"], 3, "{body}");
    assert_eq!(body["errors"][0]["field"], "endDate", "{body}");
    assert!(!get_csv(&account.client, CONTRACTS_CSV)
        .await
        .contains("c-new"));

    let events = audit_types(&account).await;
    assert_eq!(count_type(&events, "UploadedContractCsv"), 2, "{events:?}");
    assert_eq!(
        count_type(&events, "DownloadedContractCsv"),
        3,
        "{events:?}"
    );
}

#[tokio::test]
async fn contract_pdfs_round_trip_and_are_audited() {
    let server = TestServer::start().await;
    let account = server.account().await;
    with_contracts(&account).await;
    let bytes = pdf("the 2026 mail contract");
    let (status, body) = post_raw(
        &account.client,
        &format!("{}?name=Mail%202026.pdf", files_path("c-2026")),
        "application/pdf",
        bytes.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["duplicate"], false);
    let file_id = body["fileId"].as_str().expect("fileId").to_string();

    // A retried upload of the same bytes returns the same file.
    let (status, again) = post_raw(
        &account.client,
        &files_path("c-2026"),
        "application/pdf",
        bytes.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["fileId"], file_id.as_str());
    assert_eq!(again["duplicate"], true);

    let (status, list) = account.client.get(&files_path("c-2026")).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let files = list["files"].as_array().expect("files");
    assert_eq!(files.len(), 1, "{list}");
    assert_eq!(files[0]["fileId"], file_id.as_str());
    assert_eq!(files[0]["name"], "Mail 2026.pdf");
    assert_eq!(files[0]["size"], bytes.len());
    assert!(
        files[0]["uploaded"]
            .as_str()
            .is_some_and(|u| u.ends_with('Z')),
        "{list}"
    );

    let (status, content_type, downloaded) = get_bytes(
        &account.client,
        &format!("{}/{file_id}", files_path("c-2026")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/pdf");
    assert_eq!(downloaded, bytes);

    let events = audit_types(&account).await;
    assert_eq!(count_type(&events, "UploadedContractFile"), 1, "{events:?}");
    assert_eq!(
        count_type(&events, "DownloadedContractFile"),
        1,
        "{events:?}"
    );

    // Unknown contract or file: 404.
    let (status, body) = post_raw(
        &account.client,
        &files_path("nope"),
        "application/pdf",
        bytes.clone(),
    )
    .await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = account
        .client
        .get(&format!("{}/{}", files_path("c-2025"), file_id))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = account
        .client
        .get(&format!("{}/0000", files_path("c-2026")))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_file_that_is_not_a_pdf_is_rejected() {
    let server = TestServer::start().await;
    let account = server.account().await;
    with_contracts(&account).await;
    for body in [
        b"PK\x03\x04 a zip file".to_vec(),
        Vec::new(),
        b"%PDF-1.4 cut short".to_vec(),
    ] {
        let (status, reply) = post_raw(
            &account.client,
            &files_path("c-2026"),
            "application/pdf",
            body,
        )
        .await;
        assert_error(status, &reply, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let (status, list) = account.client.get(&files_path("c-2026")).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["files"].as_array().map(Vec::len), Some(0), "{list}");
    assert_eq!(
        count_type(&audit_types(&account).await, "UploadedContractFile"),
        0
    );
}

#[tokio::test]
async fn an_oversized_file_is_413_with_the_error_body() {
    let server = TestServer::start().await;
    let account = server.account().await;
    with_contracts(&account).await;
    let mut big = pdf("big");
    big.resize(10 * 1024 * 1024 + 1, b' ');
    let (status, body) = post_raw(
        &account.client,
        &files_path("c-2026"),
        "application/pdf",
        big,
    )
    .await;
    assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE);
    // Just under the limit is fine (the %%EOF marker is in the last kilobyte).
    let mut fits = pdf("fits");
    let tail = b"\n%%EOF\n";
    fits.resize(10 * 1024 * 1024 - tail.len(), b' ');
    fits.extend_from_slice(tail);
    let (status, body) = post_raw(
        &account.client,
        &files_path("c-2026"),
        "application/pdf",
        fits,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn another_accounts_contract_file_is_not_found() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let other = server.account().await;
    with_contracts(&account).await;
    let (status, body) = post_raw(
        &account.client,
        &files_path("c-2026"),
        "application/pdf",
        pdf("mine"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let file = format!(
        "{}/{}",
        files_path("c-2026"),
        body["fileId"].as_str().expect("fileId")
    );

    let (status, body) = other.client.get(&file).await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = other.client.get(&files_path("c-2026")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = post_raw(
        &other.client,
        &files_path("c-2026"),
        "application/pdf",
        pdf("theirs"),
    )
    .await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    // Their CSVs hold none of it.
    assert_eq!(
        get_csv(&other.client, CONTRACTS_CSV).await.lines().count(),
        1
    );
    // The same contractId in another account is another contract.
    with_contracts(&other).await;
    let (status, body) = other.client.get(&file).await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_key_without_connector_write_cannot_upload() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let apps = with_contracts(&account).await;
    let (_, viewer) = account.user_with_key("viewer", json!({})).await;
    let (status, body) =
        post_raw(&viewer, &files_path("c-2026"), "application/pdf", pdf("v")).await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = post_raw(&viewer, SPEND_CSV, "text/csv", "signatureId\n".into()).await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = post_raw(
        &viewer,
        CONTRACTS_CSV,
        "text/csv",
        apps.fill(CONTRACTS).into(),
    )
    .await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = viewer
        .post(
            &apps.finance(),
            &json!({"records": [record("v", json!(1), "USD")]}),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    // It may read, though.
    assert_eq!(get_csv(&viewer, CONTRACTS_CSV).await.lines().count(), 4);
}

#[tokio::test]
async fn a_viewer_limited_to_some_apps_sees_only_their_money() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let apps = with_contracts(&account).await;
    let (status, body) = post_raw(
        &account.client,
        &files_path("c-chat"),
        "application/pdf",
        pdf("chat"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let chat_file = format!(
        "{}/{}",
        files_path("c-chat"),
        body["fileId"].as_str().expect("fileId")
    );
    let (_, viewer) = account
        .user_with_key("viewer", json!({"allowedApps": [apps.mail]}))
        .await;
    let csv = get_csv(&viewer, CONTRACTS_CSV).await;
    assert!(csv.contains("c-2026") && !csv.contains("c-chat"), "{csv}");
    let (status, body) = viewer.get(&chat_file).await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = viewer.get(&files_path("c-chat")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn contract_summary_and_spend_totals_read_what_was_uploaded() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let apps = with_contracts(&account).await;
    let store = &server.store;

    let in_force = store
        .contract_summary(account.id(), &apps.mail, "2026-06-01")
        .await
        .expect("summary")
        .expect("a contract");
    assert_eq!(in_force.contract_id, "c-2026");
    assert_eq!(in_force.licenses_purchased, 50);
    assert_eq!(in_force.annual_cost, 5000.5);
    assert_eq!(in_force.currency, "USD");
    assert_eq!(in_force.vendor.as_deref(), Some("Acme Mail"));
    let earlier = store
        .contract_summary(account.id(), &apps.mail, "2025-03-01")
        .await
        .expect("summary")
        .expect("a contract");
    assert_eq!(earlier.contract_id, "c-2025");
    // No contract in force: the one that ends last.
    let after = store
        .contract_summary(account.id(), &apps.mail, "2030-01-01")
        .await
        .expect("summary")
        .expect("a contract");
    assert_eq!(after.contract_id, "c-2026");
    assert_eq!(
        store
            .contract_summary(account.id(), "nope", "2026-06-01")
            .await
            .expect("summary"),
        None
    );
    let other = server.account().await;
    assert_eq!(
        store
            .contract_summary(other.id(), &apps.mail, "2026-06-01")
            .await
            .expect("summary"),
        None
    );

    let t0 = 1_767_225_600_000i64; // 2026-01-01T00:00:00Z
    let batch = json!({"records": [
        {"signatureId": "a", "created": t0, "amount": 0.1, "currency": "USD", "type": "invoice"},
        {"signatureId": "b", "created": t0 + 1, "amount": 0.2, "currency": "USD", "type": "expense"},
        {"signatureId": "c", "created": t0 + 2, "amount": "7.5", "currency": "EUR", "type": "expense"},
        {"signatureId": "d", "created": t0 + 3, "amount": 1000, "currency": "USD", "type": "invoice"},
    ]});
    let (status, body) = account.client.post(&apps.finance(), &batch).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let totals = store
        .spend_totals(account.id(), &apps.mail, t0, t0 + 3)
        .await
        .expect("totals");
    let totals: Vec<(String, f64)> = totals.into_iter().map(|t| (t.currency, t.amount)).collect();
    // Exact decimal sums: 0.1 + 0.2 is 0.3, and `created` = to_ms is excluded.
    assert_eq!(totals, [("EUR".to_string(), 7.5), ("USD".to_string(), 0.3)]);
    assert!(store
        .spend_totals(account.id(), &apps.chat, t0, t0 + 10)
        .await
        .expect("totals")
        .is_empty());
    assert!(store
        .spend_totals(other.id(), &apps.mail, t0, t0 + 10)
        .await
        .expect("totals")
        .is_empty());
}

#[tokio::test]
async fn contracts_read_as_json_with_their_files() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let apps = with_contracts(&account).await;
    let (status, body) = post_raw(
        &account.client,
        &format!("{}?name=signed.pdf", files_path("c-2026")),
        "application/pdf",
        pdf("signed"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, body) = account
        .client
        .get("/services/push/v1/customer/contracts")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ids: Vec<&str> = body["contracts"]
        .as_array()
        .expect("contracts")
        .iter()
        .filter_map(|c| c["contractId"].as_str())
        .collect();
    assert_eq!(ids, ["c-2025", "c-2026", "c-chat"], "{body}");
    let (status, body) = account
        .client
        .get(&format!(
            "/services/push/v1/customer/contracts?appId={}",
            apps.chat
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["contracts"],
        json!([{"contractId": "c-chat", "appId": apps.chat, "vendor": null,
                "startDate": "2026-03-01", "endDate": "2027-02-28",
                "licensesPurchased": 10, "annualCost": 999.99, "currency": "EUR"}])
    );
    let (status, body) = account
        .client
        .get("/services/push/v1/customer/contracts?colour=red")
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);

    let (status, body) = account
        .client
        .get("/services/push/v1/customer/contracts/c-2026")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["contract"]["annualCost"], 5000.5);
    assert_eq!(body["contract"]["files"][0]["name"], "signed.pdf", "{body}");
    let (status, body) = account
        .client
        .get("/services/push/v1/customer/contracts/none")
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND);

    // A viewer limited to mail neither lists nor reads chat's contract.
    let (_, viewer) = account
        .user_with_key("viewer", json!({"allowedApps": [apps.mail]}))
        .await;
    let (status, body) = viewer.get("/services/push/v1/customer/contracts").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["contracts"].as_array().map(Vec::len),
        Some(2),
        "{body}"
    );
    let (status, body) = viewer
        .get(&format!(
            "/services/push/v1/customer/contracts?appId={}",
            apps.chat
        ))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = viewer
        .get("/services/push/v1/customer/contracts/c-chat")
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    // Reading JSON is not a download: no audit event.
    let events = audit_types(&account).await;
    assert_eq!(
        count_type(&events, "DownloadedContractCsv"),
        0,
        "{events:?}"
    );
}

#[tokio::test]
async fn spreadsheet_exports_upload_and_forms_get_a_hint() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let apps = Apps::create(&account).await;
    // A semicolon-separated export with a decimal point kept as written.
    let upload = "signatureId;appId;created;amount;currency;type\r\n\
                  s-1;<mail>;1767225600000;19.99;CHF;expense\r\n";
    let (status, body) = post_raw(
        &account.client,
        SPEND_CSV,
        "text/csv",
        apps.fill(upload).into(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(get_csv(&account.client, SPEND_CSV)
        .await
        .contains(&apps.fill("s-1,<mail>,1767225600000,19.99,CHF,expense")));

    let (status, body) = post_raw(
        &account.client,
        CONTRACTS_CSV,
        "multipart/form-data; boundary=x",
        b"--x\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\ncontractId\r\n--x--\r\n"
            .to_vec(),
    )
    .await;
    // A multipart form is read for its file (issue 19 #14), whose header here
    // lacks the required columns.
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.to_string().contains("appId"), "{body}");
}

#[tokio::test]
async fn downloads_can_be_narrowed_to_one_app() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let apps = with_contracts(&account).await;
    let upload = "signatureId,appId,created,amount,currency,type\n\
                  m-1,<mail>,1,1,USD,invoice\nc-1,<chat>,2,2,USD,invoice\n";
    let (status, body) = post_raw(
        &account.client,
        SPEND_CSV,
        "text/csv",
        apps.fill(upload).into(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let spend = get_csv(&account.client, &format!("{SPEND_CSV}?appId={}", apps.chat)).await;
    assert_eq!(
        spend,
        apps.fill(
            "signatureId,appId,created,amount,currency,type,vendor,identifier,name,category\n\
             c-1,<chat>,2,2.00,USD,invoice,,,,\n"
        )
    );
    let contracts = get_csv(
        &account.client,
        &format!("{CONTRACTS_CSV}?appId={}", apps.mail),
    )
    .await;
    assert_eq!(contracts.lines().count(), 3, "{contracts}");
    let (status, body) = account
        .client
        .get(&format!("{SPEND_CSV}?app={}", apps.chat))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    let events = audit_types(&account).await;
    let (_, download) = events
        .iter()
        .find(|(t, _)| t == "DownloadedSpendCsv")
        .expect("audited");
    assert_eq!(
        download["eventProperties"],
        json!({"rows": 1, "appId": apps.chat})
    );
}

#[tokio::test]
async fn a_csv_with_many_bad_rows_lists_the_first_hundred() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let apps = Apps::create(&account).await;
    let mut upload = String::from("signatureId,appId,created,amount,currency,type\n");
    for i in 0..250 {
        upload.push_str(&format!("s{i},{},1,1,XXX1,invoice\n", apps.mail));
    }
    let (status, body) = post_raw(&account.client, SPEND_CSV, "text/csv", upload.into()).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"].as_array().map(Vec::len), Some(100), "{body}");
    assert_eq!(body["errors"][99]["index"], 101);
    assert!(
        body["message"].as_str().unwrap_or("").contains("250"),
        "{body}"
    );
}

#[tokio::test]
async fn finance_for_an_unknown_app_is_not_found() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let other = server.account().await;
    let theirs = create_app(&other.client, "Mail").await;
    let batch = json!({"records": [record("s-1", json!(1), "USD")]});
    let (status, body) = account.client.post(&finance_path("nope"), &batch).await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    assert!(
        body["message"].as_str().unwrap_or("").contains("nope"),
        "{body}"
    );
    // Another account's app does not exist here either.
    let (status, body) = account.client.post(&finance_path(&theirs), &batch).await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    assert_eq!(get_csv(&account.client, SPEND_CSV).await.lines().count(), 1);
    assert_eq!(get_csv(&other.client, SPEND_CSV).await.lines().count(), 1);
}

#[tokio::test]
async fn finance_for_a_disconnected_app_is_rejected_and_its_history_kept() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let apps = Apps::create(&account).await;
    let (status, body) = account
        .client
        .post(
            &apps.finance(),
            &json!({"records": [record("before", json!(5), "USD")]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = account
        .client
        .post(&format!("{APPS}/{}/disconnect", apps.mail), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, body) = account
        .client
        .post(
            &apps.finance(),
            &json!({"records": [record("after", json!(6), "USD")]}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("disconnected"),
        "{body}"
    );
    // The record pushed before the disconnection stays; the rejected one is not stored.
    let csv = get_csv(&account.client, SPEND_CSV).await;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(
        lines[1].starts_with(&format!("before,{},", apps.mail)),
        "{csv}"
    );
    // The other, still connected, app keeps accepting records.
    let (status, body) = account
        .client
        .post(
            &finance_path(&apps.chat),
            &json!({"records": [record("chat-1", json!(7), "USD")]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn csv_rows_naming_an_unknown_app_are_named_by_line_and_nothing_is_stored() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let other = server.account().await;
    let apps = Apps::create(&account).await;
    let theirs = create_app(&other.client, "Mail").await;
    let upload = format!(
        "signatureId,appId,created,amount,currency,type\n\
         ok-1,{mail},1767225600000,10,USD,invoice\n\
         bad-1,nope,1767225600000,10,USD,invoice\n\
         ok-2,{chat},1767225600000,10,USD,expense\n\
         bad-2,{theirs},1767225600000,10,USD,invoice\n",
        mail = apps.mail,
        chat = apps.chat,
    );
    let (status, body) = post_raw(&account.client, SPEND_CSV, "text/csv", upload.into()).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    let errors = body["errors"].as_array().expect("errors");
    let named: Vec<(u64, &str)> = errors
        .iter()
        .map(|e| {
            (
                e["index"].as_u64().unwrap_or(0),
                e["field"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(named, [(3, "appId"), (5, "appId")], "{body}");
    let first = errors[0]["message"].as_str().unwrap_or("");
    assert!(first.contains("line 3") && first.contains("nope"), "{body}");
    // Nothing of the file was stored, not even its good rows, and no upload was audited.
    assert_eq!(get_csv(&account.client, SPEND_CSV).await.lines().count(), 1);
    assert_eq!(
        count_type(&audit_types(&account).await, "UploadedSpendCsv"),
        0
    );

    // The same for contracts.
    let contracts = apps.fill(
        "contractId,appId,startDate,endDate,licensesPurchased,annualCost,currency\n\
         c-ok,<mail>,2026-01-01,2026-12-31,5,10,USD\n\
         c-bad,nope,2026-01-01,2026-12-31,5,10,USD\n",
    );
    let (status, body) =
        post_raw(&account.client, CONTRACTS_CSV, "text/csv", contracts.into()).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"].as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(body["errors"][0]["index"], 3, "{body}");
    assert_eq!(body["errors"][0]["field"], "appId", "{body}");
    assert_eq!(
        get_csv(&account.client, CONTRACTS_CSV)
            .await
            .lines()
            .count(),
        1
    );
}

#[tokio::test]
async fn removing_an_app_removes_its_money_and_keeps_the_other_apps() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let apps = with_contracts(&account).await;
    let upload = apps.fill(
        "signatureId,appId,created,amount,currency,type\n\
         m-1,<mail>,1,1,USD,invoice\nc-1,<chat>,2,2,USD,invoice\n",
    );
    let (status, body) = post_raw(&account.client, SPEND_CSV, "text/csv", upload.into()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = account
        .client
        .post(
            &apps.finance(),
            &json!({"records": [record("m-2", json!(3), "USD")]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut files = Vec::new();
    for contract in ["c-2026", "c-chat"] {
        let (status, body) = post_raw(
            &account.client,
            &files_path(contract),
            "application/pdf",
            pdf(contract),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        files.push(format!(
            "{}/{}",
            files_path(contract),
            body["fileId"].as_str().expect("fileId")
        ));
    }

    let (status, body) = account
        .client
        .delete(&format!("{APPS}/{}", apps.mail))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Spend: only chat's row is left.
    assert_eq!(
        get_csv(&account.client, SPEND_CSV).await,
        apps.fill(
            "signatureId,appId,created,amount,currency,type,vendor,identifier,name,category\n\
             c-1,<chat>,2,2.00,USD,invoice,,,,\n"
        )
    );
    // Every record above lies in 1970-01-01 .. 2033-05-18.
    let (from, to) = (0, 2_000_000_000_000);
    let store = &server.store;
    assert!(store
        .spend_totals(account.id(), &apps.mail, from, to)
        .await
        .expect("totals")
        .is_empty());
    assert_eq!(
        store
            .spend_totals(account.id(), &apps.chat, from, to)
            .await
            .expect("totals")
            .len(),
        1
    );

    // Contracts: only chat's is left; mail's and its file are gone.
    assert_eq!(
        get_csv(&account.client, CONTRACTS_CSV).await,
        apps.fill(
            "contractId,appId,vendor,startDate,endDate,licensesPurchased,annualCost,currency\n\
             c-chat,<chat>,,2026-03-01,2027-02-28,10,999.99,EUR\n"
        )
    );
    for contract in ["c-2025", "c-2026"] {
        let (status, body) = account
            .client
            .get(&format!("/services/push/v1/customer/contracts/{contract}"))
            .await;
        assert_error(status, &body, StatusCode::NOT_FOUND);
    }
    assert_eq!(
        store
            .contract_summary(account.id(), &apps.mail, "2026-06-01")
            .await
            .expect("summary"),
        None
    );
    let (status, body) = account.client.get(&files[0]).await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = account.client.get(&files_path("c-2026")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    // Chat's file still downloads, byte for byte.
    let (status, _, bytes) = get_bytes(&account.client, &files[1]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, pdf("c-chat"));

    // The removed app takes no more money.
    let (status, body) = account
        .client
        .post(
            &apps.finance(),
            &json!({"records": [record("m-3", json!(3), "USD")]}),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    assert_eq!(count_type(&audit_types(&account).await, "AppRemoved"), 1);
}
