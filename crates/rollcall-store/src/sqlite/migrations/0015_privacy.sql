-- The privacy policy of the people measured (SPEC §11): the account's policy as
-- JSON (PUT replaces it; no row = the default, `domains`), and how many stored
-- records each redaction rule changed, counted at ingest by the rule's key.
CREATE TABLE privacy_policies (
    account_id INTEGER PRIMARY KEY,
    body TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE privacy_redaction_counts (
    account_id INTEGER NOT NULL,
    rule_key TEXT NOT NULL,
    records INTEGER NOT NULL,
    PRIMARY KEY (account_id, rule_key)
) WITHOUT ROWID;
