//! Database backends: one small trait, implemented once per engine on top of diesel.
//!
//! A backend does three things, and owns how it does them on its engine:
//! - [`Backend::read_state`]: what the planner needs to know, read-only;
//! - [`Backend::lock`]: the `db_sync` lock, as a [`LockGuard`] that releases on drop;
//! - [`Backend::apply`]: one [`Unit`] of a plan (its statements and its version-row change),
//!   resuming where an earlier, interrupted run stopped.
//!
//! For `verify` a backend also reads its catalog ([`Backend::catalog`], `introspect/`), and
//! [`ScratchDatabase`] (`scratch.rs`) gives it an empty database to build the expected schema
//! in, dropped on every way out.
//!
//! PostgreSQL and SQLite apply a unit as one transaction ([`apply_in_transaction`]).
//! MySQL/MariaDB commits each DDL statement on its own, so `mysql.rs` keeps a progress
//! record per unit instead. [`ScriptWriter`] (`script.rs`) is the backend of
//! `db_sync --sql`: it applies units through the same code, writing the SQL instead of
//! running it. Adding an engine takes a file here, a [`Dialect`] variant, and the
//! dialect's cases listed in `dialect.rs`.

mod error;
mod introspect;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgresql")]
mod postgres;
#[cfg(any(feature = "postgresql", feature = "mysql"))]
mod runtime;
pub mod scratch;
mod script;
mod sqlite;
#[cfg(test)]
mod tests;
#[cfg(feature = "postgresql")]
mod tls;

use crate::catalog::Catalog;
use crate::dialect::Dialect;
use crate::lock::LockOptions;
use crate::state::{DatabaseState, LegacyRow, UnitId};
use crate::url::DatabaseUrl;

pub use error::{DbError, DriverError, ErrorKind, StatementFailure};
pub use introspect::NOT_COMPARED;
pub use scratch::ScratchDatabase;
pub use script::ScriptWriter;

/// `alembic_version` exactly as alembic creates it (the text is what SQLite stores, so it
/// keeps alembic's layout byte for byte).
pub const CREATE_ALEMBIC_VERSION: &str =
    "CREATE TABLE alembic_version (\n\tversion_num VARCHAR(32) NOT NULL, \n\tCONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)\n)";

/// How a command uses the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `db_version`, `db_sync --check`: nothing is created, not even a SQLite file.
    ReadOnly,
    /// `db_sync`.
    ReadWrite,
}

/// How the version tables change when a unit is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionChange {
    /// A legacy repository's row moves from one version to the next.
    Legacy {
        /// The repository.
        repository_id: String,
        /// The version the row holds before.
        from: i64,
        /// The version it holds after.
        to: i64,
    },
    /// A new `alembic_version` row (a branch's first revision, or the stamp).
    Insert(String),
    /// The parent's row becomes this revision's; merge revisions remove further parents.
    Update {
        /// The row replaced.
        from: String,
        /// The new row.
        to: String,
        /// Further parent rows removed.
        delete: Vec<String>,
    },
}

impl std::fmt::Display for VersionChange {
    /// `migrate_version keystone_expand: 72 -> 73`, `alembic_version: insert 27e647c0fad4`,
    /// `alembic_version: 27e647c0fad4 -> 29e87d24a316` (`, delete <row>` for a merge).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VersionChange::Legacy { repository_id, from, to } => {
                write!(f, "migrate_version {repository_id}: {from} -> {to}")
            }
            VersionChange::Insert(revision) => write!(f, "alembic_version: insert {revision}"),
            VersionChange::Update { from, to, delete } => {
                write!(f, "alembic_version: {from} -> {to}")?;
                delete.iter().try_for_each(|row| write!(f, ", delete {row}"))
            }
        }
    }
}

/// One unit of a plan: a legacy version, the stamp, or a revision.
#[derive(Debug, Clone)]
pub struct Unit<'t> {
    /// Which unit.
    pub id: UnitId,
    /// How the operator knows it: `revision 27e647c0fad4 (2023.1/expand/27e6…)`.
    pub title: String,
    /// Whether `alembic_version` must be created first.
    pub create_version_table: bool,
    /// The statements, in order, for the backend's dialect.
    pub statements: &'t [String],
    /// The version-row change that records the unit as done.
    pub version: VersionChange,
}

/// The database-side `db_sync` lock, while held.
pub trait HeldLock {
    /// Fails once the lock is known to be lost (another run took it over), so that the run
    /// stops before its next unit.
    fn verify(&mut self) -> Result<(), DbError>;
    /// Releases the lock.
    fn release(&mut self) -> Result<(), DbError>;
}

/// The `db_sync` lock: released by [`LockGuard::release`], or on drop (then with a warning
/// if releasing fails).
pub struct LockGuard(Option<Box<dyn HeldLock>>);

impl LockGuard {
    /// Wraps a backend's held lock.
    pub fn new(held: Box<dyn HeldLock>) -> LockGuard {
        LockGuard(Some(held))
    }

    /// See [`HeldLock::verify`].
    pub fn verify(&mut self) -> Result<(), DbError> {
        match &mut self.0 {
            Some(held) => held.verify(),
            None => Ok(()),
        }
    }

    /// Releases the lock, reporting a failure to do so.
    pub fn release(mut self) -> Result<(), DbError> {
        match self.0.take() {
            Some(mut held) => held.release(),
            None => Ok(()),
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(mut held) = self.0.take() {
            if let Err(error) = held.release() {
                log::warn!("could not release the db_sync lock: {error}");
            }
        }
    }
}

/// What strata needs from a database engine.
pub trait Backend {
    /// Which engine this is.
    fn dialect(&self) -> Dialect;

    /// Reads what the planner needs. Never writes.
    fn read_state(&mut self) -> Result<DatabaseState, DbError>;

    /// Takes the `db_sync` lock, waiting up to `options.timeout` and saying who holds it.
    fn lock(&mut self, options: &LockOptions) -> Result<LockGuard, DbError>;

    /// Applies one unit and records it in the version tables, resuming it if an earlier run
    /// was interrupted in its middle. On failure the error says what of the unit is applied.
    fn apply(&mut self, unit: &Unit<'_>) -> Result<(), DbError>;

    /// Reads the schema (`verify`): every table but the version tables and strata's own,
    /// read-only. Only backends connected to a database have one.
    fn catalog(&mut self) -> Result<Catalog, DbError> {
        Err(DbError::Query {
            context: "cannot read the catalog".into(),
            source: DriverError::unexpected("this backend is connected to no database"),
        })
    }

    /// Creates `migrate_version` with one row per repository (`verify`'s scratch database,
    /// before the legacy versions it records are applied).
    fn create_legacy_rows(&mut self, rows: &[(String, i64)]) -> Result<(), DbError> {
        let _ = rows;
        Err(DbError::Query {
            context: "cannot create migrate_version".into(),
            source: DriverError::unexpected("this backend is connected to no database"),
        })
    }
}

/// `migrate_version` as sqlalchemy-migrate creates it, in SQL every engine accepts.
pub const CREATE_MIGRATE_VERSION: &str = "CREATE TABLE migrate_version (repository_id VARCHAR(250) NOT NULL, repository_path TEXT, version INTEGER, PRIMARY KEY (repository_id))";

/// Creates `migrate_version` and its rows (see [`Backend::create_legacy_rows`]).
pub(crate) fn write_legacy_rows(
    conn: &mut dyn Primitives,
    dialect: Dialect,
    rows: &[(String, i64)],
) -> Result<(), DbError> {
    let failure = DbError::query("cannot create migrate_version");
    conn.execute(CREATE_MIGRATE_VERSION).map_err(&failure)?;
    for (repository_id, version) in rows {
        conn.execute(&format!(
            "INSERT INTO migrate_version (repository_id, repository_path, version) VALUES ({}, NULL, {version})",
            dialect.quote_literal(repository_id)
        ))
        .map_err(&failure)?;
    }
    Ok(())
}

/// Connects to the database a URL names. For [`Access::ReadOnly`] a SQLite file that does
/// not exist yet is not created: `Ok(None)` means "an empty database".
pub fn connect(url: &DatabaseUrl, access: Access) -> Result<Option<Box<dyn Backend>>, DbError> {
    match url.dialect {
        Dialect::Sqlite => sqlite::connect(url, access),
        #[cfg(feature = "postgresql")]
        Dialect::Postgresql => postgres::connect(url).map(|backend| Some(Box::new(backend) as Box<dyn Backend>)),
        #[cfg(feature = "mysql")]
        Dialect::Mysql => mysql::connect(url).map(|backend| Some(Box::new(backend) as Box<dyn Backend>)),
        #[allow(unreachable_patterns)]
        _ => Err(missing_engine(url)),
    }
}

/// The refusal of a URL whose engine this build was made without.
#[cfg_attr(all(feature = "postgresql", feature = "mysql"), allow(dead_code))]
pub(crate) fn missing_engine(url: &DatabaseUrl) -> DbError {
    DbError::Connect {
        url: url.to_string(),
        source: DriverError::unexpected(format!(
            "this strata-manage was built without {} support: build it with the cargo feature `{}`",
            url.dialect,
            url.dialect.name()
        )),
    }
}

/// The SQL primitives strata runs on every engine, written once for all diesel connections
/// by [`diesel_primitives!`].
pub trait Primitives {
    /// Runs one statement, as text (no parameters).
    fn execute(&mut self, statement: &str) -> Result<(), DriverError>;

    /// Every table of the database (the schema in use), sorted, version tables included.
    fn list_tables(&mut self) -> Result<Vec<String>, DriverError>;

    /// The rows of `alembic_version`.
    fn alembic_rows(&mut self) -> Result<Vec<String>, DriverError>;

    /// The rows of `migrate_version`.
    fn legacy_rows(&mut self) -> Result<Vec<LegacyRow>, DriverError>;

    /// Inserts a row into `alembic_version`.
    fn insert_alembic_row(&mut self, revision: &str) -> Result<(), DriverError>;

    /// Replaces `from` by `to` in `alembic_version`; returns the rows matched.
    fn update_alembic_row(&mut self, from: &str, to: &str) -> Result<usize, DriverError>;

    /// Deletes a row from `alembic_version`; returns the rows matched.
    fn delete_alembic_row(&mut self, revision: &str) -> Result<usize, DriverError>;

    /// Moves a `migrate_version` row from one version to the next, as sqlalchemy-migrate
    /// does; returns the rows matched.
    fn update_legacy_row(&mut self, repository_id: &str, from: i64, to: i64) -> Result<usize, DriverError>;
}

/// Reads the version tables and the names of all other tables; backends that keep tables
/// of their own remove them, and fill in `interrupted` if they keep progress records.
pub(crate) fn read_versions(conn: &mut dyn Primitives) -> Result<DatabaseState, DbError> {
    let mut tables = conn.list_tables().map_err(DbError::query("cannot list the tables"))?;
    let mut state = DatabaseState::default();
    if tables.iter().any(|table| table == "alembic_version") {
        state.alembic_versions = Some(conn.alembic_rows().map_err(DbError::query("cannot read alembic_version"))?);
    }
    if tables.iter().any(|table| table == "migrate_version") {
        state.legacy_versions = Some(conn.legacy_rows().map_err(DbError::query("cannot read migrate_version"))?);
    }
    tables.retain(|table| table != "alembic_version" && table != "migrate_version");
    state.tables = tables;
    Ok(state)
}

/// Writes a unit's version-row change, failing if the rows are not where the plan expected
/// them (another process changed them).
pub(crate) fn record_version(conn: &mut dyn Primitives, change: &VersionChange) -> Result<(), DbError> {
    let expect_one = |matched: usize, describe: &dyn Fn() -> String| {
        if matched == 1 {
            Ok(())
        } else {
            Err(DbError::Concurrent(format!(
                "{}: another db_sync probably changed the database at the same time; run strata-manage db_sync --check to see where it stands",
                describe()
            )))
        }
    };
    match change {
        VersionChange::Legacy { repository_id, from, to } => {
            let matched = conn
                .update_legacy_row(repository_id, *from, *to)
                .map_err(DbError::query("cannot update migrate_version"))?;
            expect_one(matched, &|| format!("migrate_version no longer has {repository_id} at version {from}"))
        }
        VersionChange::Insert(revision) => {
            conn.insert_alembic_row(revision).map_err(DbError::query("cannot insert into alembic_version"))
        }
        VersionChange::Update { from, to, delete } => {
            let matched = conn.update_alembic_row(from, to).map_err(DbError::query("cannot update alembic_version"))?;
            expect_one(matched, &|| format!("alembic_version no longer holds '{from}'"))?;
            for row in delete {
                conn.delete_alembic_row(row).map_err(DbError::query("cannot delete from alembic_version"))?;
            }
            Ok(())
        }
    }
}

/// How an engine with transactional DDL wraps a unit.
pub(crate) struct TransactionSql {
    /// Opens the unit's transaction.
    pub begin: &'static str,
    /// Commits it.
    pub commit: &'static str,
    /// Rolls it back.
    pub rollback: &'static str,
}

/// A plain transaction per unit.
pub(crate) const TRANSACTION: TransactionSql =
    TransactionSql { begin: "BEGIN", commit: "COMMIT", rollback: "ROLLBACK" };

/// What a failed unit leaves on an engine with transactional DDL, and what to do.
const ROLLED_BACK: &str =
    "nothing of it was applied (rolled back); fix the cause, then run strata-manage db_sync again";

/// Applies a unit as one transaction (PostgreSQL, SQLite): all of it or none of it, so
/// there is never anything to resume.
pub(crate) fn apply_in_transaction(
    conn: &mut dyn Primitives,
    transaction: &TransactionSql,
    unit: &Unit<'_>,
) -> Result<(), DbError> {
    conn.execute(transaction.begin).map_err(DbError::query("cannot begin a transaction"))?;
    let outcome = (|| {
        if unit.create_version_table {
            conn.execute(CREATE_ALEMBIC_VERSION).map_err(DbError::query("cannot create alembic_version"))?;
        }
        for (index, statement) in unit.statements.iter().enumerate() {
            conn.execute(statement).map_err(|source| {
                DbError::Statement(Box::new(StatementFailure::new(unit, index, ROLLED_BACK.into(), source)))
            })?;
        }
        record_version(conn, &unit.version)
    })();
    match outcome {
        Ok(()) => conn.execute(transaction.commit).map_err(DbError::query("cannot commit")),
        Err(error) => {
            match conn.execute(transaction.rollback) {
                // The server rolls back a transaction whose connection is gone, and the loss
                // itself is what the error reports (a verify interrupted by a signal, say).
                Err(rollback) if rollback.kind == ErrorKind::ConnectionLost => {
                    log::debug!("rolling back {} on a lost connection: {rollback}", unit.title);
                }
                Err(rollback) => log::warn!("rolling back {} failed too: {rollback}", unit.title),
                Ok(()) => {}
            }
            Err(error.in_unit(unit, ROLLED_BACK))
        }
    }
}

/// The outcome of one try at the `db_sync` lock.
#[cfg(any(feature = "postgresql", feature = "mysql"))]
pub(crate) enum Attempt {
    /// This run holds the lock now.
    Acquired,
    /// Someone else does, described for the operator.
    Held(String),
}

/// Tries for the lock until it is acquired or `options.timeout` has passed, saying once who
/// holds it. Every backend that polls shares this loop.
#[cfg(any(feature = "postgresql", feature = "mysql"))]
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

/// Implements [`Primitives`] for one diesel connection type: only the catalog query, the
/// placeholder syntax and how a driver error is classified differ between engines, so the
/// statements are written once.
macro_rules! diesel_primitives {
    ($conn:ty, tables: $tables_sql:expr, placeholders: [$p1:literal, $p2:literal, $p3:literal], classify: $classify:path) => {
        impl $crate::backend::Primitives for $conn {
            fn execute(&mut self, statement: &str) -> Result<(), $crate::backend::DriverError> {
                use diesel::connection::SimpleConnection;
                log::debug!(target: "strata::sql", "{statement}");
                self.batch_execute(statement).map_err(|error| $classify(self, error))
            }

            fn list_tables(&mut self) -> Result<Vec<String>, $crate::backend::DriverError> {
                use diesel::RunQueryDsl;
                let rows = diesel::sql_query($tables_sql).load::<$crate::backend::TextRow>(self);
                Ok(rows.map_err(|error| $classify(self, error))?.into_iter().map(|row| row.value).collect())
            }

            fn alembic_rows(&mut self) -> Result<Vec<String>, $crate::backend::DriverError> {
                use diesel::RunQueryDsl;
                let rows = diesel::sql_query("SELECT version_num AS value FROM alembic_version")
                    .load::<$crate::backend::TextRow>(self);
                Ok(rows.map_err(|error| $classify(self, error))?.into_iter().map(|row| row.value).collect())
            }

            fn legacy_rows(&mut self) -> Result<Vec<$crate::state::LegacyRow>, $crate::backend::DriverError> {
                use diesel::RunQueryDsl;
                let rows = diesel::sql_query("SELECT repository_id, version FROM migrate_version")
                    .load::<$crate::backend::LegacyRowSql>(self)
                    .map_err(|error| $classify(self, error))?;
                Ok(rows
                    .into_iter()
                    .map(|row| $crate::state::LegacyRow { repository_id: row.repository_id, version: row.version.map(i64::from) })
                    .collect())
            }

            fn insert_alembic_row(&mut self, revision: &str) -> Result<(), $crate::backend::DriverError> {
                use diesel::{sql_types::Text, RunQueryDsl};
                log::debug!(target: "strata::sql", "INSERT INTO alembic_version (version_num) VALUES ('{revision}')");
                let query = diesel::sql_query(concat!("INSERT INTO alembic_version (version_num) VALUES (", $p1, ")")).bind::<Text, _>(revision);
                query.execute(self).map(drop).map_err(|error| $classify(self, error))
            }

            fn update_alembic_row(&mut self, from: &str, to: &str) -> Result<usize, $crate::backend::DriverError> {
                use diesel::{sql_types::Text, RunQueryDsl};
                log::debug!(target: "strata::sql", "UPDATE alembic_version SET version_num='{to}' WHERE alembic_version.version_num = '{from}'");
                let query = diesel::sql_query(concat!("UPDATE alembic_version SET version_num = ", $p1, " WHERE alembic_version.version_num = ", $p2))
                    .bind::<Text, _>(to)
                    .bind::<Text, _>(from);
                query.execute(self).map_err(|error| $classify(self, error))
            }

            fn delete_alembic_row(&mut self, revision: &str) -> Result<usize, $crate::backend::DriverError> {
                use diesel::{sql_types::Text, RunQueryDsl};
                log::debug!(target: "strata::sql", "DELETE FROM alembic_version WHERE alembic_version.version_num = '{revision}'");
                let query = diesel::sql_query(concat!("DELETE FROM alembic_version WHERE alembic_version.version_num = ", $p1)).bind::<Text, _>(revision);
                query.execute(self).map_err(|error| $classify(self, error))
            }

            fn update_legacy_row(&mut self, repository_id: &str, from: i64, to: i64) -> Result<usize, $crate::backend::DriverError> {
                use diesel::{sql_types::{Integer, Text}, RunQueryDsl};
                log::debug!(target: "strata::sql", "UPDATE migrate_version SET version={to} WHERE version={from} AND repository_id='{repository_id}'");
                let narrow = |value: i64| i32::try_from(value).unwrap_or(i32::MAX);
                let query = diesel::sql_query(concat!("UPDATE migrate_version SET version = ", $p1, " WHERE version = ", $p2, " AND repository_id = ", $p3))
                    .bind::<Integer, _>(narrow(to))
                    .bind::<Integer, _>(narrow(from))
                    .bind::<Text, _>(repository_id);
                query.execute(self).map_err(|error| $classify(self, error))
            }
        }
    };
}

pub(crate) use diesel_primitives;
