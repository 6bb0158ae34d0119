ALTER TABLE widget DROP COLUMN legacy_flag;
