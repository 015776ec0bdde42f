-- Org-chart history (issue 19 #3). A completed snapshot is no longer deleted when
-- another becomes current: it turns `previous` and stays restorable. The account
-- keeps the current snapshot and the 9 most recently retired ones; `retired_seq`
-- counts, per account, the times a snapshot stopped being current, so the chart an
-- upload just replaced is always kept, even an old one that had been re-activated.
-- `mode` says whether, on completion, the snapshot replaced the current chart or
-- was merged into it.
ALTER TABLE usage_org_snapshots ADD COLUMN mode TEXT NOT NULL DEFAULT 'replace';
ALTER TABLE usage_org_snapshots ADD COLUMN retired_seq BIGINT;
