//! The body of a CSV upload (org chart, spend, contracts): either the file itself
//! (`curl --data-binary @org.csv`) or a `multipart/form-data` form with one file
//! field (`curl -F file=@org.csv`), as most tools send files.
//!
//! The body is read once, within the server's body limit, and the file is a
//! slice of it ([`Bytes::slice`] shares the buffer), so a form costs no second
//! copy of the upload.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
#[cfg(test)]
use axum::http::StatusCode;

use crate::error::ApiError;
use crate::extract::BodyBytes;

/// The uploaded file's bytes.
pub struct CsvUpload(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for CsvUpload {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        // Read as every raw body is: within the server's limits, with their wording.
        let BodyBytes(body) = BodyBytes::from_request(req, state).await?;
        match content_type.as_deref().and_then(multipart_boundary) {
            Some(boundary) => {
                let boundary = boundary.map_err(|m| ApiError::bad_request(m.to_string()))?;
                single_file(&body, &boundary).map(CsvUpload)
            }
            None => Ok(CsvUpload(body)),
        }
    }
}

/// `None` unless the content type is `multipart/…`; then its boundary, or why
/// there is none.
fn multipart_boundary(content_type: &str) -> Option<Result<String, &'static str>> {
    let mut parts = content_type.split(';');
    let mime = parts.next()?.trim().to_ascii_lowercase();
    if !mime.starts_with("multipart/") {
        return None;
    }
    if mime != "multipart/form-data" {
        return Some(Err(
            "a multipart upload must be multipart/form-data with one file field",
        ));
    }
    let boundary = parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
    });
    Some(match boundary {
        Some(b) if !b.is_empty() && b.len() <= 200 => Ok(b),
        _ => Err("the multipart/form-data content type has no boundary"),
    })
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > haystack.len() {
        return None;
    }
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// One part of a form: its field name, whether it is a file, and where its content lies.
struct Part {
    name: Option<String>,
    is_file: bool,
    start: usize,
    end: usize,
}

fn malformed(why: &str) -> ApiError {
    ApiError::bad_request(format!("the multipart/form-data body is malformed: {why}"))
}

/// The parts of a `multipart/form-data` body (RFC 7578).
fn parts(body: &[u8], boundary: &str) -> Result<Vec<Part>, ApiError> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut at = find(body, delimiter, 0).ok_or_else(|| malformed("the boundary never occurs"))?;
    let mut out = Vec::new();
    loop {
        at += delimiter.len();
        if body[at..].starts_with(b"--") {
            return Ok(out);
        }
        // Transport padding, then the line break that ends the delimiter line.
        while body.get(at).is_some_and(|b| *b == b' ' || *b == b'\t') {
            at += 1;
        }
        if !body[at..].starts_with(b"\r\n") {
            return Err(malformed("a boundary line does not end with CRLF"));
        }
        at += 2;
        let headers_end =
            find(body, b"\r\n\r\n", at).ok_or_else(|| malformed("a part has no end of headers"))?;
        let headers = std::str::from_utf8(&body[at..headers_end])
            .map_err(|_| malformed("a part's headers are not UTF-8"))?;
        let start = headers_end + 4;
        let mut close = Vec::with_capacity(delimiter.len() + 2);
        close.extend_from_slice(b"\r\n");
        close.extend_from_slice(delimiter);
        let end = find(body, &close, start)
            .ok_or_else(|| malformed("the last part is not closed by the boundary"))?;
        let (name, is_file) = disposition(headers);
        out.push(Part {
            name,
            is_file,
            start,
            end,
        });
        at = end + 2;
    }
}

/// The field name and whether a filename is given, from a part's headers.
fn disposition(headers: &str) -> (Option<String>, bool) {
    let Some(value) = headers.split("\r\n").find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-disposition")
            .then_some(v)
    }) else {
        return (None, false);
    };
    let mut name = None;
    let mut is_file = false;
    for param in value.split(';').skip(1) {
        let Some((k, v)) = param.split_once('=') else {
            continue;
        };
        match k.trim().to_ascii_lowercase().as_str() {
            "name" => name = Some(v.trim().trim_matches('"').to_string()),
            "filename" | "filename*" => is_file = true,
            _ => {}
        }
    }
    (name, is_file)
}

/// The one file of the form: its only part, or its only part with a filename
/// when there are several. Other fields are refused rather than ignored.
fn single_file(body: &Bytes, boundary: &str) -> Result<Bytes, ApiError> {
    let parts = parts(body, boundary)?;
    let files: Vec<&Part> = parts.iter().filter(|p| p.is_file).collect();
    let file = match (parts.as_slice(), files.as_slice()) {
        ([], _) => {
            return Err(ApiError::unprocessable(
                "the form has no file; send the CSV as one file field, e.g. curl -F file=@org.csv",
            ))
        }
        ([only], _) => only,
        (_, [_]) | (_, []) => {
            let names: Vec<String> = parts
                .iter()
                .filter(|p| !p.is_file)
                .map(|p| format!("'{}'", p.name.as_deref().unwrap_or("")))
                .collect();
            return Err(ApiError::unprocessable(format!(
                "the form must hold exactly one field, the CSV file; it also has {} (query parameters such as orgChartName go in the URL)",
                names.join(", ")
            )));
        }
        (_, many) => {
            return Err(ApiError::unprocessable(format!(
                "the form holds {} files; upload one CSV file at a time",
                many.len()
            )))
        }
    };
    Ok(body.slice(file.start..file.end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(parts: &[(&str, Option<&str>, &str)]) -> Bytes {
        let mut body = String::from("preamble\r\n");
        for (name, filename, content) in parts {
            body.push_str("--XyZ\r\nContent-Disposition: form-data; name=\"");
            body.push_str(name);
            body.push('"');
            if let Some(f) = filename {
                body.push_str(&format!("; filename=\"{f}\"\r\nContent-Type: text/csv"));
            }
            body.push_str("\r\n\r\n");
            body.push_str(content);
            body.push_str("\r\n");
        }
        body.push_str("--XyZ--\r\n");
        Bytes::from(body)
    }

    #[test]
    fn the_file_of_a_form_is_a_slice_of_the_body() {
        let body = form(&[("file", Some("org.csv"), "email,team\r\na@x.io,Sales\r\n")]);
        let file = single_file(&body, "XyZ").unwrap();
        assert_eq!(&file[..], b"email,team\r\na@x.io,Sales\r\n");
        // No copy: the file points into the body's buffer.
        assert!(std::ptr::eq(
            file.as_ptr(),
            body[body.len() - file.len() - 2 - 9..].as_ptr()
        ));
        let body = form(&[("data", None, "email\na@x.io")]);
        assert_eq!(&single_file(&body, "XyZ").unwrap()[..], b"email\na@x.io");
    }

    #[test]
    fn a_form_needs_exactly_one_file() {
        let two = form(&[("a", Some("a.csv"), "x"), ("b", Some("b.csv"), "y")]);
        assert!(single_file(&two, "XyZ")
            .unwrap_err()
            .message
            .contains("2 files"));
        let extra = form(&[("file", Some("a.csv"), "x"), ("orgChartName", None, "Q3")]);
        let e = single_file(&extra, "XyZ").unwrap_err();
        assert!(e.message.contains("'orgChartName'"), "{}", e.message);
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        let empty = Bytes::from_static(b"--XyZ--\r\n");
        assert!(single_file(&empty, "XyZ")
            .unwrap_err()
            .message
            .contains("no file"));
        let open =
            Bytes::from_static(b"--XyZ\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nabc");
        assert_eq!(
            single_file(&open, "XyZ").unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            single_file(&Bytes::from_static(b"no boundary here"), "XyZ")
                .unwrap_err()
                .status,
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn boundaries_are_read_from_the_content_type() {
        assert_eq!(multipart_boundary("text/csv"), None);
        assert_eq!(
            multipart_boundary("multipart/form-data; boundary=\"a b\""),
            Some(Ok("a b".into()))
        );
        assert_eq!(
            multipart_boundary("Multipart/Form-Data;charset=utf-8; BOUNDARY=x"),
            Some(Ok("x".into()))
        );
        assert!(matches!(
            multipart_boundary("multipart/form-data"),
            Some(Err(_))
        ));
        assert!(matches!(
            multipart_boundary("multipart/mixed; boundary=x"),
            Some(Err(_))
        ));
    }
}
