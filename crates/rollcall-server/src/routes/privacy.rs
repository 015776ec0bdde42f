//! `GET/PUT /admin/v1/privacy` (SPEC §11) and the capture policy applied to an
//! agent's records before they reach the store.
//!
//! - The policy (capture per account and per group, redaction rules, built-in
//!   redactions, title retention) is validated whole by
//!   [`rollcall_core::privacy::PrivacyPolicy::compile`]; the store checks that
//!   overridden groups exist and records `PrivacyChanged` (old and new policy,
//!   no captured data) when it changed.
//! - `GET` adds `recordsRedacted`: how many stored records each rule changed,
//!   from counters the ingest transaction keeps (not a rescan), by rule, in the
//!   order of `redaction`, and by built-in.
//! - Ingest ([`capture_batch`]): the capture of a login is its client's first
//!   group (in the policy's `groupOverrides` order) with an override, else the
//!   account's. What the capture drops is removed here, before the store sees
//!   the batch, so it is never written anywhere (not the WAL, not a log).
//!   Records under `off` are not stored at all, and neither is the computer or
//!   login for a batch that keeps nothing; they are answered as `notCaptured`
//!   (not `accepted`, not an error, so an agent does not resend them).
//!   Records older than the title retention lose title and URL at ingest too,
//!   so a late backlog does not bring back what retention removed.
//! - `GET /agent/v1/capture` (`activity.write`): the capture in force for one
//!   login, so `rollcall relay` drops what the policy drops before the records
//!   leave the computer (the server applies it again on arrival).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use rollcall_core::privacy::{
    builtin_key, rule_key, Capture, Captured, CompiledPrivacy, PrivacyPolicy,
};
use rollcall_core::Scope;
use rollcall_store::workforce::{ClientInfo, NewRecord};
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::extract::{Json, NoQuery, Query};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/privacy", get(get_privacy).put(put_privacy))
        .route("/agent/v1/capture", get(agent_capture))
}

/// This module's operations in the OpenAPI document.
pub(crate) fn doc() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(get_privacy, put_privacy, agent_capture))]
    struct Doc;
    <Doc as utoipa::OpenApi>::openapi()
}

/// Each account's compiled policy, reused while the stored policy is the
/// same (it is read with every batch, so a change made through another
/// process applies to the next batch).
#[derive(Default)]
pub struct PolicyCache(Mutex<HashMap<i64, Arc<CompiledPrivacy>>>);

impl PolicyCache {
    fn get(&self, account_id: i64, policy: &PrivacyPolicy) -> Option<Arc<CompiledPrivacy>> {
        let map = self.0.lock().ok()?;
        map.get(&account_id)
            .filter(|c| c.policy() == policy)
            .cloned()
    }

    fn put(&self, account_id: i64, compiled: Arc<CompiledPrivacy>) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(account_id, compiled);
        }
    }
}

/// The account's policy, compiled.
async fn compiled_policy(state: &AppState, account_id: i64) -> ApiResult<Arc<CompiledPrivacy>> {
    let policy = state.store.privacy_policy(account_id).await?;
    if let Some(c) = state.privacy.get(account_id, &policy) {
        return Ok(c);
    }
    let compiled = Arc::new(policy.compile().map_err(|problems| {
        ApiError::internal(format!(
            "the stored privacy policy does not compile: {}",
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ))
    })?);
    state.privacy.put(account_id, Arc::clone(&compiled));
    Ok(compiled)
}

/// A batch's records after the capture policy and redaction.
pub(crate) struct CapturedBatch {
    pub records: Vec<NewRecord>,
    /// The counter key of each redaction rule (the bits of `redacted_by`).
    pub redaction_keys: Vec<String>,
    /// Records dropped because their capture is `off`.
    pub not_captured: u64,
}

/// Applies the account's privacy policy to an agent's validated records.
pub(crate) async fn capture_batch(
    state: &AppState,
    account_id: i64,
    client: &ClientInfo,
    records: Vec<NewRecord>,
    now_ms: i64,
) -> ApiResult<CapturedBatch> {
    let policy = compiled_policy(state, account_id).await?;
    let capture = login_capture(
        state,
        account_id,
        &policy,
        &client.login_domain,
        &client.name,
    )
    .await?;
    let total = records.len() as u64;
    let kept = capture_records(&policy, capture, records, now_ms);
    Ok(CapturedBatch {
        not_captured: total - kept.len() as u64,
        records: kept,
        redaction_keys: policy.rule_keys(),
    })
}

/// The capture of one login: its client's first group (in the policy's
/// `groupOverrides` order) with an override, else the account's. Group
/// memberships are read only when the policy has overrides.
async fn login_capture(
    state: &AppState,
    account_id: i64,
    policy: &CompiledPrivacy,
    login_domain: &str,
    name: &str,
) -> ApiResult<Capture> {
    let groups = if policy.has_group_overrides() {
        state
            .store
            .login_groups(account_id, login_domain, name)
            .await?
    } else {
        Vec::new()
    };
    Ok(policy.capture_for(&groups))
}

/// The records `capture` keeps, with their titles and URLs as `policy` leaves
/// them (redacted; dropped past the title retention at `now_ms`).
pub fn capture_records(
    policy: &CompiledPrivacy,
    capture: Capture,
    records: Vec<NewRecord>,
    now_ms: i64,
) -> Vec<NewRecord> {
    let titles_from = policy.titles_kept_from_ms(now_ms);
    let mut kept = Vec::with_capacity(records.len());
    // Under `domains` a record keeps only what its website gives, and a batch
    // has few websites: each is redacted once.
    let mut by_site: HashMap<String, Captured> = HashMap::new();
    for mut r in records {
        let expired = titles_from.is_some_and(|from| r.start_ms < from);
        let c = match (capture, &r.website) {
            (Capture::Domains, Some(site)) => match by_site.get(site) {
                Some(c) => Some(c.clone()),
                None => {
                    let c = policy.apply(capture, "", None, Some(site), false);
                    if let Some(c) = &c {
                        by_site.insert(site.clone(), c.clone());
                    }
                    c
                }
            }
            .map(|mut c| {
                if expired {
                    c.url = None;
                }
                c
            }),
            _ => policy.apply(
                capture,
                &r.description,
                r.url.as_deref(),
                r.website.as_deref(),
                expired,
            ),
        };
        let Some(c) = c else {
            continue;
        };
        r.description = c.description;
        r.url = c.url;
        r.website = c.website;
        r.redacted_by = c.redacted_by;
        kept.push(r);
    }
    kept
}

async fn answer(state: &AppState, account_id: i64) -> ApiResult<Value> {
    let (policy, counts) = tokio::try_join!(
        state.store.privacy_policy(account_id),
        state.store.redaction_counts(account_id)
    )?;
    let count = |key: String| counts.get(&key).copied().unwrap_or(0);
    let rules: Vec<u64> = policy
        .redaction
        .iter()
        .map(|r| count(rule_key(r)))
        .collect();
    let builtin: serde_json::Map<String, Value> = policy
        .builtin_redaction
        .iter()
        .map(|b| (b.name().to_string(), json!(count(builtin_key(*b)))))
        .collect();
    let mut body = serde_json::to_value(&policy).map_err(ApiError::internal)?;
    body["success"] = json!(true);
    body["recordsRedacted"] = json!({"rules": rules, "builtin": builtin});
    Ok(body)
}

/// The account's privacy policy with its redaction counters (scope `admin`).
#[utoipa::path(get, path = "/admin/v1/privacy", tag = "administration",
    responses((status = 200, description = "The privacy policy", body = crate::openapi::answers::Privacy)))]
async fn get_privacy(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Scope::Admin)?;
    Ok(axum::Json(answer(&state, caller.account_id).await?))
}

/// Replaces the account's privacy policy (scope `admin`); answers the new one.
/// Applies to records ingested from now on; the title retention also to
/// stored records, at the next maintenance run.
#[utoipa::path(put, path = "/admin/v1/privacy", tag = "administration",
    request_body = PrivacyPolicy,
    responses((status = 200, description = "The new privacy policy", body = crate::openapi::answers::Privacy)))]
async fn put_privacy(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
    Json(body): Json<PrivacyPolicy>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Scope::Admin)?;
    let compiled = body.compile().map_err(|problems| {
        ApiError::invalid_items(
            format!(
                "the privacy policy is not valid ({} problem(s)); nothing was changed",
                problems.len()
            ),
            problems
                .into_iter()
                .map(|p| FieldError::field(p.field, p.message))
                .collect(),
        )
    })?;
    state
        .store
        .put_privacy_policy(
            caller.account_id,
            &caller.actor(),
            compiled.policy().clone(),
        )
        .await?;
    Ok(axum::Json(answer(&state, caller.account_id).await?))
}

/// The login an agent asks about (as its batches name it in `client`).
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LoginQuery {
    /// The login's domain (`CORP`); empty or absent for none.
    login_domain: Option<String>,
    /// The login's name (`jdoe`).
    name: String,
}

/// What `GET /agent/v1/capture` answers.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct CaptureAnswer {
    success: bool,
    /// What this login's records keep: `full`, `domains`, `apps` or `off`.
    capture: Capture,
}

/// The capture in force for one login (scope `activity.write`): an agent drops
/// what it drops before upload. Redaction rules stay on the server (they may
/// name what they hide), which applies the whole policy again on arrival.
#[utoipa::path(get, path = "/agent/v1/capture", tag = "workforce", params(LoginQuery),
    responses((status = 200, description = "The capture for this login", body = CaptureAnswer)))]
async fn agent_capture(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<LoginQuery>,
) -> ApiResult<axum::Json<CaptureAnswer>> {
    caller.require(Scope::ActivityWrite)?;
    let domain = q.login_domain.unwrap_or_default();
    let (domain, name) = (domain.trim(), q.name.trim());
    if name.is_empty() || name.len() > 200 || domain.len() > 200 {
        return Err(ApiError::bad_request(
            "name must be 1 to 200 characters and loginDomain at most 200",
        ));
    }
    let policy = compiled_policy(&state, caller.account_id).await?;
    Ok(axum::Json(CaptureAnswer {
        success: true,
        capture: login_capture(&state, caller.account_id, &policy, domain, name).await?,
    }))
}
