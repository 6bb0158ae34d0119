-- Drop the unique index that duplicates project_tag's primary key. Its name depends on
-- what created it: `project_id` (alembic: MySQL names an unnamed key after its first
-- column) or `project_tag_project_id_key` style (old sqlalchemy-migrate code). As keystone
-- does, look for the non-PRIMARY index whose columns are exactly (project_id, name) in
-- that order, drop it, and do nothing when there is none. The SQL is static, so the
-- statement is built in a user variable and run as a prepared statement.
--
-- Unique indexes are preferred, as keystone takes the first match in SHOW CREATE TABLE
-- order, where unique keys come before plain ones.
SET @strata_c88cdce8f248_index = (
    SELECT index_name
    FROM information_schema.statistics
    WHERE table_schema = DATABASE()
      AND table_name = 'project_tag'
      AND index_name <> 'PRIMARY'
    GROUP BY index_name, non_unique
    HAVING COUNT(*) = 2
       AND SUM(seq_in_index = 1 AND column_name = 'project_id') = 1
       AND SUM(seq_in_index = 2 AND column_name = 'name') = 1
    ORDER BY non_unique, index_name
    LIMIT 1
);

-- Backticks inside the name are doubled; `DO 0` is the no-op when nothing was found.
SET @strata_c88cdce8f248_sql = IF(
    @strata_c88cdce8f248_index IS NULL,
    'DO 0',
    CONCAT('DROP INDEX `', REPLACE(@strata_c88cdce8f248_index, '`', '``'), '` ON project_tag')
);

-- strata: allow unparsable: keystone c88cdce8f248 finds the index to drop at run time, so the DROP INDEX is built above and run as a prepared statement; the SQL parser reads PREPARE ... AS, not MySQL's PREPARE ... FROM @variable. Dropping an index is allowed in contract (test_sql_banned_operations bans drop_index in expand only).
PREPARE strata_c88cdce8f248 FROM @strata_c88cdce8f248_sql;

EXECUTE strata_c88cdce8f248;

DEALLOCATE PREPARE strata_c88cdce8f248;

SET @strata_c88cdce8f248_index = NULL, @strata_c88cdce8f248_sql = NULL;
