-- The Segment-compatible tracking API (SPEC §10.1); see the embedded store's
-- migration 0014 for what each table is for.

ALTER TABLE credentials ADD COLUMN app_id TEXT;

-- The profile an identify gave a provisioned user (firstName, lastName, name,
-- title, team), as JSON; NULL for users pushed through the Developer API.
ALTER TABLE usage_provisioned ADD COLUMN profile TEXT;

-- Keyed time-first (the message's own timestamp) so current traffic appends.
CREATE TABLE seg_messages (
    app BIGINT NOT NULL,
    ts_ms BIGINT NOT NULL,
    message_hash BIGINT NOT NULL,
    PRIMARY KEY (app, ts_ms, message_hash)
);

CREATE TABLE seg_identities (
    app BIGINT NOT NULL,
    ident TEXT NOT NULL,
    email TEXT,
    PRIMARY KEY (app, ident)
);

CREATE TABLE seg_links (
    app BIGINT NOT NULL,
    ident TEXT NOT NULL,
    other TEXT NOT NULL,
    PRIMARY KEY (app, ident, other)
);

CREATE TABLE seg_pending (
    app BIGINT NOT NULL,
    ident TEXT NOT NULL,
    ts_ms BIGINT NOT NULL,
    event_name TEXT NOT NULL,
    day INTEGER NOT NULL,
    PRIMARY KEY (app, ident, ts_ms, event_name)
);
