-- Workforce activity (SPEC §5): computers, clients (logins), groups, the
-- classification set, raw activity records and the per-day rollups the working
-- hours report reads. Times are Unix milliseconds (BIGINT), days are local day
-- numbers (INTEGER).
--
-- Low-volume tables reference `accounts`; the raw records and the rollups do
-- not, so a batch of thousands of rows pays no per-row foreign-key check.

-- Computer and login names compare case-insensitively (as SQLite's NOCASE), so
-- their identities are unique expression indexes that the ingest upserts name
-- in ON CONFLICT.
CREATE TABLE wf_computers (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    primary_domain TEXT NOT NULL,
    alias TEXT,
    os TEXT NOT NULL DEFAULT '',
    time_zone TEXT,                       -- NULL = the account's
    private_ip TEXT NOT NULL DEFAULT '',
    public_ip TEXT NOT NULL DEFAULT '',
    first_log_ms BIGINT NOT NULL,
    last_log_ms BIGINT NOT NULL
);
CREATE UNIQUE INDEX wf_computers_identity
    ON wf_computers (account_id, lower(primary_domain), lower(name));

CREATE TABLE wf_clients (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    login_domain TEXT NOT NULL,
    name TEXT NOT NULL,
    alias TEXT,
    employee_email TEXT,
    first_log_ms BIGINT NOT NULL,
    last_log_ms BIGINT NOT NULL
);
CREATE UNIQUE INDEX wf_clients_identity
    ON wf_clients (account_id, lower(login_domain), lower(name));

-- Identity ids are never reused: a viewer's viewableGroups or a classification
-- override naming a deleted group cannot come to mean a new group.
CREATE TABLE wf_groups (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    UNIQUE (account_id, name)
);

-- kind: 'c' = client (user), 'm' = computer (machine).
CREATE TABLE wf_group_members (
    account_id BIGINT NOT NULL,
    group_id BIGINT NOT NULL REFERENCES wf_groups(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('c', 'm')),
    member_id BIGINT NOT NULL,
    PRIMARY KEY (group_id, kind, member_id)
);
-- A member's groups (lists, report names, scoping, a client's first group).
CREATE INDEX wf_group_members_member
    ON wf_group_members (account_id, kind, member_id, group_id);

-- The account's whole classification set as JSON (PUT replaces it; it is only
-- ever read whole, so it stays the text serde wrote).
CREATE TABLE wf_classifications (
    account_id BIGINT PRIMARY KEY REFERENCES accounts(id),
    body TEXT NOT NULL,
    updated_ms BIGINT NOT NULL
);

-- Applications (kind 'a', key = lower-cased executable) and websites (kind 'w',
-- key = domain): the applicationId / websiteId of the activity log.
CREATE TABLE wf_activities (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    kind TEXT NOT NULL CHECK (kind IN ('a', 'w')),
    key TEXT NOT NULL,
    UNIQUE (account_id, kind, key)
);

-- Raw records. The activity-log cursor is "last delivered log id" per account,
-- so log ids must be handed out in commit order per account: every ingest
-- transaction takes the account's workforce advisory lock before it inserts, and
-- the identity's sequence must keep CACHE 1 (the default) so that ids are
-- increasing across sessions, not per-session blocks. Identity ids are never
-- reused after retention deletes the newest row.
CREATE TABLE wf_records (
    log_id BIGINT GENERATED ALWAYS AS IDENTITY,
    account_id BIGINT NOT NULL,
    computer_id BIGINT NOT NULL,
    client_id BIGINT NOT NULL,
    session BIGINT NOT NULL,
    start_ms BIGINT NOT NULL,             -- after clock-skew correction
    raw_start_ms BIGINT NOT NULL,         -- as the agent sent it (the identity)
    duration_s BIGINT NOT NULL,
    day INTEGER NOT NULL,                 -- local day number of the start
    end_day INTEGER NOT NULL,             -- local day number of the end
    executable TEXT NOT NULL,
    description TEXT NOT NULL,
    url TEXT,
    app_id BIGINT NOT NULL,
    website_id BIGINT,
    idle BOOLEAN NOT NULL,
    -- The activity log walks (account_id, log_id).
    PRIMARY KEY (account_id, log_id),
    -- A retried record is a duplicate (ON CONFLICT DO NOTHING).
    UNIQUE (account_id, computer_id, session, raw_start_ms, executable)
);
-- A first log request finds where its dates start, and retention what to
-- delete, through (account_id, day, log_id).
CREATE INDEX wf_records_day ON wf_records (account_id, day, log_id);

-- Rollups, kept in the ingest transaction and only ever added to (for newly
-- inserted records). Milliseconds, so that splitting at midnight stays exact;
-- reports round to seconds.
-- One row per (day, client, computer): the key index of working-hours pages
-- (the primary key for the users view, wf_day_span_computer for computers).
CREATE TABLE wf_day_span (
    account_id BIGINT NOT NULL,
    day INTEGER NOT NULL,
    client_id BIGINT NOT NULL,
    computer_id BIGINT NOT NULL,
    first_active_ms BIGINT,               -- NULL when the day has no active record
    last_active_ms BIGINT,
    last_any_ms BIGINT NOT NULL,
    PRIMARY KEY (account_id, day, client_id, computer_id)
);
CREATE INDEX wf_day_span_computer ON wf_day_span (account_id, day, computer_id, client_id);

-- Active milliseconds per (day, client, computer, activity).
CREATE TABLE wf_day_active (
    account_id BIGINT NOT NULL,
    day INTEGER NOT NULL,
    client_id BIGINT NOT NULL,
    computer_id BIGINT NOT NULL,
    activity_id BIGINT NOT NULL,
    ms BIGINT NOT NULL,
    PRIMARY KEY (account_id, day, client_id, computer_id, activity_id)
);
-- Lets a computers-view page read only its own (day, computer) range.
CREATE INDEX wf_day_active_computer ON wf_day_active (account_id, day, computer_id);

-- Idle stretches as a histogram: how many pieces of stretches of the activity
-- start `offset_ms` into their stretch and last `len_ms` on this day. The passive
-- limit is applied at read time from these.
CREATE TABLE wf_day_idle (
    account_id BIGINT NOT NULL,
    day INTEGER NOT NULL,
    client_id BIGINT NOT NULL,
    computer_id BIGINT NOT NULL,
    activity_id BIGINT NOT NULL,
    offset_ms BIGINT NOT NULL,
    len_ms BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (account_id, day, client_id, computer_id, activity_id, offset_ms, len_ms)
);
CREATE INDEX wf_day_idle_computer ON wf_day_idle (account_id, day, computer_id);
