-- How many users (clients) and computers have activity on each local day, kept
-- by ingest as new (day, client) and (day, computer) pairs appear, so the total
-- of an unfiltered working-hours report sums a month's rows instead of grouping
-- every rollup row of the month.
CREATE TABLE wf_day_counts (
    account_id INTEGER NOT NULL,
    day INTEGER NOT NULL,
    users INTEGER NOT NULL,
    computers INTEGER NOT NULL,
    PRIMARY KEY (account_id, day)
) WITHOUT ROWID;

INSERT INTO wf_day_counts (account_id, day, users, computers)
SELECT account_id, day, count(DISTINCT client_id), count(DISTINCT computer_id)
FROM wf_day_span GROUP BY account_id, day;

-- The computers view reads the rollups through these indexes; holding every
-- column it reads spares a table look-up per row.
DROP INDEX wf_day_active_computer;
CREATE INDEX wf_day_active_computer ON wf_day_active(account_id, day, computer_id, client_id, activity_id, ms);
DROP INDEX wf_day_idle_computer;
CREATE INDEX wf_day_idle_computer ON wf_day_idle(account_id, day, computer_id, client_id, activity_id, offset_ms, len_ms, n);
