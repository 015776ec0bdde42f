-- Custom-app usage (SPEC §4): connected apps, usage events and their rollups,
-- provisioned users, org-chart snapshots. Times are Unix milliseconds; days are
-- local day numbers of the account's time zone.
--
-- Text keys that are ordered or paged on (emails, appUserId) use the "C" collation,
-- so order and cursors are byte order, as in the embedded store, whatever the
-- database's default collation is.

-- `id` is internal (small, compact in the big tables); `app_id` is the public id.
-- A push holds its app's row lock (FOR NO KEY UPDATE) until commit, which
-- serialises writes to one app across processes (see postgres/usage.rs).
CREATE TABLE usage_apps (
    id BIGSERIAL PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    app_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    status TEXT NOT NULL,                 -- connected | disconnected
    definition TEXT NOT NULL,             -- the AppDefinition as JSON
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    -- Bumped by every change of the provisioned users (keys cached lists and summaries).
    prov_version BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX usage_apps_account ON usage_apps(account_id, created_ms, id);

-- Event names interned per app (ids from 1; 0 stands for "any event" in
-- usage_day_bits). Rows are never removed while the app lives, so an event dropped
-- from a definition keeps its pushed data; `defined` says whether it may still be
-- pushed.
CREATE TABLE usage_event_names (
    account_id BIGINT NOT NULL,
    app BIGINT NOT NULL,
    event_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    defined BOOLEAN NOT NULL,
    PRIMARY KEY (account_id, app, event_id),
    UNIQUE (account_id, app, name)
);

-- Emails interned per account (lower-cased); ids are dense per account from 0, so
-- they index the activity bitmaps. Rows are never changed or removed.
CREATE TABLE usage_emails (
    account_id BIGINT NOT NULL,
    id INTEGER NOT NULL,
    email TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, email)
);

-- The next email id of each account. Interning new emails locks this row until
-- commit, so ids are handed out densely and become visible in id order.
CREATE TABLE usage_email_seq (
    account_id BIGINT PRIMARY KEY REFERENCES accounts(id),
    next_id INTEGER NOT NULL
);

-- Raw usage events; the key is the event's identity (timestamp, email, eventName),
-- so a re-push is ignored (ON CONFLICT DO NOTHING). No foreign keys on the big
-- tables: deleting an app deletes its rows explicitly.
CREATE TABLE usage_events (
    account_id BIGINT NOT NULL,
    app BIGINT NOT NULL,
    ts_ms BIGINT NOT NULL,
    email_id INTEGER NOT NULL,
    event_id INTEGER NOT NULL,
    PRIMARY KEY (account_id, app, ts_ms, email_id, event_id)
);

-- Rollup: per (app, event, local day) the bitmap of the email ids active that day
-- (bit `id` of byte `id / 8`); event_id 0 holds the OR of all events of the day.
-- A batch of events touches only its few distinct (event, day) rows.
CREATE TABLE usage_day_bits (
    account_id BIGINT NOT NULL,
    app BIGINT NOT NULL,
    event_id INTEGER NOT NULL,
    day INTEGER NOT NULL,
    bits BYTEA NOT NULL,
    PRIMARY KEY (account_id, app, event_id, day)
);

-- The exact latest event timestamp per (app, email).
CREATE TABLE usage_last (
    account_id BIGINT NOT NULL,
    app BIGINT NOT NULL,
    email_id INTEGER NOT NULL,
    last_ms BIGINT NOT NULL,
    PRIMARY KEY (account_id, app, email_id)
);

-- Provisioned users: the app's current user list, keyed by the app's own user id.
CREATE TABLE usage_provisioned (
    account_id BIGINT NOT NULL,
    app BIGINT NOT NULL,
    app_user_id TEXT COLLATE "C" NOT NULL,
    email TEXT COLLATE "C" NOT NULL,
    username TEXT,
    license TEXT,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (account_id, app, app_user_id)
);
CREATE INDEX usage_provisioned_email ON usage_provisioned(account_id, app, email);

-- Org-chart snapshots: `open` while pages arrive, `current` once complete (at most
-- one per account; the previous current one is deleted when a new one completes).
-- A current snapshot never changes, so (id, completed_ms) identifies its content.
CREATE TABLE usage_org_snapshots (
    id BIGSERIAL PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    custom_fields TEXT[] NOT NULL,
    status TEXT NOT NULL,                 -- open | current
    created_ms BIGINT NOT NULL,
    completed_ms BIGINT
);
CREATE INDEX usage_org_snapshots_account ON usage_org_snapshots(account_id, status, id);

CREATE TABLE usage_org_people (
    account_id BIGINT NOT NULL,
    snapshot BIGINT NOT NULL,
    email TEXT COLLATE "C" NOT NULL,
    person TEXT NOT NULL,                 -- the Employee as JSON
    PRIMARY KEY (account_id, snapshot, email)
);
