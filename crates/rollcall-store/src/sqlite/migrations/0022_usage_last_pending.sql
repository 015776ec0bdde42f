-- Latest times a push has not folded into usage_last yet (sqlite/usage/last.rs):
-- a push appends its batch's (email id, latest time) pairs as one compact row
-- instead of upserting a usage_last row per email, and every 64th pending row
-- of an app folds them all into usage_last in one pass. An email's latest time
-- is the later of its usage_last row and its pending pairs.
CREATE TABLE usage_last_pending (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL,
    app INTEGER NOT NULL,
    times BLOB NOT NULL
);
CREATE INDEX usage_last_pending_app ON usage_last_pending(account_id, app, id);
