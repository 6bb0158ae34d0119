//! What a database holds, as far as migrations are concerned. Read by a backend, consumed
//! by the pure planner.

/// A row of sqlalchemy-migrate's `migrate_version` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyRow {
    /// `repository_id`, e.g. `keystone_expand`.
    pub repository_id: String,
    /// `version`; the column is nullable.
    pub version: Option<i64>,
}

/// One unit of work: a legacy version of a repository, or an alembic revision.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UnitId {
    /// `legacy <repository_id> <version>`.
    Legacy {
        /// The repository.
        repository_id: String,
        /// The version being applied.
        version: i64,
    },
    /// `revision <id>`.
    Revision(String),
}

impl std::fmt::Display for UnitId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UnitId::Legacy { repository_id, version } => write!(f, "legacy {repository_id} {version}"),
            UnitId::Revision(id) => write!(f, "revision {id}"),
        }
    }
}

impl std::str::FromStr for UnitId {
    type Err = String;

    fn from_str(text: &str) -> Result<UnitId, String> {
        let parts: Vec<&str> = text.split(' ').collect();
        match parts.as_slice() {
            ["revision", id] => Ok(UnitId::Revision((*id).to_owned())),
            ["legacy", repository_id, version] => version
                .parse()
                .map(|version| UnitId::Legacy { repository_id: (*repository_id).to_owned(), version })
                .map_err(|_| format!("bad legacy version in '{text}'")),
            _ => Err(format!("'{text}' names no migration")),
        }
    }
}

/// A unit that a backend without transactional DDL (MySQL) started and did not record as
/// finished: the process was killed, a statement of it failed, or it is still running.
/// The backend resumes it; the planner only needs to know it is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interrupted {
    /// The unit.
    pub unit: UnitId,
    /// How many of its statements are recorded as applied.
    pub applied: usize,
    /// Who was running it.
    pub holder: String,
    /// Whether the run recorded that its next statement failed (rather than being killed or
    /// still running).
    pub failed: bool,
}

/// The migration-relevant state of one database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatabaseState {
    /// Rows of `alembic_version`, or `None` when the table does not exist.
    pub alembic_versions: Option<Vec<String>>,
    /// Rows of `migrate_version`, or `None` when the table does not exist.
    pub legacy_versions: Option<Vec<LegacyRow>>,
    /// Every other table, sorted by name.
    pub tables: Vec<String>,
    /// A unit recorded as started but not finished (MySQL only).
    pub interrupted: Option<Interrupted>,
}

impl DatabaseState {
    /// The rows of `alembic_version` (none when the table is absent).
    pub fn alembic_rows(&self) -> &[String] {
        self.alembic_versions.as_deref().unwrap_or_default()
    }

    /// The `migrate_version` row of a repository.
    pub fn legacy_row(&self, repository_id: &str) -> Option<&LegacyRow> {
        self.legacy_versions.as_deref().unwrap_or_default().iter().find(|row| row.repository_id == repository_id)
    }
}
