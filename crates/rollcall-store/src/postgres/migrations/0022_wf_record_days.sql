-- Where each local day's records lie in log order: bounds (never tighter than
-- the truth) of their log ids, as the embedded store keeps them. The activity
-- log starts its walk, and retention and title retention their scans, from
-- these instead of an index entry per record: the (account_id, day, log_id)
-- index cost every ingested record an index insertion under the account's
-- ingest lock, and its `min(day)`/`max(day)` were planned as scans of the
-- account's records when the statistics had not seen the account yet.
-- Ingest widens a day's bounds to the ids its transaction handed out;
-- retention forgets the days no record is dated on any more.
CREATE TABLE wf_record_days (
    account_id BIGINT NOT NULL,
    day INTEGER NOT NULL,
    first_log_id BIGINT NOT NULL,
    last_log_id BIGINT NOT NULL,
    PRIMARY KEY (account_id, day)
);
INSERT INTO wf_record_days
SELECT account_id, day, min(log_id), max(log_id) FROM wf_records GROUP BY account_id, day;
DROP INDEX wf_records_day;
