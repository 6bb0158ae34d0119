//! SQLite, the embedded default. DDL is transactional; the connection runs with foreign keys
//! off, as Python's sqlite3 driver does for keystone, so that table rebuilds (alembic's batch
//! mode) can drop and rename tables that others reference.

use std::path::{Path, PathBuf};

use diesel::connection::SimpleConnection;
use diesel::{Connection, SqliteConnection};

use super::{diesel_primitives, Access, Backend, DbError};
use crate::url::{DatabaseUrl, Dialect, Target};

/// A SQLite database file.
pub(super) struct SqliteBackend {
    conn: SqliteConnection,
}

impl SqliteBackend {
    const DIALECT: Dialect = Dialect::Sqlite;
}

// BEGIN IMMEDIATE takes the write lock at once, so two runs cannot both plan from the same
// state and then collide half-way.
diesel_primitives!(
    SqliteBackend,
    begin: "BEGIN IMMEDIATE",
    tables: "SELECT name AS value FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
    placeholders: ["?", "?", "?"]
);

pub(super) fn connect(
    url: &DatabaseUrl,
    access: Access,
) -> Result<Option<Box<dyn Backend>>, DbError> {
    let Target::File(path) = &url.target else {
        unreachable!("sqlite URLs always name a file")
    };
    let failure = |message: String| DbError::Connect {
        url: url.to_string(),
        message,
    };
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !directory.is_dir() {
        return Err(failure(format!(
            "directory {} does not exist; create it or fix the path in the URL",
            directory.display()
        )));
    }
    if access == Access::ReadOnly && !path.exists() {
        log::debug!(
            "{} does not exist yet: reporting an empty database",
            path.display()
        );
        return Ok(None);
    }
    let target = match access {
        Access::ReadOnly => read_only_uri(path),
        Access::ReadWrite => path.to_string_lossy().into_owned(),
    };
    let mut conn =
        SqliteConnection::establish(&target).map_err(|error| failure(error.to_string()))?;
    conn.batch_execute("PRAGMA foreign_keys = OFF; PRAGMA busy_timeout = 60000;")
        .map_err(|error| failure(error.to_string()))?;
    Ok(Some(Box::new(SqliteBackend { conn })))
}

/// A `file:` URI that opens the database without write access, so that read-only commands
/// cannot change it even by accident.
fn read_only_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for character in path.to_string_lossy().chars() {
        match character {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3f"),
            '#' => uri.push_str("%23"),
            other => uri.push(other),
        }
    }
    uri.push_str("?mode=ro");
    uri
}
