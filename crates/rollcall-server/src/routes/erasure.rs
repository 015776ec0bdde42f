//! `POST /admin/v1/people/erase` (SPEC §11): erases everything the account
//! holds about one person (scope `admin`). The store removes it in one
//! transaction and records `PersonErased` once, with the email as its subject
//! and the counts per kind (never the erased data); an email the account holds
//! nothing about is a 404 with no audit event. See [`rollcall_store::erasure`]
//! for what counts as the person's data. Access records noted in memory are
//! stored before the erasure so that it removes them too.

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use rollcall_core::email::Email;
use rollcall_core::Scope;
use rollcall_store::erasure::ErasedCounts;
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::extract::{Json, NoQuery};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/admin/v1/people/erase", post(erase_person))
}

/// This module's operations in the OpenAPI document.
pub(crate) fn doc() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(erase_person))]
    struct Doc;
    <Doc as utoipa::OpenApi>::openapi()
}

/// Whose data to erase.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EraseBody {
    email: String,
}

/// How many rows of each kind went.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct Erased {
    usage_events: u64,
    /// Interned emails (the person's and their org-chart aliases), tombstoned.
    usage_emails: u64,
    provisioned_users: u64,
    org_chart_entries: u64,
    segment_identities: u64,
    segment_pending_events: u64,
    access_records: u64,
    /// Clients (agent logins) removed with their activity.
    agent_logins: u64,
    activity_records: u64,
    idle_stretches: u64,
    /// Computers that had only the person's activity.
    computers: u64,
}

impl From<ErasedCounts> for Erased {
    fn from(c: ErasedCounts) -> Self {
        Erased {
            usage_events: c.usage_events,
            usage_emails: c.usage_emails,
            provisioned_users: c.provisioned_users,
            org_chart_entries: c.org_chart_entries,
            segment_identities: c.segment_identities,
            segment_pending_events: c.segment_pending_events,
            access_records: c.access_records,
            agent_logins: c.agent_logins,
            activity_records: c.activity_records,
            idle_stretches: c.idle_stretches,
            computers: c.computers,
        }
    }
}

/// What `POST /admin/v1/people/erase` answers.
#[derive(Serialize, utoipa::ToSchema)]
struct EraseAnswer {
    success: bool,
    erased: Erased,
}

/// Erases one person's data across the account (scope `admin`): usage events
/// and their rollups, provisioned users, org-chart entries, Segment
/// identities, access records and the agent activity of their employee logins.
#[utoipa::path(post, path = "/admin/v1/people/erase", tag = "administration",
    request_body = EraseBody,
    responses((status = 200, description = "Erased, with the counts per kind", body = EraseAnswer),
        (status = 404, description = "The account holds nothing about this email", body = crate::openapi::answers::ErrorBody)))]
async fn erase_person(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
    Json(body): Json<EraseBody>,
) -> ApiResult<axum::Json<EraseAnswer>> {
    caller.require(Scope::Admin)?;
    let email = Email::parse(&body.email).map_err(|m| {
        ApiError::invalid_items(
            "the email is not valid",
            vec![FieldError::field("email", m)],
        )
    })?;
    // Views noted in memory are stored first, so none about the person lands
    // after the erasure (views made while it runs still may; see the store).
    state.access_log.flush(state.store.as_ref()).await?;
    let erased = state
        .store
        .erase_person(caller.account_id, &caller.actor(), email.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found("the account holds nothing about this email"))?;
    Ok(axum::Json(EraseAnswer {
        success: true,
        erased: erased.into(),
    }))
}
