-- Dashboard sessions (SPEC §9): only the SHA-256 of the cookie's token is kept,
-- in the shared database so that logout and revocation reach every process.
CREATE TABLE ui_sessions (
    id BIGSERIAL PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    consumer_id BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    last_seen_ms BIGINT NOT NULL
);
CREATE INDEX ui_sessions_consumer ON ui_sessions(consumer_id);
