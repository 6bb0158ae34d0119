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

/// The migration-relevant state of one database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatabaseState {
    /// Rows of `alembic_version`, or `None` when the table does not exist.
    pub alembic_versions: Option<Vec<String>>,
    /// Rows of `migrate_version`, or `None` when the table does not exist.
    pub legacy_versions: Option<Vec<LegacyRow>>,
    /// Every other table, sorted by name.
    pub tables: Vec<String>,
}

impl DatabaseState {
    /// The rows of `alembic_version` (none when the table is absent).
    pub fn alembic_rows(&self) -> &[String] {
        self.alembic_versions.as_deref().unwrap_or_default()
    }

    /// The `migrate_version` row of a repository.
    pub fn legacy_row(&self, repository_id: &str) -> Option<&LegacyRow> {
        self.legacy_versions
            .as_deref()
            .unwrap_or_default()
            .iter()
            .find(|row| row.repository_id == repository_id)
    }
}
