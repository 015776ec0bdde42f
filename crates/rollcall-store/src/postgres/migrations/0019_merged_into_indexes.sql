-- Listing clients or computers (every admin list, and a viewer's visibility on
-- each usage report) reads each one's merged identities by `merged_into`,
-- which had no index: three scans of the whole table per listed row (about
-- 50 ms a viewer's report with 500 logins). Few rows are merged, so the
-- indexes hold only those.
CREATE INDEX wf_clients_merged_into ON wf_clients (merged_into) WHERE merged_into IS NOT NULL;
CREATE INDEX wf_computers_merged_into ON wf_computers (merged_into) WHERE merged_into IS NOT NULL;
