//! The one CSV writer of every download (inactive users, users, engagement,
//! working hours, the org chart, spend and contracts). Every cell goes through
//! [`rollcall_core::csv_cell::neutralise`], so no download can carry a cell a
//! spreadsheet would run as a formula.
//!
//! A download is streamed: the handler hands over the header and an iterator
//! of rows (which may own the report's typed result), and [`Chunks`] serializes
//! rows only as the response body is read, about [`CHUNK`] bytes at a time. So
//! the serialized document never exists whole in memory, however many rows the
//! report has.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue};
use axum::response::Response;

/// About how many bytes of CSV each body chunk carries (the last may be shorter;
/// a chunk may exceed it by at most one row).
pub const CHUNK: usize = 32 * 1024;

/// Why the body of a download stopped early. Rows come from the server's own
/// report values, so this is a server bug (e.g. a row of the wrong width); the
/// client sees the connection end before the last chunk.
#[derive(Debug, thiserror::Error)]
pub enum CsvStreamError {
    #[error("could not write a CSV row: {0}")]
    Row(#[from] ::csv::Error),
    #[error("could not write a CSV row: {0}")]
    Flush(#[from] std::io::Error),
    #[error("a CSV row has {got} cells where the header has {expected}")]
    Width { expected: usize, got: usize },
}

/// Turns a header and rows into CSV chunks of about `chunk` bytes, serializing
/// rows lazily: only one chunk's worth of text is held at a time.
pub struct Chunks<I> {
    out: ::csv::Writer<Vec<u8>>,
    header: Option<Vec<String>>,
    width: usize,
    rows: I,
    chunk: usize,
    done: bool,
}

impl<I> Chunks<I> {
    pub fn new(header: Vec<String>, rows: I) -> Chunks<I> {
        Chunks::with_chunk_size(header, rows, CHUNK)
    }

    /// As [`Chunks::new`] with another chunk size (tests use small ones).
    pub fn with_chunk_size(header: Vec<String>, rows: I, chunk: usize) -> Chunks<I> {
        Chunks {
            out: ::csv::Writer::from_writer(Vec::new()),
            width: header.len(),
            header: Some(header),
            rows,
            chunk: chunk.max(1),
            done: false,
        }
    }

    fn write(&mut self, cells: &[String]) -> Result<(), CsvStreamError> {
        // Each chunk gets a fresh csv writer, so the width check it would do
        // across the document is done here.
        if cells.len() != self.width {
            return Err(CsvStreamError::Width {
                expected: self.width,
                got: cells.len(),
            });
        }
        self.out.write_record(
            cells
                .iter()
                .map(|c| rollcall_core::csv_cell::neutralise(c).into_owned()),
        )?;
        // The csv writer keeps its own buffer; flushing each row into ours
        // makes the chunk size exact to a row.
        self.out.flush()?;
        Ok(())
    }

    /// What has been written since the last chunk; the csv writer has been
    /// flushed after every row, so this is whole rows.
    fn take(&mut self) -> Result<Bytes, CsvStreamError> {
        let done = std::mem::replace(&mut self.out, ::csv::Writer::from_writer(Vec::new()));
        done.into_inner()
            .map(Bytes::from)
            .map_err(|e| CsvStreamError::Flush(e.into_error()))
    }
}

impl<I> Iterator for Chunks<I>
where
    I: Iterator<Item = Vec<String>>,
{
    type Item = Result<Bytes, CsvStreamError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if let Some(header) = self.header.take() {
            if let Err(e) = self.write(&header) {
                self.done = true;
                return Some(Err(e));
            }
        }
        while self.out.get_ref().len() < self.chunk {
            let Some(row) = self.rows.next() else {
                self.done = true;
                break;
            };
            if let Err(e) = self.write(&row) {
                self.done = true;
                return Some(Err(e));
            }
        }
        match self.take() {
            Ok(bytes) if bytes.is_empty() => None,
            Ok(bytes) => Some(Ok(bytes)),
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// A streamed `text/csv` download with the given `Content-Disposition`.
/// `rows` runs while the body is sent, after the handler has returned; it must
/// own what it reads (move the report's values into it).
pub fn stream<I>(disposition: &str, header: Vec<String>, rows: I) -> Response
where
    I: IntoIterator<Item = Vec<String>>,
    I::IntoIter: Send + 'static,
{
    let chunks = Chunks::new(header, rows.into_iter()).inspect(|c| {
        if let Err(e) = c {
            tracing::error!(error = %e, "CSV download cut short");
        }
    });
    let mut response = Response::new(Body::from_stream(futures_util::stream::iter(chunks)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(disposition) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// A streamed CSV attachment named `file_name` (ASCII, no quotes).
pub fn attachment<I>(file_name: &str, header: Vec<String>, rows: I) -> Response
where
    I: IntoIterator<Item = Vec<String>>,
    I::IntoIter: Send + 'static,
{
    stream(
        &format!("attachment; filename=\"{file_name}\""),
        header,
        rows,
    )
}

/// A header row from string literals.
pub fn header<S: AsRef<str>>(names: &[S]) -> Vec<String> {
    names.iter().map(|n| n.as_ref().to_string()).collect()
}

/// Whether the request asks for CSV (`Accept: text/csv`).
pub fn wanted(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(header: &[&str], rows: &[Vec<String>]) -> Vec<u8> {
        let mut w = ::csv::Writer::from_writer(Vec::new());
        w.write_record(header).expect("header");
        for r in rows {
            w.write_record(
                r.iter()
                    .map(|c| rollcall_core::csv_cell::neutralise(c).into_owned()),
            )
            .expect("row");
        }
        w.into_inner().expect("bytes")
    }

    fn rows(n: usize) -> Vec<Vec<String>> {
        (0..n)
            .map(|i| {
                vec![
                    format!("user{i}@example.com"),
                    format!("name, {i}"),
                    i.to_string(),
                ]
            })
            .collect()
    }

    fn collect(chunks: impl Iterator<Item = Result<Bytes, CsvStreamError>>) -> Vec<Bytes> {
        chunks.map(|c| c.expect("chunk")).collect()
    }

    #[test]
    fn chunks_join_to_the_whole_document() {
        let rows = rows(5_000);
        let parts = collect(Chunks::new(
            header(&["email", "name", "n"]),
            rows.clone().into_iter(),
        ));
        assert!(parts.len() > 3, "{} chunks", parts.len());
        let joined: Vec<u8> = parts.concat();
        assert_eq!(joined, whole(&["email", "name", "n"], &rows));
    }

    #[test]
    fn every_chunk_but_the_last_is_about_the_chunk_size() {
        let rows = rows(2_000);
        let longest_row = 40;
        let parts = collect(Chunks::with_chunk_size(
            header(&["email", "name", "n"]),
            rows.into_iter(),
            1_000,
        ));
        let (last, rest) = parts.split_last().expect("chunks");
        for p in rest {
            assert!(
                p.len() >= 1_000 && p.len() < 1_000 + longest_row,
                "{}",
                p.len()
            );
        }
        assert!(!last.is_empty() && last.len() < 1_000 + longest_row);
    }

    #[test]
    fn rows_are_serialized_only_as_chunks_are_read() {
        let pulled = std::cell::Cell::new(0usize);
        let rows = (0..100_000).map(|i| {
            pulled.set(pulled.get() + 1);
            vec![format!("user{i}@example.com")]
        });
        let mut chunks = Chunks::with_chunk_size(header(&["email"]), rows, 1_000);
        let first = chunks.next().expect("a chunk").expect("ok");
        assert!(first.len() >= 1_000);
        // One chunk needs ~40 rows of ~25 bytes, not all 100,000.
        assert!(pulled.get() < 100, "pulled {} rows", pulled.get());
    }

    #[test]
    fn header_only_and_formula_cells() {
        let parts = collect(Chunks::new(
            header(&["email"]),
            std::iter::empty::<Vec<String>>(),
        ));
        assert_eq!(parts.concat(), b"email\n");
        let parts = collect(Chunks::new(
            header(&["a", "b"]),
            vec![vec!["=1+1".to_string(), "@SUM(A1)".to_string()]].into_iter(),
        ));
        assert_eq!(
            parts.concat(),
            whole(&["a", "b"], &[vec!["=1+1".into(), "@SUM(A1)".into()]])
        );
        assert!(String::from_utf8_lossy(&parts.concat()).contains("'=1+1"));
    }

    #[test]
    fn a_row_of_the_wrong_width_ends_the_stream_with_an_error() {
        let rows = vec![
            vec!["1".to_string()],
            vec!["1".to_string(), "2".to_string()],
        ];
        let mut chunks = Chunks::new(header(&["a"]), rows.into_iter());
        assert!(matches!(
            chunks.next(),
            Some(Err(CsvStreamError::Width {
                expected: 1,
                got: 2
            }))
        ));
        assert!(chunks.next().is_none());
    }
}
