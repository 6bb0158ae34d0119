-- Widen id_mapping.local_id from 64 to 255 characters. Only the length limit of
-- a varchar changes, so PostgreSQL neither rewrites the table nor rebuilds the
-- unique index "domain_id" that covers the column.
ALTER TABLE id_mapping ALTER COLUMN local_id TYPE VARCHAR(255);
