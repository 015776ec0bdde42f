-- Working-hours pages that read fewer rollup rows (see postgres/workforce/reports.rs).

-- How many users (clients) and computers have activity on each local day, kept
-- by ingest as new (day, client) and (day, computer) pairs appear (under the
-- account's workforce ingest lock), so the total of an unfiltered working-hours
-- report sums a month's rows instead of de-duplicating every span row of the
-- month. Retention deletes a day's row with the day's spans.
CREATE TABLE wf_day_counts (
    account_id BIGINT NOT NULL,
    day INTEGER NOT NULL,
    users BIGINT NOT NULL,
    computers BIGINT NOT NULL,
    PRIMARY KEY (account_id, day)
);
INSERT INTO wf_day_counts (account_id, day, users, computers)
SELECT account_id, day, count(DISTINCT client_id), count(DISTINCT computer_id)
FROM wf_day_span GROUP BY account_id, day;

-- Active and idle time in one row per (day, client, computer, activity): the
-- active rollup also sums its idle pieces (`idle_ms`) and keeps the furthest
-- any of them reaches into its idle stretch (`idle_end_ms`, offset + length).
-- Under a passive limit at or beyond `idle_end_ms` (or no limit) every piece
-- counts whole, so the passive time is `idle_ms` and a page reads this one row;
-- only rows reaching past the limit read their histogram (wf_day_idle, still
-- kept in full, so the limit stays a read-time setting).
ALTER TABLE wf_day_active RENAME TO wf_day_time;
ALTER INDEX wf_day_active_pkey RENAME TO wf_day_time_pkey;
ALTER INDEX wf_day_active_computer RENAME TO wf_day_time_computer;
ALTER TABLE wf_day_time
    ADD COLUMN idle_ms BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN idle_end_ms BIGINT NOT NULL DEFAULT 0;
INSERT INTO wf_day_time AS t (account_id, day, client_id, computer_id, activity_id, ms,
                              idle_ms, idle_end_ms)
SELECT account_id, day, client_id, computer_id, activity_id, 0,
       sum(n * greatest(len_ms, 0)), max(offset_ms + len_ms)
FROM wf_day_idle GROUP BY account_id, day, client_id, computer_id, activity_id
ON CONFLICT (account_id, day, client_id, computer_id, activity_id)
DO UPDATE SET idle_ms = excluded.idle_ms, idle_end_ms = excluded.idle_end_ms;
