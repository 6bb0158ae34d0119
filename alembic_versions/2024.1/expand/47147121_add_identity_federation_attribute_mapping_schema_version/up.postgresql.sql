-- The server default fills the new NOT NULL column for existing mappings.
ALTER TABLE mapping ADD COLUMN schema_version VARCHAR(5) DEFAULT '1.0' NOT NULL;
