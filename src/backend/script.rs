//! A [`Backend`] that writes SQL instead of running it, for `db_sync --sql`.
//!
//! It applies a unit through the very code the engine's own backend uses, with a connection
//! that appends each statement to a script: PostgreSQL and SQLite through
//! [`apply_in_transaction`] (`BEGIN`, `alembic_version` if needed, the statements, the
//! version-row change, `COMMIT`), MySQL through [`write_unit`] (no transaction around
//! DDL, which MySQL commits implicitly). What the script lacks compared with `db_sync`:
//!
//! - the lock: whoever runs the script must make sure no `db_sync` runs at the same time;
//! - the check that each version row is still where the plan expected it (an `UPDATE` that
//!   matches no row changes nothing and the script goes on);
//! - on SQLite, the one transaction around the whole run (each unit is its own);
//! - on MySQL, the progress records in `strata_db_sync_progress` that let an interrupted
//!   run resume: a script that stops half-way leaves a partly applied unit behind.
//!
//! Every statement ends with `;` ([`sql::terminated`]), and the tree's statements are written
//! exactly as the splitter returned them, so PostgreSQL dollar-quoted bodies and MySQL
//! prepared statements reach the server as `db_sync` sends them. On MySQL a statement with
//! `;` of its own (a trigger's `BEGIN … END` body) is wrapped in the client's `DELIMITER`
//! commands, which `mysql`/`mariadb` need to send it whole.

use super::{
    apply_in_transaction, record_version, sqlite, Backend, DbError, DriverError, HeldLock, LockGuard, Primitives, Unit,
    CREATE_ALEMBIC_VERSION, TRANSACTION,
};
use crate::dialect::Dialect;
use crate::lock::LockOptions;
use crate::sql;
use crate::state::{DatabaseState, LegacyRow};

/// Writes the SQL of units, in order, as a script for `dialect`'s command-line client.
#[derive(Debug)]
pub struct ScriptWriter {
    dialect: Dialect,
    text: String,
    /// Whether the session set-up is written (before the first unit).
    session_started: bool,
}

impl ScriptWriter {
    /// An empty script.
    pub fn new(dialect: Dialect) -> ScriptWriter {
        ScriptWriter { dialect, text: String::new(), session_started: false }
    }

    /// Adds a `-- ` comment line (one per line of `text`).
    pub fn comment(&mut self, text: &str) {
        for line in text.lines() {
            self.text.push_str("-- ");
            self.text.push_str(line);
            self.text.push('\n');
        }
    }

    /// Adds an empty line.
    pub fn blank_line(&mut self) {
        self.text.push('\n');
    }

    /// The script so far.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The script.
    pub fn into_text(self) -> String {
        self.text
    }

    fn statement(&mut self, statement: &str) {
        if self.dialect == Dialect::Mysql && sql::has_inner_semicolon(statement) {
            // The first delimiter the statement does not contain.
            let delimiter = ["//", "$$", ";;", "@@@"]
                .into_iter()
                .find(|delimiter| !statement.contains(delimiter))
                .unwrap_or("//;//");
            self.text.push_str(&format!("DELIMITER {delimiter}\n{statement}\n{delimiter}\nDELIMITER ;\n"));
            return;
        }
        self.text.push_str(&sql::terminated(statement));
        self.text.push('\n');
    }

    fn literal(&self, text: &str) -> String {
        self.dialect.quote_literal(text)
    }
}

/// A script reads nothing: what it is written for was read before.
fn nothing_to_read() -> DriverError {
    DriverError::unexpected("a SQL script has no database to read")
}

/// The statements `db_sync` binds parameters to, with the values written as literals; every
/// row change is assumed to match, as it does when the script runs on the database it was
/// written for.
impl Primitives for ScriptWriter {
    fn execute(&mut self, statement: &str) -> Result<(), DriverError> {
        self.statement(statement);
        Ok(())
    }

    fn list_tables(&mut self) -> Result<Vec<String>, DriverError> {
        Err(nothing_to_read())
    }

    fn alembic_rows(&mut self) -> Result<Vec<String>, DriverError> {
        Err(nothing_to_read())
    }

    fn legacy_rows(&mut self) -> Result<Vec<LegacyRow>, DriverError> {
        Err(nothing_to_read())
    }

    fn insert_alembic_row(&mut self, revision: &str) -> Result<(), DriverError> {
        let statement = format!("INSERT INTO alembic_version (version_num) VALUES ({})", self.literal(revision));
        self.statement(&statement);
        Ok(())
    }

    fn update_alembic_row(&mut self, from: &str, to: &str) -> Result<usize, DriverError> {
        let statement = format!(
            "UPDATE alembic_version SET version_num = {} WHERE alembic_version.version_num = {}",
            self.literal(to),
            self.literal(from)
        );
        self.statement(&statement);
        Ok(1)
    }

    fn delete_alembic_row(&mut self, revision: &str) -> Result<usize, DriverError> {
        let statement =
            format!("DELETE FROM alembic_version WHERE alembic_version.version_num = {}", self.literal(revision));
        self.statement(&statement);
        Ok(1)
    }

    fn update_legacy_row(&mut self, repository_id: &str, from: i64, to: i64) -> Result<usize, DriverError> {
        let statement = format!(
            "UPDATE migrate_version SET version = {to} WHERE version = {from} AND repository_id = {}",
            self.literal(repository_id)
        );
        self.statement(&statement);
        Ok(1)
    }
}

/// A script takes no lock; whoever runs it must keep other `db_sync` runs away.
struct NoLock;

impl HeldLock for NoLock {
    fn verify(&mut self) -> Result<(), DbError> {
        Ok(())
    }

    fn release(&mut self) -> Result<(), DbError> {
        Ok(())
    }
}

impl Backend for ScriptWriter {
    fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Fails: a script is written for a state read beforehand (or for an empty database).
    fn read_state(&mut self) -> Result<DatabaseState, DbError> {
        Err(DbError::Query { context: "cannot read the database state".into(), source: nothing_to_read() })
    }

    /// Holds nothing: a script takes no lock.
    fn lock(&mut self, _options: &LockOptions) -> Result<LockGuard, DbError> {
        Ok(LockGuard::new(Box::new(NoLock)))
    }

    /// Writes the unit's SQL, preceded by a comment naming it; before the first unit, what
    /// every `db_sync` session sets first (SQLite: foreign keys off, for alembic's table
    /// rebuilds).
    fn apply(&mut self, unit: &Unit<'_>) -> Result<(), DbError> {
        if !std::mem::replace(&mut self.session_started, true) && self.dialect == Dialect::Sqlite {
            self.statement(sqlite::SESSION_SETUP);
            self.blank_line();
        }
        self.comment(&unit.title);
        match self.dialect {
            Dialect::Postgresql | Dialect::Sqlite => apply_in_transaction(self, &TRANSACTION, unit)?,
            Dialect::Mysql => write_unit(self, unit)?,
        }
        self.blank_line();
        Ok(())
    }
}

/// `alembic_version`'s creation, idempotent so that a unit interrupted right after it can
/// run again.
pub(super) fn create_version_table() -> String {
    CREATE_ALEMBIC_VERSION.replacen("CREATE TABLE", "CREATE TABLE IF NOT EXISTS", 1)
}

/// Writes what the MySQL backend's `apply` runs for a unit, without strata's own bookkeeping (the
/// lock, the progress records): `alembic_version` if needed, the statements one by one (each
/// DDL statement commits on its own), then the version-row change in one transaction.
pub(super) fn write_unit(conn: &mut dyn Primitives, unit: &Unit<'_>) -> Result<(), DbError> {
    if unit.create_version_table {
        conn.execute(&create_version_table()).map_err(DbError::query("cannot create alembic_version"))?;
    }
    for statement in unit.statements {
        conn.execute(statement).map_err(DbError::query("cannot write a statement"))?;
    }
    // As in `finish`, less the removal of the progress record.
    conn.execute("BEGIN").map_err(DbError::query("cannot begin a transaction"))?;
    record_version(conn, &unit.version)?;
    conn.execute("COMMIT").map_err(DbError::query("cannot commit the version row"))
}
