-- Runs: the log-id range of the records one ingest transaction stored for a
-- (computer, session) with raw starts in one six-hour bucket, as the embedded
-- store keeps them. A record's identity (computer, session, raw start,
-- executable) is looked up, under the account's ingest lock, in the runs whose
-- raw starts overlap the batch's, instead of the unique index that every
-- record paid an insertion into (90 bytes a record) under that lock; a batch
-- later than everything its computer sent reads none. Ranges are never
-- tighter than the truth. See postgres/workforce/record_runs.rs.
CREATE TABLE wf_record_runs (
    account_id BIGINT NOT NULL,
    computer_id BIGINT NOT NULL,
    session BIGINT NOT NULL,
    max_raw_ms BIGINT NOT NULL,
    first_log_id BIGINT NOT NULL,
    min_raw_ms BIGINT NOT NULL,
    last_log_id BIGINT NOT NULL,
    client_id BIGINT NOT NULL,
    PRIMARY KEY (account_id, computer_id, session, max_raw_ms, first_log_id)
);
INSERT INTO wf_record_runs
SELECT account_id, computer_id, session, max(raw_start_ms), min(log_id), min(raw_start_ms),
       max(log_id), client_id
FROM wf_records
GROUP BY account_id, computer_id, client_id, session,
         (raw_start_ms - ((raw_start_ms % 21600000) + 21600000) % 21600000) / 21600000;

-- The identity's unique constraint goes (its name was generated).
DO $$
DECLARE name TEXT;
BEGIN
    SELECT c.conname INTO name FROM pg_constraint c
    WHERE c.conrelid = 'wf_records'::regclass AND c.contype = 'u';
    IF name IS NOT NULL THEN
        EXECUTE format('ALTER TABLE wf_records DROP CONSTRAINT %I', name);
    END IF;
END
$$;
