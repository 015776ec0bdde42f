//! A batch's new activity records as one `COPY wf_records … FROM STDIN
//! (FORMAT binary)`.
//!
//! COPY stores the rows through PostgreSQL's multi-insert path (a page of
//! rows per heap WAL record) in the order they are sent, so log ids follow
//! batch order. The caller has already left out the records that are stored
//! (`record_runs`), under the account's ingest lock, so no other transaction
//! is inserting records of the account meanwhile.
//!
//! The rows are encoded here, in the binary copy format, into one buffer sent
//! as a single `CopyData` message.

use deadpool_postgres::Transaction;

use crate::postgres::binary_copy::{copy_in, CopyBuf};

/// The columns copied, in the order each row encodes them.
const COPY_SQL: &str = "COPY wf_records (account_id, computer_id, client_id, session, start_ms,
     raw_start_ms, duration_s, day, end_day, executable, description, url, app_id, website_id,
     idle, idle_lead_ms, split_zone) FROM STDIN (FORMAT binary)";

/// Fields of a row (`COPY_SQL`'s column list).
const FIELDS: i16 = 17;

/// Bytes of a row without its texts: the field count, a length per field,
/// eleven `bigint`s, two `integer`s and a `boolean` (counted whether or not
/// a nullable one is NULL, so this is an upper bound).
const FIXED_ROW_BYTES: usize = 2 + 4 * FIELDS as usize + 8 * 11 + 4 * 2 + 1;

/// One record's row, apart from the batch's account, computer, client and
/// session, which every row shares.
pub(super) struct RecordRow<'a> {
    pub start_ms: i64,
    pub raw_start_ms: i64,
    pub duration_s: i64,
    pub day: i32,
    pub end_day: i32,
    pub executable: &'a str,
    pub description: &'a str,
    pub url: Option<&'a str>,
    pub app_id: i64,
    pub website_id: Option<i64>,
    pub idle: bool,
    pub idle_lead_ms: Option<i64>,
    pub split_zone: Option<&'a str>,
}

/// The batch's shared columns: account, computer, client and session.
pub(super) struct Owner {
    pub account_id: i64,
    pub computer_id: i64,
    pub client_id: i64,
    pub session: i64,
}

/// Copies `rows` into `wf_records` inside the caller's transaction, in order,
/// and returns how many were stored.
pub(super) async fn copy_records(
    tx: &Transaction<'_>,
    owner: &Owner,
    rows: &[RecordRow<'_>],
) -> Result<u64, tokio_postgres::Error> {
    copy_in(tx, COPY_SQL, encode(owner, rows)).await
}

/// `rows` of `owner` in the binary copy format, trailer included.
fn encode(owner: &Owner, rows: &[RecordRow<'_>]) -> Vec<u8> {
    let texts: usize = rows
        .iter()
        .map(|r| {
            r.executable.len()
                + r.description.len()
                + r.url.map_or(0, str::len)
                + r.split_zone.map_or(0, str::len)
        })
        .sum();
    let mut out = CopyBuf::with_capacity(rows.len() * FIXED_ROW_BYTES + texts);
    for r in rows {
        out.row(FIELDS);
        out.bigint(Some(owner.account_id));
        out.bigint(Some(owner.computer_id));
        out.bigint(Some(owner.client_id));
        out.bigint(Some(owner.session));
        out.bigint(Some(r.start_ms));
        out.bigint(Some(r.raw_start_ms));
        out.bigint(Some(r.duration_s));
        out.integer(r.day);
        out.integer(r.end_day);
        out.text(Some(r.executable));
        out.text(Some(r.description));
        out.text(r.url);
        out.bigint(Some(r.app_id));
        out.bigint(r.website_id);
        out.boolean(r.idle);
        out.bigint(r.idle_lead_ms);
        out.text(r.split_zone);
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::binary_copy::HEADER;

    fn owner() -> Owner {
        Owner {
            account_id: 1,
            computer_id: 2,
            client_id: 3,
            session: 4,
        }
    }

    fn row<'a>(url: Option<&'a str>, website_id: Option<i64>) -> RecordRow<'a> {
        RecordRow {
            start_ms: 5,
            raw_start_ms: 6,
            duration_s: 7,
            day: 8,
            end_day: 9,
            executable: "a.exe",
            description: "",
            url,
            app_id: 10,
            website_id,
            idle: true,
            idle_lead_ms: None,
            split_zone: Some("UTC"),
        }
    }

    fn be64(v: i64) -> Vec<u8> {
        let mut f = 8i32.to_be_bytes().to_vec();
        f.extend_from_slice(&v.to_be_bytes());
        f
    }

    fn text(s: &str) -> Vec<u8> {
        let mut f = (s.len() as i32).to_be_bytes().to_vec();
        f.extend_from_slice(s.as_bytes());
        f
    }

    #[test]
    fn a_row_is_its_seventeen_fields_in_column_order() {
        let out = encode(&owner(), &[row(Some("https://x/"), Some(11))]);
        assert_eq!(&out[..HEADER.len()], HEADER);
        let mut expected = 17i16.to_be_bytes().to_vec();
        for v in [1, 2, 3, 4, 5, 6, 7] {
            expected.extend(be64(v));
        }
        for v in [8i32, 9] {
            expected.extend_from_slice(&4i32.to_be_bytes());
            expected.extend_from_slice(&v.to_be_bytes());
        }
        expected.extend(text("a.exe"));
        expected.extend(text(""));
        expected.extend(text("https://x/"));
        expected.extend(be64(10));
        expected.extend(be64(11));
        expected.extend_from_slice(&[0, 0, 0, 1, 1]);
        expected.extend_from_slice(&(-1i32).to_be_bytes());
        expected.extend(text("UTC"));
        expected.extend_from_slice(&(-1i16).to_be_bytes());
        assert_eq!(&out[HEADER.len()..], expected.as_slice());
    }

    #[test]
    fn missing_values_are_nulls() {
        let with = encode(&owner(), &[row(Some("u"), Some(11))]);
        let without = encode(&owner(), &[row(None, None)]);
        // A NULL is a length alone: the url loses its byte, the website id its 8.
        assert_eq!(with.len() - without.len(), 1 + 8);
        assert!(
            without
                .windows(4)
                .filter(|w| *w == (-1i32).to_be_bytes())
                .count()
                >= 3
        );
    }

    #[test]
    fn no_rows_is_a_header_and_a_trailer() {
        assert_eq!(encode(&owner(), &[]).len(), HEADER.len() + 2);
    }
}
