//! MySQL and MariaDB. Every DDL statement commits on its own, so a revision cannot be
//! wrapped in a transaction: statements run one by one and the version row is written right
//! after the revision's last statement.

use diesel::connection::SimpleConnection;
use diesel::{Connection, MysqlConnection};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

use super::{diesel_primitives, DbError};
use crate::url::{DatabaseUrl, Dialect, Target};

/// URL parameters diesel's MySQL client understands; others are ignored with a debug log.
const PASSED_THROUGH: [&str; 5] = ["unix_socket", "ssl_mode", "ssl_ca", "ssl_cert", "ssl_key"];

/// A MySQL or MariaDB database.
pub(super) struct MysqlBackend {
    conn: MysqlConnection,
}

impl MysqlBackend {
    const DIALECT: Dialect = Dialect::Mysql;
}

diesel_primitives!(
    MysqlBackend,
    begin: "BEGIN",
    tables: "SELECT CAST(table_name AS CHAR) AS value FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY table_name",
    placeholders: ["?", "?", "?"]
);

pub(super) fn connect(url: &DatabaseUrl) -> Result<MysqlBackend, DbError> {
    let failure = |message: String| DbError::Connect {
        url: url.to_string(),
        message: super::one_line(&message),
    };
    let mut conn =
        MysqlConnection::establish(&client_url(url)).map_err(|error| failure(error.to_string()))?;
    if let Some(charset) = url.param("charset") {
        if !charset
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
        {
            return Err(failure(format!(
                "charset '{charset}' is not a character set name"
            )));
        }
        conn.batch_execute(&format!("SET NAMES {charset}"))
            .map_err(|error| failure(error.to_string()))?;
    }
    Ok(MysqlBackend { conn })
}

/// The URL form diesel's MySQL client parses (credentials percent-encoded again).
fn client_url(url: &DatabaseUrl) -> String {
    let Target::Server(server) = &url.target else {
        unreachable!("mysql URLs always name a server")
    };
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
