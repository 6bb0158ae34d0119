//! PostgreSQL. DDL is transactional, so a revision and its version row commit together.

use diesel::connection::SimpleConnection;
use diesel::sql_types::Text;
use diesel::RunQueryDsl;
use diesel_async::AsyncPgConnection;

use super::runtime::{self, Wrapped};
use super::tls::{self, SslMode, TlsFiles};
use super::{
    apply_in_transaction, diesel_primitives, read_versions, wait_for_lock, Attempt, Backend, DbError, DriverError,
    HeldLock, LockGuard, Unit, TRANSACTION,
};
use crate::dialect::Dialect;
use crate::lock::{Holder, LockOptions};
use crate::state::DatabaseState;
use crate::url::{DatabaseUrl, Target};

/// A diesel connection over tokio-postgres.
type PgConnection = Wrapped<AsyncPgConnection>;

/// libpq connection parameters that may be given as URL query parameters and that
/// tokio-postgres understands as libpq does; others are ignored (with a debug log), as
/// SQLAlchemy drivers ignore what they do not know.
const PASSED_THROUGH: [&str; 11] = [
    "host",
    "hostaddr",
    "connect_timeout",
    "application_name",
    "options",
    "target_session_attrs",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_retries",
    "tcp_user_timeout",
];

/// The TLS parameters, handled by strata itself (see `tls.rs`).
const TLS_PARAMS: [&str; 4] = ["sslmode", "sslrootcert", "sslcert", "sslkey"];

/// Where libpq looks for the server's socket when the URL names no host (Debian's default).
const DEFAULT_SOCKET_DIRECTORY: &str = "/var/run/postgresql";

/// The advisory lock key of `db_sync` ("STRATA" + 1). Advisory locks are per database, so
/// one constant key serializes runs on one database without touching any other.
const LOCK_KEY: i64 = 0x5354_5241_5441_0001;

/// A PostgreSQL database.
pub(super) struct PostgresBackend {
    conn: PgConnection,
    session: Session,
}

/// How to open a session: libpq's parameters as tokio-postgres takes them, and TLS.
#[derive(Clone)]
pub(super) struct Session {
    pub(super) config: tokio_postgres::Config,
    pub(super) tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
}

/// The advisory lock, held by a dedicated connection: if this process dies, the server
/// closes it and the lock goes with it.
struct AdvisoryLock {
    conn: PgConnection,
}

impl HeldLock for AdvisoryLock {
    /// A session lock cannot be taken from a live session.
    fn verify(&mut self) -> Result<(), DbError> {
        Ok(())
    }

    fn release(&mut self) -> Result<(), DbError> {
        single_text(&mut self.conn, &format!("SELECT CAST(pg_advisory_unlock({LOCK_KEY}) AS text) AS value"))
            .map(drop)
            .map_err(|error| DbError::Query {
                context: "cannot release the db_sync lock".into(),
                source: DriverError::from_diesel(error),
            })
    }
}

impl Backend for PostgresBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Postgresql
    }

    fn read_state(&mut self) -> Result<DatabaseState, DbError> {
        read_versions(&mut self.conn)
    }

    fn lock(&mut self, options: &LockOptions) -> Result<LockGuard, DbError> {
        let failure = |context: &str, error: diesel::result::Error| DbError::Query {
            context: context.to_owned(),
            source: DriverError::from_diesel(error),
        };
        let mut lock_conn = open(&self.session).map_err(DbError::query("cannot open the lock connection"))?;
        // Shown in pg_stat_activity, so that a waiting run can say who holds the lock.
        diesel::sql_query("SELECT set_config('application_name', $1, false)")
            .bind::<Text, _>(Holder::this_process().to_string().chars().take(63).collect::<String>())
            .execute(&mut lock_conn)
            .map_err(|error| failure("cannot take the db_sync lock", error))?;
        wait_for_lock(options, || {
            let taken =
                single_text(&mut lock_conn, &format!("SELECT CAST(pg_try_advisory_lock({LOCK_KEY}) AS text) AS value"))
                    .map_err(|error| failure("cannot take the db_sync lock", error))?;
            if taken == "true" {
                return Ok(Attempt::Acquired);
            }
            Ok(Attempt::Held(lock_holder(&mut lock_conn).unwrap_or_else(|_| "another session".to_owned())))
        })?;
        Ok(LockGuard::new(Box::new(AdvisoryLock { conn: lock_conn })))
    }

    fn apply(&mut self, unit: &Unit<'_>) -> Result<(), DbError> {
        apply_in_transaction(&mut self.conn, &TRANSACTION, unit)
    }
}

/// diesel keeps PostgreSQL's SQLSTATE to itself; its own classification is what there is.
fn classify(_conn: &mut PgConnection, error: diesel::result::Error) -> DriverError {
    DriverError::from_diesel(error)
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
    PgConnection,
    tables: "SELECT table_name::text AS value FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name",
    placeholders: ["$1", "$2", "$3"],
    classify: classify
);

pub(super) fn connect(url: &DatabaseUrl) -> Result<PostgresBackend, DbError> {
    let failure = |source: DriverError| DbError::Connect { url: url.to_string(), source };
    let session = session(url).map_err(failure)?;
    let mut conn = open(&session).map_err(failure)?;
    // The server's NOTICEs are of no use to the operator.
    conn.batch_execute("SET client_min_messages = warning")
        .map_err(|error| failure(DriverError::from_diesel(error)))?;
    Ok(PostgresBackend { conn, session })
}

/// The session a URL describes: its libpq parameters and TLS settings.
pub(super) fn session(url: &DatabaseUrl) -> Result<Session, DriverError> {
    let bad = |message: String| DriverError::new(super::ErrorKind::Other, None, &message, message.clone());
    let mut config: tokio_postgres::Config =
        conninfo(url).parse().map_err(|error: tokio_postgres::Error| bad(error.to_string()))?;
    let from_env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let mode_name = url.param("sslmode").map(str::to_owned).or_else(|| from_env("PGSSLMODE"));
    let mode = match mode_name.as_deref() {
        None => SslMode::Prefer,
        Some(name) => SslMode::parse(name).ok_or_else(|| {
            bad(format!("sslmode '{name}' is not one of disable, allow, prefer, require, verify-ca, verify-full"))
        })?,
    };
    let file = |key: &str| url.param(key).map(std::path::PathBuf::from);
    let files = TlsFiles { root_cert: file("sslrootcert"), client_cert: file("sslcert"), client_key: file("sslkey") };
    let tls = tls::client_config(mode, &files).map_err(bad)?;
    config.ssl_mode(match mode {
        SslMode::Disable => tokio_postgres::config::SslMode::Disable,
        SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => tokio_postgres::config::SslMode::Require,
    });
    Ok(Session { config, tls: tls.map(tokio_postgres_rustls::MakeRustlsConnect::new) })
}

/// Opens a session.
fn open(session: &Session) -> Result<PgConnection, DriverError> {
    // tokio-postgres keeps the cause (refused, TLS certificate, ...) in the source chain.
    let failed = |error: tokio_postgres::Error| {
        let mut message = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            if !message.contains(&cause_text) {
                message = format!("{message}: {cause_text}");
            }
            source = cause.source();
        }
        DriverError::new(super::ErrorKind::ConnectionLost, None, &message, error)
    };
    let wrap_failed = |error: diesel::ConnectionError| {
        DriverError::new(super::ErrorKind::ConnectionLost, None, &error.to_string(), error)
    };
    runtime::open(|| async move {
        match &session.tls {
            Some(tls) => {
                let (client, connection) = session.config.connect(tls.clone()).await.map_err(failed)?;
                AsyncPgConnection::try_from_client_and_connection(client, connection).await.map_err(wrap_failed)
            }
            None => {
                let (client, connection) = session.config.connect(tokio_postgres::NoTls).await.map_err(failed)?;
                AsyncPgConnection::try_from_client_and_connection(client, connection).await.map_err(wrap_failed)
            }
        }
    })
}

/// A libpq `key=value` connection string (values quoted, so any password works).
pub(super) fn conninfo(url: &DatabaseUrl) -> String {
    let Target::Server(server) = &url.target else { unreachable!("postgresql URLs always name a server") };
    let mut pairs: Vec<(&str, String)> = Vec::new();
    // libpq's defaults, which tokio-postgres leaves to the caller: the environment, then
    // the local socket and the operating system's user name.
    let from_env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let host = server.host.clone().or_else(|| from_env("PGHOST")).or_else(|| {
        (!url.params.iter().any(|(key, _)| key == "host" || key == "hostaddr"))
            .then(|| DEFAULT_SOCKET_DIRECTORY.to_owned())
    });
    if let Some(host) = host {
        pairs.push(("host", host));
    }
    if let Some(port) = server.port {
        pairs.push(("port", port.to_string()));
    }
    if let Some(user) = server.user.clone().or_else(|| from_env("PGUSER")).or_else(|| from_env("USER")) {
        pairs.push(("user", user));
    }
    if let Some(password) = &server.password {
        pairs.push(("password", password.clone()));
    }
    pairs.push(("dbname", server.database.clone()));
    for (key, value) in &url.params {
        match PASSED_THROUGH.iter().find(|known| *known == key) {
            Some(known) => pairs.push((known, value.clone())),
            None if TLS_PARAMS.contains(&key.as_str()) => {}
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
