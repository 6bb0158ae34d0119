//! PostgreSQL. DDL is transactional, so a revision and its version row commit together.

use diesel::connection::SimpleConnection;
use diesel::sql_types::Text;
use diesel::RunQueryDsl;
use diesel_async::AsyncPgConnection;

use super::runtime::{self, Wrapped};
use super::tls::{self, SslMode, TlsFiles};
use super::{
    apply_in_transaction, diesel_primitives, read_versions, scratch, wait_for_lock, write_legacy_rows, Attempt,
    Backend, DbError, DriverError, HeldLock, LockGuard, Unit, TRANSACTION,
};
use crate::catalog::Catalog;
use crate::dialect::Dialect;
use crate::lock::{Holder, LockOptions};
use crate::state::DatabaseState;
use crate::url::{DatabaseUrl, Target, POSTGRESQL_PARAMS, POSTGRESQL_TLS_PARAMS};

/// A diesel connection over tokio-postgres.
pub(super) type PgConnection = Wrapped<AsyncPgConnection>;

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
    /// The root certificate the server's is checked against (`sslrootcert` or libpq's
    /// default), for error messages.
    pub(super) root_cert: Option<std::path::PathBuf>,
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
        // Shown in pg_stat_activity, so that a waiting run can say who holds the lock. The server
        // keeps 63 bytes of it and records the session's start itself (`backend_start`), so the
        // name goes without the start time.
        diesel::sql_query("SELECT set_config('application_name', $1, false)")
            .bind::<Text, _>(truncate_to_bytes(&Holder::this_process_name(), 63))
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
        apply_in_transaction(&mut self.conn, &TRANSACTION, unit).map_err(|mut error| {
            // diesel keeps the SQLSTATE to itself, so a missing privilege is told by asking
            // the catalog (after the rollback) whether this role may create in its schema.
            if let Some(source) = error.driver_mut().filter(|source| source.kind == super::ErrorKind::Other) {
                if !may_create_in_schema(&mut self.conn).unwrap_or(true) {
                    source.kind = super::ErrorKind::PermissionDenied;
                }
            }
            error
        })
    }

    fn catalog(&mut self) -> Result<Catalog, DbError> {
        super::introspect::postgres::read(&mut self.conn).map_err(|error| DbError::Query {
            context: "cannot read the catalog".into(),
            source: DriverError::from_diesel(error),
        })
    }

    fn create_legacy_rows(&mut self, rows: &[(String, i64)]) -> Result<(), DbError> {
        write_legacy_rows(&mut self.conn, Dialect::Postgresql, rows)
    }
}

/// Creates the scratch database `name` next to the one `url` names and connects to it
/// (`scratch_url`). A role without CREATEDB (or superuser) is refused before trying, from
/// the catalog: diesel does not pass PostgreSQL's SQLSTATE on.
pub(super) fn create_scratch(
    url: &DatabaseUrl,
    name: &str,
    scratch_url: &DatabaseUrl,
) -> Result<Box<dyn Backend>, DbError> {
    let failure = |source| DbError::Connect { url: url.to_string(), source };
    let admin_session = session(url).map_err(failure)?;
    let mut admin = open(&admin_session).map_err(failure)?;
    let query = |context: &'static str| {
        move |error| DbError::Query { context: context.into(), source: DriverError::from_diesel(error) }
    };
    let may_create = single_text(
        &mut admin,
        "SELECT CASE WHEN rolcreatedb OR rolsuper THEN 'yes' ELSE 'no' END AS value FROM pg_roles WHERE rolname = current_user",
    )
    .map_err(query("cannot read the role's attributes"))?;
    if may_create != "yes" {
        let mut source = DriverError::unexpected("the role has neither CREATEDB nor SUPERUSER");
        source.kind = super::ErrorKind::PermissionDenied;
        return Err(DbError::ScratchDenied { name: name.to_owned(), source });
    }
    let quoted = format!("\"{name}\"");
    let dropper_session = admin_session.clone();
    // WITH (FORCE) (PostgreSQL 13 and later) ends a session still building in it.
    let drop_sql = format!("DROP DATABASE IF EXISTS {quoted} WITH (FORCE)");
    let plain_drop_sql = format!("DROP DATABASE IF EXISTS {quoted}");
    scratch::register(
        name,
        Box::new(move || {
            let mut conn =
                open(&dropper_session).map_err(DbError::query("cannot connect to drop the scratch database"))?;
            conn.batch_execute("SET client_min_messages = warning").ok();
            conn.batch_execute(&drop_sql).or_else(|_| conn.batch_execute(&plain_drop_sql)).map_err(|error| {
                DbError::Query {
                    context: "cannot drop the scratch database".into(),
                    source: DriverError::from_diesel(error),
                }
            })
        }),
    );
    log::info!("Building the expected schema in the scratch database {name}");
    if let Err(error) = admin.batch_execute(&format!("CREATE DATABASE {quoted}")) {
        scratch::forget(name);
        return Err(query("cannot create the scratch database")(error));
    }
    drop(admin);
    Ok(Box::new(connect(scratch_url)?))
}

/// Whether the session's role may create objects in its current schema (`false` also when
/// no schema of the search path exists).
fn may_create_in_schema(conn: &mut PgConnection) -> Result<bool, diesel::result::Error> {
    let answer = single_text(
        conn,
        "SELECT CASE WHEN current_schema() IS NOT NULL AND has_schema_privilege(current_schema(), 'CREATE') \
         THEN 'yes' ELSE 'no' END AS value",
    )?;
    Ok(answer == "yes")
}

/// diesel keeps PostgreSQL's SQLSTATE to itself; its own classification is what there is.
fn classify(_conn: &mut PgConnection, error: diesel::result::Error) -> DriverError {
    DriverError::from_diesel(error)
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn truncate_to_bytes(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// The session holding the advisory lock, from pg_locks and pg_stat_activity.
#[derive(diesel::QueryableByName)]
struct LockHolderRow {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pid: i32,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    client: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    started: i64,
}

/// Describes the session holding the advisory lock as strata describes its own holders: name,
/// local start time and age, then the PostgreSQL session.
fn lock_holder(conn: &mut PgConnection) -> diesel::QueryResult<String> {
    let sql = format!(
        "SELECT a.pid AS pid, coalesce(nullif(a.application_name, ''), 'an unnamed session') AS name, \
         coalesce(host(a.client_addr), 'local socket') AS client, \
         CAST(extract(epoch FROM a.backend_start) AS bigint) AS started \
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND l.objsubid = 1 AND ((CAST(l.classid AS bigint) << 32) | CAST(l.objid AS bigint)) = {LOCK_KEY}"
    );
    let row = diesel::sql_query(sql).get_result::<LockHolderRow>(conn)?;
    let holder = Holder::started_at(&row.name, row.started).describe(std::time::SystemTime::now());
    Ok(format!("{holder} (PostgreSQL session {}, from {})", row.pid, row.client))
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
    let files = TlsFiles {
        root_cert: file("sslrootcert"),
        client_cert: file("sslcert"),
        client_key: file("sslkey"),
        key_password_given: url.param("sslpassword").is_some(),
    };
    let tls = tls::client_config(mode, &files).map_err(bad)?;
    let root_cert = tls::root_cert(&files);
    config.ssl_mode(match mode {
        SslMode::Disable => tokio_postgres::config::SslMode::Disable,
        SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => tokio_postgres::config::SslMode::Require,
    });
    Ok(Session { config, tls: tls.map(tokio_postgres_rustls::MakeRustlsConnect::new), root_cert })
}

/// Opens a session.
fn open(session: &Session) -> Result<PgConnection, DriverError> {
    // tokio-postgres keeps the cause (refused, TLS certificate, ...) in the source chain.
    let failed = |error: tokio_postgres::Error| {
        let mut message = error.to_string();
        let mut source = std::error::Error::source(&error);
        let mut hint = None;
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            if !message.contains(&cause_text) {
                message = format!("{message}: {cause_text}");
            }
            // The TLS error sits inside an I/O error, whose source() skips it.
            let tls_error = cause
                .downcast_ref::<rustls::Error>()
                .or_else(|| cause.downcast_ref::<std::io::Error>()?.get_ref()?.downcast_ref::<rustls::Error>());
            hint = hint.or_else(|| tls_error.and_then(|error| tls::hint(error, session.root_cert.as_deref())));
            source = cause.source();
        }
        if let Some(hint) = hint {
            message = format!("{message}; {hint}");
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
        if let Some(known) = POSTGRESQL_PARAMS.iter().find(|known| *known == key) {
            pairs.push((known, value.clone()));
        }
    }
    let used = |key: &str| POSTGRESQL_PARAMS.contains(&key) || POSTGRESQL_TLS_PARAMS.contains(&key);
    for name in crate::url::ignored_params(&url.params, used) {
        log::debug!("ignoring URL parameter {name} (not used by PostgreSQL connections)");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_stay_with_strata_and_an_encrypted_key_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k.key");
        std::fs::write(
            &key,
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0w\n-----END ENCRYPTED PRIVATE KEY-----\n",
        )
        .unwrap();
        let url = DatabaseUrl::parse(&format!(
            "postgresql://ks:pw@db.example.org/keystone?sslmode=require&sslcert=/etc/c.pem&sslkey={}&sslpassword=k3y&charset=utf8",
            key.display()
        ))
        .unwrap();
        let info = conninfo(&url);
        assert!(info.contains("dbname='keystone'"), "{info}");
        assert!(!info.contains("ssl") && !info.contains("k3y") && !info.contains("charset"), "{info}");
        let error = session(&url).err().expect("refused").to_string();
        assert!(error.contains("cannot read sslcert /etc/c.pem"), "{error}");
        std::fs::write(dir.path().join("c.pem"), "").unwrap();
        let url = DatabaseUrl::parse(&format!(
            "postgresql://ks@h/keystone?sslmode=require&sslcert={}&sslkey={}&sslpassword=k3y",
            dir.path().join("c.pem").display(),
            key.display()
        ))
        .unwrap();
        let error = session(&url).err().expect("refused").to_string();
        assert!(error.contains("encrypted keys are not supported") && !error.contains("k3y"), "{error}");
    }

    #[test]
    fn application_name_is_cut_at_a_character_boundary() {
        assert_eq!(truncate_to_bytes("abc", 63), "abc");
        assert_eq!(truncate_to_bytes("ééé", 5), "éé");
    }
}
