//! The SQL dialects strata speaks. A new engine is a variant here, its [`Backend`] in
//! `backend/`, and the places that match on the dialect for what only it has: connecting
//! (`backend::connect`), offline scripts (`backend/script.rs`, `offline.rs`), `verify`'s
//! scratch database and catalog (`backend/scratch.rs`, `backend/introspect/`), the lint's
//! SQL parser (`lint.rs`) and `show --dialect` (`cli/show.rs`).
//!
//! [`Backend`]: crate::backend::Backend

use std::fmt;

use serde::Serialize;

/// The database engines strata can migrate. Serialized as its canonical name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// SQLite, the embedded default.
    Sqlite,
    /// PostgreSQL.
    Postgresql,
    /// MySQL or MariaDB.
    Mysql,
}

impl Dialect {
    /// Every dialect, in the order the SQL file suffixes are documented.
    pub const ALL: [Dialect; 3] = [Dialect::Sqlite, Dialect::Postgresql, Dialect::Mysql];

    /// The canonical name, also the suffix of per-backend SQL files (`up.<name>.sql`).
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgresql => "postgresql",
            Dialect::Mysql => "mysql",
        }
    }

    /// `text` as a string literal of this dialect, safe whatever it holds and whatever the
    /// session's settings: quotes are doubled; a backslash, which PostgreSQL (with
    /// `standard_conforming_strings` off) and MySQL (without `NO_BACKSLASH_ESCAPES`) may take
    /// for an escape, is written so that both settings read it the same way (PostgreSQL: an
    /// `E'…'` string; MySQL: the text's UTF-8 bytes in hexadecimal).
    pub fn quote_literal(self, text: &str) -> String {
        match self {
            Dialect::Postgresql if text.contains('\\') => {
                format!("E'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
            }
            Dialect::Mysql if text.contains('\\') => {
                let hex: String = text.bytes().map(|byte| format!("{byte:02X}")).collect();
                format!("CONVERT(X'{hex}' USING utf8mb4)")
            }
            _ => format!("'{}'", text.replace('\'', "''")),
        }
    }

    pub(crate) fn from_scheme(scheme: &str) -> Option<Dialect> {
        match scheme {
            "sqlite" => Some(Dialect::Sqlite),
            "postgresql" | "postgres" => Some(Dialect::Postgresql),
            "mysql" | "mariadb" => Some(Dialect::Mysql),
            _ => None,
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::Dialect;

    #[test]
    fn literals_double_quotes_and_neutralise_backslashes() {
        for dialect in Dialect::ALL {
            assert_eq!(dialect.quote_literal("27e647c0fad4"), "'27e647c0fad4'");
            assert_eq!(dialect.quote_literal("it's"), "'it''s'");
        }
        assert_eq!(Dialect::Sqlite.quote_literal("a\\'b"), "'a\\''b'");
        assert_eq!(Dialect::Postgresql.quote_literal("a\\'b"), "E'a\\\\''b'");
        assert_eq!(Dialect::Mysql.quote_literal("a\\'b"), "CONVERT(X'615C2762' USING utf8mb4)");
    }
}
