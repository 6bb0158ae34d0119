//! MySQL and MariaDB, on a single server or a Galera cluster.
//!
//! Every DDL statement commits on its own, so a unit cannot be one transaction. Instead:
//!
//! - **Progress.** While a unit runs, `strata_db_sync_progress` holds its row: how many of
//!   its statements are applied and a hash of each. Each statement and the update of that
//!   row run back to back, in one transaction where the statement allows it. The version
//!   row and the removal of the progress row commit together. A run killed in the middle of
//!   a unit therefore leaves the exact count of applied statements, give or take the one
//!   that was running; the next run checks the hashes against the tree, runs that one
//!   statement alone (accepting "already exists"-class errors, by error number, as proof it
//!   was applied), then the rest.
//! - **Lock.** `strata_db_sync_lock` holds one row naming the holder. Taking the lock is
//!   inserting that row, a committed row change: on Galera, certification lets exactly one
//!   of several nodes win, the others get a conflict, retry and see the holder. The table is
//!   created with `IF NOT EXISTS` and an explicit character set, so every node creates the
//!   same table and a repeated creation is harmless. A heartbeat thread bumps the row while
//!   the holder lives; a waiter takes over a dead holder with a compare-and-swap of the row.
//!   The holder drops both tables when it is done, so the service's schema is left as
//!   keystone's.
//! - **Reads** are causal on Galera (`wsrep_sync_wait`), so a run on one node sees what the
//!   previous holder committed on another.
//! - **Errors** are classified by the server's error number (`GET DIAGNOSTICS`), and each
//!   session asks for English messages, so a server configured in any language behaves the
//!   same.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use diesel::{OptionalExtension, QueryableByName, RunQueryDsl};
use diesel_async::AsyncMysqlConnection;
use sha2::{Digest, Sha256};

use super::runtime::{self, Wrapped};
use super::script::create_version_table;
use super::{
    diesel_primitives, read_versions, record_version, wait_for_lock, Attempt, Backend, DbError, DriverError, ErrorKind,
    HeldLock, LockGuard, Primitives, StatementFailure, TextRow, Unit,
};
use crate::catalog::Catalog;
use crate::dialect::Dialect;
use crate::lock::{Holder, LockOptions};
use crate::state::{DatabaseState, Interrupted, UnitId};
use crate::url::{DatabaseUrl, Target, MYSQL_PARAMS};

/// The table holding the `db_sync` lock row.
const LOCK_TABLE: &str = "strata_db_sync_lock";
/// The table holding the progress of an unfinished unit.
const PROGRESS_TABLE: &str = "strata_db_sync_progress";

/// A diesel connection over mysql_async.
pub(super) type MysqlConnection = Wrapped<AsyncMysqlConnection>;

/// Where libmysqlclient looks for the server's socket when the host is `localhost` (Debian's
/// default; `MYSQL_UNIX_PORT` overrides it, as for libmysqlclient).
const DEFAULT_SOCKET: &str = "/run/mysqld/mysqld.sock";

/// Explicit engine and character set: every node and every server version creates the
/// same table whatever its defaults or the database's character set.
const CREATE_LOCK_TABLE: &str = "CREATE TABLE IF NOT EXISTS strata_db_sync_lock (\
    id INTEGER NOT NULL, holder VARCHAR(255) NOT NULL, server VARCHAR(255) NOT NULL, \
    db_user VARCHAR(255) NOT NULL, connection_id BIGINT NOT NULL, work_connection_id BIGINT NOT NULL, \
    beat BIGINT NOT NULL, PRIMARY KEY (id)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";

/// `failed` is 1 when statement `applied` failed with an error, so it is known not to be
/// applied; 0 when the run may have died while running it.
const CREATE_PROGRESS_TABLE: &str = "CREATE TABLE IF NOT EXISTS strata_db_sync_progress (\
    unit VARCHAR(190) NOT NULL, holder VARCHAR(255) NOT NULL, applied INTEGER NOT NULL, \
    failed INTEGER NOT NULL, statement_hashes TEXT NOT NULL, \
    PRIMARY KEY (unit)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";

/// What MySQL/MariaDB error numbers mean to strata.
fn kind_of(code: u32) -> ErrorKind {
    match code {
        // table, column, key name, primary key, foreign key name, trigger, routine exists
        1050 | 1060 | 1061 | 1068 | 1826 | 1022 | 1359 | 1304 => ErrorKind::AlreadyExists,
        // can't drop column or key; unknown table in DROP TABLE
        1091 | 1051 => ErrorKind::NothingToDrop,
        1062 | 1586 | 1859 => ErrorKind::DuplicateRow,
        1146 => ErrorKind::NoSuchTable,
        // deadlock or Galera certification failure, lock wait timeout
        1213 | 1205 => ErrorKind::Conflict,
        // WSREP has not yet prepared node for application use
        1047 => ErrorKind::ClusterNotReady,
        2002 | 2003 | 2006 | 2013 | 2055 => ErrorKind::ConnectionLost,
        1044 | 1045 | 1142 | 1143 | 1227 => ErrorKind::PermissionDenied,
        _ => ErrorKind::Other,
    }
}

/// Classifies a failure by the server's error number, read from the diagnostics area of
/// the statement that failed (diesel passes on only the message).
fn classify(conn: &mut MysqlConnection, error: diesel::result::Error) -> DriverError {
    #[derive(QueryableByName)]
    struct Code {
        #[diesel(sql_type = Nullable<BigInt>)]
        code: Option<i64>,
    }
    let diesel::result::Error::DatabaseError(_, _) = &error else {
        return DriverError::from_diesel(error);
    };
    let message = error.to_string();
    // The error the client received is the last condition raised (a Galera brute-force
    // abort raises "interrupted" before "deadlock"). GET DIAGNOSTICS fails when there is no
    // condition, so a value read afterwards is fresh.
    let code = conn
        .batch_execute(
            "GET DIAGNOSTICS @strata_conditions = NUMBER; \
             GET DIAGNOSTICS CONDITION @strata_conditions @strata_errno = MYSQL_ERRNO",
        )
        .ok()
        .and_then(|()| diesel::sql_query("SELECT CAST(@strata_errno AS SIGNED) AS code").get_result::<Code>(conn).ok())
        .and_then(|row| row.code)
        .and_then(|code| u32::try_from(code).ok());
    let mut kind = code.map_or(ErrorKind::ConnectionLost, kind_of);
    // A Galera node outside the primary component makes causal reads time out (1205), and
    // may refuse even the diagnostics read: its cluster status says which it is.
    if matches!(code, None | Some(1205)) && cluster_status(conn).is_some_and(|status| status != "Primary") {
        kind = ErrorKind::ClusterNotReady;
    }
    DriverError::new(kind, code, &message, error)
}

/// `wsrep_cluster_status` (`Primary`, `non-Primary`, `Disconnected`) of a Galera node, or
/// `None` without Galera. SHOW is answered even by a node that refuses queries.
fn cluster_status(conn: &mut MysqlConnection) -> Option<String> {
    #[derive(QueryableByName)]
    struct ShowRow {
        #[diesel(sql_type = Text, column_name = "Value")]
        value: String,
    }
    let mut show = |sql: &str| diesel::sql_query(sql).get_result::<ShowRow>(conn).optional().ok().flatten();
    // A standalone MariaDB reports "Disconnected" too: only a node with wsrep on counts.
    show("SHOW VARIABLES LIKE 'wsrep_on'").filter(|row| row.value == "ON")?;
    show("SHOW STATUS LIKE 'wsrep_cluster_status'").map(|row| row.value)
}

diesel_primitives!(
    MysqlConnection,
    tables: "SELECT CAST(table_name AS CHAR) AS value FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY table_name",
    placeholders: ["?", "?", "?"],
    classify: classify
);

/// Runs a query of strata's own, classifying its failure.
fn query<T>(
    conn: &mut MysqlConnection,
    run: impl FnOnce(&mut MysqlConnection) -> diesel::QueryResult<T>,
) -> Result<T, DriverError> {
    run(conn).map_err(|error| classify(conn, error))
}

/// A MySQL or MariaDB database.
pub(super) struct MysqlBackend {
    conn: MysqlConnection,
    opts: ClientOptions,
    charset: Option<String>,
    /// `CONNECTION_ID()` of `conn`.
    work_connection_id: i64,
    holder: Holder,
    progress_table_ready: bool,
}

/// Who a connection is, as the lock row records it.
#[derive(QueryableByName, Debug, Clone, PartialEq, Eq)]
struct Identity {
    /// `host:port` of the server (on Galera: of the node).
    #[diesel(sql_type = Text)]
    server: String,
    #[diesel(sql_type = Text)]
    db_user: String,
    #[diesel(sql_type = BigInt)]
    connection_id: i64,
}

fn identity(conn: &mut MysqlConnection) -> Result<Identity, DriverError> {
    query(conn, |conn| {
        diesel::sql_query(
            "SELECT CAST(CONCAT(@@hostname, ':', @@port) AS CHAR) AS server, CAST(CURRENT_USER() AS CHAR) AS db_user, \
             CAST(CONNECTION_ID() AS SIGNED) AS connection_id",
        )
        .get_result(conn)
    })
}

#[derive(QueryableByName, Debug, Clone, PartialEq, Eq)]
struct LockRow {
    #[diesel(sql_type = Text)]
    holder: String,
    /// The holder's lock connection.
    #[diesel(embed)]
    owner: Identity,
    /// The holder's connection that runs the migrations: after a kill, the server may go on
    /// with a statement batch it received until it notices the client is gone.
    #[diesel(sql_type = BigInt)]
    work_connection_id: i64,
    #[diesel(sql_type = BigInt)]
    beat: i64,
}

impl LockRow {
    /// The holder and the server (on Galera: the node) it is connected to.
    fn describe(&self) -> String {
        let holder = crate::lock::describe_holder(&self.holder, std::time::SystemTime::now());
        format!("{holder} (connected to {} as {})", self.owner.server, self.owner.db_user)
    }
}

fn read_lock_row(conn: &mut MysqlConnection) -> Result<Option<LockRow>, DriverError> {
    query(conn, |conn| {
        diesel::sql_query(
            "SELECT holder, server, db_user, connection_id, work_connection_id, beat FROM strata_db_sync_lock WHERE id = 1",
        )
            .get_result::<LockRow>(conn)
            .optional()
    })
}

#[derive(QueryableByName, Debug, Clone)]
struct ProgressRow {
    #[diesel(sql_type = Text)]
    unit: String,
    #[diesel(sql_type = Text)]
    holder: String,
    #[diesel(sql_type = Integer)]
    applied: i32,
    #[diesel(sql_type = Integer)]
    failed: i32,
    #[diesel(sql_type = Text)]
    statement_hashes: String,
}

impl ProgressRow {
    fn applied(&self) -> usize {
        usize::try_from(self.applied).unwrap_or_default()
    }
}

fn read_progress(conn: &mut MysqlConnection) -> Result<Option<ProgressRow>, DriverError> {
    query(conn, |conn| {
        diesel::sql_query(
            "SELECT unit, holder, applied, failed, statement_hashes FROM strata_db_sync_progress ORDER BY unit LIMIT 1",
        )
        .get_result::<ProgressRow>(conn)
        .optional()
    })
}

/// The hash recorded for an applied statement (64 bits of SHA-256 are plenty to tell a
/// changed statement).
fn statement_hash(statement: &str) -> String {
    let digest = Sha256::digest(statement.as_bytes());
    digest[..8].iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A MySQL string literal.
fn literal(text: &str) -> String {
    Dialect::Mysql.quote_literal(text)
}

impl Backend for MysqlBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Mysql
    }

    fn read_state(&mut self) -> Result<DatabaseState, DbError> {
        let mut state = read_versions(&mut self.conn)?;
        let has_progress = state.tables.iter().any(|table| table == PROGRESS_TABLE);
        state.tables.retain(|table| table != LOCK_TABLE && table != PROGRESS_TABLE);
        if has_progress {
            let row = read_progress(&mut self.conn).map_err(DbError::query("cannot read strata_db_sync_progress"))?;
            state.interrupted = match row {
                Some(row) => Some(Interrupted {
                    unit: row.unit.parse::<UnitId>().map_err(|message| DbError::Query {
                        context: "strata_db_sync_progress records an unreadable unit".into(),
                        source: DriverError::unexpected(message),
                    })?,
                    applied: row.applied(),
                    holder: row.holder,
                    failed: row.failed != 0,
                }),
                None => None,
            };
        }
        Ok(state)
    }

    fn lock(&mut self, options: &LockOptions) -> Result<LockGuard, DbError> {
        let failure = DbError::query("cannot take the db_sync lock");
        let mut conn = self.open().map_err(DbError::query("cannot open the lock connection"))?;
        let me = identity(&mut conn).map_err(&failure)?;
        let mut watch = LockWatch::default();
        wait_for_lock(options, || match self.try_lock(&mut conn, &me, &mut watch, options) {
            Ok(attempt) => Ok(attempt),
            // Another run is creating, taking or dropping the lock at this very moment.
            Err(error)
                if matches!(error.kind, ErrorKind::Conflict | ErrorKind::DuplicateRow | ErrorKind::NoSuchTable) =>
            {
                Ok(Attempt::Held(CHANGING.to_owned()))
            }
            Err(error) => Err(failure(error)),
        })?;
        Ok(LockGuard::new(Box::new(start_heartbeat(conn, me, options))))
    }

    fn catalog(&mut self) -> Result<Catalog, DbError> {
        super::introspect::mysql::read(&mut self.conn).map_err(|error| DbError::Query {
            context: "cannot read the catalog".into(),
            source: classify(&mut self.conn, error),
        })
    }

    fn create_legacy_rows(&mut self, rows: &[(String, i64)]) -> Result<(), DbError> {
        super::write_legacy_rows(&mut self.conn, Dialect::Mysql, rows)
    }

    /// [`write_unit`] with the progress records that make a unit resumable.
    fn apply(&mut self, unit: &Unit<'_>) -> Result<(), DbError> {
        self.apply_unit(unit).map_err(|error| {
            error.in_unit(
                unit,
                "what of it is applied is recorded in strata_db_sync_progress; fix the cause, then run strata-manage db_sync again, which resumes it",
            )
        })
    }
}

/// Creates the scratch database `name` next to the one `url` names, with that database's
/// default character set and collation, and connects to it (`scratch_url`). A user who may
/// not create it gets [`DbError::ScratchDenied`] (by error number).
pub(super) fn create_scratch(
    url: &DatabaseUrl,
    name: &str,
    scratch_url: &DatabaseUrl,
) -> Result<Box<dyn Backend>, DbError> {
    #[derive(QueryableByName)]
    struct Defaults {
        #[diesel(sql_type = Text)]
        charset: String,
        #[diesel(sql_type = Text)]
        collation: String,
    }
    let charset = url.param("charset").map(str::to_owned);
    let failure = |source| DbError::Connect { url: url.to_string(), source };
    let admin_opts = client_options(url).map_err(|message| failure(DriverError::unexpected(message)))?;
    let mut admin = open_session(&admin_opts, charset.as_deref()).map_err(failure)?;
    let defaults = query(&mut admin, |conn| {
        diesel::sql_query(
            "SELECT DEFAULT_CHARACTER_SET_NAME AS charset, DEFAULT_COLLATION_NAME AS collation \
             FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = DATABASE()",
        )
        .get_result::<Defaults>(conn)
    })
    .map_err(DbError::query("cannot read the database's character set"))?;
    let dropper_opts = admin_opts.clone();
    let dropper_charset = charset.clone();
    let dropped = name.to_owned();
    super::scratch::register(
        name,
        Box::new(move || {
            let failure = DbError::query("cannot drop the scratch database");
            let mut conn = open_session(&dropper_opts, dropper_charset.as_deref()).map_err(&failure)?;
            // A session still building in it holds metadata locks DROP DATABASE would wait for.
            let sessions: Vec<TextRow> = query(&mut conn, |conn| {
                diesel::sql_query(format!(
                    "SELECT CAST(ID AS CHAR) AS value FROM information_schema.PROCESSLIST WHERE DB = {} AND ID <> CONNECTION_ID()",
                    literal(&dropped)
                ))
                .load(conn)
            })
            .unwrap_or_default();
            for session in sessions {
                let _ = conn.execute(&format!("KILL {}", session.value));
            }
            conn.execute(&format!("DROP DATABASE IF EXISTS `{dropped}`")).map_err(&failure)
        }),
    );
    log::info!("Building the expected schema in the scratch database {name}");
    let create = format!(
        "CREATE DATABASE `{name}` CHARACTER SET {} COLLATE {}",
        identifier_word(&defaults.charset),
        identifier_word(&defaults.collation)
    );
    if let Err(source) = admin.execute(&create) {
        super::scratch::forget(name);
        return Err(match source.kind {
            ErrorKind::PermissionDenied => DbError::ScratchDenied { name: name.to_owned(), source },
            _ => DbError::Query { context: "cannot create the scratch database".into(), source },
        });
    }
    drop(admin);
    Ok(Box::new(connect(scratch_url)?))
}

/// A character set or collation name as the server gave it (letters, digits, `_`).
fn identifier_word(name: &str) -> String {
    name.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').collect()
}

impl MysqlBackend {
    fn apply_unit(&mut self, unit: &Unit<'_>) -> Result<(), DbError> {
        if unit.create_version_table {
            self.conn.execute(&create_version_table()).map_err(DbError::query("cannot create alembic_version"))?;
        }
        if !unit.statements.is_empty() {
            self.apply_statements(unit)?;
        }
        self.finish(unit)
    }
}

/// How a waiter describes a lock that is being created, taken or released right now.
const CHANGING: &str = "a run that is taking or releasing the lock";

/// What a waiter has seen of the lock so far, to tell a dead holder from a busy one by its
/// own clock (the servers' clocks play no part).
#[derive(Default)]
struct LockWatch {
    /// The lock row and the progress record (unit, statements applied) last seen.
    last: Option<(LockRow, Option<(String, i32)>)>,
    unchanged_since: Option<Instant>,
}

/// A new session: English messages (what the operator reads; strata itself decides by
/// error number) and, on Galera, causal reads.
fn open_session(opts: &ClientOptions, charset: Option<&str>) -> Result<MysqlConnection, DriverError> {
    let lost = |error: &dyn std::fmt::Display| error.to_string();
    let mut conn = runtime::open(|| async move {
        let connected = match mysql_async::Conn::new(opts.opts.clone()).await {
            // PREFERRED, as libmysqlclient has it: encrypt when the server offers TLS, else
            // connect without it.
            Err(mysql_async::Error::Driver(mysql_async::DriverError::NoClientSslFlagFromServer))
                if opts.tls_optional =>
            {
                log::debug!("the server offers no TLS: connecting without it (ssl_mode PREFERRED)");
                let plain = mysql_async::OptsBuilder::from_opts(opts.opts.clone()).ssl_opts(None);
                mysql_async::Conn::new(plain).await
            }
            other => other,
        };
        let conn = connected.map_err(|error| {
            let message = match &error {
                // The driver's words ("Client asked for SSL ...") name neither the setting
                // nor what to do.
                mysql_async::Error::Driver(mysql_async::DriverError::NoClientSslFlagFromServer) => {
                    "the server does not offer TLS, which ssl_mode REQUIRED, VERIFY_CA and VERIFY_IDENTITY (or ssl_ca, \
                     ssl_cert) demand: enable TLS on the server, or connect with ssl_mode=PREFERRED"
                        .to_owned()
                }
                other => lost(other),
            };
            DriverError::new(ErrorKind::ConnectionLost, None, &message, error)
        })?;
        AsyncMysqlConnection::try_from(conn)
            .await
            .map_err(|error| DriverError::new(ErrorKind::ConnectionLost, None, &lost(&error), error))
    })?;
    conn.execute("SET SESSION lc_messages = 'en_US'")?;
    if let Some(status) = cluster_status(&mut conn).filter(|status| status != "Primary") {
        return Err(DriverError::new(
            ErrorKind::ClusterNotReady,
            None,
            &format!("this Galera node's wsrep_cluster_status is {status}, not Primary"),
            status.clone(),
        ));
    }
    match conn.execute("SET SESSION wsrep_sync_wait = 1") {
        // MySQL without Galera has no such variable (1193): nothing to wait for.
        Err(error) if error.code == Some(1193) => {}
        other => other?,
    }
    if let Some(charset) = charset {
        conn.execute(&format!("SET NAMES {charset}"))?;
    }
    Ok(conn)
}

impl MysqlBackend {
    fn open(&self) -> Result<MysqlConnection, DriverError> {
        open_session(&self.opts, self.charset.as_deref())
    }

    /// One try at the lock.
    fn try_lock(
        &self,
        conn: &mut MysqlConnection,
        me: &Identity,
        watch: &mut LockWatch,
        options: &LockOptions,
    ) -> Result<Attempt, DriverError> {
        let row = match read_lock_row(conn) {
            Err(error) if error.kind == ErrorKind::NoSuchTable => {
                conn.execute(CREATE_LOCK_TABLE)?;
                None
            }
            other => other?,
        };
        let Some(row) = row else {
            self.insert_lock_row(conn, me)?;
            return Ok(Attempt::Acquired);
        };
        // The holder's statements advancing its progress record are a sign of life too: after a
        // kill the server goes on with a batch it had received, and must be let finish.
        let progress = match read_progress(conn) {
            Err(error) if error.kind == ErrorKind::NoSuchTable => None,
            other => other?.map(|record| (record.unit, record.applied)),
        };
        let seen = (row.clone(), progress);
        if watch.last.as_ref() != Some(&seen) {
            watch.unchanged_since = Some(Instant::now());
        }
        watch.last = Some(seen);
        let same_server = row.owner.server == me.server && row.owner.db_user == me.db_user;
        let dead_here = same_server
            && !connection_alive(conn, row.owner.connection_id)?
            && !connection_alive(conn, row.work_connection_id)?;
        let silent = watch.unchanged_since.is_some_and(|since| since.elapsed() >= options.stale_after);
        if !dead_here && !silent {
            return Ok(Attempt::Held(row.describe()));
        }
        // Compare-and-swap: of several waiters, one wins (on Galera by certification).
        let taken = query(conn, |conn| {
            diesel::sql_query(
                "UPDATE strata_db_sync_lock SET holder = ?, server = ?, db_user = ?, connection_id = ?, \
                 work_connection_id = ?, beat = 0 \
                 WHERE id = 1 AND holder = ? AND server = ? AND connection_id = ? AND beat = ?",
            )
            .bind::<Text, _>(&self.holder.0)
            .bind::<Text, _>(&me.server)
            .bind::<Text, _>(&me.db_user)
            .bind::<BigInt, _>(me.connection_id)
            .bind::<BigInt, _>(self.work_connection_id)
            .bind::<Text, _>(&row.holder)
            .bind::<Text, _>(&row.owner.server)
            .bind::<BigInt, _>(row.owner.connection_id)
            .bind::<BigInt, _>(row.beat)
            .execute(conn)
        })?;
        if taken != 1 {
            return Ok(Attempt::Held(row.describe()));
        }
        let reason = if dead_here {
            "its connection is gone".to_owned()
        } else {
            format!("its heartbeat and its progress stopped for {} s", options.stale_after.as_secs())
        };
        log::warn!(
            "Took over the db_sync lock from {} ({reason})",
            crate::lock::describe_holder(&row.holder, std::time::SystemTime::now())
        );
        Ok(Attempt::Acquired)
    }

    fn insert_lock_row(&self, conn: &mut MysqlConnection, me: &Identity) -> Result<(), DriverError> {
        query(conn, |conn| {
            diesel::sql_query(
                "INSERT INTO strata_db_sync_lock (id, holder, server, db_user, connection_id, work_connection_id, beat) \
                 VALUES (1, ?, ?, ?, ?, ?, 0)",
            )
            .bind::<Text, _>(&self.holder.0)
            .bind::<Text, _>(&me.server)
            .bind::<Text, _>(&me.db_user)
            .bind::<BigInt, _>(me.connection_id)
            .bind::<BigInt, _>(self.work_connection_id)
            .execute(conn)
        })
        .map(drop)
    }

    /// Runs a unit's statements, each followed by its progress record, resuming after what
    /// an earlier run recorded.
    fn apply_statements(&mut self, unit: &Unit<'_>) -> Result<(), DbError> {
        if !self.progress_table_ready {
            self.conn
                .execute(CREATE_PROGRESS_TABLE)
                .map_err(DbError::query("cannot create strata_db_sync_progress"))?;
            self.progress_table_ready = true;
        }
        let name = unit.id.to_string();
        let hashes: Vec<String> = unit.statements.iter().map(|statement| statement_hash(statement)).collect();
        let progress = read_progress(&mut self.conn).map_err(DbError::query("cannot read strata_db_sync_progress"))?;
        let (mut next, maybe_applied) = match progress {
            None => {
                let insert = format!(
                    "INSERT INTO strata_db_sync_progress (unit, holder, applied, failed, statement_hashes) VALUES ({}, {}, 0, 0, '')",
                    literal(&name),
                    literal(&self.holder.0)
                );
                self.conn.execute(&insert).map_err(DbError::query("cannot record progress"))?;
                (0, false)
            }
            Some(row) if row.unit == name => {
                let applied = row.applied().min(hashes.len());
                let recorded: Vec<&str> = row.statement_hashes.split(',').filter(|hash| !hash.is_empty()).collect();
                if let Some(differing) = (0..applied).find(|&index| recorded.get(index) != Some(&hashes[index].as_str())) {
                    return Err(DbError::TreeChanged { unit: unit.title.clone(), applied, differing: differing + 1 });
                }
                log::warn!(
                    "Resuming {}, interrupted by {}: statements 1 to {applied} of {} are applied already",
                    unit.title,
                    crate::lock::describe_holder(&row.holder, std::time::SystemTime::now()),
                    hashes.len()
                );
                (applied, row.failed == 0)
            }
            Some(row) => {
                return Err(DbError::Concurrent(format!(
                    "strata_db_sync_progress records {} as unfinished, but {} is next: the version tables were changed since; check the schema against {}, then delete that row",
                    row.unit, unit.title, row.unit
                )))
            }
        };
        // The statement an interrupted run may have been running when it died: its error
        // saying its effect is already there is the proof that it was applied.
        if maybe_applied && next < hashes.len() {
            if let Err(failure) = self.run_batch(unit, &hashes, next, next + 1) {
                match *failure {
                    BatchFailure { step: Step::Statement, error, .. } if error.kind.means_already_applied() => {
                        log::warn!(
                            "Statement {} of {} was already applied by the interrupted run ({error})",
                            next + 1,
                            unit.title
                        );
                        self.record_applied(&name, next, &hashes[next])
                            .map_err(DbError::query("cannot record progress"))?;
                    }
                    failure => return Err(self.statement_failed(unit, failure)),
                }
            }
            next += 1;
        }
        if next < hashes.len() {
            self.run_batch(unit, &hashes, next, hashes.len())
                .map_err(|failure| self.statement_failed(unit, *failure))?;
        }
        Ok(())
    }

    /// Sends statements `from..to` as one multi-statement batch, each in a transaction with
    /// its progress record: diesel's MySQL client pays three round trips per call. A session
    /// variable says which step failed; the server stops a batch at its first error.
    fn run_batch(
        &mut self,
        unit: &Unit<'_>,
        hashes: &[String],
        from: usize,
        to: usize,
    ) -> Result<(), Box<BatchFailure>> {
        let name = literal(&unit.id.to_string());
        let mut batch = String::new();
        for (index, (statement, hash)) in unit.statements.iter().zip(hashes).enumerate().take(to).skip(from) {
            log::debug!(target: "strata::sql", "{statement}");
            // The newlines keep each ';' out of a trailing `--` comment.
            batch.push_str(&format!(
                "SET @strata_step = {};\nBEGIN;\n{statement}\n;\nSET @strata_step = {};\n\
                 UPDATE strata_db_sync_progress SET applied = {}, failed = 0, statement_hashes = CONCAT(statement_hashes, '{},') WHERE unit = {name};\nCOMMIT;\n",
                2 * index,
                2 * index + 1,
                index + 1,
                hash,
            ));
        }
        let Err(error) = self.conn.batch_execute(&batch) else { return Ok(()) };
        let error = classify(&mut self.conn, error);
        if let Err(rollback) = self.conn.execute("ROLLBACK") {
            log::debug!("rollback after a failed statement: {rollback}");
        }
        #[derive(QueryableByName)]
        struct StepRow {
            #[diesel(sql_type = Nullable<BigInt>)]
            step: Option<i64>,
        }
        let step = query(&mut self.conn, |conn| {
            diesel::sql_query("SELECT CAST(@strata_step AS SIGNED) AS step").get_result::<StepRow>(conn)
        })
        .ok()
        .and_then(|row| row.step)
        .and_then(|step| usize::try_from(step).ok());
        Err(Box::new(match step {
            Some(step) if step % 2 == 0 => BatchFailure { index: step / 2, step: Step::Statement, error },
            Some(step) => BatchFailure { index: step / 2, step: Step::Record, error },
            // The session cannot even be asked (the connection broke, or a Galera node left
            // the primary component): the progress table alone knows how far it got.
            None => BatchFailure { index: from, step: Step::Unknown, error },
        }))
    }

    fn record_applied(&mut self, unit: &str, index: usize, hash: &str) -> Result<(), DriverError> {
        self.conn.execute(&format!(
            "UPDATE strata_db_sync_progress SET applied = {}, failed = 0, statement_hashes = CONCAT(statement_hashes, '{hash},') WHERE unit = {}",
            index + 1,
            literal(unit)
        ))
    }

    /// Records how far a unit got when one of its statements failed, and describes it.
    fn statement_failed(&mut self, unit: &Unit<'_>, failure: BatchFailure) -> DbError {
        let BatchFailure { index, step, error } = failure;
        if step == Step::Unknown {
            return DbError::UnitStopped { unit: unit.title.clone(), source: error };
        }
        // A statement that failed with an error did not apply (MySQL DDL statements are
        // atomic): the next run must not take its "already exists" as proof that it did.
        if step == Step::Statement && error.kind != ErrorKind::ConnectionLost {
            let mark =
                format!("UPDATE strata_db_sync_progress SET failed = 1 WHERE unit = {}", literal(&unit.id.to_string()));
            if let Err(mark_error) = self.conn.execute(&mark) {
                log::warn!("could not record that statement {} of {} failed: {mark_error}", index + 1, unit.title);
            }
        }
        let applied = if index == 0 {
            "no statement of it had been applied; fix the cause, then run strata-manage db_sync again".to_owned()
        } else {
            format!(
                "statements 1 to {index} of it are applied (MySQL commits each DDL statement); strata-manage db_sync resumes it once the cause is fixed"
            )
        };
        let source = match step {
            Step::Statement | Step::Unknown => error,
            Step::Record => DriverError::new(
                error.kind,
                error.code,
                &format!("recording the statement as applied failed: {}", error.message),
                error,
            ),
        };
        DbError::Statement(Box::new(StatementFailure::new(unit, index, applied, source)))
    }

    /// Writes the version row and removes the progress record in one transaction.
    fn finish(&mut self, unit: &Unit<'_>) -> Result<(), DbError> {
        let conn = &mut self.conn;
        conn.execute("BEGIN").map_err(DbError::query("cannot begin a transaction"))?;
        let outcome = record_version(conn, &unit.version).and_then(|()| {
            if self.progress_table_ready && !unit.statements.is_empty() {
                let delete =
                    format!("DELETE FROM strata_db_sync_progress WHERE unit = {}", literal(&unit.id.to_string()));
                conn.execute(&delete).map_err(DbError::query("cannot clear the progress record"))?;
            }
            conn.execute("COMMIT").map_err(DbError::query("cannot commit the version row"))
        });
        if outcome.is_err() {
            let _ = conn.execute("ROLLBACK");
        }
        outcome
    }
}

/// Which step of a statement's pair failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// The statement itself.
    Statement,
    /// Its progress record.
    Record,
    /// Not known.
    Unknown,
}

struct BatchFailure {
    index: usize,
    step: Step,
    error: DriverError,
}

fn connection_alive(conn: &mut MysqlConnection, connection_id: i64) -> Result<bool, DriverError> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        count: i64,
    }
    let found: Count = query(conn, |conn| {
        diesel::sql_query("SELECT COUNT(*) AS count FROM information_schema.processlist WHERE id = ?")
            .bind::<BigInt, _>(connection_id)
            .get_result(conn)
    })?;
    Ok(found.count > 0)
}

/// The lock while held: its own connection beats in a thread, so that a waiter on another
/// Galera node can tell a live holder (busy with a long ALTER) from a dead one.
struct HeartbeatLock {
    stop: Option<mpsc::Sender<()>>,
    heartbeat: Option<JoinHandle<MysqlConnection>>,
    me: Identity,
    lost: Arc<AtomicBool>,
    taken_by: Arc<Mutex<String>>,
}

fn start_heartbeat(mut conn: MysqlConnection, me: Identity, options: &LockOptions) -> HeartbeatLock {
    let interval = (options.stale_after / 6).clamp(Duration::from_millis(100), Duration::from_secs(10));
    let (stop, stopped) = mpsc::channel::<()>();
    let lost = Arc::new(AtomicBool::new(false));
    let taken_by = Arc::new(Mutex::new(String::new()));
    let (thread_lost, thread_taken_by, thread_me) = (Arc::clone(&lost), Arc::clone(&taken_by), me.clone());
    let heartbeat = std::thread::spawn(move || {
        while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
            let beat = query(&mut conn, |conn| {
                diesel::sql_query(
                    "UPDATE strata_db_sync_lock SET beat = beat + 1 WHERE id = 1 AND server = ? AND connection_id = ?",
                )
                .bind::<Text, _>(&thread_me.server)
                .bind::<BigInt, _>(thread_me.connection_id)
                .execute(conn)
            });
            match beat {
                Ok(1) => {}
                Ok(_) | Err(DriverError { kind: ErrorKind::NoSuchTable, .. }) => {
                    let holder =
                        read_lock_row(&mut conn).ok().flatten().map_or_else(|| "nobody".to_owned(), |row| row.holder);
                    log::error!("the db_sync lock was taken over by {holder} while this run held it");
                    *thread_taken_by.lock().unwrap_or_else(|e| e.into_inner()) = holder;
                    thread_lost.store(true, Ordering::SeqCst);
                    break;
                }
                // A conflict with a waiter's read or a brief cluster hiccup: beat next time.
                Err(error) => log::debug!("db_sync lock heartbeat: {error}"),
            }
        }
        conn
    });
    HeartbeatLock { stop: Some(stop), heartbeat: Some(heartbeat), me, lost, taken_by }
}

impl HeldLock for HeartbeatLock {
    fn verify(&mut self) -> Result<(), DbError> {
        if self.lost.load(Ordering::SeqCst) {
            let holder = self.taken_by.lock().unwrap_or_else(|e| e.into_inner()).clone();
            return Err(DbError::LockLost { holder });
        }
        Ok(())
    }

    fn release(&mut self) -> Result<(), DbError> {
        // The heartbeat thread ends as soon as the channel closes, and hands the connection back.
        drop(self.stop.take());
        let Some(heartbeat) = self.heartbeat.take() else { return Ok(()) };
        let mut conn =
            heartbeat.join().map_err(|_| DbError::Concurrent("the db_sync lock heartbeat thread panicked".into()))?;
        let failure = DbError::query("cannot release the db_sync lock");
        let row = read_lock_row(&mut conn).map_err(&failure)?;
        if !matches!(&row, Some(row) if row.owner == self.me) {
            log::warn!("the db_sync lock was taken over by another run while this one held it; leaving it to that run");
            return Ok(());
        }
        // An unfinished unit (its statement failed) keeps its progress record for the next
        // run; otherwise strata's tables go, and the schema is the service's alone.
        let unfinished = match read_progress(&mut conn) {
            Ok(row) => row.is_some(),
            Err(error) if error.kind == ErrorKind::NoSuchTable => false,
            Err(error) => return Err(failure(error)),
        };
        if unfinished {
            log::warn!("a migration is not finished: its progress stays recorded in {PROGRESS_TABLE}, and the next db_sync resumes it");
        } else {
            conn.execute("DROP TABLE IF EXISTS strata_db_sync_progress").map_err(&failure)?;
        }
        conn.execute("DROP TABLE IF EXISTS strata_db_sync_lock").map_err(&failure)
    }
}

pub(super) fn connect(url: &DatabaseUrl) -> Result<MysqlBackend, DbError> {
    let charset = match url.param("charset") {
        Some(charset) if !charset.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_') => {
            return Err(DbError::Connect {
                url: url.to_string(),
                source: DriverError::unexpected(format!("charset '{charset}' is not a character set name")),
            })
        }
        other => other.map(str::to_owned),
    };
    let failure = |source| DbError::Connect { url: url.to_string(), source };
    let opts = client_options(url).map_err(|message| failure(DriverError::unexpected(message)))?;
    let mut conn = open_session(&opts, charset.as_deref()).map_err(failure)?;
    let work_connection_id = identity(&mut conn).map_err(failure)?.connection_id;
    Ok(MysqlBackend {
        conn,
        opts,
        charset,
        work_connection_id,
        holder: Holder::this_process(),
        progress_table_ready: false,
    })
}

/// The client's options, as libmysqlclient would take the URL: `localhost` (or no host)
/// means the server's local socket, other hosts TCP; affected-row counts are rows matched,
/// as diesel expects; the server's socket is never substituted for a TCP address.
pub(super) fn client_options(url: &DatabaseUrl) -> Result<ClientOptions, String> {
    let Target::Server(server) = &url.target else { unreachable!("mysql URLs always name a server") };
    for name in crate::url::ignored_params(&url.params, |key| MYSQL_PARAMS.contains(&key)) {
        log::debug!("ignoring URL parameter {name} (not used by MySQL connections)");
    }
    let host = server.host.as_deref().unwrap_or("localhost");
    let socket = url.param("unix_socket").map(str::to_owned).or_else(|| {
        (host == "localhost").then(|| std::env::var("MYSQL_UNIX_PORT").unwrap_or_else(|_| DEFAULT_SOCKET.to_owned()))
    });
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(host)
        .tcp_port(server.port.unwrap_or(3306))
        .socket(socket)
        .prefer_socket(false)
        .user(server.user.clone())
        .pass(server.password.clone())
        .db_name(Some(server.database.clone()))
        .client_found_rows(true)
        .stmt_cache_size(0)
        .ssl_opts(ssl_options(url)?)
        .into();
    Ok(ClientOptions { opts, tls_optional: ssl_mode(url) == "PREFERRED" })
}

/// The client's options, and whether TLS may be given up when the server offers none.
#[derive(Clone)]
pub(super) struct ClientOptions {
    opts: mysql_async::Opts,
    tls_optional: bool,
}

impl std::ops::Deref for ClientOptions {
    type Target = mysql_async::Opts;
    fn deref(&self) -> &mysql_async::Opts {
        &self.opts
    }
}

/// `ssl_mode` in capitals, or its default: `VERIFY_CA` with `ssl_ca`, `REQUIRED` with a
/// client certificate, else `PREFERRED`.
fn ssl_mode(url: &DatabaseUrl) -> String {
    match url.param("ssl_mode") {
        Some(mode) => mode.to_ascii_uppercase(),
        None if url.param("ssl_ca").is_some() => "VERIFY_CA".to_owned(),
        None if url.param("ssl_cert").is_some() || url.param("ssl_key").is_some() => "REQUIRED".to_owned(),
        None => "PREFERRED".to_owned(),
    }
}

/// TLS as MySQL's `ssl_mode`, `ssl_ca`, `ssl_cert` and `ssl_key` ask for it (rustls):
/// `DISABLED` connects without TLS; `PREFERRED` (the default without `ssl_ca`) and
/// `REQUIRED` encrypt without checking the certificate unless `ssl_ca` is given, and
/// `PREFERRED` connects without TLS to a server that offers none (see [`open_session`]);
/// `VERIFY_CA` (the default with `ssl_ca`) checks the chain, `VERIFY_IDENTITY` the host name
/// too (against `ssl_ca`, or the built-in web roots without it). Known bug: mysql_async 0.36
/// recognises a name mismatch by rustls's former message text, so with rustls 0.23.46 the
/// name is checked whenever the chain is (tests/tls.rs keeps an ignored test of it).
pub(super) fn ssl_options(url: &DatabaseUrl) -> Result<Option<mysql_async::SslOpts>, String> {
    let ca = url.param("ssl_ca").map(std::path::PathBuf::from);
    let mode = ssl_mode(url);
    let (check_chain, check_name) = match mode.as_str() {
        "DISABLED" => return Ok(None),
        "PREFERRED" | "REQUIRED" => (ca.is_some(), false),
        "VERIFY_CA" => (true, false),
        "VERIFY_IDENTITY" => (true, true),
        other => {
            return Err(format!(
                "ssl_mode '{other}' is not one of DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY"
            ))
        }
    };
    let identity = match (url.param("ssl_cert"), url.param("ssl_key")) {
        (Some(cert), Some(key)) => Some(mysql_async::ClientIdentity::new(
            std::path::PathBuf::from(cert).into(),
            std::path::PathBuf::from(key).into(),
        )),
        (None, None) => None,
        _ => return Err("ssl_cert and ssl_key go together: give both or neither".to_owned()),
    };
    let has_ca = ca.is_some();
    Ok(Some(
        mysql_async::SslOpts::default()
            .with_root_certs(ca.into_iter().map(Into::into).collect())
            .with_disable_built_in_roots(has_ca)
            .with_client_identity(identity)
            .with_danger_accept_invalid_certs(!check_chain)
            .with_danger_skip_domain_validation(!check_name),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What resuming a unit and the CLI's advice rest on: the server's numbers, whatever the
    /// language of its messages.
    #[test]
    fn error_numbers_decide_what_a_failure_means() {
        // Re-running a DDL statement an interrupted run applied: skipped as applied.
        for code in [1050, 1060, 1061, 1091, 1062] {
            assert!(kind_of(code).means_already_applied(), "{code}");
        }
        // Anything else stops the run: a missing table, a conflict to retry, a node out of
        // the primary component, a lost connection, a missing privilege, a syntax error.
        let cases = [
            (1146, ErrorKind::NoSuchTable),
            (1213, ErrorKind::Conflict),
            (1205, ErrorKind::Conflict),
            (1047, ErrorKind::ClusterNotReady),
            (2013, ErrorKind::ConnectionLost),
            (1142, ErrorKind::PermissionDenied),
            (1064, ErrorKind::Other),
        ];
        for (code, kind) in cases {
            assert_eq!(kind_of(code), kind, "{code}");
            assert!(!kind.means_already_applied(), "{code}");
        }
    }
}
