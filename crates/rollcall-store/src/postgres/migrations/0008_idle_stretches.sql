-- Idle stretches across records (SPEC §5, issue 19 #4): touching idle records
-- of one computer and user form one stretch, whose first passiveLimitMinutes
-- count as passive time. See rollcall-core's idle_stretch module.
--
-- idle_lead_ms: set on idle records of positive length that take part in
-- stretches (the record's idleOffsetSeconds in ms, 0 when not given); NULL
-- otherwise. split_zone: the zone an idle record crossing local midnight was
-- split in, so that its histogram pieces can be moved exactly when its
-- stretch's origin moves.
ALTER TABLE wf_records ADD COLUMN idle_lead_ms BIGINT, ADD COLUMN split_zone TEXT;
-- Records from before this migration that cross midnight were split in a zone
-- that was not kept: they stay stretches of their own.
UPDATE wf_records SET idle_lead_ms = 0 WHERE idle AND duration_s > 0 AND day = end_day;
-- The records of a stretch, to move them when its origin moves (idle only).
CREATE INDEX wf_records_idle ON wf_records (account_id, computer_id, client_id, start_ms)
    WHERE idle_lead_ms IS NOT NULL;

-- One row per stretch: disjoint intervals that never touch; offsets into the
-- stretch are counted from origin_ms (earliest start − idle lead).
CREATE TABLE wf_idle_stretches (
    account_id BIGINT NOT NULL,
    computer_id BIGINT NOT NULL,
    client_id BIGINT NOT NULL,
    start_ms BIGINT NOT NULL,
    end_ms BIGINT NOT NULL,
    origin_ms BIGINT NOT NULL,
    PRIMARY KEY (account_id, computer_id, client_id, start_ms)
);

-- The stretches of the records already stored (islands of touching records)
-- and each record's offset from its stretch's start.
CREATE TEMP TABLE wf_islands AS
WITH r AS (
    SELECT account_id, computer_id, client_id, day, coalesce(website_id, app_id) AS activity_id,
           start_ms AS s, start_ms + duration_s * 1000 AS e
    FROM wf_records WHERE idle_lead_ms IS NOT NULL),
m AS (
    SELECT r.*, max(e) OVER (PARTITION BY account_id, computer_id, client_id ORDER BY s, e
                             ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end
    FROM r),
g AS (
    SELECT m.*, sum(CASE WHEN prev_end IS NULL OR s > prev_end THEN 1 ELSE 0 END)
                OVER (PARTITION BY account_id, computer_id, client_id ORDER BY s, e
                      ROWS UNBOUNDED PRECEDING) AS island
    FROM m)
SELECT g.*, min(s) OVER (PARTITION BY account_id, computer_id, client_id, island) AS origin,
       max(e) OVER (PARTITION BY account_id, computer_id, client_id, island) AS island_end
FROM g;

INSERT INTO wf_idle_stretches (account_id, computer_id, client_id, start_ms, end_ms, origin_ms)
SELECT account_id, computer_id, client_id, origin, max(island_end), origin
FROM wf_islands GROUP BY account_id, computer_id, client_id, island, origin;

-- Records that no longer start their stretch move from offset 0 to their offset.
CREATE TEMP TABLE wf_moves AS
SELECT account_id, day, client_id, computer_id, activity_id, s - origin AS offset_ms,
       e - s AS len_ms, count(*) AS n
FROM wf_islands WHERE s > origin
GROUP BY account_id, day, client_id, computer_id, activity_id, s - origin, e - s;

INSERT INTO wf_day_idle AS t (account_id, day, client_id, computer_id, activity_id, offset_ms,
                              len_ms, n)
SELECT account_id, day, client_id, computer_id, activity_id, 0, len_ms, -sum(n)
FROM wf_moves GROUP BY account_id, day, client_id, computer_id, activity_id, len_ms
ON CONFLICT (account_id, day, client_id, computer_id, activity_id, offset_ms, len_ms)
DO UPDATE SET n = t.n + excluded.n;
INSERT INTO wf_day_idle AS t (account_id, day, client_id, computer_id, activity_id, offset_ms,
                              len_ms, n)
SELECT account_id, day, client_id, computer_id, activity_id, offset_ms, len_ms, n
FROM wf_moves
ON CONFLICT (account_id, day, client_id, computer_id, activity_id, offset_ms, len_ms)
DO UPDATE SET n = t.n + excluded.n;
DELETE FROM wf_day_idle WHERE n = 0;
-- Moved pieces reach further into their stretch.
UPDATE wf_day_time AS t SET idle_end_ms = GREATEST(t.idle_end_ms, m.reach)
FROM (SELECT account_id, day, client_id, computer_id, activity_id,
             max(offset_ms + len_ms) AS reach
      FROM wf_moves GROUP BY account_id, day, client_id, computer_id, activity_id) AS m
WHERE t.account_id = m.account_id AND t.day = m.day AND t.client_id = m.client_id
  AND t.computer_id = m.computer_id AND t.activity_id = m.activity_id;

DROP TABLE wf_islands;
DROP TABLE wf_moves;
