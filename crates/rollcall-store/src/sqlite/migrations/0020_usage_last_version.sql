-- Bumped in the transaction of every change to an app's latest times
-- (`usage_last`, and its pending rows since 0022: a push, an erasure): the
-- store keeps each app's latest times in memory with the version they are
-- (sqlite/usage/report_cache.rs), and a read uses them only when its own
-- snapshot holds that version.
ALTER TABLE usage_apps ADD COLUMN last_version INTEGER NOT NULL DEFAULT 0;
