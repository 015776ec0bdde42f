//! Schema-only types for answers (and loosely parsed bodies) that handlers build
//! as `serde_json::Value`: they describe, field for field, the JSON those
//! handlers write. They are never built; schemathesis (tests/api/openapi.rs)
//! checks real answers against them, so a drift fails the suite.
#![allow(dead_code)]

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::FieldError;

/// The error body of every API (SPEC §2).
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// The HTTP status, as text (`"422"`).
    pub code: String,
    /// What is wrong, in words a user can act on.
    pub message: String,
    /// Always `false`.
    pub success: bool,
    /// Each bad field or item, where there are several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

/// `{"success": true}`.
#[derive(Serialize, ToSchema)]
pub struct Success {
    pub success: bool,
}

/// `{"success": true, "id": …}`: a created resource's id.
#[derive(Serialize, ToSchema)]
pub struct Created {
    pub success: bool,
    pub id: i64,
}

// ----- health, OAuth, login -----

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub success: bool,
    /// `ok` (`/healthz`) or `ready` (`/readyz`).
    pub status: String,
}

/// The OAuth2 token request (form-encoded, or JSON).
#[derive(Serialize, ToSchema)]
pub struct TokenRequest {
    /// Always `client_credentials`.
    pub grant_type: String,
    /// Required unless the client authenticates with HTTP Basic.
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// Space-separated scopes; omitted = every scope of the client.
    pub scope: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenAnswer {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
    /// The granted scopes, space-separated.
    pub scope: String,
}

/// An OAuth2 error (RFC 6749 §5.2) that is also the spec's error body.
#[derive(Serialize, ToSchema)]
pub struct OAuthError {
    /// `invalid_request`, `invalid_client`, `invalid_scope`, `unsupported_grant_type`.
    pub error: String,
    pub error_description: String,
    pub code: String,
    pub message: String,
    pub success: bool,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginAnswer {
    pub success: bool,
    pub account_id: i64,
    pub user_id: i64,
    pub email: String,
}

// ----- administration -----

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Consumer {
    pub id: i64,
    pub email: String,
    pub name: String,
    /// `superadmin`, `admin`, `viewer` or `employee`.
    pub role: String,
    /// The apps a viewer may see; `null` = all.
    pub allowed_apps: Option<Vec<String>>,
    /// RFC 3339.
    pub created: String,
    /// Group ids the user may see, `-1` = all (with `includeViewableGroups`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub viewable_groups: Option<Vec<i64>>,
    /// An employee's agent logins (`domain\\name`, lower-case); empty for other roles.
    pub logins: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ConsumerList {
    pub success: bool,
    pub consumers: Vec<Consumer>,
}

#[derive(Serialize, ToSchema)]
pub struct OneConsumer {
    pub success: bool,
    pub consumer: Consumer,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Credential {
    pub id: i64,
    /// `apiKey`, `oauthClient` or `writeKey`.
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub consumer_id: Option<i64>,
    pub client_id: Option<String>,
    pub scopes: Vec<String>,
    pub created_by: Option<String>,
    pub created: String,
    pub revoked: Option<String>,
    /// A write key's app.
    pub app_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CredentialList {
    pub success: bool,
    pub credentials: Vec<Credential>,
}

/// A new credential: its secret is shown only here.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewCredential {
    pub success: bool,
    pub id: i64,
    /// For `type: apiKey`.
    pub api_key: Option<String>,
    /// For `type: oauthClient`.
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// For `type: writeKey`.
    pub write_key: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    pub per_second: u32,
    pub burst: u32,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    pub success: bool,
    /// IANA time zone, the default of reports.
    pub time_zone: String,
    /// Passive time counted after this many idle minutes; `null` = unlimited.
    pub passive_limit_minutes: Option<u32>,
    pub activity_retention_days: u32,
    pub usage_retention_days: u32,
    pub rate_limit: RateLimit,
}

/// Any JSON value (for fields whose shape is free, like custom fields).
pub type AnyValue = Value;

// ----- Developer API: connected apps -----

/// A connected app as the API shows it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct App {
    pub app_id: String,
    pub name: String,
    pub category: Option<String>,
    pub description: Option<String>,
    pub sso: bool,
    /// `connected` or `disconnected`.
    pub status: String,
    pub events: Vec<rollcall_core::usage::EventDefinition>,
    /// The feature groups the events count towards.
    pub groups: Vec<String>,
    pub license_tiers: Vec<rollcall_core::usage::LicenseTier>,
    pub created_at: String,
    pub updated_at: String,
}

/// One app, with `success`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppAnswer {
    pub success: bool,
    #[serde(flatten)]
    pub app: App,
}

#[derive(Serialize, ToSchema)]
pub struct AppList {
    pub success: bool,
    pub apps: Vec<App>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppCreated {
    pub success: bool,
    pub app_id: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppDisconnected {
    pub success: bool,
    pub app_id: String,
    pub status: String,
}

/// One usage event: "`email` did `eventName` at `timestamp`".
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageEvent {
    /// Unix milliseconds; within the account's retention and at most a day ahead.
    pub timestamp: i64,
    pub email: String,
    /// An event the app defines.
    pub event_name: String,
    /// Required for `Login` events.
    pub target_app: Option<String>,
}

/// `POST …/events`: 1 to 1,000 events.
#[derive(Serialize, ToSchema)]
pub struct UsageEvents {
    #[schema(min_items = 1, max_items = 1000)]
    pub events: Vec<UsageEvent>,
}

#[derive(Serialize, ToSchema)]
pub struct EventsAccepted {
    pub success: bool,
    /// Events stored by this request.
    pub accepted: u64,
    /// Events already stored (same timestamp, email and event name).
    pub duplicates: u64,
}

/// A user who holds access or a licence to an app.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionedUser {
    pub app_user_id: Option<String>,
    pub email: String,
    pub username: Option<String>,
    /// A licence tier of the app.
    pub license: Option<String>,
}

/// A provisioned user as listed: what was pushed, and what the tracking API's
/// identify calls said of the user.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListedProvisionedUser {
    pub app_user_id: String,
    pub email: String,
    pub username: Option<String>,
    pub license: Option<String>,
    /// Only for users an identify named (firstName, lastName, name, title, team).
    pub profile: Option<rollcall_core::segment::Profile>,
}

/// `POST …/users`: up to 1,000 provisioned users, upserted by `appUserId`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionedUsers {
    #[schema(max_items = 1000)]
    pub provisioned_users: Vec<ProvisionedUser>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsersAccepted {
    pub success: bool,
    pub accepted: u64,
    /// The app's provisioned users after this request.
    pub num_users: u64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionedPage {
    pub success: bool,
    pub num_users: u64,
    pub provisioned_users: Vec<ListedProvisionedUser>,
    /// Present when there is another page.
    pub next_page_token: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsersDeleted {
    pub success: bool,
    pub num_users_deleted: u64,
}

// ----- Developer API: org chart -----

/// Starts an org-chart snapshot.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgChartStart {
    pub org_chart_name: String,
    /// Up to 5 custom field names, as strings or `{"name": …}` objects.
    #[schema(max_items = 5)]
    pub custom_fields_config: Option<Vec<Value>>,
}

/// A person of the org chart.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgPerson {
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub team: Option<String>,
    pub location: Option<String>,
    pub title: Option<String>,
    pub manager_email: Option<String>,
    pub cost_center: Option<String>,
    /// Aliases of the same person.
    pub additional_emails: Option<Vec<String>>,
    /// Values of the snapshot's custom fields, by name.
    pub custom_fields: Option<std::collections::BTreeMap<String, String>>,
}

/// One page of a snapshot: `hasMore: false` makes it the current org chart.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgChartPage {
    pub has_more: bool,
    #[schema(max_items = 1000)]
    pub users: Vec<OrgPerson>,
}

/// How an org-chart switch changed the people.
#[derive(Serialize, ToSchema)]
pub struct OrgChanges {
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgChartPageStored {
    pub success: bool,
    pub id: i64,
    /// People in the snapshot so far.
    pub num_users: u64,
    /// Whether the snapshot is now the current org chart.
    pub current: bool,
    /// Present when the snapshot became current.
    pub changes: Option<OrgChanges>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgChartUploaded {
    pub success: bool,
    pub id: i64,
    pub num_users: u64,
    /// `replace` or `merge`.
    pub mode: String,
    pub org_chart_users: u64,
    pub changes: OrgChanges,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgSnapshot {
    pub id: i64,
    pub name: String,
    pub mode: String,
    pub created: String,
    pub completed: String,
    pub num_users: u64,
    pub active: bool,
}

#[derive(Serialize, ToSchema)]
pub struct OrgSnapshots {
    pub success: bool,
    /// How many snapshots are kept.
    pub kept: u64,
    pub snapshots: Vec<OrgSnapshot>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgChartActivated {
    pub success: bool,
    pub id: i64,
    pub num_users: u64,
    pub previous_id: Option<i64>,
    pub changes: OrgChanges,
}

/// A short-lived signed link.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DownloadLink {
    pub success: bool,
    pub download_url: String,
    pub expires_at: String,
}

// ----- Insights (pull) -----

use crate::reports::Money;

/// One app in the summaries.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppSummary {
    pub app_id: String,
    pub name: String,
    pub status: String,
    pub category: Option<String>,
    pub description: Option<String>,
    pub sso: bool,
    pub provisioned_users: u64,
    /// Users with an event in the last 30 days.
    pub active_users: u64,
    pub active_provisioned_users: u64,
    pub unlicensed_active_users: u64,
    pub licenses_purchased: Option<i64>,
    /// Active provisioned users per licence purchased.
    pub utilization: Option<f64>,
    pub annual_cost: Option<Money>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppSummaries {
    pub success: bool,
    pub as_of_date: String,
    pub apps: Vec<AppSummary>,
}

#[derive(Serialize, ToSchema)]
pub struct Activity {
    pub dau: u64,
    pub wau: u64,
    pub mau: u64,
    /// DAU / MAU.
    pub stickiness: Option<f64>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContractSummary {
    pub contract_id: String,
    pub vendor: Option<String>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub licenses_purchased: Option<i64>,
    pub annual_cost: Option<f64>,
    pub currency: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TierUse {
    pub name: String,
    pub tier: i64,
    pub features: Vec<String>,
    pub annual_cost: Option<f64>,
    pub currency: Option<String>,
    pub provisioned_users: u64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppDetails {
    pub success: bool,
    #[serde(flatten)]
    pub summary: AppSummary,
    /// Productiv's spelling of `asOfDate`, kept for its clients.
    #[serde(rename = "AsOfDate")]
    pub as_of_date_productiv: String,
    pub as_of_date: String,
    pub activity: Activity,
    pub contract: Option<ContractSummary>,
    pub fiscal_spend: Vec<Money>,
    pub license_tiers: Vec<TierUse>,
    pub groups: Vec<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupActivity {
    pub group: String,
    pub active_days: u32,
    pub last_activity: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppUser {
    pub email: String,
    pub app_user_id: Option<String>,
    pub username: Option<String>,
    pub license: Option<String>,
    pub provisioned: bool,
    /// `Active`, `Inactive` or `NeverUsed`.
    pub status: String,
    pub last_activity: Option<String>,
    pub active_days: u32,
    pub groups: Vec<GroupActivity>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub team: Option<String>,
    pub location: Option<String>,
    pub title: Option<String>,
    pub manager_email: Option<String>,
    pub cost_center: Option<String>,
    pub custom_fields: std::collections::BTreeMap<String, String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppUsers {
    pub success: bool,
    pub app_id: String,
    pub as_of_date: String,
    pub rolling_window: i32,
    pub data_source: String,
    pub num_users: u64,
    pub users: Vec<AppUser>,
    pub next_page_token: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Engagement {
    pub success: bool,
    pub app_id: String,
    pub group: Option<String>,
    pub rolling_window: i32,
    pub as_of_date: String,
    pub by: String,
    pub population: String,
    pub total: rollcall_core::usage_report::Total,
    pub segments: Vec<rollcall_core::usage_report::Segment>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InactiveUsers {
    pub success: bool,
    pub app_id: String,
    pub group: Option<String>,
    pub rolling_window: i32,
    pub as_of_date: String,
    pub population: String,
    pub num_users: u64,
    pub users: Vec<crate::reports::usage::InactiveUser>,
    pub potential_savings: Money,
    pub next_page_token: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TrendPoint {
    pub date: String,
    pub dau: u64,
    pub wau: u64,
    pub mau: u64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Trend {
    pub success: bool,
    pub app_id: String,
    pub group: Option<String>,
    pub from: String,
    pub to: String,
    pub series: Vec<TrendPoint>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RightsizingUser {
    pub email: String,
    pub app_user_id: String,
    pub license: String,
    pub recommended_license: String,
    pub used_events: Vec<String>,
    pub annual_cost: Option<f64>,
    pub recommended_annual_cost: Option<f64>,
    pub savings: Option<f64>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rightsizing {
    pub success: bool,
    pub app_id: String,
    pub rolling_window: i32,
    pub as_of_date: String,
    pub users: Vec<RightsizingUser>,
    pub potential_savings: Money,
}

// ----- Money -----

/// One spend record.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SpendRecord {
    /// The natural key: unique within the account.
    pub signature_id: String,
    /// Unix milliseconds.
    pub created: i64,
    pub amount: f64,
    /// ISO 4217.
    pub currency: String,
    /// `expense` or `invoice`.
    #[serde(rename = "type")]
    pub kind: String,
    pub vendor: Option<String>,
    pub identifier: Option<String>,
    pub name: Option<String>,
    pub category: Option<String>,
}

/// `POST …/finance`: 1 to 1,000 spend records, idempotent by `signatureId`.
#[derive(Serialize, ToSchema)]
pub struct FinanceRecords {
    #[schema(min_items = 1, max_items = 1000)]
    pub records: Vec<SpendRecord>,
}

#[derive(Serialize, ToSchema)]
pub struct UpsertCounts {
    pub success: bool,
    pub accepted: u64,
    /// Stored records whose content this request changed.
    pub replaced: u64,
    /// Records identical to the stored ones.
    pub duplicates: u64,
}

#[derive(Serialize, ToSchema)]
pub struct CsvUpserted {
    pub success: bool,
    /// Data rows in the file.
    pub rows: u64,
    pub accepted: u64,
    pub replaced: u64,
    pub duplicates: u64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Contract {
    pub contract_id: String,
    pub app_id: String,
    pub vendor: Option<String>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub licenses_purchased: Option<i64>,
    pub annual_cost: Option<f64>,
    pub currency: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Contracts {
    pub success: bool,
    pub contracts: Vec<Contract>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContractFile {
    pub file_id: String,
    pub name: String,
    pub size: u64,
    pub sha256: String,
    pub uploaded: String,
}

#[derive(Serialize, ToSchema)]
pub struct ContractWithFiles {
    #[serde(flatten)]
    pub contract: Contract,
    pub files: Vec<ContractFile>,
}

#[derive(Serialize, ToSchema)]
pub struct OneContract {
    pub success: bool,
    pub contract: ContractWithFiles,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContractFiles {
    pub success: bool,
    pub contract_id: String,
    pub files: Vec<ContractFile>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContractFileStored {
    pub success: bool,
    pub file_id: String,
    pub name: String,
    pub size: u64,
    pub sha256: String,
    /// The same bytes were already stored for this contract.
    pub duplicate: bool,
}

// ----- Workforce (ActivTrak-compatible) -----

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActivityAccepted {
    pub success: bool,
    pub accepted: u64,
    pub duplicates: u64,
    /// How far the records were shifted for the agent's clock skew.
    pub skew_correction_seconds: i64,
    /// Records not stored because the privacy policy's capture for this login
    /// is `off` (neither accepted nor duplicates; not an error).
    pub not_captured: u64,
}

/// The privacy policy (SPEC §11) with the ingest counters of its redactions.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Privacy {
    pub success: bool,
    pub capture: rollcall_core::privacy::Capture,
    pub group_overrides: Vec<rollcall_core::privacy::GroupCapture>,
    pub redaction: Vec<rollcall_core::privacy::RedactionRule>,
    pub builtin_redaction: Vec<rollcall_core::privacy::Builtin>,
    /// Days titles and URLs are kept; `null` = as long as the records.
    pub title_retention_days: Option<u32>,
    pub records_redacted: RecordsRedacted,
}

/// Stored records each redaction changed, counted at ingest.
#[derive(Serialize, ToSchema)]
pub struct RecordsRedacted {
    /// One count per rule of `redaction`, in its order.
    pub rules: Vec<u64>,
    /// Per enabled built-in (`emails`, `digits`).
    pub builtin: std::collections::BTreeMap<String, u64>,
}

/// A client (OS login) merged into another.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MergedClient {
    pub id: i64,
    pub login_domain: Option<String>,
    pub name: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Client {
    pub id: i64,
    pub login_domain: Option<String>,
    pub name: String,
    pub alias: Option<String>,
    /// The employee the login is mapped to.
    pub email: Option<String>,
    pub groups: Vec<i64>,
    pub first_log: String,
    pub last_log: String,
    pub merged: Vec<MergedClient>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MergedComputer {
    pub id: i64,
    pub name: String,
    pub primary_domain: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Computer {
    pub id: i64,
    pub name: String,
    pub primary_domain: Option<String>,
    pub alias: Option<String>,
    pub os: Option<String>,
    pub time_zone: Option<String>,
    pub private_ip: Option<String>,
    pub public_ip: Option<String>,
    pub groups: Vec<i64>,
    pub first_log: String,
    pub last_log: String,
    pub merged: Vec<MergedComputer>,
}

#[derive(Serialize, ToSchema)]
pub struct ClientList {
    pub success: bool,
    pub clients: Vec<Client>,
}

#[derive(Serialize, ToSchema)]
pub struct OneClient {
    pub success: bool,
    pub client: Client,
}

#[derive(Serialize, ToSchema)]
pub struct ComputerList {
    pub success: bool,
    pub computers: Vec<Computer>,
}

#[derive(Serialize, ToSchema)]
pub struct OneComputer {
    pub success: bool,
    pub computer: Computer,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientMerged {
    pub success: bool,
    /// The client that stays.
    pub client: Client,
    pub moved_records: u64,
    pub duplicates: u64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComputerMerged {
    pub success: bool,
    /// The computer that stays.
    pub computer: Computer,
    pub moved_records: u64,
    pub duplicates: u64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Deleted {
    pub success: bool,
    pub deleted_records: u64,
}

#[derive(Serialize, ToSchema)]
pub struct Group {
    pub id: i64,
    pub name: String,
    pub clients: Vec<i64>,
    pub computers: Vec<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct GroupList {
    pub success: bool,
    pub groups: Vec<Group>,
}

#[derive(Serialize, ToSchema)]
pub struct OneGroup {
    pub success: bool,
    pub group: Group,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Classifications {
    pub success: bool,
    pub applications: Vec<rollcall_core::workforce::AppClass>,
    pub websites: Vec<rollcall_core::workforce::WebClass>,
    pub rules: Vec<rollcall_core::workforce::Rule>,
    pub group_overrides: Vec<rollcall_core::workforce::GroupOverride>,
}

/// Seconds of a day's time by productivity.
#[derive(Serialize, ToSchema)]
pub struct SplitSeconds {
    pub productive: i64,
    pub unproductive: i64,
    pub undefined: i64,
    pub total: i64,
}

/// One (user or computer, day) of working hours: `userid`, `user` and
/// `computers` in the users view, `computerid`, `computer` and `users` in the
/// computers view.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HoursRow {
    /// Local midnight of the day, RFC 3339.
    pub date: String,
    #[serde(rename = "userid")]
    pub user_id: Option<i64>,
    pub user: Option<String>,
    pub computers: Option<Vec<i64>>,
    #[serde(rename = "computerid")]
    pub computer_id: Option<i64>,
    pub computer: Option<String>,
    pub users: Option<Vec<i64>>,
    pub groups: Vec<i64>,
    pub first_activity: Option<String>,
    pub last_activity: Option<String>,
    pub last_activity_log: String,
    pub active_time: SplitSeconds,
    pub passive_time: SplitSeconds,
    pub total_time: i64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkingHours {
    pub success: bool,
    pub activity: Vec<HoursRow>,
    /// Rows of every page.
    pub total: u64,
    pub page: u32,
    pub page_size: u32,
}

/// One foreground-window interval of the activity log.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogRow {
    pub log_id: i64,
    /// `1` productive, `-1` unproductive, `0` undefined.
    pub productivity: i64,
    pub popup_alarm: Option<Value>,
    pub email_alarm: Option<Value>,
    pub external_notification_alarm: Option<Value>,
    pub terminate: Option<Value>,
    pub date: String,
    pub computer_id: i64,
    pub computer: String,
    pub primary_domain: Option<String>,
    pub private_ip: Option<String>,
    pub public_ip: Option<String>,
    pub login_domain: Option<String>,
    pub user: String,
    pub user_id: i64,
    pub session: i64,
    /// Seconds.
    pub duration: i64,
    pub application_id: Option<i64>,
    pub website_id: Option<i64>,
    pub executable: String,
    pub description: Option<String>,
    pub url: String,
    pub idle: bool,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActivityLog {
    pub success: bool,
    pub activity: Vec<LogRow>,
    /// Pass back for the next page; empty at the end.
    pub cursor: String,
    pub start_date: String,
}

// ----- parameter schemas a Rust type alone does not say -----

use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::Object;

fn strings(values: &[&str]) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
        .build()
}

/// `rollingWindow`: 1, 7, 30, 60 or 90 days.
pub fn rolling_window() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .enum_values(Some([1, 7, 30, 60, 90]))
        .build()
}

/// `dataSource` of the per-user report.
pub fn data_source() -> Object {
    strings(&["all", "provisioned", "events", "employees"])
}

/// `population` of the engagement and inactive-users reports.
pub fn population() -> Object {
    strings(&["employees", "provisioned"])
}

/// `mode` of an org-chart upload.
pub fn org_mode() -> Object {
    strings(&["replace", "merge"])
}

/// An id filter of the workforce reports: a positive id, or -1 for all.
pub fn id_filter() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(-1))
        .description(Some("a positive id, or -1 for all"))
        .build()
}

/// A web user's `role` (as `Role::parse` reads it: a new role is added here too).
pub fn role() -> Object {
    strings(&["superadmin", "admin", "viewer", "employee"])
}

/// A credential's `type` (as `CredentialKind::parse` reads it).
pub fn credential_type() -> Object {
    strings(&["apiKey", "oauthClient", "writeKey"])
}
