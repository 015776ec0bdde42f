-- Usage ingest without a per-app writer lock (see postgres/usage/push.rs): pushes
-- to one app run concurrently and merge their activity bitmaps inside one upsert,
-- `bits = usage_bits_or(stored, batch)`, under the row lock the upsert takes.

-- The bytewise OR of two activity bitmaps (usage_day_bits.bits: bit `id` of byte
-- `id / 8`), as long as the longer one. Both are zero-padded to one length and
-- ORed as bit strings (the hex input of `bit varying` keeps the bytes in order;
-- `varbit_send` gives them back after its 4-byte length).
CREATE FUNCTION usage_bits_or(a BYTEA, b BYTEA) RETURNS BYTEA
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT substring(varbit_send(
        CAST('x' || encode(a, 'hex') || repeat('00', length(b) - length(a)) AS bit varying)
        | CAST('x' || encode(b, 'hex') || repeat('00', length(a) - length(b)) AS bit varying)
    ) FROM 5)
$$;

-- Nearly every push moves the latest timestamp of most of its emails: room in
-- each page lets those updates stay heap-only (no new index entry, pruned in
-- place), which keeps the upsert cheap and the table from bloating.
ALTER TABLE usage_last SET (fillfactor = 50);

-- Raw usage events without the account column: the internal app id is unique
-- across accounts (and only ever looked up within the account), so (app,
-- timestamp, email, event) is the event's identity. 16 bytes less per event
-- (heap and key), on the table every push writes most to.
ALTER TABLE usage_events RENAME TO usage_events_0002;
ALTER INDEX usage_events_pkey RENAME TO usage_events_0002_pkey;
CREATE TABLE usage_events (
    app BIGINT NOT NULL,
    ts_ms BIGINT NOT NULL,
    email_id INTEGER NOT NULL,
    event_id INTEGER NOT NULL,
    PRIMARY KEY (app, ts_ms, email_id, event_id)
);
INSERT INTO usage_events (app, ts_ms, email_id, event_id)
    SELECT app, ts_ms, email_id, event_id FROM usage_events_0002;
DROP TABLE usage_events_0002;
