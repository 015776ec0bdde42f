//! The dashboard's embedded assets: its stylesheet and the vendored htmx 2.x
//! (from the npm package `htmx.org`, licence beside it). Served by Rollcall
//! itself with an ETag fixed at compile time, so the dashboard makes no external
//! request and works offline.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::extract::Path;

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    etag: &'static str,
}

/// FNV-1a over the bytes, at compile time: the ETag changes when the file does.
const fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    h
}

const fn hex_etag(h: u64) -> [u8; 18] {
    let digits = b"0123456789abcdef";
    let mut out = [b'"'; 18];
    let mut i = 0;
    while i < 16 {
        out[1 + i] = digits[((h >> (60 - 4 * i)) & 0xf) as usize];
        i += 1;
    }
    out
}

macro_rules! asset {
    ($name:literal, $type:literal, $file:literal) => {{
        const BODY: &[u8] = include_bytes!($file);
        const TAG: [u8; 18] = hex_etag(fnv(BODY));
        Asset {
            name: $name,
            content_type: $type,
            body: BODY,
            etag: match std::str::from_utf8(&TAG) {
                Ok(s) => s,
                Err(_) => "\"0\"",
            },
        }
    }};
}

const ASSETS: &[Asset] = &[
    asset!(
        "rollcall.css",
        "text/css; charset=utf-8",
        "assets/rollcall.css"
    ),
    asset!(
        "htmx.min.js",
        "text/javascript; charset=utf-8",
        "assets/htmx-2.0.11.min.js"
    ),
];

/// `GET /ui/assets/{name}`.
pub async fn serve(Path(name): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let asset = ASSETS
        .iter()
        .find(|a| a.name == name)
        .ok_or_else(|| ApiError::not_found(format!("there is no asset {name}")))?;
    let etag = HeaderValue::from_static(asset.etag);
    let cache = HeaderValue::from_static("public, max-age=3600, must-revalidate");
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == asset.etag.as_bytes())
    {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, etag), (header::CACHE_CONTROL, cache)],
        )
            .into_response());
    }
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (header::ETAG, etag),
            (header::CACHE_CONTROL, cache),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        asset.body,
    )
        .into_response())
}

/// Bytes of every embedded asset a page loads (for the page-weight figure).
pub fn total_bytes() -> usize {
    ASSETS.iter().map(|a| a.body.len()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_differ_per_file_and_are_quoted() {
        assert_ne!(ASSETS[0].etag, ASSETS[1].etag);
        assert!(ASSETS
            .iter()
            .all(|a| a.etag.len() == 18 && a.etag.starts_with('"')));
    }
}
