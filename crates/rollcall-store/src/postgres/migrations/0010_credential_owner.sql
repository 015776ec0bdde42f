-- OAuth clients belong to the web user who created them (SPEC §13): they never
-- exceed that user's role and stop when the user is removed. Existing clients
-- are given to the web user whose email created them; a client whose creator
-- is gone has no owner and stops working.
ALTER TABLE credentials ADD COLUMN owner_id BIGINT;
UPDATE credentials SET owner_id = (
    SELECT u.id FROM consumers u
    WHERE u.account_id = credentials.account_id AND u.email = credentials.created_by
) WHERE kind = 'oauthClient';
CREATE INDEX credentials_owner ON credentials(account_id, owner_id);
CREATE INDEX audit_events_type ON audit_events(account_id, event_type, ts_ms);
