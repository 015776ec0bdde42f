//! Money endpoints (SPEC §4): finance records, spend and contract CSVs, contract PDFs.
//!
//! - `POST /services/push/v1/customer/apps/{appId}/finance` (`connector.write`):
//!   `{"records": [{signatureId, created (Unix ms), amount, currency, type,
//!   vendor?, identifier?, name?, category?}]}`, 1 to 1,000 records, validated
//!   whole (422 naming each bad index) → `{success, accepted, replaced, duplicates}`.
//!   Idempotent by `signatureId` (unique within the account): a record identical to
//!   the stored one counts as a duplicate and changes nothing; one with the same
//!   `signatureId` but other content replaces the stored record (and counts as
//!   accepted and replaced). The same `signatureId` twice in one batch with
//!   different content is a 422.
//! - `POST|GET /services/push/v1/customer/spend/csv` and `…/contracts/csv`
//!   (`connector.write` / `report.read`): the CSV file is the request body, or
//!   the one file field of a multipart form ([`crate::upload`]); the
//!   CSV layouts are documented in [`rollcall_core::money`]. An upload is
//!   validated whole: a bad header is a 422 saying which columns are unknown or
//!   missing; each bad row is named in
//!   `errors[]` with `index` = its line number in the file (the header is line 1)
//!   and nothing is stored. Rows upsert by `signatureId` / `contractId`, so
//!   re-uploading a file is idempotent → `{success, rows, accepted, replaced,
//!   duplicates}`; audited `UploadedSpendCsv` / `UploadedContractCsv`. A download
//!   is `text/csv` of everything stored (normalised: amounts as plain decimals,
//!   `created` in Unix ms), limited to the apps the caller may see, or to one
//!   with `?appId=`; audited `DownloadedSpendCsv` / `DownloadedContractCsv`.
//! - `POST /services/push/v1/customer/contracts/{contractId}/files[?name=…]`
//!   (`connector.write`): the raw PDF as the request body (`content-type:
//!   application/pdf`, not multipart), at most 10 MiB (413 above), checked to be a
//!   PDF (422 otherwise) → `{success, fileId, name, size, sha256, duplicate}`;
//!   uploading the same bytes to the same contract again returns the existing file
//!   (`duplicate: true`) so a retry stores one copy. Audited `UploadedContractFile`.
//! - `GET /services/push/v1/customer/contracts[?appId=…]` (`report.read`): the
//!   contracts as JSON, `{success, contracts: [{contractId, appId, vendor,
//!   startDate, endDate, licensesPurchased, annualCost, currency}]}`;
//!   `GET …/contracts/{contractId}` one contract with its `files` (as below).
//!   Reading JSON is not a download, so it is not audited. (A contract whose id
//!   is literally `csv` is reachable through the CSV and its files only.)
//! - `GET …/contracts/{contractId}/files` (`report.read`): `{success, contractId,
//!   files: [{fileId, name, size, sha256, uploaded}]}`.
//! - `GET …/contracts/{contractId}/files/{fileId}` (`report.read`): the PDF bytes,
//!   `content-type: application/pdf`; audited `DownloadedContractFile`.
//!
//! An unknown contract or file, another account's, or one of an app the caller
//! may not see, is a 404.
//!
//! The seed gives these six audit events no properties; Rollcall adds some so the
//! log says what moved: `{rows, accepted, duplicates}` for CSV uploads, `{rows,
//! appId?}` for CSV downloads, `{contractId, appId, fileId, name, size?}` for
//! files. A rejected upload stores nothing and records no event.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use rollcall_core::money::{
    self, Contract, ContractFields, FieldProblem, SpendFields, SpendRecord, CONTRACT_COLUMNS,
    CONTRACT_REQUIRED, MAX_CONTRACT_FILE_BYTES, MAX_CSV_ROWS, MAX_FINANCE_BATCH, SPEND_COLUMNS,
    SPEND_REQUIRED,
};
use rollcall_core::{time, Scope};
use rollcall_store::audit::AuditAction;
use rollcall_store::money::{ContractFile, NewContractFile, SpendSource, UpsertCounts};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorList, FieldError};
use crate::extract::{Json, NoQuery, Path, Query};
use crate::metrics::{IngestKind, Outcome};
use crate::upload::CsvUpload;
use crate::AppState;

/// At most this many problems are listed in one 422 (the message gives the total).
const MAX_LISTED_ERRORS: usize = 100;

/// This module's operations in the OpenAPI document.
pub(crate) fn doc() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(
        push_finance,
        upload_spend_csv,
        download_spend_csv,
        upload_contracts_csv,
        download_contracts_csv,
        list_contracts,
        get_contract,
        upload_contract_file,
        list_contract_files,
        download_contract_file
    ))]
    struct Doc;
    <Doc as utoipa::OpenApi>::openapi()
}

/// Authenticated routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/services/push/v1/customer/apps/{appId}/finance",
            post(push_finance),
        )
        .route(
            "/services/push/v1/customer/spend/csv",
            post(upload_spend_csv).get(download_spend_csv),
        )
        .route(
            "/services/push/v1/customer/contracts/csv",
            post(upload_contracts_csv).get(download_contracts_csv),
        )
        .route("/services/push/v1/customer/contracts", get(list_contracts))
        .route(
            "/services/push/v1/customer/contracts/{contractId}",
            get(get_contract),
        )
        .route(
            "/services/push/v1/customer/contracts/{contractId}/files",
            post(upload_contract_file)
                .get(list_contract_files)
                // Files have their own, smaller limit than the server-wide one.
                .layer(DefaultBodyLimit::max(MAX_CONTRACT_FILE_BYTES)),
        )
        .route(
            "/services/push/v1/customer/contracts/{contractId}/files/{fileId}",
            get(download_contract_file),
        )
}

type JsonValue = axum::Json<Value>;

/// Counts a stored batch in the metrics: new and replaced records are accepted.
fn count_stored(state: &AppState, kind: IngestKind, counts: UpsertCounts) {
    state.metrics.stored(
        kind,
        (counts.accepted + counts.replaced) as u64,
        counts.duplicates as u64,
    );
}

fn counts_json(counts: UpsertCounts) -> Value {
    json!({
        "success": true,
        "accepted": counts.accepted,
        "replaced": counts.replaced,
        "duplicates": counts.duplicates,
    })
}

fn check_id(what: &str, id: &str) -> ApiResult<()> {
    if id.is_empty() || id.chars().count() > money::MAX_TEXT || id.chars().any(char::is_control) {
        return Err(ApiError::not_found(format!("{what} '{id}' does not exist")));
    }
    Ok(())
}

/// Turns a 422 with many problems into one whose message says how many there were.
fn too_many(message: String, mut errors: Vec<FieldError>) -> ApiError {
    let total = errors.len();
    if total > MAX_LISTED_ERRORS {
        errors.truncate(MAX_LISTED_ERRORS);
        return ApiError::invalid_items(
            format!("{message} ({total} problems; the first {MAX_LISTED_ERRORS} are listed)"),
            errors,
        );
    }
    ApiError::invalid_items(message, errors)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FinanceBody {
    // Counted while parsing; each record is a small object, so 64 values bound it.
    #[serde(deserialize_with = "rollcall_core::bounded::vec::<_, _, MAX_FINANCE_BATCH>")]
    records: Vec<rollcall_core::bounded::BoundedValue<64>>,
}

/// Spend records of an app, idempotent by `signatureId` (scope `connector.write`).
#[utoipa::path(post, path = "/services/push/v1/customer/apps/{appId}/finance", tag = "money",
    params(("appId" = String, Path, description = "the app's id")),
    request_body = crate::openapi::answers::FinanceRecords,
    responses((status = 200, description = "Stored", body = crate::openapi::answers::UpsertCounts)))]
async fn push_finance(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
    Path(app_id): Path<String>,
    Json(body): Json<FinanceBody>,
) -> ApiResult<JsonValue> {
    caller.require(Scope::ConnectorWrite)?;
    check_id("app", &app_id)?;
    caller.require_app(&app_id)?;
    let app = state.store.app(caller.account_id, &app_id).await?;
    if app.status != "connected" {
        return Err(ApiError::unprocessable(format!(
            "app {app_id} is disconnected and accepts no data"
        )));
    }
    if body.records.is_empty() || body.records.len() > MAX_FINANCE_BATCH {
        return Err(ApiError::unprocessable(format!(
            "records must hold 1 to {MAX_FINANCE_BATCH} records, got {}; split larger batches",
            body.records.len()
        )));
    }
    let mut errors = Vec::new();
    let mut records = Vec::with_capacity(body.records.len());
    // signatureId → (its index in the batch, its position in `records`).
    let mut seen: HashMap<String, (usize, usize)> = HashMap::new();
    for (index, value) in body.records.iter().enumerate() {
        match money::spend_from_json(&value.0, &app_id) {
            Ok(record) => {
                if let Some(&(first, at)) = seen.get(&record.signature_id) {
                    if records.get(at).is_some_and(|earlier| earlier != &record) {
                        errors.push(FieldError::item(
                            index,
                            "signatureId",
                            format!(
                                "signatureId '{}' is also at index {first} with different values; send one version",
                                record.signature_id
                            ),
                        ));
                    }
                } else {
                    seen.insert(record.signature_id.clone(), (index, records.len()));
                }
                records.push(record);
            }
            Err(problems) => {
                errors.extend(
                    problems
                        .into_iter()
                        .map(|p| FieldError::item(index, p.field, p.message)),
                );
            }
        }
    }
    if !errors.is_empty() {
        state.metrics.ingested(
            IngestKind::Spend,
            Outcome::Rejected,
            body.records.len() as u64,
        );
        return Err(too_many(
            "some records are not valid; nothing was stored".into(),
            errors,
        ));
    }
    let counts = state
        .store
        .put_spend(
            caller.account_id,
            &caller.actor(),
            SpendSource::FinanceJson,
            records,
        )
        .await?;
    count_stored(&state, IngestKind::Spend, counts);
    Ok(axum::Json(counts_json(counts)))
}

/// Reads a CSV upload: the header row is matched against `known` columns; each
/// data row becomes a `T` via `build`, or problems reported against its line.
/// Rows with only empty cells are skipped.
fn parse_csv<T>(
    bytes: &[u8],
    known: &[&str],
    required: &[&str],
    build: impl Fn(&[Option<&str>]) -> Result<T, Vec<FieldProblem>>,
) -> ApiResult<Vec<(u64, T)>> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(money::sniff_delimiter(bytes))
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut rows = reader.byte_records();
    let header = match rows.next() {
        None => {
            return Err(ApiError::unprocessable(format!(
                "the CSV file is empty; its first row must name the columns ({})",
                known.join(",")
            )))
        }
        Some(Err(e)) => {
            return Err(ApiError::unprocessable(format!(
                "the CSV header row cannot be read: {e}"
            )))
        }
        Some(Ok(h)) => h,
    };
    let header_cells: Vec<&str> = header
        .iter()
        .map(std::str::from_utf8)
        .collect::<Result<_, _>>()
        .map_err(|_| ApiError::unprocessable("the CSV header row is not UTF-8 text"))?;
    let positions = money::map_columns(&header_cells, known, required).map_err(|m| {
        ApiError::invalid_items(
            m.clone(),
            vec![FieldError {
                field: None,
                index: Some(1),
                message: m,
            }],
        )
    })?;
    let mut out = Vec::new();
    // Bounded while reading: the first MAX_LISTED_ERRORS problems and a count.
    let mut errors = ErrorList::default();
    let mut data_rows = 0usize;
    for row in rows {
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line()) as usize;
                errors.push(FieldError {
                    field: None,
                    index: Some(line),
                    message: format!("line {line} cannot be read: {e}"),
                });
                continue;
            }
        };
        let line = row.position().map_or(0, |p| p.line());
        if row
            .iter()
            .all(|cell| cell.iter().all(u8::is_ascii_whitespace))
        {
            continue;
        }
        data_rows += 1;
        if data_rows > MAX_CSV_ROWS {
            return Err(ApiError::unprocessable(format!(
                "the CSV file has more than {MAX_CSV_ROWS} rows; split it into several uploads"
            )));
        }
        if row.len() != header.len() {
            errors.push(FieldError {
                field: None,
                index: Some(line as usize),
                message: format!(
                    "line {line} has {} cells but the header row has {}",
                    row.len(),
                    header.len()
                ),
            });
            continue;
        }
        let cells: Vec<&str> = match row.iter().map(std::str::from_utf8).collect() {
            Ok(c) => c,
            Err(_) => {
                errors.push(FieldError {
                    field: None,
                    index: Some(line as usize),
                    message: format!("line {line} is not UTF-8 text"),
                });
                continue;
            }
        };
        let values: Vec<Option<&str>> = positions
            .iter()
            .map(|p| p.and_then(|i| cells.get(i).copied()))
            .collect();
        match build(&values) {
            Ok(t) => out.push((line, t)),
            Err(problems) => errors.extend(problems.into_iter().map(|p| FieldError {
                message: format!("line {line}: {}", p.message),
                field: Some(p.field),
                index: Some(line as usize),
            })),
        }
    }
    if !errors.is_empty() {
        return Err(errors.into_error(
            "some rows of the CSV file are not valid (index = line number); nothing was stored",
        ));
    }
    Ok(out)
}

/// Rejects a second row with the same key but other values; identical repeats pass
/// (the store counts them as duplicates).
fn check_repeats<T: PartialEq>(
    rows: &[(u64, T)],
    column: &str,
    key: impl Fn(&T) -> &str,
) -> ApiResult<()> {
    let mut seen: HashMap<&str, (u64, &T)> = HashMap::new();
    let mut errors = Vec::new();
    for (line, row) in rows {
        match seen.get(key(row)) {
            Some((first, earlier)) if *earlier != row => errors.push(FieldError::item(
                *line as usize,
                column,
                format!(
                    "line {line}: {column} '{}' is also on line {first} with different values; keep one version",
                    key(row)
                ),
            )),
            Some(_) => {}
            None => {
                seen.insert(key(row), (*line, row));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(too_many(
            "some rows of the CSV file contradict each other (index = line number); nothing was stored".into(),
            errors,
        ))
    }
}

/// Rows naming an app that does not exist in the account, or that the caller may
/// not see, are rejected (the latter as if the app did not exist).
async fn check_apps<T>(
    state: &AppState,
    caller: &Caller,
    rows: &[(u64, T)],
    app: impl Fn(&T) -> &str,
) -> ApiResult<()> {
    let known: std::collections::HashSet<String> = state
        .store
        .list_apps(caller.account_id)
        .await?
        .into_iter()
        .map(|a| a.app_id)
        .collect();
    let errors: Vec<FieldError> = rows
        .iter()
        .filter(|(_, row)| !known.contains(app(row)) || !caller.may_see_app(app(row)))
        .map(|(line, row)| {
            FieldError::item(
                *line as usize,
                "appId",
                format!("line {line}: app '{}' does not exist", app(row)),
            )
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(too_many(
            "some rows name unknown apps (index = line number); nothing was stored".into(),
            errors,
        ))
    }
}

fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("multipart/"))
}

/// Spend as CSV (scope `connector.write`); records `UploadedSpendCsv`.
#[utoipa::path(post, path = "/services/push/v1/customer/spend/csv", tag = "money",
    request_body(content = String, content_type = "text/csv", description = "the CSV file, header row first (or the one file of a multipart/form-data body)"),
    responses((status = 200, description = "Stored", body = crate::openapi::answers::CsvUpserted)))]
async fn upload_spend_csv(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
    CsvUpload(bytes): CsvUpload,
) -> ApiResult<JsonValue> {
    caller.require(Scope::ConnectorWrite)?;
    let rows = parse_csv(&bytes, SPEND_COLUMNS, SPEND_REQUIRED, |v| {
        let at = |i: usize| v.get(i).copied().flatten();
        money::validate_spend(&SpendFields {
            signature_id: at(0),
            app_id: at(1),
            created: at(2),
            amount: at(3),
            currency: at(4),
            kind: at(5),
            vendor: at(6),
            identifier: at(7),
            name: at(8),
            category: at(9),
        })
    })?;
    check_repeats(&rows, "signatureId", |r: &SpendRecord| &r.signature_id)?;
    check_apps(&state, &caller, &rows, |r: &SpendRecord| &r.app_id).await?;
    let n = rows.len();
    let counts = state
        .store
        .put_spend(
            caller.account_id,
            &caller.actor(),
            SpendSource::Csv,
            rows.into_iter().map(|(_, r)| r).collect(),
        )
        .await?;
    count_stored(&state, IngestKind::Spend, counts);
    let mut out = counts_json(counts);
    out["rows"] = json!(n);
    Ok(axum::Json(out))
}

/// Contracts as CSV (scope `connector.write`); records `UploadedContractCsv`.
#[utoipa::path(post, path = "/services/push/v1/customer/contracts/csv", tag = "money",
    request_body(content = String, content_type = "text/csv", description = "the CSV file, header row first (or the one file of a multipart/form-data body)"),
    responses((status = 200, description = "Stored", body = crate::openapi::answers::CsvUpserted)))]
async fn upload_contracts_csv(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
    CsvUpload(bytes): CsvUpload,
) -> ApiResult<JsonValue> {
    caller.require(Scope::ConnectorWrite)?;
    let rows = parse_csv(&bytes, CONTRACT_COLUMNS, CONTRACT_REQUIRED, |v| {
        let at = |i: usize| v.get(i).copied().flatten();
        money::validate_contract(&ContractFields {
            contract_id: at(0),
            app_id: at(1),
            vendor: at(2),
            start_date: at(3),
            end_date: at(4),
            licenses_purchased: at(5),
            annual_cost: at(6),
            currency: at(7),
        })
    })?;
    check_repeats(&rows, "contractId", |c: &Contract| &c.contract_id)?;
    check_apps(&state, &caller, &rows, |c: &Contract| &c.app_id).await?;
    let n = rows.len();
    let counts = state
        .store
        .put_contracts(
            caller.account_id,
            &caller.actor(),
            rows.into_iter().map(|(_, c)| c).collect(),
        )
        .await?;
    count_stored(&state, IngestKind::Contracts, counts);
    let mut out = counts_json(counts);
    out["rows"] = json!(n);
    Ok(axum::Json(out))
}

/// Through the one CSV writer of every download, which neutralises formula
/// cells and streams the rows as the body is sent.
fn csv_response<I>(file_name: &str, header: &[&str], rows: I) -> Response
where
    I: Iterator<Item = Vec<String>> + Send + 'static,
{
    crate::reports::csv::stream(
        &money::attachment_disposition(file_name),
        crate::reports::csv::header(header),
        rows,
    )
}

/// Spend as CSV (scope `report.read`); records `DownloadedSpendCsv`.
#[utoipa::path(get, path = "/services/push/v1/customer/spend/csv", tag = "money",
    params(ContractsQuery),
    responses((status = 200, description = "Every stored row the caller may see", content_type = "text/csv", body = String)))]
async fn download_spend_csv(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ContractsQuery>,
) -> ApiResult<Response> {
    caller.require(Scope::ReportRead)?;
    let apps = visible_apps(&caller, q.app_id.clone())?;
    let records = state
        .store
        .spend_records(caller.account_id, apps.clone())
        .await?;
    let n = records.len();
    let rows = records.into_iter().map(|r| {
        vec![
            r.signature_id,
            r.app_id,
            r.created_ms.to_string(),
            money::format_amount(r.amount_units),
            r.currency,
            r.kind.as_str().to_string(),
            r.vendor.unwrap_or_default(),
            r.identifier.unwrap_or_default(),
            r.name.unwrap_or_default(),
            r.category.unwrap_or_default(),
        ]
    });
    state
        .store
        .record_audit(
            caller.account_id,
            &caller.actor(),
            AuditAction::DownloadedSpendCsv {
                rows: n,
                app_id: q.app_id.clone(),
            },
        )
        .await?;
    Ok(csv_response("spend.csv", SPEND_COLUMNS, rows))
}

/// Contracts as CSV (scope `report.read`); records `DownloadedContractCsv`.
#[utoipa::path(get, path = "/services/push/v1/customer/contracts/csv", tag = "money",
    params(ContractsQuery),
    responses((status = 200, description = "Every stored row the caller may see", content_type = "text/csv", body = String)))]
async fn download_contracts_csv(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ContractsQuery>,
) -> ApiResult<Response> {
    caller.require(Scope::ReportRead)?;
    let apps = visible_apps(&caller, q.app_id.clone())?;
    let contracts = state
        .store
        .contracts(caller.account_id, apps.clone())
        .await?;
    let n = contracts.len();
    let rows = contracts.into_iter().map(|c| {
        vec![
            c.contract_id,
            c.app_id,
            c.vendor.unwrap_or_default(),
            c.start_date,
            c.end_date,
            c.licenses_purchased.to_string(),
            money::format_amount(c.annual_cost_units),
            c.currency,
        ]
    });
    state
        .store
        .record_audit(
            caller.account_id,
            &caller.actor(),
            AuditAction::DownloadedContractCsv {
                rows: n,
                app_id: q.app_id.clone(),
            },
        )
        .await?;
    Ok(csv_response("contracts.csv", CONTRACT_COLUMNS, rows))
}

/// Looks a contract up and hides it (404) unless the caller may see its app.
async fn visible_contract(
    state: &AppState,
    caller: &Caller,
    contract_id: &str,
) -> ApiResult<Contract> {
    check_id("contract", contract_id)?;
    let contract = state.store.contract(caller.account_id, contract_id).await?;
    if !caller.may_see_app(&contract.app_id) {
        return Err(ApiError::not_found(format!(
            "contract '{contract_id}' does not exist"
        )));
    }
    Ok(contract)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct UploadFileQuery {
    /// The file's name (default: from the contract).
    name: Option<String>,
}

/// A contract PDF, the raw bytes as the body (scope `connector.write`); records `UploadedContractFile`.
#[utoipa::path(post, path = "/services/push/v1/customer/contracts/{contractId}/files", tag = "money",
    params(UploadFileQuery, ("contractId" = String, Path, description = "the contract id")),
    request_body(content = Vec<u8>, content_type = "application/pdf", description = "the PDF, at most 10 MiB"),
    responses((status = 200, description = "Stored (or already there)", body = crate::openapi::answers::ContractFileStored)))]
async fn upload_contract_file(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<UploadFileQuery>,
    Path(contract_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<JsonValue> {
    caller.require(Scope::ConnectorWrite)?;
    visible_contract(&state, &caller, &contract_id).await?;
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the file is larger than the limit of {} MiB for contract files",
                    MAX_CONTRACT_FILE_BYTES / (1024 * 1024)
                ),
            )
        } else {
            ApiError::new(
                e.status(),
                format!("cannot read the request body: {}", e.body_text()),
            )
        }
    })?;
    let name = q
        .name
        .as_deref()
        .map(money::check_file_name)
        .transpose()
        .map_err(|m| ApiError::bad_request(format!("name: {m}")))?;
    if is_multipart(&headers) {
        return Err(ApiError::unprocessable(
            "send the PDF file itself as the request body with content-type application/pdf, not as a multipart form",
        ));
    }
    money::check_pdf(&bytes).map_err(ApiError::unprocessable)?;
    let stored = state
        .store
        .add_contract_file(
            caller.account_id,
            &caller.actor(),
            NewContractFile {
                contract_id,
                name,
                bytes: bytes.to_vec(),
            },
        )
        .await?;
    Ok(axum::Json(json!({
        "success": true,
        "fileId": stored.file.file_id,
        "name": stored.file.name,
        "size": stored.file.size,
        "sha256": stored.file.sha256,
        "duplicate": stored.duplicate,
    })))
}

#[utoipa::path(get, path = "/services/push/v1/customer/contracts/{contractId}/files", tag = "money",
    params(("contractId" = String, Path, description = "the contract id")),
    responses((status = 200, description = "The contract's files", body = crate::openapi::answers::ContractFiles)))]
async fn list_contract_files(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
    Path(contract_id): Path<String>,
) -> ApiResult<JsonValue> {
    caller.require(Scope::ReportRead)?;
    visible_contract(&state, &caller, &contract_id).await?;
    let files = state
        .store
        .contract_files(caller.account_id, &contract_id)
        .await?;
    let files: Vec<Value> = files.iter().map(file_json).collect();
    Ok(axum::Json(json!({
        "success": true,
        "contractId": contract_id,
        "files": files,
    })))
}

/// A contract PDF (scope `report.read`); records `DownloadedContractFile`.
#[utoipa::path(get, path = "/services/push/v1/customer/contracts/{contractId}/files/{fileId}", tag = "money",
    params(("contractId" = String, Path, description = "the contract id"), ("fileId" = String, Path, description = "the file id")),
    responses((status = 200, description = "The PDF", content_type = "application/pdf", body = Vec<u8>)))]
async fn download_contract_file(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
    Path((contract_id, file_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    caller.require(Scope::ReportRead)?;
    check_id("contract", &contract_id)?;
    check_id("file", &file_id)?;
    let (file, bytes) = state
        .store
        .contract_file(caller.account_id, &contract_id, &file_id)
        .await?;
    if !caller.may_see_app(&file.app_id) {
        return Err(ApiError::not_found(format!(
            "contract '{contract_id}' does not exist"
        )));
    }
    state
        .store
        .record_audit(
            caller.account_id,
            &caller.actor(),
            AuditAction::DownloadedContractFile {
                contract_id: file.contract_id.clone(),
                app_id: file.app_id.clone(),
                file_id: file.file_id.clone(),
                name: file.name.clone(),
            },
        )
        .await?;
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/pdf"),
        )],
        bytes,
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&money::attachment_disposition(&file.name)) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

fn contract_json(c: &Contract) -> Value {
    json!({
        "contractId": c.contract_id,
        "appId": c.app_id,
        "vendor": c.vendor,
        "startDate": c.start_date,
        "endDate": c.end_date,
        "licensesPurchased": c.licenses_purchased,
        "annualCost": money::units_to_f64(c.annual_cost_units),
        "currency": c.currency,
    })
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ContractsQuery {
    /// Only this app's rows.
    app_id: Option<String>,
}

#[utoipa::path(get, path = "/services/push/v1/customer/contracts", tag = "money",
    params(ContractsQuery),
    responses((status = 200, description = "The contracts", body = crate::openapi::answers::Contracts)))]
async fn list_contracts(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ContractsQuery>,
) -> ApiResult<JsonValue> {
    caller.require(Scope::ReportRead)?;
    let apps = visible_apps(&caller, q.app_id.clone())?;
    let contracts = state.store.contracts(caller.account_id, apps).await?;
    Ok(axum::Json(json!({
        "success": true,
        "contracts": contracts.iter().map(contract_json).collect::<Vec<_>>(),
    })))
}

#[utoipa::path(get, path = "/services/push/v1/customer/contracts/{contractId}", tag = "money",
    params(("contractId" = String, Path, description = "the contract id")),
    responses((status = 200, description = "The contract with its files", body = crate::openapi::answers::OneContract)))]
async fn get_contract(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
    Path(contract_id): Path<String>,
) -> ApiResult<JsonValue> {
    caller.require(Scope::ReportRead)?;
    let contract = visible_contract(&state, &caller, &contract_id).await?;
    let files = state
        .store
        .contract_files(caller.account_id, &contract_id)
        .await?;
    let mut body = contract_json(&contract);
    body["files"] = files.iter().map(file_json).collect();
    Ok(axum::Json(json!({"success": true, "contract": body})))
}

fn file_json(f: &ContractFile) -> Value {
    json!({
        "fileId": f.file_id,
        "name": f.name,
        "size": f.size,
        "sha256": f.sha256,
        "uploaded": time::format_ms(f.uploaded_ms),
    })
}

/// The apps a read covers: the one asked for (404 unless the caller may see it),
/// else every app the caller may see (`None` = all).
fn visible_apps(caller: &Caller, app_id: Option<String>) -> ApiResult<Option<Vec<String>>> {
    match app_id {
        Some(app_id) => {
            check_id("app", &app_id)?;
            caller.require_app(&app_id)?;
            Ok(Some(vec![app_id]))
        }
        None => Ok(caller.allowed_apps.clone()),
    }
}
