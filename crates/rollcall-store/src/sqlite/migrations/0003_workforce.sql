-- Workforce activity (SPEC §5): computers, clients (logins), groups, the
-- classification set, raw activity records and the per-day rollups the working
-- hours report reads.

CREATE TABLE wf_computers (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL,
    name TEXT NOT NULL COLLATE NOCASE,
    primary_domain TEXT NOT NULL COLLATE NOCASE,
    alias TEXT,
    os TEXT NOT NULL DEFAULT '',
    time_zone TEXT,                       -- NULL = the account's
    private_ip TEXT NOT NULL DEFAULT '',
    public_ip TEXT NOT NULL DEFAULT '',
    first_log_ms INTEGER NOT NULL,
    last_log_ms INTEGER NOT NULL,
    UNIQUE (account_id, primary_domain, name)
);

CREATE TABLE wf_clients (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL,
    login_domain TEXT NOT NULL COLLATE NOCASE,
    name TEXT NOT NULL COLLATE NOCASE,
    alias TEXT,
    employee_email TEXT,
    first_log_ms INTEGER NOT NULL,
    last_log_ms INTEGER NOT NULL,
    UNIQUE (account_id, login_domain, name)
);

-- AUTOINCREMENT: a deleted group's id is never reused, so a viewer's
-- viewableGroups or a classification override naming it cannot come to mean a
-- new group.
CREATE TABLE wf_groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    UNIQUE (account_id, name)
);

-- kind: 'c' = client (user), 'm' = computer (machine).
CREATE TABLE wf_group_members (
    account_id INTEGER NOT NULL,
    group_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    member_id INTEGER NOT NULL,
    PRIMARY KEY (group_id, kind, member_id)
) WITHOUT ROWID;
CREATE INDEX wf_group_members_member ON wf_group_members(account_id, kind, member_id, group_id);

-- The account's whole classification set as JSON (PUT replaces it).
CREATE TABLE wf_classifications (
    account_id INTEGER PRIMARY KEY,
    body TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
);

-- Applications (kind 'a', key = lower-cased executable) and websites (kind 'w',
-- key = domain): the applicationId / websiteId of the activity log.
CREATE TABLE wf_activities (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    UNIQUE (account_id, kind, key)
);

-- Raw records. AUTOINCREMENT so a log id is never reused after retention deletes
-- the newest row: the activity-log cursor is "last delivered log id", and the
-- single writer assigns ids in commit order.
CREATE TABLE wf_records (
    log_id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL,
    computer_id INTEGER NOT NULL,
    client_id INTEGER NOT NULL,
    session INTEGER NOT NULL,
    start_ms INTEGER NOT NULL,            -- after clock-skew correction
    raw_start_ms INTEGER NOT NULL,        -- as the agent sent it (the identity)
    duration_s INTEGER NOT NULL,
    day INTEGER NOT NULL,                 -- local day number of the start
    end_day INTEGER NOT NULL,             -- local day number of the end
    executable TEXT NOT NULL,
    description TEXT NOT NULL,
    url TEXT,
    app_id INTEGER NOT NULL,
    website_id INTEGER,
    idle INTEGER NOT NULL,
    UNIQUE (account_id, computer_id, session, raw_start_ms, executable)
);
-- The activity log walks (account_id, log_id); a first request finds where its
-- dates start, and retention what to delete, through (account_id, day, log_id).
CREATE INDEX wf_records_log ON wf_records(account_id, log_id);
CREATE INDEX wf_records_day ON wf_records(account_id, day, log_id);

-- Rollups, kept in the ingest transaction. Milliseconds, so that splitting at
-- midnight stays exact; reports round to seconds.
-- One row per (day, client, computer): the key index of working-hours pages.
CREATE TABLE wf_day_span (
    account_id INTEGER NOT NULL,
    day INTEGER NOT NULL,
    client_id INTEGER NOT NULL,
    computer_id INTEGER NOT NULL,
    first_active_ms INTEGER,              -- NULL when the day has no active record
    last_active_ms INTEGER,
    last_any_ms INTEGER NOT NULL,
    PRIMARY KEY (account_id, day, client_id, computer_id)
) WITHOUT ROWID;
CREATE INDEX wf_day_span_computer ON wf_day_span(account_id, day, computer_id, client_id);

-- Active milliseconds per (day, client, computer, activity).
CREATE TABLE wf_day_active (
    account_id INTEGER NOT NULL,
    day INTEGER NOT NULL,
    client_id INTEGER NOT NULL,
    computer_id INTEGER NOT NULL,
    activity_id INTEGER NOT NULL,
    ms INTEGER NOT NULL,
    PRIMARY KEY (account_id, day, client_id, computer_id, activity_id)
) WITHOUT ROWID;
-- Rollup rows are few per batch, so these indexes cost ingest little; they let
-- a computers-view page read only its own (day, computer) range.
CREATE INDEX wf_day_active_computer ON wf_day_active(account_id, day, computer_id);

-- Idle stretches as a histogram: how many pieces of stretches of the activity
-- start `offset_ms` into their stretch and last `len_ms` on this day. The passive
-- limit is applied at read time from these.
CREATE TABLE wf_day_idle (
    account_id INTEGER NOT NULL,
    day INTEGER NOT NULL,
    client_id INTEGER NOT NULL,
    computer_id INTEGER NOT NULL,
    activity_id INTEGER NOT NULL,
    offset_ms INTEGER NOT NULL,
    len_ms INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (account_id, day, client_id, computer_id, activity_id, offset_ms, len_ms)
) WITHOUT ROWID;
CREATE INDEX wf_day_idle_computer ON wf_day_idle(account_id, day, computer_id);
