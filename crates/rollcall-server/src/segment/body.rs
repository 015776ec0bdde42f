//! Reading a tracking-API body: at most [`MAX_BATCH_BYTES`] as sent and, when
//! it is gzip (`Content-Encoding: gzip`), at most as many once inflated. The
//! inflated size is counted while inflating, so a small zip bomb stops at the
//! limit instead of filling memory.

use std::io::Read;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, StatusCode};
use rollcall_core::segment::MAX_BATCH_BYTES;

use crate::conn::BodyLimits;
use crate::error::ApiError;

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "the batch is larger than {MAX_BATCH_BYTES} bytes (4 MB, after inflating gzip); send fewer messages a request"
        ),
    )
}

/// The body's JSON text.
pub async fn read(
    headers: &HeaderMap,
    body: Body,
    limits: Option<BodyLimits>,
) -> Result<Bytes, ApiError> {
    let gzip = match headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("").trim().to_ascii_lowercase())
    {
        None => false,
        Some(e) if e.is_empty() || e == "identity" => false,
        Some(e) if e == "gzip" || e == "x-gzip" => true,
        Some(e) => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("Content-Encoding '{e}' is not supported; send gzip or no encoding"),
            ))
        }
    };
    let raw = match axum::body::to_bytes(body, MAX_BATCH_BYTES + 1).await {
        Ok(raw) => raw,
        Err(e) => {
            let slow = limits.filter(|_| {
                let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
                while let Some(s) = source {
                    if s.downcast_ref::<crate::conn::TooSlow>().is_some() {
                        return true;
                    }
                    source = s.source();
                }
                false
            });
            return Err(match slow {
                Some(l) => l.too_slow(),
                // The only other failures: over the limit, or the client went away.
                None => too_large(),
            });
        }
    };
    if raw.len() > MAX_BATCH_BYTES {
        return Err(too_large());
    }
    if !gzip {
        return Ok(raw);
    }
    inflate(&raw).map(Bytes::from)
}

/// Inflates gzip, refusing more than [`MAX_BATCH_BYTES`] of output.
pub fn inflate(compressed: &[u8]) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::with_capacity((compressed.len() * 4).min(MAX_BATCH_BYTES));
    flate2::read::MultiGzDecoder::new(compressed)
        .take(MAX_BATCH_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid gzip: {e}")))?;
    if out.len() > MAX_BATCH_BYTES {
        return Err(too_large());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn gzip_round_trips() {
        assert_eq!(
            inflate(&gzip(b"{\"batch\":[]}")).unwrap(),
            b"{\"batch\":[]}"
        );
    }

    #[test]
    fn a_zip_bomb_stops_at_the_limit() {
        // 64 MB of zeros compress to ~64 KB.
        let bomb = gzip(&vec![0u8; 64 * 1024 * 1024]);
        assert!(bomb.len() < 200 * 1024);
        assert_eq!(
            inflate(&bomb).unwrap_err().status,
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }

    #[test]
    fn garbage_is_a_bad_request() {
        assert_eq!(
            inflate(b"not gzip").unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
    }
}
