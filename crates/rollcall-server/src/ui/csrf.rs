//! The same-origin guard of the dashboard (SPEC §9): a state-changing request
//! (any method but GET, HEAD, OPTIONS) under `/ui` is refused unless the browser
//! says it came from a page of this same origin. CSRF-proof without tokens in
//! forms, and the `SameSite=Strict` cookie is a second wall behind it.
//!
//! Browsers send `Sec-Fetch-Site` on every request (all current ones) and
//! `Origin` on every cross-origin POST, so a forged cross-site form carries one of
//! them naming another site. A request with neither did not come from a browser
//! page (an API client posting JSON to `/ui/login`) and carries no ambient cookie
//! a forger could abuse.

use axum::extract::Request;
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Why a request was refused, or `None` when it may pass.
pub fn refusal(method: &Method, headers: &HeaderMap) -> Option<&'static str> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return None;
    }
    if let Some(site) = headers.get("sec-fetch-site") {
        return match site.to_str().unwrap_or("") {
            "same-origin" | "none" => None,
            _ => Some("this request came from another site (Sec-Fetch-Site); the dashboard accepts changes only from its own pages"),
        };
    }
    // Neither header: not sent by a browser page, so it may pass (`None`).
    let origin = headers.get(header::ORIGIN)?;
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest.trim_end_matches('/'));
    match (origin_host, host) {
        (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => None,
        _ => Some("this request came from another origin (Origin); the dashboard accepts changes only from its own pages"),
    }
}

/// Middleware refusing cross-origin unsafe requests with 403.
pub async fn same_origin(request: Request, next: Next) -> Response {
    match refusal(request.method(), request.headers()) {
        Some(why) => ApiError::forbidden(why).into_response(),
        None => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn reads_pass_whatever_their_origin() {
        let h = headers(&[("sec-fetch-site", "cross-site")]);
        assert!(refusal(&Method::GET, &h).is_none());
    }

    #[test]
    fn fetch_metadata_decides_when_present() {
        for site in ["cross-site", "same-site"] {
            let h = headers(&[("sec-fetch-site", site), ("host", "a.example")]);
            assert!(refusal(&Method::POST, &h).is_some(), "{site}");
        }
        let h = headers(&[("sec-fetch-site", "same-origin")]);
        assert!(refusal(&Method::POST, &h).is_none());
    }

    #[test]
    fn origin_must_match_host_without_fetch_metadata() {
        let ok = headers(&[
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080"),
        ]);
        assert!(refusal(&Method::POST, &ok).is_none());
        let other = headers(&[
            ("origin", "https://evil.example"),
            ("host", "127.0.0.1:8080"),
        ]);
        assert!(refusal(&Method::POST, &other).is_some());
        let null = headers(&[("origin", "null"), ("host", "127.0.0.1:8080")]);
        assert!(refusal(&Method::DELETE, &null).is_some());
        // Same host, another port: another origin.
        let port = headers(&[
            ("origin", "http://127.0.0.1:9999"),
            ("host", "127.0.0.1:8080"),
        ]);
        assert!(refusal(&Method::POST, &port).is_some());
    }

    #[test]
    fn non_browser_clients_without_either_header_pass() {
        assert!(refusal(&Method::POST, &HeaderMap::new()).is_none());
    }
}
