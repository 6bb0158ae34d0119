-- b4f8b3f584e0 (fix incorrect constraints, expand), SQLite.
-- Adds the unique constraint duplicate_trust_constraint on trust (trustor_user_id,
-- trustee_user_id, project_id, impersonation, expires_at), placed after the old
-- duplicate_trust_constraint_expanded, which the contract branch drops later.

-- trust: alembic batch rebuild, as SQLite cannot add a constraint in place. The
-- new table is created under a temporary name, the rows are copied, the old
-- table (and with it its indexes) is dropped and the new one renamed, after
-- which SQLite stores its text as CREATE TABLE "trust". This relies on
-- foreign_keys=OFF: then dropping a table that other tables reference neither
-- fails nor cascades.
CREATE TABLE _alembic_tmp_trust (
	id VARCHAR(64) NOT NULL, 
	trustor_user_id VARCHAR(64) NOT NULL, 
	trustee_user_id VARCHAR(64) NOT NULL, 
	project_id VARCHAR(64), 
	impersonation BOOLEAN NOT NULL, 
	deleted_at DATETIME, 
	expires_at DATETIME, 
	remaining_uses INTEGER, 
	extra TEXT, 
	expires_at_int BIGINT, 
	redelegated_trust_id VARCHAR(64), 
	redelegation_count INTEGER, 
	PRIMARY KEY (id), 
	CONSTRAINT duplicate_trust_constraint_expanded UNIQUE (trustor_user_id, trustee_user_id, project_id, impersonation, expires_at, expires_at_int), 
	CONSTRAINT duplicate_trust_constraint UNIQUE (trustor_user_id, trustee_user_id, project_id, impersonation, expires_at)
);

INSERT INTO _alembic_tmp_trust (id, trustor_user_id, trustee_user_id, project_id, impersonation, deleted_at, expires_at, remaining_uses, extra, expires_at_int, redelegated_trust_id, redelegation_count) SELECT id, trustor_user_id, trustee_user_id, project_id, impersonation, deleted_at, expires_at, remaining_uses, extra, expires_at_int, redelegated_trust_id, redelegation_count FROM trust;

-- strata: allow expand-drop-table: keystone b4f8b3f584e0, alembic batch rebuild of trust on SQLite to add duplicate_trust_constraint; keystone's test_sql_banned_operations bans nothing on SQLite, where batch mode recreates the table. The rows are already in _alembic_tmp_trust, which takes the name trust by the next statement.
DROP TABLE trust;

-- strata: allow expand-rename: keystone b4f8b3f584e0, the same batch rebuild: the new table takes back the name trust, so old code finds the table it knew (test_sql_banned_operations: no banned operations on SQLite).
ALTER TABLE _alembic_tmp_trust RENAME TO trust;
