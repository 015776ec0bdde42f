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
