-- Custom-app usage (SPEC §4): connected apps, usage events and their rollups,
-- provisioned users, org-chart snapshots.

-- `id` is internal (small, compact in the big tables); `app_id` is the public id.
CREATE TABLE usage_apps (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    app_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    status TEXT NOT NULL,                 -- connected | disconnected
    definition TEXT NOT NULL,             -- the AppDefinition as JSON
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    -- Bumped by every change of the provisioned users (keys cached summaries).
    prov_version INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX usage_apps_account ON usage_apps(account_id, app_id);

-- Event names interned per app. Rows are never removed while the app lives, so an
-- event dropped from a definition keeps its pushed data; `defined` says whether it
-- may still be pushed.
CREATE TABLE usage_event_names (
    account_id INTEGER NOT NULL,
    app INTEGER NOT NULL,
    event_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    defined INTEGER NOT NULL,
    PRIMARY KEY (account_id, app, event_id),
    UNIQUE (account_id, app, name)
) WITHOUT ROWID;

-- Emails interned per account (lower-cased); ids are dense per account from 0, so
-- they index the activity bitmaps.
CREATE TABLE usage_emails (
    account_id INTEGER NOT NULL,
    id INTEGER NOT NULL,
    email TEXT NOT NULL,
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, email)
) WITHOUT ROWID;

-- Raw usage events, time-ordered so that inserts append; the key is the event's
-- identity (timestamp, email, eventName), so a re-push is ignored.
CREATE TABLE usage_events (
    account_id INTEGER NOT NULL,
    app INTEGER NOT NULL,
    ts_ms INTEGER NOT NULL,
    email_id INTEGER NOT NULL,
    event_id INTEGER NOT NULL,
    PRIMARY KEY (account_id, app, ts_ms, email_id, event_id)
) WITHOUT ROWID;

-- Rollup: per (app, event, local day) the bitmap of the email ids active that day
-- (bit `id` of byte `id / 8`); event_id 0 holds the OR of all events of the day.
-- A batch of events touches only its few distinct (event, day) rows.
CREATE TABLE usage_day_bits (
    account_id INTEGER NOT NULL,
    app INTEGER NOT NULL,
    event_id INTEGER NOT NULL,
    day INTEGER NOT NULL,
    bits BLOB NOT NULL,
    PRIMARY KEY (account_id, app, event_id, day)
) WITHOUT ROWID;

-- The exact latest event timestamp per (app, email).
CREATE TABLE usage_last (
    account_id INTEGER NOT NULL,
    app INTEGER NOT NULL,
    email_id INTEGER NOT NULL,
    last_ms INTEGER NOT NULL,
    PRIMARY KEY (account_id, app, email_id)
) WITHOUT ROWID;

-- Provisioned users: the app's current user list, keyed by the app's own user id.
CREATE TABLE usage_provisioned (
    account_id INTEGER NOT NULL,
    app INTEGER NOT NULL,
    app_user_id TEXT NOT NULL,
    email TEXT NOT NULL,
    username TEXT,
    license TEXT,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (account_id, app, app_user_id)
) WITHOUT ROWID;
CREATE INDEX usage_provisioned_email ON usage_provisioned(account_id, app, email);

-- Org-chart snapshots: `open` while pages arrive, `current` once complete (at most
-- one per account; the previous current one is deleted when a new one completes).
CREATE TABLE usage_org_snapshots (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    custom_fields TEXT NOT NULL,          -- JSON array of names
    status TEXT NOT NULL,                 -- open | current
    created_ms INTEGER NOT NULL,
    completed_ms INTEGER
);
CREATE INDEX usage_org_snapshots_account ON usage_org_snapshots(account_id, status);

CREATE TABLE usage_org_people (
    account_id INTEGER NOT NULL,
    snapshot INTEGER NOT NULL,
    email TEXT NOT NULL,
    person TEXT NOT NULL,                 -- the Employee as JSON
    PRIMARY KEY (account_id, snapshot, email)
) WITHOUT ROWID;
