-- Xena: widen id_mapping.local_id from 64 to 255 characters (the statement keystone's
-- sqlalchemy-migrate step issues on MySQL, verbatim).
ALTER TABLE id_mapping CHANGE COLUMN local_id local_id VARCHAR(255) NOT NULL;
