-- 11c3b243b4cb (remove service_provider.relay_state_prefix server default), SQLite.
-- The column keeps its type and NOT NULL; only its DEFAULT clause goes away.

-- service_provider: alembic batch rebuild, as SQLite cannot change a column
-- default in place. The new table is created under a temporary name, the rows
-- are copied, the old table (and with it its indexes) is dropped and the new
-- one renamed, after which SQLite stores its text as CREATE TABLE
-- "service_provider". This relies on foreign_keys=OFF: then dropping a table
-- that other tables reference neither fails nor cascades.
CREATE TABLE _alembic_tmp_service_provider (
	auth_url VARCHAR(256) NOT NULL, 
	id VARCHAR(64) NOT NULL, 
	enabled BOOLEAN NOT NULL, 
	description TEXT, 
	sp_url VARCHAR(256) NOT NULL, 
	relay_state_prefix VARCHAR(256) NOT NULL, 
	PRIMARY KEY (id)
);

INSERT INTO _alembic_tmp_service_provider (auth_url, id, enabled, description, sp_url, relay_state_prefix) SELECT auth_url, id, enabled, description, sp_url, relay_state_prefix FROM service_provider;

-- strata: allow expand-drop-table: keystone 11c3b243b4cb, alembic batch rebuild of service_provider on SQLite to drop the relay_state_prefix default; keystone's test_sql_banned_operations bans nothing on SQLite, where batch mode recreates the table. The rows are already in _alembic_tmp_service_provider, which takes the name service_provider by the next statement.
DROP TABLE service_provider;

-- strata: allow expand-rename: keystone 11c3b243b4cb, the same batch rebuild: the new table takes back the name service_provider, so old code finds the table it knew (test_sql_banned_operations: no banned operations on SQLite).
ALTER TABLE _alembic_tmp_service_provider RENAME TO service_provider;
