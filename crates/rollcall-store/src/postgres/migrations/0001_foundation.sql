-- Accounts, web users, credentials, the audit chain and server-wide secrets.
-- Times are Unix milliseconds (BIGINT), as in the embedded store.

CREATE TABLE accounts (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    time_zone TEXT NOT NULL DEFAULT 'UTC',
    passive_limit_minutes BIGINT DEFAULT 5,         -- NULL = unlimited
    activity_retention_days BIGINT NOT NULL DEFAULT 365,
    usage_retention_days BIGINT NOT NULL DEFAULT 730,
    rate_per_second BIGINT NOT NULL DEFAULT 100,
    rate_burst BIGINT NOT NULL DEFAULT 200,
    created_ms BIGINT NOT NULL
);

CREATE TABLE consumers (
    id BIGSERIAL PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT,
    viewable_groups TEXT NOT NULL DEFAULT '[-1]',   -- JSON array; -1 = all
    allowed_apps TEXT,                              -- JSON array; NULL = all
    created_ms BIGINT NOT NULL,
    UNIQUE (account_id, email)
);
CREATE INDEX consumers_email ON consumers(email);

CREATE TABLE credentials (
    id BIGSERIAL PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    kind TEXT NOT NULL,                             -- apiKey | oauthClient
    name TEXT NOT NULL,
    consumer_id BIGINT,                             -- the web user an API key acts as
    created_by TEXT NOT NULL,                       -- email of the creating web user
    client_id TEXT UNIQUE,
    secret_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,                           -- space-separated (OAuth clients)
    created_ms BIGINT NOT NULL,
    revoked_ms BIGINT
);
CREATE INDEX credentials_account ON credentials(account_id);

CREATE TABLE access_tokens (
    token_hash TEXT PRIMARY KEY,
    credential_id BIGINT NOT NULL REFERENCES credentials(id),
    scopes TEXT NOT NULL,
    expires_ms BIGINT NOT NULL
);
CREATE INDEX access_tokens_expiry ON access_tokens(expires_ms);
CREATE INDEX access_tokens_credential ON access_tokens(credential_id);

CREATE TABLE audit_events (
    account_id BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    id TEXT NOT NULL,
    ts_ms BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    user_id TEXT NOT NULL,
    properties TEXT NOT NULL DEFAULT '',
    hash TEXT NOT NULL,
    PRIMARY KEY (account_id, seq)
);
CREATE INDEX audit_events_ts ON audit_events(account_id, ts_ms, seq);

-- The newest link of each account's chain: where the next event attaches (its
-- row is locked until the appending transaction commits, so chain order is
-- commit order), and what `audit verify` compares the end of the chain with.
CREATE TABLE audit_heads (
    account_id BIGINT PRIMARY KEY,
    seq BIGINT NOT NULL,
    ts_ms BIGINT NOT NULL,
    hash TEXT NOT NULL
);

CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);
