//! The SQL dialects strata speaks. A new backend is one file under `backend/` plus a variant
//! here.

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
