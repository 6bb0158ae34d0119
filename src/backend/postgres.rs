//! PostgreSQL. DDL is transactional, so a revision and its version row commit together.

use diesel::connection::SimpleConnection;
use diesel::sql_types::Text;
use diesel::{Connection, PgConnection, RunQueryDsl};

use super::{diesel_primitives, wait_for_lock, Attempt, Backend, DbError};
use crate::lock::{Holder, LockOptions};
use crate::url::{DatabaseUrl, Dialect, Target};

/// libpq connection parameters that may be given as URL query parameters; others are
/// ignored (with a debug log), as SQLAlchemy drivers ignore what they do not know.
const PASSED_THROUGH: [&str; 9] = [
    "host",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "connect_timeout",
    "application_name",
    "options",
    "target_session_attrs",
];

/// The advisory lock key of `db_sync` ("STRATA" + 1). Advisory locks are per database, so
/// one constant key serializes runs on one database without touching any other.
const LOCK_KEY: i64 = 0x5354_5241_5441_0001;

/// A PostgreSQL database.
pub(super) struct PostgresBackend {
    conn: PgConnection,
    conninfo: String,
    /// The dedicated connection holding the advisory lock: if this process dies, the server
    /// closes it and the lock goes with it.
    lock_conn: Option<PgConnection>,
}

impl Backend for PostgresBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Postgresql
    }

    fn lock(&mut self, options: &LockOptions) -> Result<(), DbError> {
        let failure = |error: diesel::result::Error| DbError::statement("cannot take the db_sync lock", error);
        let mut lock_conn = PgConnection::establish(&self.conninfo)
            .map_err(|error| DbError::statement("cannot open the lock connection", error))?;
        // Shown in pg_stat_activity, so that a waiting run can say who holds the lock.
        diesel::sql_query("SELECT set_config('application_name', $1, false)")
            .bind::<Text, _>(Holder::this_process().to_string().chars().take(63).collect::<String>())
            .execute(&mut lock_conn)
            .map_err(failure)?;
        wait_for_lock(options, || {
            let taken =
                single_text(&mut lock_conn, &format!("SELECT CAST(pg_try_advisory_lock({LOCK_KEY}) AS text) AS value"))
                    .map_err(failure)?;
            if taken == "true" {
                return Ok(Attempt::Acquired);
            }
            Ok(Attempt::Held(lock_holder(&mut lock_conn).unwrap_or_else(|_| "another session".to_owned())))
        })?;
        self.lock_conn = Some(lock_conn);
        Ok(())
    }

    fn unlock(&mut self) -> Result<(), DbError> {
        if let Some(mut lock_conn) = self.lock_conn.take() {
            single_text(&mut lock_conn, &format!("SELECT CAST(pg_advisory_unlock({LOCK_KEY}) AS text) AS value"))
                .map_err(|error| DbError::statement("cannot release the db_sync lock", error))?;
        }
        Ok(())
    }
}

/// Describes the session holding the advisory lock, from pg_locks and pg_stat_activity.
fn lock_holder(conn: &mut PgConnection) -> diesel::QueryResult<String> {
    let sql = format!(
        "SELECT CAST(a.pid AS text) || ' (' || coalesce(nullif(a.application_name, ''), 'unnamed') || ', from ' \
         || coalesce(host(a.client_addr), 'local socket') || ', connected since ' || CAST(date_trunc('second', a.backend_start) AS text) || ')' AS value \
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND l.objsubid = 1 AND ((CAST(l.classid AS bigint) << 32) | CAST(l.objid AS bigint)) = {LOCK_KEY}"
    );
    single_text(conn, &sql).map(|pid| format!("PostgreSQL session {pid}"))
}

fn single_text(conn: &mut PgConnection, sql: &str) -> diesel::QueryResult<String> {
    diesel::sql_query(sql).get_result::<super::TextRow>(conn).map(|row| row.value)
}

diesel_primitives!(
    PostgresBackend,
    tables: "SELECT table_name::text AS value FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name",
    placeholders: ["$1", "$2", "$3"]
);

pub(super) fn connect(url: &DatabaseUrl) -> Result<PostgresBackend, DbError> {
    let failure = |message: String| DbError::Connect { url: url.to_string(), message: super::one_line(&message) };
    let mut conn = PgConnection::establish(&conninfo(url)).map_err(|error| failure(error.to_string()))?;
    // NOTICEs would otherwise be printed by libpq straight to stderr.
    conn.batch_execute("SET client_min_messages = warning").map_err(|error| failure(error.to_string()))?;
    Ok(PostgresBackend { conn, conninfo: conninfo(url), lock_conn: None })
}

/// A libpq `key=value` connection string (values quoted, so any password works).
fn conninfo(url: &DatabaseUrl) -> String {
    let Target::Server(server) = &url.target else { unreachable!("postgresql URLs always name a server") };
    let mut pairs: Vec<(&str, String)> = Vec::new();
    if let Some(host) = &server.host {
        pairs.push(("host", host.clone()));
    }
    if let Some(port) = server.port {
        pairs.push(("port", port.to_string()));
    }
    if let Some(user) = &server.user {
        pairs.push(("user", user.clone()));
    }
    if let Some(password) = &server.password {
        pairs.push(("password", password.clone()));
    }
    pairs.push(("dbname", server.database.clone()));
    for (key, value) in &url.params {
        match PASSED_THROUGH.iter().find(|known| *known == key) {
            Some(known) => pairs.push((known, value.clone())),
            None => {
                log::debug!("ignoring URL parameter '{key}' (not used by PostgreSQL connections)")
            }
        }
    }
    if url.param("connect_timeout").is_none() {
        // Fail fast on an unreachable server instead of waiting for TCP's own timeout.
        pairs.push(("connect_timeout", "10".into()));
    }
    pairs
        .iter()
        .map(|(key, value)| format!("{key}='{}'", value.replace('\\', "\\\\").replace('\'', "\\'")))
        .collect::<Vec<_>>()
        .join(" ")
}
