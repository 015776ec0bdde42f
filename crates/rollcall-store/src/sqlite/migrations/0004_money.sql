-- Money (SPEC §4): spend records, contracts and contract PDF files.
-- Keyed by the appId string: apps live in another family's tables, and removing an
-- app deletes its money through delete_app_money in the same transaction.
-- Amounts are integer ten-thousandths of the currency unit (exact sums).

CREATE TABLE spend_records (
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    signature_id TEXT NOT NULL,                     -- the natural key
    app_id TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    amount_units INTEGER NOT NULL,
    currency TEXT NOT NULL,                         -- ISO 4217
    kind TEXT NOT NULL,                             -- expense | invoice
    vendor TEXT,
    identifier TEXT,
    name TEXT,
    category TEXT,
    stored_ms INTEGER NOT NULL,
    PRIMARY KEY (account_id, signature_id)
) WITHOUT ROWID;
CREATE INDEX spend_by_app_created ON spend_records (account_id, app_id, created_ms);
CREATE INDEX spend_by_created ON spend_records (account_id, created_ms, signature_id);

CREATE TABLE contracts (
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    contract_id TEXT NOT NULL,                      -- the natural key
    app_id TEXT NOT NULL,
    vendor TEXT,
    start_date TEXT NOT NULL,                       -- YYYY-MM-DD
    end_date TEXT NOT NULL,                         -- YYYY-MM-DD
    licenses_purchased INTEGER NOT NULL,
    annual_cost_units INTEGER NOT NULL,
    currency TEXT NOT NULL,
    stored_ms INTEGER NOT NULL,
    PRIMARY KEY (account_id, contract_id)
) WITHOUT ROWID;
CREATE INDEX contracts_by_app ON contracts (account_id, app_id, end_date);

-- The bytes live in the (encrypted) database, in the last column so that listing
-- metadata does not read them.
CREATE TABLE contract_files (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL,
    file_id TEXT NOT NULL,                          -- random, shown to clients
    contract_id TEXT NOT NULL,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    uploaded_ms INTEGER NOT NULL,
    data BLOB NOT NULL,
    UNIQUE (account_id, file_id),
    FOREIGN KEY (account_id, contract_id) REFERENCES contracts (account_id, contract_id)
        ON DELETE CASCADE
);
CREATE INDEX contract_files_by_contract ON contract_files (account_id, contract_id, sha256);
