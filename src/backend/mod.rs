//! Database backends: one small trait, implemented once per engine on top of diesel.
//!
//! The trait holds only primitives (run a statement, read rows, write a version row,
//! transactions); everything that decides *what* to run lives in the planner and the
//! executor, written once for all engines. What differs per engine is visible here and in
//! the per-engine files: the catalog query that lists tables, placeholder syntax, whether DDL
//! is transactional, and how to connect.

mod mysql;
mod postgres;
mod sqlite;

use std::fmt;

use thiserror::Error;

use crate::lock::LockOptions;
use crate::state::{DatabaseState, Interrupted, LegacyRow, UnitId};
use crate::url::{DatabaseUrl, Dialect};

/// `alembic_version` exactly as alembic creates it (the text is what SQLite stores, so it
/// keeps alembic's layout byte for byte).
pub const CREATE_ALEMBIC_VERSION: &str =
    "CREATE TABLE alembic_version (\n\tversion_num VARCHAR(32) NOT NULL, \n\tCONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)\n)";

/// The table whose existence is the `db_sync` lock on MySQL/MariaDB (it exists only while a
/// run holds the lock, or after a run was killed).
pub const LOCK_TABLE: &str = "strata_db_sync_lock";

/// A failure reported by the database or its driver. Messages never contain a password:
/// URLs are shown redacted, and drivers do not echo credentials.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DbError {
    /// The connection could not be established.
    #[error("cannot connect to {url}: {message}")]
    Connect {
        /// The URL, password hidden.
        url: String,
        /// What the driver said.
        message: String,
    },
    /// A statement failed.
    #[error("{context}: {message}")]
    Statement {
        /// What strata was doing.
        context: String,
        /// What the database said.
        message: String,
    },
    /// A version row was not where the plan expected it: another process changed it.
    #[error("{0}")]
    Concurrent(String),
    /// Another `db_sync` held the lock for longer than the timeout.
    #[error("gave up after waiting {waited_secs} s for the db_sync lock, held by {holder}: wait for that run to finish (or make sure it is dead), then run db_sync again")]
    LockTimeout {
        /// Who holds it.
        holder: String,
        /// How long strata waited.
        waited_secs: u64,
    },
}

impl DbError {
    /// Wraps a driver error with what strata was doing.
    pub fn statement(context: impl fmt::Display, error: impl fmt::Display) -> DbError {
        DbError::Statement { context: context.to_string(), message: one_line(&error.to_string()) }
    }
}

/// Database messages can span lines (PostgreSQL adds DETAIL/HINT lines); errors are one line.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// How a command uses the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `db_version`, `db_sync --check`: nothing is created, not even a SQLite file.
    ReadOnly,
    /// `db_sync`.
    ReadWrite,
}

/// The SQL primitives every backend provides, written once for all diesel connections by
/// the `diesel_primitives!` macro.
pub trait Primitives {
    /// Runs one statement, as text (no parameters).
    fn execute(&mut self, statement: &str) -> Result<(), DbError>;

    /// Every table of the database (the schema in use), sorted, version tables included.
    fn list_tables(&mut self) -> Result<Vec<String>, DbError>;

    /// The rows of `alembic_version`.
    fn alembic_rows(&mut self) -> Result<Vec<String>, DbError>;

    /// The rows of `migrate_version`.
    fn legacy_rows(&mut self) -> Result<Vec<LegacyRow>, DbError>;

    /// Inserts a row into `alembic_version`.
    fn insert_alembic_row(&mut self, revision: &str) -> Result<(), DbError>;

    /// Replaces `from` by `to` in `alembic_version`; returns the rows matched.
    fn update_alembic_row(&mut self, from: &str, to: &str) -> Result<usize, DbError>;

    /// Deletes a row from `alembic_version`; returns the rows matched.
    fn delete_alembic_row(&mut self, revision: &str) -> Result<usize, DbError>;

    /// Moves a `migrate_version` row from one version to the next, as sqlalchemy-migrate
    /// does; returns the rows matched.
    fn update_legacy_row(&mut self, repository_id: &str, from: i64, to: i64) -> Result<usize, DbError>;
}

/// The operations strata needs from a database: the primitives plus what differs in kind
/// between engines (transactions, the `db_sync` lock, progress records).
pub trait Backend: Primitives {
    /// Which engine this is.
    fn dialect(&self) -> Dialect;

    /// Takes the `db_sync` lock, waiting up to `options.timeout` and saying who holds it.
    fn lock(&mut self, options: &LockOptions) -> Result<(), DbError>;

    /// Releases the `db_sync` lock (and, on SQLite, commits the run).
    fn unlock(&mut self) -> Result<(), DbError>;

    /// Whether DDL takes part in transactions (PostgreSQL, SQLite) or commits on its own
    /// (MySQL/MariaDB).
    fn transactional_ddl(&self) -> bool {
        self.dialect() != Dialect::Mysql
    }

    /// Opens a transaction for one unit of work.
    fn begin(&mut self) -> Result<(), DbError> {
        self.execute("BEGIN")
    }

    /// Commits the unit's transaction.
    fn commit(&mut self) -> Result<(), DbError> {
        self.execute("COMMIT")
    }

    /// Rolls the unit's transaction back.
    fn rollback(&mut self) -> Result<(), DbError> {
        self.execute("ROLLBACK")
    }

    /// Runs statements in order and stops at the first failure, returned with its index.
    /// Backends that pay a round trip per statement may send them together.
    fn execute_all(&mut self, statements: &[String]) -> Result<(), (usize, DbError)> {
        for (index, statement) in statements.iter().enumerate() {
            self.execute(statement).map_err(|error| (index, error))?;
        }
        Ok(())
    }

    /// Without transactional DDL: records the unit in progress and, when known, the last of
    /// its statements that may have been applied (`None`: no unit in progress), so that an
    /// interrupted run is detected and resumed.
    fn record_progress(&mut self, _progress: Option<(&UnitId, Option<usize>)>) -> Result<(), DbError> {
        Ok(())
    }

    /// A unit recorded as started and not finished, if the backend records progress.
    fn read_interrupted(&mut self) -> Result<Option<Interrupted>, DbError> {
        Ok(None)
    }

    /// Whether a failure of a statement that an interrupted run may already have applied
    /// means exactly that ("already exists", "duplicate key name", ...).
    fn is_already_applied(&self, _message: &str) -> bool {
        false
    }

    /// Reads what the planner needs. Never writes.
    fn read_state(&mut self) -> Result<DatabaseState, DbError> {
        let mut tables = self.list_tables()?;
        let mut state = DatabaseState::default();
        if tables.iter().any(|table| table == "alembic_version") {
            state.alembic_versions = Some(self.alembic_rows()?);
        }
        if tables.iter().any(|table| table == "migrate_version") {
            state.legacy_versions = Some(self.legacy_rows()?);
        }
        if tables.iter().any(|table| table == LOCK_TABLE) {
            state.interrupted = self.read_interrupted()?;
        }
        tables.retain(|table| table != "alembic_version" && table != "migrate_version" && table != LOCK_TABLE);
        state.tables = tables;
        Ok(state)
    }
}

/// The outcome of one try at the `db_sync` lock.
pub(crate) enum Attempt {
    /// This run holds the lock now.
    Acquired,
    /// Someone else does, described for the operator.
    Held(String),
}

/// Tries for the lock until it is acquired or `options.timeout` has passed, saying once who
/// holds it. Every backend that polls shares this loop.
pub(crate) fn wait_for_lock(
    options: &LockOptions,
    mut attempt: impl FnMut() -> Result<Attempt, DbError>,
) -> Result<(), DbError> {
    let started = std::time::Instant::now();
    let mut announced = false;
    loop {
        let holder = match attempt()? {
            Attempt::Acquired => return Ok(()),
            Attempt::Held(holder) => holder,
        };
        if started.elapsed() >= options.timeout {
            return Err(DbError::LockTimeout { holder, waited_secs: started.elapsed().as_secs() });
        }
        if !std::mem::replace(&mut announced, true) {
            log::info!("Waiting for the db_sync lock, held by {holder}");
        }
        std::thread::sleep(crate::lock::POLL_INTERVAL);
    }
}

/// Connects to the database a URL names. For [`Access::ReadOnly`] a SQLite file that does
/// not exist yet is not created: `Ok(None)` means "an empty database".
pub fn connect(url: &DatabaseUrl, access: Access) -> Result<Option<Box<dyn Backend>>, DbError> {
    match url.dialect {
        Dialect::Sqlite => sqlite::connect(url, access),
        Dialect::Postgresql => postgres::connect(url).map(|backend| Some(Box::new(backend) as Box<dyn Backend>)),
        Dialect::Mysql => mysql::connect(url).map(|backend| Some(Box::new(backend) as Box<dyn Backend>)),
    }
}

/// A row with one text column named `value`.
#[derive(diesel::QueryableByName)]
struct TextRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    value: String,
}

/// A row of `migrate_version`.
#[derive(diesel::QueryableByName)]
struct LegacyRowSql {
    #[diesel(sql_type = diesel::sql_types::Text)]
    repository_id: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Integer>)]
    version: Option<i32>,
}

/// Implements the query primitives of [`Backend`] for one diesel connection type; only the
/// placeholder syntax differs between engines, so the statements are written once.
macro_rules! diesel_primitives {
    ($backend:ty, tables: $tables_sql:expr, placeholders: [$p1:literal, $p2:literal, $p3:literal]) => {
        impl $crate::backend::Primitives for $backend {
            fn execute(&mut self, statement: &str) -> Result<(), $crate::backend::DbError> {
                use diesel::connection::SimpleConnection;
                log::debug!(target: "strata::sql", "{statement}");
                self.conn.batch_execute(statement).map_err(|error| $crate::backend::DbError::statement("statement failed", error))
            }

            fn list_tables(&mut self) -> Result<Vec<String>, $crate::backend::DbError> {
                use diesel::RunQueryDsl;
                let rows = diesel::sql_query($tables_sql)
                    .load::<$crate::backend::TextRow>(&mut self.conn)
                    .map_err(|error| $crate::backend::DbError::statement("cannot list the tables", error))?;
                Ok(rows.into_iter().map(|row| row.value).collect())
            }

            fn alembic_rows(&mut self) -> Result<Vec<String>, $crate::backend::DbError> {
                use diesel::RunQueryDsl;
                let rows = diesel::sql_query("SELECT version_num AS value FROM alembic_version")
                    .load::<$crate::backend::TextRow>(&mut self.conn)
                    .map_err(|error| $crate::backend::DbError::statement("cannot read alembic_version", error))?;
                Ok(rows.into_iter().map(|row| row.value).collect())
            }

            fn legacy_rows(&mut self) -> Result<Vec<$crate::state::LegacyRow>, $crate::backend::DbError> {
                use diesel::RunQueryDsl;
                let rows = diesel::sql_query("SELECT repository_id, version FROM migrate_version")
                    .load::<$crate::backend::LegacyRowSql>(&mut self.conn)
                    .map_err(|error| $crate::backend::DbError::statement("cannot read migrate_version", error))?;
                Ok(rows
                    .into_iter()
                    .map(|row| $crate::state::LegacyRow { repository_id: row.repository_id, version: row.version.map(i64::from) })
                    .collect())
            }

            fn insert_alembic_row(&mut self, revision: &str) -> Result<(), $crate::backend::DbError> {
                use diesel::sql_types::Text;
                log::debug!(target: "strata::sql", "INSERT INTO alembic_version (version_num) VALUES ('{revision}')");
                let query = diesel::sql_query(concat!("INSERT INTO alembic_version (version_num) VALUES (", $p1, ")")).bind::<Text, _>(revision);
                { use diesel::RunQueryDsl; query.execute(&mut self.conn).map_err(|error| $crate::backend::DbError::statement("cannot insert into alembic_version", error)) }.map(drop)
            }

            fn update_alembic_row(&mut self, from: &str, to: &str) -> Result<usize, $crate::backend::DbError> {
                use diesel::sql_types::Text;
                log::debug!(target: "strata::sql", "UPDATE alembic_version SET version_num='{to}' WHERE alembic_version.version_num = '{from}'");
                let query = diesel::sql_query(concat!("UPDATE alembic_version SET version_num = ", $p1, " WHERE alembic_version.version_num = ", $p2))
                    .bind::<Text, _>(to)
                    .bind::<Text, _>(from);
                { use diesel::RunQueryDsl; query.execute(&mut self.conn).map_err(|error| $crate::backend::DbError::statement("cannot update alembic_version", error)) }
            }

            fn delete_alembic_row(&mut self, revision: &str) -> Result<usize, $crate::backend::DbError> {
                use diesel::sql_types::Text;
                log::debug!(target: "strata::sql", "DELETE FROM alembic_version WHERE alembic_version.version_num = '{revision}'");
                let query = diesel::sql_query(concat!("DELETE FROM alembic_version WHERE alembic_version.version_num = ", $p1)).bind::<Text, _>(revision);
                { use diesel::RunQueryDsl; query.execute(&mut self.conn).map_err(|error| $crate::backend::DbError::statement("cannot delete from alembic_version", error)) }
            }

            fn update_legacy_row(&mut self, repository_id: &str, from: i64, to: i64) -> Result<usize, $crate::backend::DbError> {
                use diesel::sql_types::{Integer, Text};
                log::debug!(target: "strata::sql", "UPDATE migrate_version SET version={to} WHERE version={from} AND repository_id='{repository_id}'");
                let narrow = |value: i64| i32::try_from(value).unwrap_or(i32::MAX);
                let query = diesel::sql_query(concat!("UPDATE migrate_version SET version = ", $p1, " WHERE version = ", $p2, " AND repository_id = ", $p3))
                    .bind::<Integer, _>(narrow(to))
                    .bind::<Integer, _>(narrow(from))
                    .bind::<Text, _>(repository_id);
                { use diesel::RunQueryDsl; query.execute(&mut self.conn).map_err(|error| $crate::backend::DbError::statement("cannot update migrate_version", error)) }
            }
        }
    };
}

pub(crate) use diesel_primitives;
