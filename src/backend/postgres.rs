//! PostgreSQL. DDL is transactional, so a revision and its version row commit together.

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

use super::{diesel_primitives, DbError};
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

/// A PostgreSQL database.
pub(super) struct PostgresBackend {
    conn: PgConnection,
}

impl PostgresBackend {
    const DIALECT: Dialect = Dialect::Postgresql;
}

diesel_primitives!(
    PostgresBackend,
    begin: "BEGIN",
    tables: "SELECT table_name::text AS value FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name",
    placeholders: ["$1", "$2", "$3"]
);

pub(super) fn connect(url: &DatabaseUrl) -> Result<PostgresBackend, DbError> {
    let failure = |message: String| DbError::Connect {
        url: url.to_string(),
        message: super::one_line(&message),
    };
    let mut conn =
        PgConnection::establish(&conninfo(url)).map_err(|error| failure(error.to_string()))?;
    // NOTICEs would otherwise be printed by libpq straight to stderr.
    conn.batch_execute("SET client_min_messages = warning")
        .map_err(|error| failure(error.to_string()))?;
    Ok(PostgresBackend { conn })
}

/// A libpq `key=value` connection string (values quoted, so any password works).
fn conninfo(url: &DatabaseUrl) -> String {
    let Target::Server(server) = &url.target else {
        unreachable!("postgresql URLs always name a server")
    };
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
        .map(|(key, value)| {
            format!(
                "{key}='{}'",
                value.replace('\\', "\\\\").replace('\'', "\\'")
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}
