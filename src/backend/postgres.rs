//! PostgreSQL. DDL is transactional, so a revision and its version row commit together.

use diesel::connection::SimpleConnection;
use diesel::sql_types::Text;
use diesel::{Connection, PgConnection, RunQueryDsl};

use super::{
    apply_in_transaction, diesel_primitives, read_versions, scratch, wait_for_lock, write_legacy_rows, Attempt,
    Backend, DbError, DriverError, HeldLock, LockGuard, Unit, TRANSACTION,
};
use crate::catalog::Catalog;
use crate::dialect::Dialect;
use crate::lock::{Holder, LockOptions};
use crate::state::DatabaseState;
use crate::url::{DatabaseUrl, Target};

/// libpq connection parameters that may be given as URL query parameters; others are
/// ignored (with a debug log), as SQLAlchemy drivers ignore what they do not know.
const PASSED_THROUGH: [&str; 10] = [
    "host",
    "sslmode",
    "sslpassword",
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
        let mut lock_conn = PgConnection::establish(&self.conninfo).map_err(|error| DbError::Query {
            context: "cannot open the lock connection".into(),
            source: DriverError::new(super::ErrorKind::ConnectionLost, None, &error.to_string(), error),
        })?;
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
        apply_in_transaction(&mut self.conn, &TRANSACTION, unit)
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
    let admin_conninfo = conninfo(url);
    let open = |conninfo: &str| {
        PgConnection::establish(conninfo).map_err(|error| DbError::Connect {
            url: url.to_string(),
            source: DriverError::new(super::ErrorKind::ConnectionLost, None, &error.to_string(), error),
        })
    };
    let mut admin = open(&admin_conninfo)?;
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
    let dropper_conninfo = admin_conninfo.clone();
    // WITH (FORCE) (PostgreSQL 13 and later) ends a session still building in it.
    let drop_sql = format!("DROP DATABASE IF EXISTS {quoted} WITH (FORCE)");
    let plain_drop_sql = format!("DROP DATABASE IF EXISTS {quoted}");
    scratch::register(
        name,
        Box::new(move || {
            let mut conn = PgConnection::establish(&dropper_conninfo).map_err(|error| DbError::Query {
                context: "cannot connect to drop the scratch database".into(),
                source: DriverError::new(super::ErrorKind::ConnectionLost, None, &error.to_string(), error),
            })?;
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
    let mut conn = PgConnection::establish(&conninfo(url)).map_err(|error| {
        failure(DriverError::new(super::ErrorKind::ConnectionLost, None, &error.to_string(), error))
    })?;
    // NOTICEs would otherwise be printed by libpq straight to stderr.
    conn.batch_execute("SET client_min_messages = warning")
        .map_err(|error| failure(DriverError::from_diesel(error)))?;
    Ok(PostgresBackend { conn, conninfo: conninfo(url) })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_gets_the_ssl_key_password_and_drops_what_it_does_not_know() {
        let url = DatabaseUrl::parse(
            "postgresql://ks:pw@db.example.org/keystone?sslmode=verify-full&sslkey=/etc/k.key&sslpassword=k3y&charset=utf8",
        )
        .unwrap();
        let info = conninfo(&url);
        for expected in ["sslmode='verify-full'", "sslkey='/etc/k.key'", "sslpassword='k3y'", "dbname='keystone'"] {
            assert!(info.contains(expected), "{expected} missing from {info}");
        }
        assert!(!info.contains("charset"), "{info}");
    }

    #[test]
    fn application_name_is_cut_at_a_character_boundary() {
        assert_eq!(truncate_to_bytes("abc", 63), "abc");
        assert_eq!(truncate_to_bytes("ééé", 5), "éé");
    }
}
