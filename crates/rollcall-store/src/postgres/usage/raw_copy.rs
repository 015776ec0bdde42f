//! The raw usage rows of a push as one `COPY … FROM STDIN (FORMAT binary)`.
//!
//! COPY stores its rows through PostgreSQL's multi-insert path (a page of
//! rows per heap WAL record rather than one record per row) and skips the
//! executor and the parameter arrays of `INSERT … SELECT FROM unnest(…)`; the
//! unique index is still checked row by row, so a row already stored (or
//! being stored by another push) fails the copy exactly as it failed the
//! plain insert. The rows are encoded here, in the binary copy format, into
//! one buffer sent as a single `CopyData` message.

use deadpool_postgres::Transaction;

use crate::postgres::binary_copy::{copy_in, CopyBuf};

/// Raw row key: (timestamp, email id, event id).
pub(super) type Key = (i64, i32, i32);

const COPY_SQL: &str =
    "COPY usage_events (app, ts_ms, email_id, event_id) FROM STDIN (FORMAT binary)";

/// Bytes of one encoded row: a field count, then a length and a value per
/// field (two `bigint`s, two `integer`s).
const ROW_BYTES: usize = 2 + (4 + 8) * 2 + (4 + 4) * 2;

/// Copies `rows` of `app` into `usage_events` inside the caller's transaction
/// and returns how many were stored (all of them, or an error: a unique
/// violation when one was already stored).
pub(super) async fn copy_raw(
    tx: &Transaction<'_>,
    app: i64,
    rows: &[Key],
) -> Result<u64, tokio_postgres::Error> {
    copy_in(tx, COPY_SQL, encode(app, rows)).await
}

/// `rows` of `app` in the binary copy format, trailer included.
fn encode(app: i64, rows: &[Key]) -> Vec<u8> {
    let mut out = CopyBuf::with_capacity(rows.len() * ROW_BYTES);
    for &(ts, email, event) in rows {
        out.row(4);
        out.bigint(Some(app));
        out.bigint(Some(ts));
        out.integer(email);
        out.integer(event);
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::{encode, ROW_BYTES};
    use crate::postgres::binary_copy::HEADER;

    #[test]
    fn rows_are_encoded_in_the_binary_copy_format() {
        let out = encode(7, &[(1_700_000_000_000, 3, -2)]);
        assert_eq!(out.len(), HEADER.len() + ROW_BYTES + 2);
        assert_eq!(&out[..11], b"PGCOPY\n\xff\r\n\0");
        let row = &out[HEADER.len()..HEADER.len() + ROW_BYTES];
        let mut expected = vec![0, 4];
        expected.extend_from_slice(&[0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 7]);
        expected.extend_from_slice(&[0, 0, 0, 8]);
        expected.extend_from_slice(&1_700_000_000_000i64.to_be_bytes());
        expected.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 3]);
        expected.extend_from_slice(&[0, 0, 0, 4, 0xff, 0xff, 0xff, 0xfe]);
        assert_eq!(row, expected.as_slice());
        assert_eq!(&out[out.len() - 2..], &[0xff, 0xff]);
    }

    #[test]
    fn no_rows_is_a_header_and_a_trailer() {
        assert_eq!(encode(1, &[]).len(), HEADER.len() + 2);
    }
}
