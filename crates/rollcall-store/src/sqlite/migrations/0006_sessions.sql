-- Dashboard sessions (SPEC §9): only the SHA-256 of the cookie's token is kept.
-- A session lives while its web user does; idle expiry is checked on each use.
CREATE TABLE ui_sessions (
    id INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    consumer_id INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL
);
CREATE INDEX ui_sessions_consumer ON ui_sessions(consumer_id);
