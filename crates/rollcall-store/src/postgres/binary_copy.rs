//! PostgreSQL's binary `COPY … FROM STDIN (FORMAT binary)`: the buffer the
//! rows are encoded into and the one message that sends it, shared by the raw
//! usage rows (`usage/raw_copy.rs`) and the activity records
//! (`workforce/record_copy.rs`).

use std::io::Cursor;

use deadpool_postgres::Transaction;
use futures_util::SinkExt;

/// Signature, flags (no OIDs) and an empty header extension.
pub(in crate::postgres) const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// The end of the data: a field count of -1.
const TRAILER: [u8; 2] = (-1i16).to_be_bytes();

/// Runs `sql` (a `COPY … FROM STDIN (FORMAT binary)`) inside the caller's
/// transaction with `data` (a [`CopyBuf`]'s bytes) as one `CopyData`
/// message; how many rows were stored (all of them, or an error).
pub(in crate::postgres) async fn copy_in(
    tx: &Transaction<'_>,
    sql: &str,
    data: Vec<u8>,
) -> Result<u64, tokio_postgres::Error> {
    let stmt = tx.prepare_cached(sql).await?;
    let sink = tx.copy_in(&stmt).await?;
    futures_util::pin_mut!(sink);
    sink.send(Cursor::new(data)).await?;
    sink.finish().await
}

/// The copy data: the header, then per row its field count and each field
/// (a length, then the value in network byte order; a NULL is the length -1
/// alone), then the trailer ([`CopyBuf::finish`]).
pub(in crate::postgres) struct CopyBuf {
    buf: Vec<u8>,
}

impl CopyBuf {
    /// The header, with room for `row_bytes` of rows and the trailer.
    pub(in crate::postgres) fn with_capacity(row_bytes: usize) -> CopyBuf {
        let mut buf = Vec::with_capacity(HEADER.len() + row_bytes + TRAILER.len());
        buf.extend_from_slice(HEADER);
        CopyBuf { buf }
    }

    /// Starts a row of `fields` fields.
    pub(in crate::postgres) fn row(&mut self, fields: i16) {
        self.buf.extend_from_slice(&fields.to_be_bytes());
    }

    fn null(&mut self) {
        self.buf.extend_from_slice(&(-1i32).to_be_bytes());
    }

    pub(in crate::postgres) fn bigint(&mut self, v: Option<i64>) {
        match v {
            Some(v) => {
                self.buf.extend_from_slice(&8i32.to_be_bytes());
                self.buf.extend_from_slice(&v.to_be_bytes());
            }
            None => self.null(),
        }
    }

    pub(in crate::postgres) fn integer(&mut self, v: i32) {
        self.buf.extend_from_slice(&4i32.to_be_bytes());
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(in crate::postgres) fn boolean(&mut self, v: bool) {
        self.buf.extend_from_slice(&1i32.to_be_bytes());
        self.buf.push(u8::from(v));
    }

    /// Texts go as their UTF-8 bytes (the database's encoding, checked by
    /// the server as for any parameter).
    pub(in crate::postgres) fn text(&mut self, v: Option<&str>) {
        match v {
            Some(s) => {
                // Request bodies are far below 2 GiB, so a text's length fits.
                let len = i32::try_from(s.len()).unwrap_or(i32::MAX);
                self.buf.extend_from_slice(&len.to_be_bytes());
                self.buf.extend_from_slice(s.as_bytes());
            }
            None => self.null(),
        }
    }

    /// The bytes to send, trailer included.
    pub(in crate::postgres) fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&TRAILER);
        self.buf
    }
}
