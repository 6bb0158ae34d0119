//! MySQL and MariaDB: `information_schema` for the database in use (`DATABASE()`). MySQL
//! keeps unique constraints as unique indexes, so they are listed as indexes; the engine,
//! character set and collation of each table are table options.

use diesel::RunQueryDsl;

use crate::backend::mysql::MysqlConnection;

use super::{action, add_columns, compared, generated_name, table_of, Row};
use crate::catalog::{Catalog, Check, ForeignKey, Index};

fn rows(conn: &mut MysqlConnection, sql: &str) -> diesel::QueryResult<Vec<Row>> {
    diesel::sql_query(sql).load::<Row>(conn)
}

/// Reads the catalog of the database in use.
pub(in crate::backend) fn read(conn: &mut MysqlConnection) -> diesel::QueryResult<Catalog> {
    let mut catalog = Catalog::default();
    let tables = rows(
        conn,
        "SELECT TABLE_NAME AS c1, ENGINE AS c2, TABLE_COLLATION AS c3, SUBSTRING_INDEX(TABLE_COLLATION, '_', 1) AS c4, \
         NULL AS c5, NULL AS c6, NULL AS c7, NULL AS c8 \
         FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'",
    )?;
    for row in tables {
        if !compared(&row.text(1)) {
            continue;
        }
        let table = catalog.tables.entry(row.text(1)).or_default();
        for (option, column) in [("engine", 2), ("collation", 3), ("charset", 4)] {
            if let Some(value) = row.get(column) {
                table.options.insert(option.to_owned(), value);
            }
        }
    }
    let columns = rows(
        conn,
        "SELECT TABLE_NAME AS c1, COLUMN_NAME AS c2, \
         CONCAT(COLUMN_TYPE, IF(EXTRA = '', '', CONCAT(' ', EXTRA))) AS c3, IS_NULLABLE AS c4, COLUMN_DEFAULT AS c5, \
         COLLATION_NAME AS c6, NULL AS c7, NULL AS c8 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()",
    )?;
    add_columns(&mut catalog, columns);
    let statistics = rows(
        conn,
        "SELECT TABLE_NAME AS c1, INDEX_NAME AS c2, CAST(NON_UNIQUE AS CHAR) AS c3, \
         CONCAT(COLUMN_NAME, IF(SUB_PART IS NULL, '', CONCAT('(', SUB_PART, ')'))) AS c4, \
         NULL AS c5, NULL AS c6, NULL AS c7, NULL AS c8 \
         FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
    )?;
    for row in statistics {
        let Some(table) = table_of(&mut catalog, &row.text(1)) else {
            continue;
        };
        if row.text(2) == "PRIMARY" {
            table.primary_key.push(row.text(4));
            continue;
        }
        let index = table
            .indexes
            .entry(row.text(2))
            .or_insert_with(|| Index { columns: Vec::new(), unique: row.text(3) == "0" });
        index.columns.push(row.text(4));
    }
    let foreign_keys = rows(
        conn,
        "SELECT k.TABLE_NAME AS c1, k.CONSTRAINT_NAME AS c2, k.COLUMN_NAME AS c3, k.REFERENCED_TABLE_NAME AS c4, \
         k.REFERENCED_COLUMN_NAME AS c5, r.UPDATE_RULE AS c6, r.DELETE_RULE AS c7, NULL AS c8 \
         FROM information_schema.KEY_COLUMN_USAGE k JOIN information_schema.REFERENTIAL_CONSTRAINTS r \
         ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME AND r.TABLE_NAME = k.TABLE_NAME \
         WHERE k.TABLE_SCHEMA = DATABASE() AND k.REFERENCED_TABLE_NAME IS NOT NULL \
         ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION",
    )?;
    let mut current: Option<(String, String, ForeignKey)> = None;
    let mut finished = Vec::new();
    for row in foreign_keys {
        let key = (row.text(1), row.text(2));
        if current.as_ref().is_some_and(|(table, name, _)| (table, name) != (&key.0, &key.1)) {
            finished.extend(current.take());
        }
        let entry = current.get_or_insert_with(|| {
            let generated = generated_name(&key.1, &key.0, &["_ibfk_"]);
            (
                key.0.clone(),
                key.1.clone(),
                ForeignKey {
                    columns: Vec::new(),
                    referred_table: row.text(4),
                    referred_columns: Vec::new(),
                    on_update: action(&row.text(6)),
                    on_delete: action(&row.text(7)),
                    name: (!generated).then(|| key.1.clone()),
                },
            )
        });
        entry.2.columns.push(row.text(3));
        entry.2.referred_columns.push(row.text(5));
    }
    finished.extend(current);
    for (table, _, key) in finished {
        if let Some(table) = table_of(&mut catalog, &table) {
            table.foreign_keys.insert(key);
        }
    }
    for row in check_constraints(conn)? {
        let table_name = row.text(1);
        if let Some(table) = table_of(&mut catalog, &table_name) {
            let name = row.text(2);
            // MariaDB names an unnamed table constraint CONSTRAINT_<n>, MySQL <table>_chk_<n>.
            let generated = name.strip_prefix("CONSTRAINT_").is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
                || generated_name(&name, &table_name, &["_chk_"]);
            table.checks.insert(Check { expression: row.text(3), name: (!generated).then_some(name) });
        }
    }
    Ok(catalog)
}

/// Check constraints: MariaDB names them per table (`CHECK_CONSTRAINTS.TABLE_NAME`), MySQL 8
/// per schema (no such column: error 1054); servers older than either have none to list.
fn check_constraints(conn: &mut MysqlConnection) -> diesel::QueryResult<Vec<Row>> {
    let mariadb = "SELECT TABLE_NAME AS c1, CONSTRAINT_NAME AS c2, CHECK_CLAUSE AS c3, NULL AS c4, NULL AS c5, \
                   NULL AS c6, NULL AS c7, NULL AS c8 FROM information_schema.CHECK_CONSTRAINTS \
                   WHERE CONSTRAINT_SCHEMA = DATABASE()";
    let mysql = "SELECT tc.TABLE_NAME AS c1, cc.CONSTRAINT_NAME AS c2, cc.CHECK_CLAUSE AS c3, NULL AS c4, NULL AS c5, \
                 NULL AS c6, NULL AS c7, NULL AS c8 FROM information_schema.TABLE_CONSTRAINTS tc \
                 JOIN information_schema.CHECK_CONSTRAINTS cc ON cc.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA \
                 AND cc.CONSTRAINT_NAME = tc.CONSTRAINT_NAME \
                 WHERE tc.TABLE_SCHEMA = DATABASE() AND tc.CONSTRAINT_TYPE = 'CHECK'";
    match rows(conn, mariadb) {
        Ok(found) => Ok(found),
        Err(_) => match rows(conn, mysql) {
            Ok(found) => Ok(found),
            Err(error) => {
                log::debug!("no check constraints listed: {error}");
                Ok(Vec::new())
            }
        },
    }
}
