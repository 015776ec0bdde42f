//! The one CSV writer of every download (inactive users, users, engagement,
//! working hours, the org chart). Every cell goes through
//! [`rollcall_core::csv_cell::neutralise`], so no download can carry a cell a
//! spreadsheet would run as a formula.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, ApiResult};

/// A CSV document being written: a header row, then rows of the same width.
pub struct CsvTable {
    out: ::csv::Writer<Vec<u8>>,
}

impl CsvTable {
    pub fn new<S: AsRef<str>>(header: &[S]) -> ApiResult<CsvTable> {
        let mut t = CsvTable {
            out: ::csv::Writer::from_writer(Vec::new()),
        };
        t.row(header)?;
        Ok(t)
    }

    /// Appends one row; formula-like cells get a leading `'`.
    pub fn row<S: AsRef<str>>(&mut self, cells: &[S]) -> ApiResult<()> {
        self.out
            .write_record(
                cells
                    .iter()
                    .map(|c| rollcall_core::csv_cell::neutralise(c.as_ref()).into_owned()),
            )
            .map_err(ApiError::internal)
    }

    pub fn into_bytes(self) -> ApiResult<Vec<u8>> {
        self.out.into_inner().map_err(ApiError::internal)
    }

    /// The document as a `text/csv` attachment named `file_name` (ASCII, no quotes).
    pub fn into_response(self, file_name: &'static str) -> ApiResult<Response> {
        let bytes = self.into_bytes()?;
        let mut response = bytes.into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        let disposition = format!("attachment; filename=\"{file_name}\"");
        if let Ok(v) = HeaderValue::from_str(&disposition) {
            response
                .headers_mut()
                .insert(header::CONTENT_DISPOSITION, v);
        }
        Ok(response)
    }
}

/// Whether the request asks for CSV (`Accept: text/csv`).
pub fn wanted(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"))
}
