-- The latest event time per (app, email) in blocks of 128 email ids: element
-- i (from 1) of `last_ms` of block b is email id b * 128 + i - 1, NULL when
-- that email has no event in the app. A push rewrites the few blocks its
-- emails fall in (merged in the server, under the rows' locks) rather than
-- upserting one row per email: per usage event, that was most of PostgreSQL's
-- work (issue 18 #7). 128 bigints (1 KB) keep a row well below the TOAST
-- threshold.
CREATE TABLE usage_last_blocks (
    account_id BIGINT NOT NULL,
    app BIGINT NOT NULL,
    block INTEGER NOT NULL,
    last_ms BIGINT[] NOT NULL,
    PRIMARY KEY (account_id, app, block)
);
-- Every push updates its blocks: room in each page lets the updates stay
-- heap-only (no new index entry, pruned in place).
ALTER TABLE usage_last_blocks SET (fillfactor = 50);

INSERT INTO usage_last_blocks (account_id, app, block, last_ms)
SELECT k.account_id, k.app, k.block,
       ARRAY(SELECT l.last_ms FROM generate_series(0, 127) AS s(i)
             LEFT JOIN usage_last l ON l.account_id = k.account_id AND l.app = k.app
                                   AND l.email_id = k.block * 128 + s.i
             ORDER BY s.i)
FROM (SELECT DISTINCT account_id, app, email_id / 128 AS block FROM usage_last) AS k;

DROP TABLE usage_last;
