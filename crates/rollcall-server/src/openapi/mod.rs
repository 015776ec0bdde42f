//! The OpenAPI 3.1 document at `/openapi.json` (SPEC §12), generated with utoipa
//! from the handlers' own annotations: every route module lists its operations
//! in a `doc()` function, and [`document`] merges them, adds the security schemes
//! and the spec's error body on every operation.
//!
//! Answers that handlers build as `serde_json::Value` are described by the
//! schema-only types of [`answers`]; schemathesis checks in the test suite that
//! the real answers match them.

pub mod answers;
pub mod me_answers;
pub mod reference;

use utoipa::openapi::path::Operation;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{
    ClientCredentials, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Scopes, SecurityRequirement,
    SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr};
use utoipa::{Modify, OpenApi as _};

/// Names of the security schemes, as operations refer to them.
pub const BEARER: &str = "bearer";
pub const API_KEY: &str = "apiKey";
pub const OAUTH2: &str = "oauth2";
pub const WRITE_KEY: &str = "writeKey";

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Rollcall",
        description = "Self-hosted usage analytics: the Developer API (connected apps, \
            Productiv-compatible), insights, workforce reports (ActivTrak-compatible), \
            money, audit and administration. Every error has the body `ErrorBody`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    modifiers(&Security, &StandardErrors),
    components(schemas(crate::error::FieldError, answers::ErrorBody)),
    security(
        ("bearer" = []),
        ("apiKey" = []),
        ("oauth2" = []),
    ),
)]
struct Base;

/// The whole document: every route module's operations, merged.
pub fn document() -> OpenApi {
    let mut doc = Base::openapi();
    for part in crate::routes::docs() {
        doc.merge(part);
    }
    // The modifiers ran on the base only; the merged operations need them too.
    Security.modify(&mut doc);
    StandardErrors.modify(&mut doc);
    doc
}

/// `/openapi.json` and the reference at `/docs`: public, like the document.
pub fn routes() -> axum::Router<crate::AppState> {
    use axum::routing::get;
    axum::Router::new()
        .route("/openapi.json", get(serve_document))
        .route("/docs", get(reference::page))
        .route("/docs/{asset}", get(reference::asset))
}

/// The operations this module serves itself.
pub(crate) fn doc() -> OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(serve_document, reference::page, reference::asset))]
    struct Doc;
    Doc::openapi()
}

/// The document as served: pretty JSON, built once per request (it is not a
/// hot path and needs no process-wide cache).
#[utoipa::path(get, path = "/openapi.json", tag = "operations", security(()),
    responses((status = 200, description = "This document (OpenAPI 3.1)", body = Object)))]
pub async fn serve_document() -> axum::response::Response {
    use axum::response::IntoResponse;
    match serde_json::to_vec_pretty(&document()) {
        Ok(bytes) => (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            bytes,
        )
            .into_response(),
        Err(e) => crate::error::ApiError::internal(e).into_response(),
    }
}

/// Bearer API keys and OAuth access tokens, `x-api-key`, the OAuth2
/// client-credentials flow, and the write key (HTTP Basic) of the tracking API.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key, or an access token from POST /oauth2/token.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            API_KEY,
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Header(
                utoipa::openapi::security::ApiKeyValue::with_description(
                    "x-api-key",
                    "An API key, as the header x-api-key.",
                ),
            )),
        );
        let scopes = Scopes::from_iter(
            rollcall_core::ScopeSet::all()
                .names()
                .into_iter()
                .map(|name| (name.to_string(), format!("the {name} scope"))),
        );
        components.add_security_scheme(
            OAUTH2,
            SecurityScheme::OAuth2(OAuth2::with_description(
                [Flow::ClientCredentials(ClientCredentials::new(
                    "/oauth2/token",
                    scopes,
                ))],
                "An OAuth client's client_id and client_secret, exchanged for a bearer token.",
            )),
        );
        components.add_security_scheme(
            WRITE_KEY,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "A connected app's write key as the HTTP Basic user name, with an empty password (Segment's tracking API).",
                    ))
                    .build(),
            ),
        );
    }
}

/// Statuses any operation may answer with the error body (SPEC §2), beyond the
/// ones an operation lists itself.
const ERROR_STATUSES: [(&str, &str); 11] = [
    (
        "400",
        "Unknown or invalid query parameter or value, or malformed body",
    ),
    ("401", "Missing, invalid, expired or revoked credential"),
    ("403", "The credential lacks the scope or permission"),
    ("404", "Unknown resource (also another account's)"),
    ("405", "The method is not allowed on this path"),
    ("408", "The body arrived too slowly"),
    (
        "409",
        "Conflict with the current state (a name taken, an upload not finished)",
    ),
    ("413", "The body is larger than the server accepts"),
    (
        "422",
        "Invalid payload; `errors` names each bad field or item",
    ),
    (
        "429",
        "Rate limit exceeded; retry after `Retry-After` seconds",
    ),
    (
        "503",
        "Database unavailable or report time budget exceeded; retry after `Retry-After`",
    ),
];

/// Adds the spec's error body to every operation, for every error status it does
/// not describe itself; operations without authentication get no 401/403 unless
/// they list them.
struct StandardErrors;

impl StandardErrors {
    fn error_response(description: &str) -> Response {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(RefOr::Ref(Ref::from_schema_name("ErrorBody"))))
                    .build(),
            )
            .build()
    }

    fn add(operation: &mut Operation) {
        let public = operation
            .security
            .as_ref()
            .is_some_and(|s| s.iter().all(|r| *r == SecurityRequirement::default()));
        for (status, description) in ERROR_STATUSES {
            if public && (status == "401" || status == "403") {
                continue;
            }
            operation
                .responses
                .responses
                .entry(status.to_string())
                .or_insert_with(|| RefOr::T(Self::error_response(description)));
        }
        operation
            .responses
            .responses
            .entry("500".to_string())
            .or_insert_with(|| {
                RefOr::T(Self::error_response(
                    "Unexpected error; the body holds no internals, x-request-id names it in the log",
                ))
            });
    }
}

impl Modify for StandardErrors {
    fn modify(&self, openapi: &mut OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                Self::add(operation);
            }
        }
    }
}
