-- 47147121 (add mapping.schema_version), SQLite.
-- ADD COLUMN works in place here: SQLite splices the column definition, as written
-- below, into the stored CREATE TABLE text after the last column. Existing rows
-- read the default '1.0'.
ALTER TABLE mapping ADD COLUMN schema_version VARCHAR(5) DEFAULT '1.0' NOT NULL;
