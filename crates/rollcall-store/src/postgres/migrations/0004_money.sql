-- Money (SPEC §4): spend records, contracts and contract PDF files.
--
-- Keyed by the appId string: apps live in another family's tables, and removing an
-- app deletes its money through delete_app_money in the same transaction.
-- Amounts are integer ten-thousandths of the currency unit (exact sums).
--
-- Keys, app ids, currencies and dates are TEXT COLLATE "C": they sort by bytes, as
-- in the embedded store, whatever locale the database was created with, so
-- listings come back in the same order on both backends. Dates stay the validated
-- `YYYY-MM-DD` text (fixed width, so byte order is date order): they round-trip
-- exactly, and DATE has no year 0, which the validation accepts.

CREATE TABLE spend_records (
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    signature_id TEXT COLLATE "C" NOT NULL,         -- the natural key
    app_id TEXT COLLATE "C" NOT NULL,
    created_ms BIGINT NOT NULL,
    amount_units BIGINT NOT NULL,
    currency TEXT COLLATE "C" NOT NULL,             -- ISO 4217
    kind TEXT NOT NULL CHECK (kind IN ('expense', 'invoice')),
    vendor TEXT,
    identifier TEXT,
    name TEXT,
    category TEXT,
    stored_ms BIGINT NOT NULL,
    PRIMARY KEY (account_id, signature_id)
);
-- Spend totals of an app over a time range read only this index.
CREATE INDEX spend_by_app_created ON spend_records (account_id, app_id, created_ms)
    INCLUDE (currency, amount_units);
-- The full listing (CSV download), in its order.
CREATE INDEX spend_by_created ON spend_records (account_id, created_ms, signature_id);

CREATE TABLE contracts (
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    contract_id TEXT COLLATE "C" NOT NULL,          -- the natural key
    app_id TEXT COLLATE "C" NOT NULL,
    vendor TEXT,
    start_date TEXT COLLATE "C" NOT NULL,           -- YYYY-MM-DD
    end_date TEXT COLLATE "C" NOT NULL,             -- YYYY-MM-DD
    licenses_purchased BIGINT NOT NULL,
    annual_cost_units BIGINT NOT NULL,
    currency TEXT COLLATE "C" NOT NULL,
    stored_ms BIGINT NOT NULL,
    PRIMARY KEY (account_id, contract_id)
);
CREATE INDEX contracts_by_app ON contracts (account_id, app_id, end_date);

-- A contract's PDFs. The bytes are kept out of line (TOAST) and uncompressed
-- (PDFs are compressed already), so listing metadata never reads them.
CREATE TABLE contract_files (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- upload order
    account_id BIGINT NOT NULL,
    file_id TEXT NOT NULL,                          -- random, shown to clients
    contract_id TEXT COLLATE "C" NOT NULL,
    name TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,                           -- hex
    uploaded_ms BIGINT NOT NULL,
    data BYTEA NOT NULL,
    UNIQUE (account_id, file_id),
    -- The same bytes are stored once per contract (a retried upload returns the
    -- stored file).
    UNIQUE (account_id, contract_id, sha256),
    FOREIGN KEY (account_id, contract_id) REFERENCES contracts (account_id, contract_id)
        ON DELETE CASCADE
);
ALTER TABLE contract_files ALTER COLUMN data SET STORAGE EXTERNAL;
