//! SQLAlchemy-style database URLs:
//! `dialect[+driver]://[user[:password]@]host[:port]/dbname[?params]`.
//!
//! keystone.conf files carry such URLs, so strata accepts them unchanged: the `+driver` part
//! (`+pymysql`, `+psycopg2`) is ignored, user and password are percent-decoded, and SQLite
//! paths follow SQLAlchemy (`sqlite:///relative.db`, `sqlite:////absolute.db`). The password
//! never leaves this module in clear text except towards the database driver: `Display`
//! shows it as `***`.

use std::fmt;
use std::path::PathBuf;

use percent_encoding::percent_decode_str;
use thiserror::Error;

use crate::dialect::Dialect;

/// A URL that could not be understood. The offending URL is shown with its password hidden.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlError {
    /// No `://` separator.
    #[error("database URL '{url}' is not of the form dialect://[user[:password]@]host[:port]/dbname; check [database] connection, --database-url or STRATA_DATABASE_URL")]
    Malformed {
        /// The URL, password hidden.
        url: String,
    },
    /// A dialect strata does not support.
    #[error("unknown database dialect '{dialect}' in '{url}': strata supports sqlite, postgresql (postgres) and mysql (mariadb)")]
    UnknownDialect {
        /// The dialect as written.
        dialect: String,
        /// The URL, password hidden.
        url: String,
    },
    /// The port is not a number from 1 to 65535.
    #[error("invalid port '{port}' in database URL '{url}': give a number from 1 to 65535")]
    BadPort {
        /// The port as written.
        port: String,
        /// The URL, password hidden.
        url: String,
    },
    /// A server URL without a database name.
    #[error("database URL '{url}' names no database: add /<dbname> after the host")]
    MissingDatabase {
        /// The URL, password hidden.
        url: String,
    },
    /// `sqlite://` with no path: an in-memory database would be lost on exit.
    #[error("database URL '{url}' names no SQLite file: use sqlite:///relative.db or sqlite:////absolute/path.db")]
    MissingSqlitePath {
        /// The URL as written.
        url: String,
    },
    /// The host holds an `@`: the password holds an unencoded `@`, so SQLAlchemy (which splits
    /// at the first `@`) would take the password's rest for the host. The host is not shown,
    /// as it may hold part of the password.
    #[error("the host or database part of the {dialect} database URL contains '@': an '@' in the user name or password must be percent-encoded as %40 (user:pa%40ss@host)")]
    AtSignInHost {
        /// The dialect as written.
        dialect: String,
    },
    /// Percent-encoding that does not decode to UTF-8.
    #[error("database URL '{url}' has percent-encoding that is not valid UTF-8")]
    BadEncoding {
        /// The URL, password hidden.
        url: String,
    },
}

/// A parsed database URL.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    /// Which engine the URL names.
    pub dialect: Dialect,
    /// What follows the dialect.
    pub target: Target,
    /// Query parameters, decoded, in order.
    pub params: Vec<(String, String)>,
}

/// Where the database is.
#[derive(Clone, PartialEq, Eq)]
pub enum Target {
    /// A SQLite database file (relative paths are relative to the working directory).
    File(PathBuf),
    /// A database on a server.
    Server(ServerAddress),
}

/// A database on a PostgreSQL or MySQL server.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerAddress {
    /// User name, decoded.
    pub user: Option<String>,
    /// Password, decoded. Never printed.
    pub password: Option<String>,
    /// Host name or address (IPv6 without brackets); `None` for the driver's default socket.
    pub host: Option<String>,
    /// TCP port.
    pub port: Option<u16>,
    /// Database name.
    pub database: String,
}

impl DatabaseUrl {
    /// Parses a SQLAlchemy-style URL.
    pub fn parse(raw: &str) -> Result<DatabaseUrl, UrlError> {
        let raw = raw.trim();
        let shown = redact(raw);
        let (scheme, rest) = raw.split_once("://").ok_or_else(|| UrlError::Malformed { url: shown.clone() })?;
        let dialect_name = scheme.split('+').next().unwrap_or_default().to_ascii_lowercase();
        let dialect = Dialect::from_scheme(&dialect_name)
            .ok_or_else(|| UrlError::UnknownDialect { dialect: dialect_name.clone(), url: shown.clone() })?;
        // A '?' inside the password does not start the query.
        let query_start =
            split_credentials(rest).1.find('?').map(|offset| rest.len() - split_credentials(rest).1.len() + offset);
        let (location, query) = match query_start {
            Some(at) => (&rest[..at], Some(&rest[at + 1..])),
            None => (rest, None),
        };
        let params = parse_query(query, &shown)?;
        let target = if dialect == Dialect::Sqlite {
            // SQLAlchemy: everything after "sqlite:///" is the path, so a fourth slash makes it
            // absolute.
            let path = location.strip_prefix('/').unwrap_or(location);
            if path.is_empty() {
                return Err(UrlError::MissingSqlitePath { url: shown });
            }
            Target::File(PathBuf::from(decode(path, &shown)?))
        } else {
            // The password ran to the first '@'; another one after it means the password held an
            // unencoded '@' (and maybe a '/' before it), so what follows is partly password,
            // whether it reads as host, port or database name.
            if split_credentials(location).1.contains('@') {
                return Err(UrlError::AtSignInHost { dialect: dialect_name });
            }
            let mut server = parse_server(location, &shown)?;
            // As SQLAlchemy passes query parameters on to the driver, `?password=` is the
            // password (and wins over one before the '@'). It stays among the parameters, so
            // that what follows it is known to follow a password (see `ignored_params`).
            if let Some((_, password)) = params.iter().rev().find(|(key, _)| key == "password") {
                server.password = Some(password.clone());
            }
            Target::Server(server)
        };
        Ok(DatabaseUrl { dialect, target, params })
    }

    /// The value of a query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

fn parse_server(location: &str, shown: &str) -> Result<ServerAddress, UrlError> {
    let (credentials, rest) = split_credentials(location);
    let (host_port, database) = rest.split_once('/').unwrap_or((rest, ""));
    if database.is_empty() {
        return Err(UrlError::MissingDatabase { url: shown.to_owned() });
    }
    let (user, password) = match credentials {
        None => (None, None),
        Some(credentials) => match credentials.split_once(':') {
            Some((user, password)) => (Some(decode(user, shown)?), Some(decode(password, shown)?)),
            None => (Some(decode(credentials, shown)?), None),
        },
    };
    let (host, port) = split_host_port(host_port, shown)?;
    Ok(ServerAddress {
        user: user.filter(|user| !user.is_empty()),
        password,
        host,
        port,
        database: decode(database, shown)?,
    })
}

/// Splits `user[:password]@` off the front, as SQLAlchemy's URL pattern does: the user name
/// holds no ':' or '/', the password runs to the first '@' (so an unencoded '/' or '?' in a
/// password still works, and never ends up read as a host, port or database).
fn split_credentials(text: &str) -> (Option<&str>, &str) {
    let Some((credentials, rest)) = text.split_once('@') else { return (None, text) };
    let user = credentials.split(':').next().unwrap_or_default();
    if user.contains('/') {
        return (None, text);
    }
    (Some(credentials), rest)
}

fn split_host_port(host_port: &str, shown: &str) -> Result<(Option<String>, Option<u16>), UrlError> {
    let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
        // IPv6 literal: [::1]:5432
        let (host, after) = bracketed.split_once(']').ok_or_else(|| UrlError::Malformed { url: shown.to_owned() })?;
        (host, after.strip_prefix(':'))
    } else {
        match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    let port = match port {
        None => None,
        Some(port) => match port.parse::<u16>() {
            Ok(number) if number > 0 => Some(number),
            _ => return Err(UrlError::BadPort { port: port.to_owned(), url: shown.to_owned() }),
        },
    };
    let host = (!host.is_empty()).then(|| host.to_owned());
    Ok((host, port))
}

fn parse_query(query: Option<&str>, shown: &str) -> Result<Vec<(String, String)>, UrlError> {
    let Some(query) = query else {
        return Ok(Vec::new());
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(key, shown)?, decode(&value.replace('+', " "), shown)?))
        })
        .collect()
}

fn decode(text: &str, shown: &str) -> Result<String, UrlError> {
    percent_decode_str(text)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| UrlError::BadEncoding { url: shown.to_owned() })
}

/// libpq connection parameters that may be given as URL query parameters and that
/// tokio-postgres understands as libpq does; others are ignored (with a debug log), as
/// SQLAlchemy drivers ignore what they do not know.
pub const POSTGRESQL_PARAMS: [&str; 11] = [
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

/// PostgreSQL's TLS parameters, handled by strata itself (see `backend/tls.rs`).
pub const POSTGRESQL_TLS_PARAMS: [&str; 5] = ["sslmode", "sslrootcert", "sslcert", "sslkey", "sslpassword"];

/// URL parameters strata's MySQL connections use; others are ignored with a debug log.
pub const MYSQL_PARAMS: [&str; 6] = ["unix_socket", "charset", "ssl_mode", "ssl_ca", "ssl_cert", "ssl_key"];

/// Whether some backend uses the URL parameter `key` (besides `password`, which every server
/// backend takes): after a password parameter, a pair whose name is not one of these may be
/// the rest of a password holding an unencoded `&`, and is never shown.
pub fn is_recognised_param(key: &str) -> bool {
    [&POSTGRESQL_PARAMS[..], &POSTGRESQL_TLS_PARAMS, &MYSQL_PARAMS].iter().any(|params| params.contains(&key))
}

/// Whether a query pair named `key` may be the rest of a secret: it follows a secret (or
/// another such pair) and is no parameter strata knows, as after an unencoded `&`.
fn may_be_part_of_a_secret(after_secret: bool, key: &str) -> bool {
    after_secret && !is_recognised_param(key)
}

/// The names of `params` that `used` does not accept (nor `password`, which the URL's
/// password took), as a log line may show them: quoted, except after a password parameter
/// where only a recognised name is shown (see [`is_recognised_param`]).
pub fn ignored_params(params: &[(String, String)], used: impl Fn(&str) -> bool) -> Vec<String> {
    let mut after_secret = false;
    let mut ignored = Vec::new();
    for (key, _) in params {
        if key != "password" && !used(key) {
            ignored.push(if may_be_part_of_a_secret(after_secret, key) {
                "(a name not shown: it follows a password, and may be part of it; an '&' in a password must be percent-encoded as %26)".to_owned()
            } else {
                format!("'{key}'")
            });
        }
        after_secret = is_secret_param(key) || may_be_part_of_a_secret(after_secret, key);
    }
    ignored
}

/// Whether a query parameter holds a secret (`password`, `sslpassword`, …).
pub fn is_secret_param(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.contains("password") || key.contains("passwd") || key == "pwd"
}

/// Hides every credential of a URL that may not even parse, for messages and logs.
///
/// A mistyped URL can be read two ways, and whatever either reading takes for a secret is
/// hidden: the parser's (and SQLAlchemy's), where the password runs from the first `:` after
/// the user name to the first `@` and the query starts at the next `?`; and one where the
/// password held unencoded `@`s (and maybe `?`s), so it runs to the last `@`. In the query,
/// the values of parameters such as `password` and `sslpassword` are hidden, and so is a pair
/// that is no `name=value`, or that follows one of them and is not a parameter strata knows
/// (the rest of a password that held an unencoded `&`). Each hidden stretch is shown as `***`.
pub fn redact(raw: &str) -> String {
    let mut hidden = Vec::new();
    for password_may_hold_at_signs in [false, true] {
        hide_secrets(raw, password_may_hold_at_signs, &mut hidden);
    }
    hidden.sort_unstable_by_key(|range| (range.start, range.end));
    let mut shown = String::with_capacity(raw.len());
    let mut written = 0;
    let mut index = 0;
    while index < hidden.len() {
        // Overlapping or touching stretches are one.
        let start = hidden[index].start.max(written);
        let mut end = hidden[index].end;
        while index + 1 < hidden.len() && hidden[index + 1].start <= end {
            index += 1;
            end = end.max(hidden[index].end);
        }
        shown.push_str(&raw[written..start]);
        shown.push_str("***");
        written = end.max(start);
        index += 1;
    }
    shown.push_str(&raw[written..]);
    shown
}

/// Adds to `hidden` the byte ranges of `raw` that hold secrets in one reading (see
/// [`redact`]); an empty range is a password that is there but empty. Ranges start and end
/// next to ASCII delimiters, so they are character boundaries.
fn hide_secrets(raw: &str, password_may_hold_at_signs: bool, hidden: &mut Vec<std::ops::Range<usize>>) {
    let authority_start = authority_start(raw);
    let authority = &raw[authority_start..];
    let credentials_end = if password_may_hold_at_signs {
        // A user name holds no ':', '?' or '@' ('/' is let through: a scheme mangled as
        // `mysql//` leaves it in front of the user name).
        authority.rfind('@').filter(|&at| {
            let user = authority[..at].split(':').next().unwrap_or_default();
            !user.contains(['?', '@'])
        })
    } else {
        split_credentials(authority).0.map(str::len)
    };
    let mut after_credentials = authority_start;
    if let Some(at) = credentials_end {
        // `user:password`: the user name holds no ':', so the password starts at the first one.
        if let Some(colon) = authority[..at].find(':') {
            hidden.push(authority_start + colon + 1..authority_start + at);
        }
        after_credentials = authority_start + at + 1;
    }
    let Some(query_offset) = raw[after_credentials..].find('?') else { return };
    let mut pair_start = after_credentials + query_offset + 1;
    let mut after_secret = false;
    for pair in raw[pair_start..].split('&') {
        let (key, has_value) = match pair.split_once('=') {
            Some((key, _)) => (percent_decode_str(key).decode_utf8_lossy(), true),
            None => (percent_decode_str(pair).decode_utf8_lossy(), false),
        };
        let name_like = has_value
            && !key.is_empty()
            && key.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.'));
        if is_secret_param(&key) {
            let value_start = pair.find('=').map_or(pair.len(), |equals| equals + 1);
            hidden.push(pair_start + value_start..pair_start + pair.len());
        } else if !name_like || may_be_part_of_a_secret(after_secret, &key) {
            hidden.push(pair_start..pair_start + pair.len());
        }
        after_secret = is_secret_param(&key) || may_be_part_of_a_secret(after_secret, &key);
        pair_start += pair.len() + 1;
    }
}

/// Where what follows the scheme starts: after `dialect://`, or a mangled `dialect:/`; at 0
/// when there is no scheme.
fn authority_start(raw: &str) -> usize {
    if let Some(scheme_end) = raw.find("://") {
        return scheme_end + 3;
    }
    match raw.split_once(':') {
        Some((scheme, rest))
            if rest.starts_with('/') && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+') =>
        {
            raw.len() - rest.trim_start_matches('/').len()
        }
        _ => 0,
    }
}

impl fmt::Display for DatabaseUrl {
    /// The URL with the password shown as `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Target::File(path) => write!(f, "sqlite:///{}", path.display())?,
            Target::Server(server) => {
                write!(f, "{}://", self.dialect)?;
                if let Some(user) = &server.user {
                    f.write_str(user)?;
                    if server.password.is_some() {
                        f.write_str(":***")?;
                    }
                    f.write_str("@")?;
                }
                match &server.host {
                    Some(host) if host.contains(':') => write!(f, "[{host}]")?,
                    Some(host) => f.write_str(host)?,
                    None => {}
                }
                if let Some(port) = server.port {
                    write!(f, ":{port}")?;
                }
                write!(f, "/{}", server.database)?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(url: &DatabaseUrl) -> &ServerAddress {
        match &url.target {
            Target::Server(server) => server,
            Target::File(_) => panic!("expected a server URL"),
        }
    }

    #[test]
    fn sqlite_paths_follow_sqlalchemy() {
        let relative = DatabaseUrl::parse("sqlite:///keystone.db").unwrap();
        assert!(relative.target == Target::File("keystone.db".into()));
        let absolute = DatabaseUrl::parse("sqlite:////var/lib/keystone/keystone.db").unwrap();
        assert!(absolute.target == Target::File("/var/lib/keystone/keystone.db".into()));
        assert_eq!(
            DatabaseUrl::parse("sqlite://").unwrap_err(),
            UrlError::MissingSqlitePath { url: "sqlite://".into() }
        );
    }

    #[test]
    fn driver_is_ignored_and_credentials_are_decoded() {
        let url =
            DatabaseUrl::parse("mysql+pymysql://keystone:p%40ss%3Aw0rd@db.example.org:3307/keystone?charset=utf8")
                .unwrap();
        assert_eq!(url.dialect, Dialect::Mysql);
        let server = server(&url);
        assert_eq!(server.user.as_deref(), Some("keystone"));
        assert_eq!(server.password.as_deref(), Some("p@ss:w0rd"));
        assert_eq!(server.host.as_deref(), Some("db.example.org"));
        assert_eq!(server.port, Some(3307));
        assert_eq!(server.database, "keystone");
        assert_eq!(url.param("charset"), Some("utf8"));
    }

    #[test]
    fn aliases_and_ipv6() {
        let url = DatabaseUrl::parse("postgres+psycopg2://u@[::1]:5432/ks").unwrap();
        assert_eq!(url.dialect, Dialect::Postgresql);
        assert_eq!(server(&url).host.as_deref(), Some("::1"));
        assert_eq!(url.to_string(), "postgresql://u@[::1]:5432/ks");
        assert_eq!(DatabaseUrl::parse("mariadb://r@h/d").unwrap().dialect, Dialect::Mysql);
    }

    #[test]
    fn password_is_never_displayed() {
        let raw = "postgresql://admin:s3cr%3Dt@host/db";
        let url = DatabaseUrl::parse(raw).unwrap();
        assert_eq!(url.to_string(), "postgresql://admin:***@host/db");
        assert!(!format!("{url:?}").contains("s3cr"));
        assert_eq!(redact("oracle://u:topsecret@h/d"), "oracle://u:***@h/d");
        assert_eq!(redact("mysql:/keystone:s3cretpw@db/keystone"), "mysql:/keystone:***@db/keystone");
        assert_eq!(redact("mysql://u:pa/ss?x@h/db"), "mysql://u:***@h/db");
        assert_eq!(redact("mysql//keystone:s3cretpw@db/ks"), "mysql//keystone:***@db/ks");
        let error = DatabaseUrl::parse("oracle://u:topsecret@h/d").unwrap_err().to_string();
        assert!(error.contains("unknown database dialect 'oracle'"), "{error}");
        assert!(!error.contains("topsecret"), "{error}");
    }

    #[test]
    fn every_credential_is_redacted() {
        assert_eq!(
            redact("postgresql://u:pw@h/db?sslmode=require&password=qwerty&SSLPassword=k3y"),
            "postgresql://u:***@h/db?sslmode=require&password=***&SSLPassword=***"
        );
        assert_eq!(redact("postgresql://u:Ab3@Yx9W@h/db"), "postgresql://u:***@h/db");
        let url = DatabaseUrl::parse("postgresql://u@h/db?password=qw%26rty&sslmode=require").unwrap();
        assert_eq!(server(&url).password.as_deref(), Some("qw&rty"), "the query password is the password");
        assert_eq!(url.param("sslmode"), Some("require"));
        assert_eq!(url.to_string(), "postgresql://u:***@h/db");
    }

    #[test]
    fn an_at_sign_in_the_host_is_refused_without_showing_it() {
        let error = DatabaseUrl::parse("mysql+pymysql://u:Ab3@Yx9W@host/db").unwrap_err();
        assert_eq!(error, UrlError::AtSignInHost { dialect: "mysql".into() });
        let message = error.to_string();
        assert!(message.contains("%40") && !message.contains("Yx9W") && !message.contains("Ab3"), "{message}");
        // A '/' before the second '@' would otherwise make the rest of the password the
        // database name, and a '?' its query.
        for raw in ["postgresql://u:x@/aalpQ@127.0.0.1:1/ks", "postgresql://u:ab?c@de/f@127.0.0.1/ks"] {
            let error = DatabaseUrl::parse(raw).unwrap_err();
            assert_eq!(error, UrlError::AtSignInHost { dialect: "postgresql".into() }, "{raw}");
        }
    }

    #[test]
    fn unencoded_slash_or_question_mark_in_password_is_still_the_password() {
        let url = DatabaseUrl::parse("mysql://u:pa/ss?w@h:3306/db?charset=utf8").unwrap();
        assert_eq!(server(&url).password.as_deref(), Some("pa/ss?w"));
        assert_eq!(server(&url).host.as_deref(), Some("h"));
        assert_eq!(server(&url).database, "db");
        assert_eq!(url.param("charset"), Some("utf8"));
    }

    #[test]
    fn malformed_urls_are_named() {
        assert!(matches!(DatabaseUrl::parse("keystone.db"), Err(UrlError::Malformed { .. })));
        let error = DatabaseUrl::parse("mysql://u:pw@h:port/db").unwrap_err();
        assert!(matches!(error, UrlError::BadPort { ref port, .. } if port == "port"));
        assert!(!error.to_string().contains(":pw@"));
        assert!(matches!(DatabaseUrl::parse("postgresql://u@h:5432"), Err(UrlError::MissingDatabase { .. })));
    }

    #[test]
    fn a_query_password_with_unencoded_question_marks_and_ampersands_stays_hidden() {
        // The query starts at the first '?' after the credentials; later ones are data.
        assert_eq!(
            redact("postgresql://u@h:99999/db?password=Sec?retQz&sslmode=disable"),
            "postgresql://u@h:99999/db?password=***&sslmode=disable"
        );
        assert_eq!(redact("postgresql://u:pa?ss@h/db?x=1"), "postgresql://u:***@h/db?x=1");
        // What follows a password and is no parameter strata knows may be the rest of it.
        assert_eq!(
            redact("mysql://u@h/db?password=Abc&defgh=ijk&charset=utf8"),
            "mysql://u@h/db?password=***&***&charset=utf8"
        );
        assert_eq!(
            redact("mysql://u@h/db?charset=utf8&plugin=dbcounter"),
            "mysql://u@h/db?charset=utf8&plugin=dbcounter"
        );
        // An '@' in a query value does not end any credentials.
        assert_eq!(
            redact("mysql+pymysql://root@127.0.0.1:3306/ks?password=aaa@aa&sslmode=prefer"),
            "mysql+pymysql://root@127.0.0.1:3306/ks?password=***&sslmode=prefer"
        );
        // Read with the password running to the last '@', everything after the user is secret.
        assert_eq!(redact("postgresql://u:ab?c@de/f@127.0.0.1/ks?password=x@y"), "postgresql://u:***");
        assert_eq!(redact("mysql+pymysql://root:@?aaaa@127.0.0.1:3306/ks"), "mysql+pymysql://root:***");

        let url = DatabaseUrl::parse("postgresql://u@h/db?password=Sec?retQz&defgh&sslmode=require&xyz=1").unwrap();
        assert_eq!(server(&url).password.as_deref(), Some("Sec?retQz"));
        let ignored = ignored_params(&url.params, |key| key == "sslmode");
        assert_eq!(ignored.len(), 2, "{ignored:?}");
        assert!(!ignored[0].contains("defgh") && ignored[0].contains("%26"), "{ignored:?}");
        // Once a recognised parameter follows, names are shown again.
        assert_eq!(ignored[1], "'xyz'");
        let url = DatabaseUrl::parse("mysql://u@h/db?charset=utf8&plugin=dbcounter").unwrap();
        assert_eq!(ignored_params(&url.params, |key| key == "charset"), ["'plugin'"]);
    }

    #[test]
    fn the_backends_parameters_are_recognised() {
        for key in ["sslmode", "sslpassword", "host", "charset", "ssl_ca", "unix_socket"] {
            assert!(is_recognised_param(key), "{key}");
        }
        assert!(!is_recognised_param("plugin") && !is_recognised_param("password"));
    }
}
