-- A version per (account, day) of which (client, computer) pairs have
-- working-hours rows that day, bumped by triggers whenever a wf_day_span row
-- is added, removed, or moved to another day, client or computer, whatever
-- statement does it (ingest, merges, erasure, retention). Readers keep each
-- day's keys under a group filter and use them while the version they read in
-- their own snapshot is unchanged (`sqlite/workforce/day_keys.rs`). A day without a row is
-- at version 0; rows are never deleted, so a version never comes back.
CREATE TABLE wf_day_key_versions (
    account_id INTEGER NOT NULL,
    day INTEGER NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (account_id, day)
) WITHOUT ROWID;

CREATE TRIGGER wf_day_span_key_added AFTER INSERT ON wf_day_span BEGIN
    INSERT INTO wf_day_key_versions (account_id, day, version)
        VALUES (NEW.account_id, NEW.day, 1)
        ON CONFLICT DO UPDATE SET version = version + 1;
END;

CREATE TRIGGER wf_day_span_key_removed AFTER DELETE ON wf_day_span BEGIN
    INSERT INTO wf_day_key_versions (account_id, day, version)
        VALUES (OLD.account_id, OLD.day, 1)
        ON CONFLICT DO UPDATE SET version = version + 1;
END;

CREATE TRIGGER wf_day_span_key_moved
AFTER UPDATE OF account_id, day, client_id, computer_id ON wf_day_span BEGIN
    INSERT INTO wf_day_key_versions (account_id, day, version)
        VALUES (OLD.account_id, OLD.day, 1)
        ON CONFLICT DO UPDATE SET version = version + 1;
    INSERT INTO wf_day_key_versions (account_id, day, version)
        VALUES (NEW.account_id, NEW.day, 1)
        ON CONFLICT DO UPDATE SET version = version + 1;
END;
