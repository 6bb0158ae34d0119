//! SQLite, the embedded default. DDL is transactional; the connection runs with foreign keys
//! off, as Python's sqlite3 driver does for keystone, so that table rebuilds (alembic's batch
//! mode) can drop and rename tables that others reference.

use std::path::{Path, PathBuf};

use diesel::connection::SimpleConnection;
use diesel::{Connection, SqliteConnection};

use super::{diesel_primitives, Access, Backend, DbError, Primitives};
use crate::lock::LockOptions;
use crate::url::{DatabaseUrl, Dialect, Target};

/// A SQLite database file.
pub(super) struct SqliteBackend {
    conn: SqliteConnection,
    path: PathBuf,
    /// Whether the run-long write transaction (the lock) is open; units are then savepoints.
    locked: bool,
}

/// How long SQLite retries a busy database by itself outside the lock (reads).
const BUSY_TIMEOUT_MS: u64 = 60_000;

impl Backend for SqliteBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    /// `BEGIN IMMEDIATE` takes the database's write lock for the whole run: a second run waits
    /// here, then reads the state the first one left. The operating system drops the lock of a
    /// killed process, and SQLite rolls its unfinished transaction back on the next open.
    fn lock(&mut self, options: &LockOptions) -> Result<(), DbError> {
        self.set_busy_timeout(0)?;
        let mut result = self.execute("BEGIN IMMEDIATE");
        if result.as_ref().is_err_and(is_busy) {
            log::info!("Waiting for the db_sync lock, held by {}", self.lock_holder());
            self.set_busy_timeout(options.timeout.as_millis().try_into().unwrap_or(u64::MAX))?;
            result = self.execute("BEGIN IMMEDIATE");
        }
        self.set_busy_timeout(BUSY_TIMEOUT_MS)?;
        match result {
            Ok(()) => {
                self.locked = true;
                Ok(())
            }
            Err(error) if is_busy(&error) => {
                Err(DbError::LockTimeout { holder: self.lock_holder(), waited_secs: options.timeout.as_secs() })
            }
            Err(error) => Err(error),
        }
    }

    fn unlock(&mut self) -> Result<(), DbError> {
        if std::mem::take(&mut self.locked) {
            self.execute("COMMIT")?;
        }
        Ok(())
    }

    fn begin(&mut self) -> Result<(), DbError> {
        self.execute(if self.locked { "SAVEPOINT strata_unit" } else { "BEGIN IMMEDIATE" })
    }

    fn commit(&mut self) -> Result<(), DbError> {
        self.execute(if self.locked { "RELEASE strata_unit" } else { "COMMIT" })
    }

    fn rollback(&mut self) -> Result<(), DbError> {
        if self.locked {
            self.execute("ROLLBACK TO strata_unit")?;
            self.execute("RELEASE strata_unit")
        } else {
            self.execute("ROLLBACK")
        }
    }
}

impl SqliteBackend {
    /// Who holds the database file's lock: SQLite keeps no record of it, but on Linux the
    /// kernel lists the processes holding POSIX locks on the file's inode.
    fn lock_holder(&self) -> String {
        let pids = locking_pids(&self.path);
        if pids.is_empty() {
            format!("another process writing to {}", self.path.display())
        } else {
            let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
            format!("process {} writing to {}", pids.join(", "), self.path.display())
        }
    }

    fn set_busy_timeout(&mut self, milliseconds: u64) -> Result<(), DbError> {
        self.conn
            .batch_execute(&format!("PRAGMA busy_timeout = {milliseconds}"))
            .map_err(|error| DbError::statement("cannot set busy_timeout", error))
    }
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

fn is_busy(error: &DbError) -> bool {
    error.to_string().contains("database is locked")
}

diesel_primitives!(
    SqliteBackend,
    tables: "SELECT name AS value FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
    placeholders: ["?", "?", "?"]
);

pub(super) fn connect(url: &DatabaseUrl, access: Access) -> Result<Option<Box<dyn Backend>>, DbError> {
    let Target::File(path) = &url.target else { unreachable!("sqlite URLs always name a file") };
    let failure = |message: String| DbError::Connect { url: url.to_string(), message };
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
    conn.batch_execute(&format!("PRAGMA foreign_keys = OFF; PRAGMA busy_timeout = {BUSY_TIMEOUT_MS};"))
        .map_err(|error| failure(error.to_string()))?;
    Ok(Some(Box::new(SqliteBackend { conn, path: path.clone(), locked: false })))
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
