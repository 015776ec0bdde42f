-- A version per account of who belongs to its groups, as a viewer limited to
-- groups sees it in the usage reports: the employee emails of the groups'
-- unmerged clients. Triggers bump it in the transaction of any change to a
-- membership row or to a client's existence, account, employee email or merge,
-- whatever statement does it (group edits, client edits, merges, deletions,
-- erasure); ingest that only widens a client's seen times does not. Readers
-- keep each group list's emails and use them while the version they read is
-- unchanged (`workforce/member_emails.rs`). An account without a row is at
-- version 0; rows are never deleted, so a version never comes back. The bump is
-- an upsert of the account's row: a second writer waits for the first to commit
-- and then adds to its version, so two commits never leave the same version.
CREATE TABLE wf_member_versions (
    account_id BIGINT PRIMARY KEY,
    version BIGINT NOT NULL
);

-- Membership rows change in bulk (a group's member list replaced, a merge
-- moving memberships, a deletion): one bump per account the statement touched.
CREATE FUNCTION wf_members_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO wf_member_versions AS v (account_id, version)
    SELECT DISTINCT c.account_id, 1 FROM changed c ORDER BY c.account_id
    ON CONFLICT (account_id) DO UPDATE SET version = v.version + 1;
    RETURN NULL;
END
$$;
CREATE TRIGGER wf_group_members_added AFTER INSERT ON wf_group_members
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION wf_members_changed();
CREATE TRIGGER wf_group_members_removed AFTER DELETE ON wf_group_members
    REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION wf_members_changed();
CREATE TRIGGER wf_clients_removed AFTER DELETE ON wf_clients
    REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION wf_members_changed();

-- Row by row where statements touch a row at a time: ingest upserts its
-- client (INSERT … ON CONFLICT DO UPDATE), and a row trigger on INSERT fires
-- only for a client really inserted, while a statement trigger would run on
-- every batch. Updates fire only when a column the viewer's people depend on
-- really changes (for membership rows, any column).
CREATE FUNCTION wf_member_row_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.account_id <> NEW.account_id THEN
        INSERT INTO wf_member_versions AS v (account_id, version)
        VALUES (LEAST(OLD.account_id, NEW.account_id), 1)
        ON CONFLICT (account_id) DO UPDATE SET version = v.version + 1;
        INSERT INTO wf_member_versions AS v (account_id, version)
        VALUES (GREATEST(OLD.account_id, NEW.account_id), 1)
        ON CONFLICT (account_id) DO UPDATE SET version = v.version + 1;
    ELSE
        INSERT INTO wf_member_versions AS v (account_id, version)
        VALUES (NEW.account_id, 1)
        ON CONFLICT (account_id) DO UPDATE SET version = v.version + 1;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER wf_clients_added AFTER INSERT ON wf_clients
    FOR EACH ROW EXECUTE FUNCTION wf_member_row_changed();
CREATE TRIGGER wf_clients_changed
    AFTER UPDATE OF account_id, employee_email, merged_into ON wf_clients
    FOR EACH ROW
    WHEN ((OLD.account_id, OLD.employee_email, OLD.merged_into)
          IS DISTINCT FROM (NEW.account_id, NEW.employee_email, NEW.merged_into))
    EXECUTE FUNCTION wf_member_row_changed();
CREATE TRIGGER wf_group_members_moved AFTER UPDATE ON wf_group_members
    FOR EACH ROW EXECUTE FUNCTION wf_member_row_changed();
