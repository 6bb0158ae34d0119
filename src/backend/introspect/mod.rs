//! Reading a database's catalog into the backend-neutral [`Catalog`], one file per engine:
//! `sqlite_master` and the `pragma_*` table functions, `pg_catalog`, MySQL's
//! `information_schema`. Each reads the schema in use, leaves out strata's bookkeeping and
//! the version tables, and normalises what is not drift (server-generated constraint names
//! become `None`).

#[cfg(feature = "mysql")]
pub(super) mod mysql;
#[cfg(feature = "postgresql")]
pub(super) mod postgres;
pub(super) mod sqlite;

use diesel::sql_types::{Nullable, Text};

use crate::catalog::{Catalog, Table};

/// Tables `verify` does not compare: the version tables (their rows are what the expected
/// schema is built from) and strata's own MySQL bookkeeping.
pub const NOT_COMPARED: [&str; 4] =
    ["alembic_version", "migrate_version", "strata_db_sync_lock", "strata_db_sync_progress"];

/// Separates the items of a list aggregated into one text column.
pub(super) const SEPARATOR: char = '\u{1f}';

/// One row of a catalog query: up to eight text columns, aliased `c1` … `c8` (unused ones
/// selected as NULL).
#[derive(diesel::QueryableByName, Debug)]
pub(super) struct Row {
    #[diesel(sql_type = Nullable<Text>)]
    pub c1: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub c2: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub c3: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub c4: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub c5: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub c6: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub c7: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub c8: Option<String>,
}

impl Row {
    /// Column `index` (1-based) as text, empty when NULL.
    pub fn text(&self, index: usize) -> String {
        self.get(index).unwrap_or_default()
    }

    /// Column `index` (1-based).
    pub fn get(&self, index: usize) -> Option<String> {
        match index {
            1 => self.c1.clone(),
            2 => self.c2.clone(),
            3 => self.c3.clone(),
            4 => self.c4.clone(),
            5 => self.c5.clone(),
            6 => self.c6.clone(),
            7 => self.c7.clone(),
            _ => self.c8.clone(),
        }
    }

    /// Column `index` as a list aggregated with [`SEPARATOR`].
    pub fn list(&self, index: usize) -> Vec<String> {
        self.get(index).map(|text| text.split(SEPARATOR).map(str::to_owned).collect()).unwrap_or_default()
    }
}

/// Whether `verify` compares a table.
pub(super) fn compared(table: &str) -> bool {
    !NOT_COMPARED.contains(&table)
}

/// The table a catalog row belongs to, if it is compared.
pub(super) fn table_of<'c>(catalog: &'c mut Catalog, name: &str) -> Option<&'c mut Table> {
    catalog.tables.get_mut(name)
}

/// Adds columns read as rows of (table, column, type, `YES`/`NO` nullable, default,
/// collation) to their compared tables: the layout the server engines' column queries share.
#[cfg(any(feature = "postgresql", feature = "mysql"))]
pub(super) fn add_columns(catalog: &mut Catalog, rows: Vec<Row>) {
    for row in rows {
        if let Some(table) = table_of(catalog, &row.text(1)) {
            table.columns.insert(
                row.text(2),
                crate::catalog::Column {
                    data_type: row.text(3),
                    nullable: row.text(4) == "YES",
                    default: row.get(5),
                    collation: row.get(6),
                },
            );
        }
    }
}

/// `CASCADE`, `SET NULL`, …: referential actions spelt one way on every engine.
pub(super) fn action(text: &str) -> String {
    match text.trim().to_ascii_uppercase().as_str() {
        "" => "NO ACTION".to_owned(),
        other => other.to_owned(),
    }
}

/// Whether `name` is `<table>_<anything><suffix>` with an optional number after it: the
/// shape of a name the server generated.
#[cfg(any(feature = "postgresql", feature = "mysql"))]
pub(super) fn generated_name(name: &str, table: &str, suffixes: &[&str]) -> bool {
    let Some(rest) = name.strip_prefix(table).and_then(|rest| rest.strip_prefix('_')) else {
        return false;
    };
    let rest = format!("_{}", rest.trim_end_matches(|c: char| c.is_ascii_digit()));
    suffixes.iter().any(|suffix| rest.ends_with(suffix))
}

#[cfg(test)]
mod tests;
