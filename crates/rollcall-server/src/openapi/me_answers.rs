//! Schema-only types of the employee's own answers (`/me/v1`, SPEC §11) and
//! of the bulk employee creation; rows reuse the admin API's row schemas,
//! since they are the admin API's rows.

use serde::Serialize;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::Object;
use utoipa::ToSchema;

use super::answers::{AppUser, HoursRow, LogRow};

/// `format`: `json` (the default) or `csv`.
pub fn format() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["json", "csv"]))
        .build()
}

#[derive(Serialize, ToSchema)]
pub struct MyWorkingHours {
    pub success: bool,
    pub from: String,
    pub to: String,
    /// The rows of the employee's logins, as `/reports/v2/workinghours/users` has them.
    pub activity: Vec<HoursRow>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MyActivityLog {
    pub success: bool,
    pub start_date: String,
    pub end_date: String,
    /// Whether the answer stopped at 50,000 rows (narrow the dates).
    pub truncated: bool,
    /// The rows of the employee's logins, as `/reports/v2/activitylog` has them.
    pub activity: Vec<LogRow>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MyAppUsage {
    pub app_id: String,
    pub app_name: String,
    pub as_of_date: String,
    pub rolling_window: i32,
    /// The employee's row of `/pull/v1/apps/{appId}/users`.
    pub user: AppUser,
}

#[derive(Serialize, ToSchema)]
pub struct MyUsage {
    pub success: bool,
    pub apps: Vec<MyAppUsage>,
}

/// Someone who viewed the employee's individual data on one day.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessRecord {
    /// The viewer's email.
    pub viewer: String,
    /// The (UTC) day of the views.
    pub date: String,
    /// The first view of that day, RFC 3339.
    pub first_viewed: String,
    /// `workingHours`, `activityLog`, `usage`.
    pub kinds: Vec<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MyAccessRecords {
    pub success: bool,
    pub access_records: Vec<AccessRecord>,
}

#[derive(Serialize, ToSchema)]
pub struct Person {
    pub email: String,
    pub name: String,
    pub logins: Vec<String>,
}

/// Everything held about the employee.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MyExport {
    pub success: bool,
    pub person: Person,
    pub from: String,
    pub to: String,
    pub working_hours: Vec<HoursRow>,
    pub activity_log: Vec<LogRow>,
    pub activity_log_truncated: bool,
    pub usage: Vec<MyAppUsage>,
    pub access_records: Vec<AccessRecord>,
}

#[derive(Serialize, ToSchema)]
pub struct AddedEmployee {
    pub id: i64,
    pub email: String,
}

#[derive(Serialize, ToSchema)]
pub struct EmployeesAdded {
    pub success: bool,
    /// How many employees were added.
    pub added: u64,
    /// How many of the org chart's people were web users already (left as they are).
    pub existing: u64,
    /// People whose org-chart email is no valid address (not added).
    pub skipped: u64,
    pub employees: Vec<AddedEmployee>,
}
