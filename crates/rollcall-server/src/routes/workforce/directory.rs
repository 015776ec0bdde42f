//! Merging and deleting agent computers and clients (issue 19 #7), `admin`:
//!
//! - `POST /admin/v1/computers/{id}/merge` and `POST /admin/v1/clients/{id}/merge`
//!   with `{"into": survivorId}`: the computer (client) `{id}` becomes an alias
//!   of the survivor; its activity moves there (records the survivor already
//!   had are dropped as duplicates) and its agent's later batches land there.
//! - `DELETE /admin/v1/computers/{id}` and `DELETE /admin/v1/clients/{id}`: the
//!   computer (client) and all its activity are deleted.
//!
//! Both are audited (`ComputerMerged`, `ClientMerged`, `ComputerDeleted`,
//! `ClientDeleted`).

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use rollcall_core::Scope;
use rollcall_store::workforce::Member;
use serde::Deserialize;
use serde_json::json;

use super::{client_json, computer_json, JsonValue};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{Json, NoQuery, Path};
use crate::AppState;

/// This module's operations in the OpenAPI document.
pub(super) fn doc() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(merge_computer, merge_client))]
    struct Doc;
    <Doc as utoipa::OpenApi>::openapi()
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/computers/{id}/merge", post(merge_computer))
        .route("/admin/v1/clients/{id}/merge", post(merge_client))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct MergeBody {
    /// The computer or client that stays.
    into: i64,
}

async fn merge(
    state: &AppState,
    caller: &Caller,
    kind: Member,
    from: i64,
    into: i64,
) -> ApiResult<serde_json::Value> {
    caller.require(Scope::Admin)?;
    let moved = state
        .store
        .merge_wf(caller.account_id, &caller.actor(), kind, from, into)
        .await?;
    let everyone = rollcall_store::workforce::Scoping::default();
    let survivor = match kind {
        Member::Computer => (
            "computer",
            computer_json(
                &state
                    .store
                    .wf_computer(caller.account_id, everyone, into)
                    .await?,
            ),
        ),
        Member::Client => (
            "client",
            client_json(
                &state
                    .store
                    .wf_client(caller.account_id, everyone, into)
                    .await?,
            ),
        ),
    };
    Ok(
        json!({"success": true, survivor.0: survivor.1, "movedRecords": moved.records,
              "duplicates": moved.duplicates}),
    )
}

/// Merges a computer into another (`into`), moving its records (scope `admin`).
#[utoipa::path(post, path = "/admin/v1/computers/{id}/merge", tag = "workforce",
    params(("id" = i64, Path, description = "the computer id")),
    request_body = MergeBody,
    responses((status = 200, description = "Merged", body = crate::openapi::answers::ComputerMerged)))]
async fn merge_computer(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
    Path(id): Path<i64>,
    Json(body): Json<MergeBody>,
) -> ApiResult<JsonValue> {
    Ok(axum::Json(
        merge(&state, &caller, Member::Computer, id, body.into).await?,
    ))
}

/// Merges a login into another (`into`), moving its records (scope `admin`).
#[utoipa::path(post, path = "/admin/v1/clients/{id}/merge", tag = "workforce",
    params(("id" = i64, Path, description = "the client id")),
    request_body = MergeBody,
    responses((status = 200, description = "Merged", body = crate::openapi::answers::ClientMerged)))]
async fn merge_client(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
    Path(id): Path<i64>,
    Json(body): Json<MergeBody>,
) -> ApiResult<JsonValue> {
    Ok(axum::Json(
        merge(&state, &caller, Member::Client, id, body.into).await?,
    ))
}

async fn delete(state: &AppState, caller: &Caller, kind: Member, id: i64) -> ApiResult<JsonValue> {
    caller.require(Scope::Admin)?;
    let records = state
        .store
        .delete_wf(caller.account_id, &caller.actor(), kind, id)
        .await?;
    Ok(axum::Json(
        json!({"success": true, "deletedRecords": records}),
    ))
}

/// Removes a computer and its records (scope `admin`).
#[utoipa::path(delete, path = "/admin/v1/computers/{id}", tag = "workforce",
    params(("id" = i64, Path, description = "the computer id")),
    responses((status = 200, description = "Removed", body = crate::openapi::answers::Deleted)))]
pub(super) async fn delete_computer(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
    Path(id): Path<i64>,
) -> ApiResult<JsonValue> {
    delete(&state, &caller, Member::Computer, id).await
}

/// Removes a login and its records (scope `admin`).
#[utoipa::path(delete, path = "/admin/v1/clients/{id}", tag = "workforce",
    params(("id" = i64, Path, description = "the client id")),
    responses((status = 200, description = "Removed", body = crate::openapi::answers::Deleted)))]
pub(super) async fn delete_client(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
    Path(id): Path<i64>,
) -> ApiResult<JsonValue> {
    delete(&state, &caller, Member::Client, id).await
}
