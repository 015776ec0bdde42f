-- A version per (account, day) of which (client, computer) pairs have
-- working-hours rows that day, bumped by triggers in the transaction that adds,
-- removes or moves a wf_day_span row, whatever statement does it (ingest,
-- merges, deletions, retention). Readers keep each day's keys under a group
-- filter and use them while the version they read in their own snapshot is
-- unchanged (`workforce/day_keys.rs`). A day without a row here is at version 0;
-- rows are never deleted, so a version never comes back. The bump is an upsert
-- of the day's row: a second writer of the day waits for the first to commit
-- and then adds to its version, so two commits never leave the same version.
CREATE TABLE wf_day_key_versions (
    account_id BIGINT NOT NULL,
    day INTEGER NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (account_id, day)
);

-- Ingest upserts its spans (INSERT … ON CONFLICT DO UPDATE): a row trigger on
-- INSERT fires only for the rows really inserted, so widening a known span
-- (the conflict path, which sets no key column) bumps nothing. Ingest inserts a
-- handful of spans per batch, so a row trigger costs less than a statement
-- trigger, which would run on every batch.
CREATE FUNCTION wf_day_span_key_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO wf_day_key_versions AS v (account_id, day, version)
    VALUES (NEW.account_id, NEW.day, 1)
    ON CONFLICT (account_id, day) DO UPDATE SET version = v.version + 1;
    RETURN NULL;
END
$$;
CREATE TRIGGER wf_day_span_key_added AFTER INSERT ON wf_day_span
    FOR EACH ROW EXECUTE FUNCTION wf_day_span_key_added();

-- Deletions come in bulk (retention, a member's deletion): one bump per day
-- the statement touched, from its transition table, days in order.
CREATE FUNCTION wf_day_span_keys_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO wf_day_key_versions AS v (account_id, day, version)
    SELECT DISTINCT r.account_id, r.day, 1 FROM removed r ORDER BY r.account_id, r.day
    ON CONFLICT (account_id, day) DO UPDATE SET version = v.version + 1;
    RETURN NULL;
END
$$;
CREATE TRIGGER wf_day_span_keys_removed AFTER DELETE ON wf_day_span
    REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION wf_day_span_keys_removed();

-- An update that moves a row to another account, day, client or computer
-- (nothing does today; the trigger keeps the versions right if something
-- does) bumps the day it leaves and the day it joins. Updates of other columns
-- (ingest widening a span) do not fire it.
CREATE FUNCTION wf_day_span_key_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO wf_day_key_versions AS v (account_id, day, version)
    SELECT k.account_id, k.day, 1
    FROM (VALUES (OLD.account_id, OLD.day), (NEW.account_id, NEW.day)) AS k (account_id, day)
    GROUP BY k.account_id, k.day ORDER BY k.account_id, k.day
    ON CONFLICT (account_id, day) DO UPDATE SET version = v.version + 1;
    RETURN NULL;
END
$$;
CREATE TRIGGER wf_day_span_key_moved
    AFTER UPDATE OF account_id, day, client_id, computer_id ON wf_day_span
    FOR EACH ROW
    WHEN ((OLD.account_id, OLD.day, OLD.client_id, OLD.computer_id)
          IS DISTINCT FROM (NEW.account_id, NEW.day, NEW.client_id, NEW.computer_id))
    EXECUTE FUNCTION wf_day_span_key_moved();
