-- Legacy expand 079: widen id_mapping.local_id from VARCHAR(64) to VARCHAR(255), SQLite.
--
-- Done as sqlalchemy-migrate's alter_column does it on SQLite: move the old table
-- aside, create the new one under the real name (so its stored text stays
-- "CREATE TABLE id_mapping (", unquoted), copy the rows, drop the old one.
-- RENAME would rewrite foreign keys in other tables that point at id_mapping;
-- no table does. keystone defines no explicit index on id_mapping: its only
-- index is the automatic one of the domain_id UNIQUE constraint, which is
-- rebuilt with the new table, so there is no index to recreate.
ALTER TABLE id_mapping RENAME TO migration_tmp;

CREATE TABLE id_mapping (
	public_id VARCHAR(64) NOT NULL, 
	domain_id VARCHAR(64) NOT NULL, 
	local_id VARCHAR(255) NOT NULL, 
	entity_type VARCHAR(5) NOT NULL, 
	PRIMARY KEY (public_id), 
	CONSTRAINT domain_id UNIQUE (domain_id, local_id, entity_type)
);

INSERT INTO id_mapping (public_id, domain_id, local_id, entity_type) SELECT public_id, domain_id, local_id, entity_type FROM migration_tmp;

DROP TABLE migration_tmp;
