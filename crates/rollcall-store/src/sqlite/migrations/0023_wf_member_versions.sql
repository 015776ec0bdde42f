-- A version per account of who belongs to its groups, as a viewer limited to
-- groups sees it in the usage reports: the employee emails of the groups'
-- unmerged clients. Triggers bump it whenever a membership row or a client
-- appears, goes, or changes its account, employee email or merge, whatever
-- statement does it (group edits, client edits, merges, erasure); ingest that
-- only widens a client's seen times does not move it. Readers keep each
-- group list's emails and use them while the version they read in their own
-- snapshot is unchanged (`workforce/member_emails.rs`). An account without a
-- row is at version 0; rows are never deleted, so a version never comes back.
CREATE TABLE wf_member_versions (
    account_id INTEGER PRIMARY KEY,
    version INTEGER NOT NULL
);

CREATE TRIGGER wf_group_members_added AFTER INSERT ON wf_group_members BEGIN
    INSERT INTO wf_member_versions (account_id, version) VALUES (NEW.account_id, 1)
        ON CONFLICT DO UPDATE SET version = version + 1;
END;

CREATE TRIGGER wf_group_members_removed AFTER DELETE ON wf_group_members BEGIN
    INSERT INTO wf_member_versions (account_id, version) VALUES (OLD.account_id, 1)
        ON CONFLICT DO UPDATE SET version = version + 1;
END;

CREATE TRIGGER wf_group_members_moved AFTER UPDATE ON wf_group_members BEGIN
    INSERT INTO wf_member_versions (account_id, version) VALUES (OLD.account_id, 1)
        ON CONFLICT DO UPDATE SET version = version + 1;
    INSERT INTO wf_member_versions (account_id, version) VALUES (NEW.account_id, 1)
        ON CONFLICT DO UPDATE SET version = version + 1;
END;

CREATE TRIGGER wf_clients_added AFTER INSERT ON wf_clients BEGIN
    INSERT INTO wf_member_versions (account_id, version) VALUES (NEW.account_id, 1)
        ON CONFLICT DO UPDATE SET version = version + 1;
END;

CREATE TRIGGER wf_clients_removed AFTER DELETE ON wf_clients BEGIN
    INSERT INTO wf_member_versions (account_id, version) VALUES (OLD.account_id, 1)
        ON CONFLICT DO UPDATE SET version = version + 1;
END;

-- Only when a watched column really changes (as on PostgreSQL); the new
-- account is bumped too only when the client moved to another.
CREATE TRIGGER wf_clients_changed
AFTER UPDATE OF account_id, employee_email, merged_into ON wf_clients
WHEN OLD.account_id IS NOT NEW.account_id
    OR OLD.employee_email IS NOT NEW.employee_email
    OR OLD.merged_into IS NOT NEW.merged_into
BEGIN
    INSERT INTO wf_member_versions (account_id, version) VALUES (OLD.account_id, 1)
        ON CONFLICT DO UPDATE SET version = version + 1;
    INSERT INTO wf_member_versions (account_id, version)
        SELECT NEW.account_id, 1 WHERE NEW.account_id IS NOT OLD.account_id
        ON CONFLICT DO UPDATE SET version = version + 1;
END;
