-- Per app and local day, the version its day bitmaps (`usage_day_bits`) are
-- at: set to the app's new `last_version` by every transaction that changes
-- one of them (a push, an erasure). The store keeps bitmaps in memory with the
-- version they were read at (sqlite/usage/day_bits.rs), and a read uses them
-- only when its own snapshot holds that version. A day without a row has no
-- bitmap.
CREATE TABLE usage_day_versions (
    account_id INTEGER NOT NULL,
    app INTEGER NOT NULL,
    day INTEGER NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (account_id, app, day)
) WITHOUT ROWID;

INSERT INTO usage_day_versions (account_id, app, day, version)
SELECT DISTINCT b.account_id, b.app, b.day, a.last_version
FROM usage_day_bits b JOIN usage_apps a ON a.id = b.app;
