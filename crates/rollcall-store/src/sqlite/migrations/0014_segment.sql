-- The Segment-compatible tracking API (SPEC §10.1).

-- A write key pushes to one connected app (by its public id) and nothing else.
ALTER TABLE credentials ADD COLUMN app_id TEXT;

-- The profile an identify gave a provisioned user (firstName, lastName, name,
-- title, team), as JSON; NULL for users pushed through the Developer API.
ALTER TABLE usage_provisioned ADD COLUMN profile TEXT;

-- messageIds already stored, so a retried message counts once. Keyed by the
-- message's own timestamp (as sent, before skew correction: a retry carries the
-- same one) before the id's hash, so current traffic appends at the end of the
-- B-tree instead of writing random pages all over it.
CREATE TABLE seg_messages (
    app INTEGER NOT NULL,
    ts_ms INTEGER NOT NULL,
    message_hash INTEGER NOT NULL,
    PRIMARY KEY (app, ts_ms, message_hash)
) WITHOUT ROWID;

-- Who a Segment identity (a userId or an anonymousId) is: the email the last
-- identify gave it (or an alias linked it to), NULL while unknown; and the
-- profile traits of its last identify.
CREATE TABLE seg_identities (
    app INTEGER NOT NULL,
    ident TEXT NOT NULL,
    email TEXT,
    PRIMARY KEY (app, ident)
) WITHOUT ROWID;

-- Identities an alias (or an identify naming both ids) linked, both ways.
CREATE TABLE seg_links (
    app INTEGER NOT NULL,
    ident TEXT NOT NULL,
    other TEXT NOT NULL,
    PRIMARY KEY (app, ident, other)
) WITHOUT ROWID;

-- Events of identities with no known email yet, counted once one is named.
CREATE TABLE seg_pending (
    app INTEGER NOT NULL,
    ident TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    event_name TEXT NOT NULL,
    day INTEGER NOT NULL,
    PRIMARY KEY (app, ident, ts_ms, event_name)
) WITHOUT ROWID;
