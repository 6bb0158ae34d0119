//! MySQL and MariaDB. Every DDL statement commits on its own, so a revision cannot be
//! wrapped in a transaction: statements run one by one and the version row is written right
//! after the revision's last statement.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use diesel::{Connection, MysqlConnection, OptionalExtension, QueryResult, QueryableByName, RunQueryDsl};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

use super::{diesel_primitives, wait_for_lock, Attempt, Backend, DbError};
use crate::lock::{Holder, LockOptions};
use crate::state::{Interrupted, UnitId};
use crate::url::{DatabaseUrl, Dialect, Target};

/// URL parameters diesel's MySQL client understands; others are ignored with a debug log.
const PASSED_THROUGH: [&str; 5] = ["unix_socket", "ssl_mode", "ssl_ca", "ssl_cert", "ssl_key"];

/// A MySQL or MariaDB database.
pub(super) struct MysqlBackend {
    conn: MysqlConnection,
    client_url: String,
    holder: Holder,
    lock: Option<HeldLock>,
}

/// The lock while held: the dedicated connection beats in a thread of its own, so that a
/// waiter on another Galera node can tell a live holder (busy with a long ALTER) from a dead
/// one.
struct HeldLock {
    stop: mpsc::Sender<()>,
    heartbeat: JoinHandle<MysqlConnection>,
}

/// The lock table. Creating it is the lock: DDL is atomic, and on Galera it is replicated in
/// total order, so exactly one run on the whole cluster succeeds. Its single row says who
/// holds it, beats while the holder lives, and records the unit in progress (with how far it
/// got, once a statement of it failed).
const CREATE_LOCK_TABLE: &str = "CREATE TABLE strata_db_sync_lock (\
    id INTEGER NOT NULL, holder VARCHAR(255) NOT NULL, server VARCHAR(255) NOT NULL, \
    db_user VARCHAR(255) NOT NULL, connection_id BIGINT NOT NULL, beat BIGINT NOT NULL, \
    unit VARCHAR(255) NULL, statement_index INTEGER NULL, PRIMARY KEY (id)) ENGINE=InnoDB";

#[derive(QueryableByName, Debug, Clone, PartialEq, Eq)]
struct LockRow {
    #[diesel(sql_type = Text)]
    holder: String,
    /// The holder's lock connection.
    #[diesel(embed)]
    owner: Identity,
    #[diesel(sql_type = BigInt)]
    beat: i64,
    #[diesel(sql_type = Nullable<Text>)]
    unit: Option<String>,
    #[diesel(sql_type = Nullable<Integer>)]
    statement_index: Option<i32>,
}

const SELECT_LOCK_ROW: &str =
    "SELECT holder, server, db_user, connection_id, beat, unit, statement_index FROM strata_db_sync_lock WHERE id = 1";

/// Who a connection is, as the lock row records it.
#[derive(QueryableByName, Debug, Clone, PartialEq, Eq)]
struct Identity {
    #[diesel(sql_type = Text)]
    server: String,
    #[diesel(sql_type = Text)]
    db_user: String,
    #[diesel(sql_type = BigInt)]
    connection_id: i64,
}

fn identity(conn: &mut MysqlConnection) -> QueryResult<Identity> {
    diesel::sql_query(
        "SELECT CAST(CONCAT(@@hostname, ':', @@port) AS CHAR) AS server, CAST(CURRENT_USER() AS CHAR) AS db_user, \
         CAST(CONNECTION_ID() AS SIGNED) AS connection_id",
    )
    .get_result(conn)
}

fn read_lock_row(conn: &mut MysqlConnection) -> QueryResult<Option<LockRow>> {
    diesel::sql_query(SELECT_LOCK_ROW).get_result::<LockRow>(conn).optional()
}

/// Inserts this run's row; `carried` keeps the progress record of a dead holder.
fn insert_lock_row(
    conn: &mut MysqlConnection,
    holder: &Holder,
    me: &Identity,
    carried: Option<&LockRow>,
) -> QueryResult<usize> {
    diesel::sql_query(
        "INSERT INTO strata_db_sync_lock (id, holder, server, db_user, connection_id, beat, unit, statement_index) \
         VALUES (1, ?, ?, ?, ?, 0, ?, ?)",
    )
    .bind::<Text, _>(&holder.0)
    .bind::<Text, _>(&me.server)
    .bind::<Text, _>(&me.db_user)
    .bind::<BigInt, _>(me.connection_id)
    .bind::<Nullable<Text>, _>(carried.and_then(|row| row.unit.clone()))
    .bind::<Nullable<Integer>, _>(carried.and_then(|row| row.statement_index))
    .execute(conn)
}

/// The lock table vanished between two statements: its holder just released it.
fn is_missing_table(error: &diesel::result::Error) -> bool {
    error.to_string().contains("doesn't exist")
}

fn is_duplicate(error: &diesel::result::Error) -> bool {
    let text = error.to_string();
    text.contains("Duplicate entry") || text.contains("Deadlock")
}

impl Backend for MysqlBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Mysql
    }

    fn lock(&mut self, options: &LockOptions) -> Result<(), DbError> {
        let failure = |error: diesel::result::Error| DbError::statement("cannot take the db_sync lock", error);
        let mut conn = MysqlConnection::establish(&self.client_url)
            .map_err(|error| DbError::statement("cannot open the lock connection", error))?;
        let me = identity(&mut conn).map_err(failure)?;
        let mut watch = LockWatch::default();
        wait_for_lock(options, || {
            let attempt = match conn.batch_execute(CREATE_LOCK_TABLE) {
                Ok(()) => match insert_lock_row(&mut conn, &self.holder, &me, None) {
                    Ok(_) => Ok(Attempt::Acquired),
                    Err(error) if is_duplicate(&error) => Ok(Attempt::Held(CREATING.to_owned())),
                    Err(error) => Err(error),
                },
                Err(error) if error.to_string().contains("already exists") => {
                    self.try_take_over(&mut conn, &me, &mut watch, options)
                }
                Err(error) => Err(error),
            };
            match attempt {
                Err(error) if is_missing_table(&error) => Ok(Attempt::Held(CREATING.to_owned())),
                other => other.map_err(failure),
            }
        })?;
        self.lock = Some(start_heartbeat(conn, options));
        Ok(())
    }

    fn unlock(&mut self) -> Result<(), DbError> {
        let Some(held) = self.lock.take() else { return Ok(()) };
        // The heartbeat thread ends as soon as the channel closes, and hands the connection back.
        drop(held.stop);
        let mut conn = held
            .heartbeat
            .join()
            .map_err(|_| DbError::Concurrent("the db_sync lock heartbeat thread panicked".into()))?;
        let failure = |error: diesel::result::Error| DbError::statement("cannot release the db_sync lock", error);
        // A unit left half-applied (its statement failed, or a dead holder's unit was not
        // resumed) keeps its record: the lock row stays, its connection closes with this
        // process, and the next db_sync takes it over and resumes the unit.
        let removed = diesel::sql_query(
            "DELETE FROM strata_db_sync_lock WHERE id = 1 AND connection_id = CONNECTION_ID() AND unit IS NULL",
        )
        .execute(&mut conn)
        .map_err(failure)?;
        if removed == 0 {
            if let Ok(Some(row)) = read_lock_row(&mut conn) {
                if row.owner.connection_id == identity(&mut conn).map_err(failure)?.connection_id {
                    let unit = row.unit.unwrap_or_default();
                    log::warn!("{unit} is not finished: its progress stays recorded in strata_db_sync_lock, and the next db_sync resumes it");
                    return Ok(());
                }
            }
        }
        if removed == 1 {
            conn.batch_execute("DROP TABLE IF EXISTS strata_db_sync_lock").map_err(failure)?;
        } else {
            log::warn!("the db_sync lock was taken over by another run while this one held it; leaving it to that run");
        }
        Ok(())
    }

    fn record_progress(&mut self, progress: Option<(&UnitId, Option<usize>)>) -> Result<(), DbError> {
        let (unit, index) = match progress {
            Some((unit, index)) => {
                (Some(unit.to_string()), index.map(|index| i32::try_from(index).unwrap_or(i32::MAX)))
            }
            None => (None, None),
        };
        let matched = diesel::sql_query(
            "UPDATE strata_db_sync_lock SET unit = ?, statement_index = ? WHERE id = 1 AND holder = ?",
        )
        .bind::<Nullable<Text>, _>(unit)
        .bind::<Nullable<Integer>, _>(index)
        .bind::<Text, _>(&self.holder.0)
        .execute(&mut self.conn)
        .map_err(|error| DbError::statement("cannot record progress in strata_db_sync_lock", error))?;
        if matched != 1 {
            return Err(DbError::Concurrent(
                "this run no longer holds the db_sync lock (another run took it over): stopping; run strata-manage db_sync --check".into(),
            ));
        }
        Ok(())
    }

    fn read_interrupted(&mut self) -> Result<Option<Interrupted>, DbError> {
        let row = read_lock_row(&mut self.conn)
            .map_err(|error| DbError::statement("cannot read strata_db_sync_lock", error))?;
        let Some(row) = row else { return Ok(None) };
        let Some(unit) = row.unit else { return Ok(None) };
        let unit = unit.parse::<UnitId>().map_err(|message| DbError::Statement {
            context: "strata_db_sync_lock records an unreadable unit".into(),
            message,
        })?;
        let statement = row.statement_index.and_then(|index| usize::try_from(index).ok());
        Ok(Some(Interrupted { unit, statement, holder: row.holder }))
    }

    /// Sends a unit's statements as one multi-statement batch: diesel's MySQL client pays
    /// three round trips per call, which made statement-by-statement execution markedly
    /// slower than the server's own client. A session variable set before each statement
    /// tells which one failed; the server stops a batch at its first error.
    fn execute_all(&mut self, statements: &[String]) -> Result<(), (usize, DbError)> {
        if statements.is_empty() {
            return Ok(());
        }
        let mut batch = String::new();
        for (index, statement) in statements.iter().enumerate() {
            log::debug!(target: "strata::sql", "{statement}");
            // The newline keeps the ';' out of a trailing `--` comment.
            batch.push_str(&format!("SET @strata_statement = {index};\n{statement}\n;\n"));
        }
        let Err(error) = self.conn.batch_execute(&batch) else { return Ok(()) };
        #[derive(diesel::QueryableByName)]
        struct Position {
            #[diesel(sql_type = Nullable<BigInt>)]
            position: Option<i64>,
        }
        let index = diesel::sql_query("SELECT CAST(@strata_statement AS SIGNED) AS position")
            .get_result::<Position>(&mut self.conn)
            .ok()
            .and_then(|row| row.position)
            .and_then(|position| usize::try_from(position).ok())
            .unwrap_or_default();
        Err((index, DbError::statement("statement failed", error)))
    }

    fn is_already_applied(&self, message: &str) -> bool {
        const ALREADY: [&str; 8] = [
            "already exists",
            "Duplicate column name",
            "Duplicate key name",
            "Duplicate entry",
            "Duplicate foreign key constraint name",
            "Multiple primary key defined",
            "Can't DROP",
            "check that it exists",
        ];
        ALREADY.iter().any(|pattern| message.contains(pattern))
    }
}

impl Drop for MysqlBackend {
    /// A run that ends without unlocking (an error path, a panic) still removes its lock.
    fn drop(&mut self) {
        if self.lock.is_some() {
            if let Err(error) = self.unlock() {
                log::warn!("could not release the db_sync lock: {error}");
            }
        }
    }
}

/// How a waiter describes a lock table whose row is not (or no longer) there.
const CREATING: &str = "a run that is taking or releasing the lock";

/// What a waiter has seen of the lock so far, to tell a dead holder from a busy one by its
/// own clock (the servers' clocks play no part).
#[derive(Default)]
struct LockWatch {
    last: Option<LockRow>,
    unchanged_since: Option<Instant>,
    empty_since: Option<Instant>,
}

impl MysqlBackend {
    /// The lock table exists: wait, or take over from a dead holder.
    fn try_take_over(
        &self,
        conn: &mut MysqlConnection,
        me: &Identity,
        watch: &mut LockWatch,
        options: &LockOptions,
    ) -> QueryResult<Attempt> {
        let Some(row) = read_lock_row(conn)? else {
            // Created, row not yet inserted: its creator is between two statements, or died there.
            let since = *watch.empty_since.get_or_insert_with(Instant::now);
            if since.elapsed() < options.stale_after {
                return Ok(Attempt::Held(CREATING.to_owned()));
            }
            log::warn!("Taking over an empty db_sync lock table left by a run that died while taking the lock");
            return match insert_lock_row(conn, &self.holder, me, None) {
                Ok(_) => Ok(Attempt::Acquired),
                Err(error) if is_duplicate(&error) => Ok(Attempt::Held(CREATING.to_owned())),
                Err(error) => Err(error),
            };
        };
        watch.empty_since = None;
        if watch.last.as_ref() != Some(&row) {
            watch.unchanged_since = Some(Instant::now());
        }
        watch.last = Some(row.clone());
        let visible_here = row.owner.server == me.server && row.owner.db_user == me.db_user;
        let dead_here = visible_here && !connection_alive(conn, row.owner.connection_id)?;
        let silent = watch.unchanged_since.is_some_and(|since| since.elapsed() >= options.stale_after);
        let held = || {
            let doing = row.unit.as_deref().map(|unit| format!(" (now applying {unit})")).unwrap_or_default();
            Attempt::Held(format!("{}{doing}", row.holder))
        };
        if !dead_here && !silent {
            return Ok(held());
        }
        // Compare-and-swap of the row in one transaction: of several waiters, one wins.
        conn.batch_execute("BEGIN")?;
        let removed = diesel::sql_query(
            "DELETE FROM strata_db_sync_lock WHERE id = 1 AND holder = ? AND connection_id = ? AND beat = ?",
        )
        .bind::<Text, _>(&row.holder)
        .bind::<BigInt, _>(row.owner.connection_id)
        .bind::<BigInt, _>(row.beat)
        .execute(conn)?;
        if removed != 1 {
            conn.batch_execute("ROLLBACK")?;
            return Ok(held());
        }
        match insert_lock_row(conn, &self.holder, me, Some(&row)) {
            Ok(_) => conn.batch_execute("COMMIT")?,
            Err(error) => {
                conn.batch_execute("ROLLBACK")?;
                return if is_duplicate(&error) { Ok(held()) } else { Err(error) };
            }
        }
        let reason = if dead_here { "its connection is gone" } else { "its heartbeat stopped" };
        log::warn!("Took over the db_sync lock from {} ({reason})", row.holder);
        Ok(Attempt::Acquired)
    }
}

fn connection_alive(conn: &mut MysqlConnection, connection_id: i64) -> QueryResult<bool> {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        count: i64,
    }
    let found: Count = diesel::sql_query("SELECT COUNT(*) AS count FROM information_schema.processlist WHERE id = ?")
        .bind::<BigInt, _>(connection_id)
        .get_result(conn)?;
    Ok(found.count > 0)
}

fn start_heartbeat(mut conn: MysqlConnection, options: &LockOptions) -> HeldLock {
    let interval = (options.stale_after / 6).clamp(Duration::from_millis(100), Duration::from_secs(10));
    let (stop, stopped) = mpsc::channel::<()>();
    let heartbeat = std::thread::spawn(move || {
        while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
            let beat = diesel::sql_query(
                "UPDATE strata_db_sync_lock SET beat = beat + 1 WHERE id = 1 AND connection_id = CONNECTION_ID()",
            )
            .execute(&mut conn);
            match beat {
                Ok(1) => {}
                Ok(_) => log::error!("the db_sync lock was taken over by another run while this one still holds it"),
                Err(error) => log::warn!("db_sync lock heartbeat failed: {error}"),
            }
        }
        conn
    });
    HeldLock { stop, heartbeat }
}

diesel_primitives!(
    MysqlBackend,
    tables: "SELECT CAST(table_name AS CHAR) AS value FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY table_name",
    placeholders: ["?", "?", "?"]
);

pub(super) fn connect(url: &DatabaseUrl) -> Result<MysqlBackend, DbError> {
    let failure = |message: String| DbError::Connect { url: url.to_string(), message: super::one_line(&message) };
    let mut conn = MysqlConnection::establish(&client_url(url)).map_err(|error| failure(error.to_string()))?;
    if let Some(charset) = url.param("charset") {
        if !charset.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_') {
            return Err(failure(format!("charset '{charset}' is not a character set name")));
        }
        conn.batch_execute(&format!("SET NAMES {charset}")).map_err(|error| failure(error.to_string()))?;
    }
    Ok(MysqlBackend { conn, client_url: client_url(url), holder: Holder::this_process(), lock: None })
}

/// The URL form diesel's MySQL client parses (credentials percent-encoded again).
fn client_url(url: &DatabaseUrl) -> String {
    let Target::Server(server) = &url.target else { unreachable!("mysql URLs always name a server") };
    let encode = |text: &str| utf8_percent_encode(text, NON_ALPHANUMERIC).to_string();
    let mut out = String::from("mysql://");
    if let Some(user) = &server.user {
        out.push_str(&encode(user));
        if let Some(password) = &server.password {
            out.push(':');
            out.push_str(&encode(password));
        }
        out.push('@');
    }
    match &server.host {
        Some(host) if host.contains(':') => out.push_str(&format!("[{host}]")),
        Some(host) => out.push_str(host),
        None => out.push_str("localhost"),
    }
    if let Some(port) = server.port {
        out.push_str(&format!(":{port}"));
    }
    // diesel decodes user and password but takes the database name as written.
    out.push('/');
    out.push_str(&server.database);
    let passed: Vec<String> = url
        .params
        .iter()
        .filter(|(key, _)| {
            let known = PASSED_THROUGH.contains(&key.as_str());
            if !known && key != "charset" {
                log::debug!("ignoring URL parameter '{key}' (not used by MySQL connections)");
            }
            known
        })
        .map(|(key, value)| format!("{key}={}", encode(value)))
        .collect();
    if !passed.is_empty() {
        out.push('?');
        out.push_str(&passed.join("&"));
    }
    out
}
