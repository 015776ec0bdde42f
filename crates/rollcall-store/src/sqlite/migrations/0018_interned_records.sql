-- Activity records store each distinct string once per account (issue 18 #6).
--
-- wf_texts: an account's executables, window titles and URLs, each once, with
-- how many record columns name it (`refs`). Triggers keep `refs` when records
-- are deleted or their text is blanked and delete a string no record names any
-- more, so nothing a policy, retention or erasure removed stays behind.
-- wf_text_state.epoch changes (to a random value) whenever a string is deleted
-- and whenever the writer adds strings: the writer's in-memory string → id map
-- is trusted only while the epoch it last saw is unchanged (see sqlite/workforce/texts.rs).
CREATE TABLE wf_texts (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL,
    refs INTEGER NOT NULL,
    text TEXT NOT NULL,
    UNIQUE (account_id, text)
);
CREATE TABLE wf_text_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    epoch INTEGER NOT NULL
);
INSERT INTO wf_text_state (id, epoch) VALUES (1, random());

-- Log ids: the single writer allocates them in commit order from this
-- high-water mark, so an id is never reused (AUTOINCREMENT did this before).
-- last_account_id: whose record got it, so the newest stored log id is one
-- seek when that record still exists.
CREATE TABLE wf_log_seq (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_log_id INTEGER NOT NULL,
    last_account_id INTEGER
);
INSERT INTO wf_log_seq (id, last_log_id, last_account_id)
SELECT 1, max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'wf_records'), 0),
              coalesce((SELECT max(log_id) FROM wf_records), 0)),
       (SELECT account_id FROM wf_records ORDER BY log_id DESC LIMIT 1);

INSERT INTO wf_texts (account_id, refs, text)
SELECT account_id, count(*), s FROM (
    SELECT account_id, executable AS s FROM wf_records
    UNION ALL SELECT account_id, description FROM wf_records WHERE description <> ''
    UNION ALL SELECT account_id, url FROM wf_records WHERE url IS NOT NULL)
GROUP BY account_id, s;

-- One row per record, clustered by the activity log's order. Columns that are
-- usually equal to another are stored as differences (0 costs no byte):
-- raw_skew_ms = raw start − start, end_days = end day − day. title_id NULL is
-- the empty title; url_id NULL is no URL.
CREATE TABLE wf_records_interned (
    account_id INTEGER NOT NULL,
    log_id INTEGER NOT NULL,
    computer_id INTEGER NOT NULL,
    client_id INTEGER NOT NULL,
    session INTEGER NOT NULL,
    start_ms INTEGER NOT NULL,
    raw_skew_ms INTEGER NOT NULL,
    duration_s INTEGER NOT NULL,
    day INTEGER NOT NULL,
    end_days INTEGER NOT NULL,
    exe_id INTEGER NOT NULL,
    title_id INTEGER,
    url_id INTEGER,
    app_id INTEGER NOT NULL,
    website_id INTEGER,
    idle INTEGER NOT NULL,
    idle_lead_ms INTEGER,
    split_zone TEXT,
    PRIMARY KEY (account_id, log_id)
) WITHOUT ROWID;

INSERT INTO wf_records_interned
SELECT r.account_id, r.log_id, r.computer_id, r.client_id, r.session, r.start_ms,
       r.raw_start_ms - r.start_ms, r.duration_s, r.day, r.end_day - r.day,
       (SELECT id FROM wf_texts t WHERE t.account_id = r.account_id AND t.text = r.executable),
       CASE WHEN r.description = '' THEN NULL ELSE
           (SELECT id FROM wf_texts t WHERE t.account_id = r.account_id
                AND t.text = r.description) END,
       CASE WHEN r.url IS NULL THEN NULL ELSE
           (SELECT id FROM wf_texts t WHERE t.account_id = r.account_id AND t.text = r.url) END,
       r.app_id, r.website_id, r.idle, r.idle_lead_ms, r.split_zone
FROM wf_records r ORDER BY r.account_id, r.log_id;

DROP TABLE wf_records;
ALTER TABLE wf_records_interned RENAME TO wf_records;
-- The records of an idle stretch, to move them when its origin moves.
CREATE INDEX wf_records_idle ON wf_records(account_id, computer_id, client_id, start_ms)
    WHERE idle_lead_ms IS NOT NULL;

-- Where each local day's records lie in log order: bounds (never tighter than
-- the truth) of their log ids. The activity log starts its walk, and retention
-- its scan, from these instead of an index entry per record.
CREATE TABLE wf_record_days (
    account_id INTEGER NOT NULL,
    day INTEGER NOT NULL,
    first_log_id INTEGER NOT NULL,
    last_log_id INTEGER NOT NULL,
    PRIMARY KEY (account_id, day)
) WITHOUT ROWID;
INSERT INTO wf_record_days
SELECT account_id, day, min(log_id), max(log_id) FROM wf_records GROUP BY account_id, day;

-- Runs: the records one (computer, session) stored in one write whose raw
-- starts fall in one six-hour bucket, as the log-id range they lie in. A
-- record's identity (computer, session, raw start, executable) is looked up in
-- the runs whose raw starts overlap the batch's rather than in an index entry
-- per record; a batch later than everything its computer sent reads none.
-- Also the log-id ranges of a computer's or a client's records.
CREATE TABLE wf_record_runs (
    account_id INTEGER NOT NULL,
    computer_id INTEGER NOT NULL,
    session INTEGER NOT NULL,
    max_raw_ms INTEGER NOT NULL,
    first_log_id INTEGER NOT NULL,
    min_raw_ms INTEGER NOT NULL,
    last_log_id INTEGER NOT NULL,
    client_id INTEGER NOT NULL,
    PRIMARY KEY (account_id, computer_id, session, max_raw_ms, first_log_id)
) WITHOUT ROWID;
INSERT INTO wf_record_runs
SELECT account_id, computer_id, session, max(raw), min(log_id), min(raw), max(log_id), client_id
FROM (SELECT account_id, computer_id, client_id, session, log_id, start_ms + raw_skew_ms AS raw
      FROM wf_records)
GROUP BY account_id, computer_id, client_id, session,
         (raw - ((raw % 21600000) + 21600000) % 21600000) / 21600000;

CREATE TRIGGER wf_records_unref AFTER DELETE ON wf_records BEGIN
    UPDATE wf_texts SET refs = refs - 1 WHERE id = old.exe_id;
    UPDATE wf_texts SET refs = refs - 1 WHERE id = old.title_id;
    UPDATE wf_texts SET refs = refs - 1 WHERE id = old.url_id;
    DELETE FROM wf_texts WHERE id IN (old.exe_id, old.title_id, old.url_id) AND refs <= 0;
END;
CREATE TRIGGER wf_records_reref AFTER UPDATE OF exe_id, title_id, url_id ON wf_records BEGIN
    UPDATE wf_texts SET refs = refs + 1 WHERE id = new.exe_id;
    UPDATE wf_texts SET refs = refs + 1 WHERE id = new.title_id;
    UPDATE wf_texts SET refs = refs + 1 WHERE id = new.url_id;
    UPDATE wf_texts SET refs = refs - 1 WHERE id = old.exe_id;
    UPDATE wf_texts SET refs = refs - 1 WHERE id = old.title_id;
    UPDATE wf_texts SET refs = refs - 1 WHERE id = old.url_id;
    DELETE FROM wf_texts WHERE id IN (old.exe_id, old.title_id, old.url_id) AND refs <= 0;
END;
CREATE TRIGGER wf_texts_gone AFTER DELETE ON wf_texts BEGIN
    UPDATE wf_text_state SET epoch = random() WHERE id = 1;
END;
