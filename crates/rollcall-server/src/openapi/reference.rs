//! `/docs`: the interactive API reference (Swagger UI, vendored in
//! `reference/`, see its README) on `/openapi.json`, served from the binary
//! with a Content-Security-Policy that lets the page load and call only this
//! server. `data:` images are allowed: Swagger UI's stylesheet draws its icons
//! from `data:` URIs inside the stylesheet, which fetch nothing.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::extract::{NoQuery, Path};

const PAGE: &str = include_str!("reference/index.html");
const INIT: &str = include_str!("reference/init.js");
const BUNDLE: &[u8] = include_bytes!("reference/swagger-ui-bundle.js");
const CSS: &[u8] = include_bytes!("reference/swagger-ui.css");

/// The page's policy: everything from this server only.
pub const CSP: &str = "default-src 'self'; img-src 'self' data:; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// The reference's HTML page.
#[utoipa::path(get, path = "/docs", tag = "operations", security(()),
    responses((status = 200, description = "The interactive API reference", content_type = "text/html", body = String)))]
pub async fn page(_: NoQuery) -> Response {
    with_policy("text/html; charset=utf-8", PAGE.as_bytes(), "no-cache")
}

/// One of the reference's assets (`swagger-ui-bundle.js`, `swagger-ui.css`,
/// `init.js`).
#[utoipa::path(get, path = "/docs/{asset}", tag = "operations", security(()),
    params(("asset" = String, Path, description = "swagger-ui-bundle.js, swagger-ui.css or init.js")),
    responses((status = 200, description = "The asset",
        content((String = "text/javascript"), (String = "text/css")))))]
pub async fn asset(_: NoQuery, Path(name): Path<String>) -> Response {
    // The vendored files change only with the binary: an hour of caching spares
    // a reload the 1.8 MB bundle.
    let cache = "public, max-age=3600";
    match name.as_str() {
        "swagger-ui-bundle.js" => with_policy("text/javascript; charset=utf-8", BUNDLE, cache),
        "swagger-ui.css" => with_policy("text/css; charset=utf-8", CSS, cache),
        "init.js" => with_policy("text/javascript; charset=utf-8", INIT.as_bytes(), cache),
        _ => ApiError::new(
            StatusCode::NOT_FOUND,
            format!("there is no file /docs/{name}; the reference is at /docs"),
        )
        .into_response(),
    }
}

fn with_policy(content_type: &'static str, body: &'static [u8], cache: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        body,
    )
        .into_response()
}
