-- The privacy policy of the people measured (SPEC §11): the account's policy as
-- JSON (PUT replaces it; no row = the default, `domains`), and how many stored
-- records each redaction rule changed, counted at ingest by the rule's key.
CREATE TABLE privacy_policies (
    account_id BIGINT PRIMARY KEY REFERENCES accounts(id),
    body TEXT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE TABLE privacy_redaction_counts (
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    rule_key TEXT NOT NULL,
    records BIGINT NOT NULL,
    PRIMARY KEY (account_id, rule_key)
);
