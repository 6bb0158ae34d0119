//! SQLite, the embedded default. DDL is transactional; the connection runs with foreign keys
//! off, as Python's sqlite3 driver does for keystone, so that table rebuilds (alembic's batch
//! mode) can drop and rename tables that others reference.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use diesel::connection::SimpleConnection;
use diesel::{Connection, SqliteConnection};

use super::{
    apply_in_transaction, diesel_primitives, read_versions, write_legacy_rows, Access, Backend, DbError, DriverError,
    ErrorKind, HeldLock, LockGuard, Primitives, TransactionSql, Unit, TRANSACTION,
};
use crate::catalog::Catalog;
use crate::dialect::Dialect;
use crate::lock::LockOptions;
use crate::state::DatabaseState;
use crate::url::{DatabaseUrl, Target};

/// A SQLite database file.
pub(super) struct SqliteBackend {
    /// Shared with the lock, which is this connection's run-long write transaction.
    conn: Rc<RefCell<SqliteConnection>>,
    path: PathBuf,
}

/// Inside the run-long write transaction, each unit is a savepoint.
const SAVEPOINT: TransactionSql = TransactionSql {
    begin: "SAVEPOINT strata_unit",
    commit: "RELEASE strata_unit",
    rollback: "ROLLBACK TO strata_unit; RELEASE strata_unit",
};

/// What every connection sets first: foreign keys off, as Python's sqlite3 driver leaves
/// them for keystone, so that alembic's table rebuilds can drop referenced tables.
pub(super) const SESSION_SETUP: &str = "PRAGMA foreign_keys = OFF";

/// How long SQLite retries a busy database by itself outside the lock (reads).
const BUSY_TIMEOUT_MS: u64 = 60_000;

/// The lock: the connection's open `BEGIN IMMEDIATE` transaction. Releasing commits the
/// units applied under it.
struct WriteTransaction {
    conn: Rc<RefCell<SqliteConnection>>,
}

impl HeldLock for WriteTransaction {
    fn verify(&mut self) -> Result<(), DbError> {
        Ok(())
    }

    fn release(&mut self) -> Result<(), DbError> {
        // Dropping the guard drops this handle: units after it are transactions of their own.
        self.conn.borrow_mut().execute("COMMIT").map_err(DbError::query("cannot commit the db_sync run"))
    }
}

impl Backend for SqliteBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn read_state(&mut self) -> Result<DatabaseState, DbError> {
        read_versions(&mut *self.conn.borrow_mut())
    }

    /// `BEGIN IMMEDIATE` takes the database's write lock for the whole run: a second run waits
    /// here, then reads the state the first one left. The operating system drops the lock of a
    /// killed process, and SQLite rolls its unfinished transaction back on the next open.
    fn lock(&mut self, options: &LockOptions) -> Result<LockGuard, DbError> {
        let mut conn = self.conn.borrow_mut();
        set_busy_timeout(&mut conn, 0)?;
        let mut result = conn.execute("BEGIN IMMEDIATE");
        if result.as_ref().is_err_and(|error| error.kind == ErrorKind::Busy) {
            log::info!("Waiting for the db_sync lock, held by {}", lock_holder(&self.path));
            set_busy_timeout(&mut conn, options.timeout.as_millis().try_into().unwrap_or(u64::MAX))?;
            result = conn.execute("BEGIN IMMEDIATE");
        }
        set_busy_timeout(&mut conn, BUSY_TIMEOUT_MS)?;
        match result {
            Ok(()) => Ok(LockGuard::new(Box::new(WriteTransaction { conn: Rc::clone(&self.conn) }))),
            Err(error) if error.kind == ErrorKind::Busy => {
                Err(DbError::LockTimeout { holder: lock_holder(&self.path), waited_secs: options.timeout.as_secs() })
            }
            Err(source) => Err(DbError::Query { context: "cannot take the db_sync lock".into(), source }),
        }
    }

    fn apply(&mut self, unit: &Unit<'_>) -> Result<(), DbError> {
        // Units run under the lock's transaction; without it (a library caller that took no
        // lock) each is a transaction of its own.
        let transaction = if Rc::strong_count(&self.conn) > 1 { &SAVEPOINT } else { &TRANSACTION };
        apply_in_transaction(&mut *self.conn.borrow_mut(), transaction, unit)
    }

    fn catalog(&mut self) -> Result<Catalog, DbError> {
        let mut conn = self.conn.borrow_mut();
        super::introspect::sqlite::read(&mut conn).map_err(|error| DbError::Query {
            context: "cannot read the catalog".into(),
            source: classify(&mut conn, error),
        })
    }

    fn create_legacy_rows(&mut self, rows: &[(String, i64)]) -> Result<(), DbError> {
        write_legacy_rows(&mut *self.conn.borrow_mut(), Dialect::Sqlite, rows)
    }
}

/// An empty in-memory database (`verify` builds the expected schema there).
pub(super) fn in_memory() -> Result<Box<dyn Backend>, DbError> {
    let failure = |message: String| DbError::Connect {
        url: "sqlite:// (in memory)".into(),
        source: DriverError::new(ErrorKind::Other, None, &message, message.clone()),
    };
    let mut conn = SqliteConnection::establish(":memory:").map_err(|error| failure(error.to_string()))?;
    conn.batch_execute(SESSION_SETUP).map_err(|error| failure(error.to_string()))?;
    Ok(Box::new(SqliteBackend { conn: Rc::new(RefCell::new(conn)), path: PathBuf::from(":memory:") }))
}

/// Who holds the database file's lock: SQLite keeps no record of it, but on Linux the
/// kernel lists the processes holding POSIX locks on the file's inode.
fn lock_holder(path: &Path) -> String {
    let pids = locking_pids(path);
    if pids.is_empty() {
        format!("another process writing to {}", path.display())
    } else {
        let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
        format!("process {} writing to {}", pids.join(", "), path.display())
    }
}

fn set_busy_timeout(conn: &mut SqliteConnection, milliseconds: u64) -> Result<(), DbError> {
    conn.execute(&format!("PRAGMA busy_timeout = {milliseconds}")).map_err(DbError::query("cannot set busy_timeout"))
}

/// Other processes holding a POSIX lock on `path`, from `/proc/locks` (empty elsewhere).
fn locking_pids(path: &Path) -> Vec<u32> {
    use std::os::unix::fs::MetadataExt;
    let (Ok(metadata), Ok(locks)) = (std::fs::metadata(path), std::fs::read_to_string("/proc/locks")) else {
        return Vec::new();
    };
    let inode = metadata.ino().to_string();
    let mut pids: Vec<u32> = locks
        .lines()
        .filter_map(|line| {
            // "1: POSIX  ADVISORY  WRITE 4242 08:01:1234567 1073741824 1073741824"
            let fields: Vec<&str> = line.split_whitespace().collect();
            let pid = fields.get(4)?.parse::<u32>().ok()?;
            let file = fields.get(5)?;
            (file.rsplit(':').next() == Some(inode.as_str()) && pid != std::process::id()).then_some(pid)
        })
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// SQLite's result code is not passed on by diesel, but its message for a code is the
/// library's own constant (never translated): compare with the one for `SQLITE_BUSY`.
fn classify(_conn: &mut SqliteConnection, error: diesel::result::Error) -> DriverError {
    let mut classified = DriverError::from_diesel(error);
    // SAFETY: sqlite3_errstr returns a pointer to a static, NUL-terminated string.
    let busy = unsafe { std::ffi::CStr::from_ptr(libsqlite3_sys::sqlite3_errstr(libsqlite3_sys::SQLITE_BUSY)) };
    if classified.message == busy.to_string_lossy() {
        classified.kind = ErrorKind::Busy;
    }
    classified
}

diesel_primitives!(
    SqliteConnection,
    tables: "SELECT name AS value FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
    placeholders: ["?", "?", "?"],
    classify: classify
);

pub(super) fn connect(url: &DatabaseUrl, access: Access) -> Result<Option<Box<dyn Backend>>, DbError> {
    let Target::File(path) = &url.target else { unreachable!("sqlite URLs always name a file") };
    let failure = |message: String| DbError::Connect {
        url: url.to_string(),
        source: DriverError::new(ErrorKind::ConnectionLost, None, &message, message.clone()),
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
        log::debug!("{} does not exist yet: reporting an empty database", path.display());
        return Ok(None);
    }
    let target = match access {
        // A killed db_sync leaves a hot journal that SQLite must roll back before anyone can
        // read: that recovery needs write access, though it restores what was there before.
        Access::ReadOnly if journal_path(path).exists() => file_uri(path, "rw"),
        Access::ReadOnly => file_uri(path, "ro"),
        Access::ReadWrite => path.to_string_lossy().into_owned(),
    };
    let mut conn = SqliteConnection::establish(&target).map_err(|error| failure(error.to_string()))?;
    conn.batch_execute(&format!("{SESSION_SETUP}; PRAGMA busy_timeout = {BUSY_TIMEOUT_MS};"))
        .map_err(|error| failure(error.to_string()))?;
    Ok(Some(Box::new(SqliteBackend { conn: Rc::new(RefCell::new(conn)), path: path.clone() })))
}

fn journal_path(path: &Path) -> PathBuf {
    PathBuf::from(format!("{}-journal", path.display()))
}

/// A `file:` URI with an open mode: `ro` so that read-only commands cannot change the
/// database even by accident, `rw` so that they cannot create it.
fn file_uri(path: &Path, mode: &str) -> String {
    let mut uri = String::from("file:");
    for character in path.to_string_lossy().chars() {
        match character {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3f"),
            '#' => uri.push_str("%23"),
            other => uri.push(other),
        }
    }
    uri.push_str("?mode=");
    uri.push_str(mode);
    uri
}
