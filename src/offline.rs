//! What `db_sync` would do, without doing it: the plan in words (`db_sync --dry-run`) and
//! as a SQL script (`db_sync --sql`).
//!
//! Both start from a [`DatabaseState`] read beforehand (or the empty state), make the plan
//! `db_sync` would make, and turn it into the units `db_sync` runs ([`plan_units`]); the
//! script is then written by [`ScriptWriter`], which applies each unit through the same code
//! as the engine's backend. Nothing here does I/O.

use std::fmt;

use crate::backend::{Backend, ScriptWriter, VersionChange};
use crate::dialect::Dialect;
use crate::error::Result;
use crate::executor::plan_units;
use crate::plan::{plan_sync, PlanError, Target};
use crate::state::{DatabaseState, UnitId};
use crate::tree::MigrationTrees;

/// One unit of a dry run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitSummary {
    /// Which unit.
    pub id: UnitId,
    /// How the dry run names it: `revision 29e87d24a316 (expand)`, `stamp 27e647c0fad4`.
    pub label: String,
    /// Whether it is the stamp (recorded without running anything).
    pub stamp: bool,
    /// Whether it creates `alembic_version` first.
    pub creates_version_table: bool,
    /// How many statements it has.
    pub statements: usize,
    /// How many of them an interrupted run applied already (MySQL): `db_sync` resumes after
    /// them.
    pub already_applied: Option<usize>,
    /// What it does to the version tables.
    pub version: VersionChange,
}

impl fmt::Display for UnitSummary {
    /// `revision 29e87d24a316 (expand): 3 statements; alembic_version: 27e647c0fad4 -> 29e87d24a316`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut work = Vec::new();
        if self.creates_version_table {
            work.push("creates alembic_version".to_owned());
        }
        work.push(match (self.stamp, self.statements) {
            (true, _) => "recorded without running (the legacy schema is the base revision's)".to_owned(),
            (false, 0) => "no statements".to_owned(),
            (false, 1) => "1 statement".to_owned(),
            (false, count) => format!("{count} statements"),
        });
        if let Some(applied) = self.already_applied {
            work.push(format!("resumes an interrupted run after statement {applied}"));
        }
        write!(f, "{}: {}; {}", self.label, work.join(", "), self.version)
    }
}

/// `db_sync --dry-run`: the units a `db_sync` would apply, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRun {
    /// What was asked for.
    pub target: Target,
    /// The units, in the order they would run; empty when there is nothing to do.
    pub units: Vec<UnitSummary>,
}

impl fmt::Display for DryRun {
    /// A first line saying how many units `db_sync` would apply (or that there is nothing to
    /// do), then one line per unit.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let command = self.target.command();
        match self.units.len() {
            0 => write!(f, "Nothing to do: the database is already where {command} brings it."),
            count => {
                let units = if count == 1 { "unit" } else { "units" };
                write!(f, "{command} would apply {count} {units}, in this order (nothing was changed):")?;
                self.units.iter().try_for_each(|unit| write!(f, "\n{unit}"))
            }
        }
    }
}

/// The plan `db_sync` would make for `state`, in words. An interrupted unit (MySQL) is shown
/// with how much of it is applied.
pub fn dry_run(trees: &MigrationTrees, state: &DatabaseState, dialect: Dialect, target: Target) -> Result<DryRun> {
    let plan = plan_sync(trees, state, target)?;
    let units = plan_units(&plan, dialect)
        .into_iter()
        .map(|planned| UnitSummary {
            already_applied: state
                .interrupted
                .as_ref()
                .filter(|interrupted| interrupted.unit == planned.unit.id)
                .map(|interrupted| interrupted.applied),
            id: planned.unit.id,
            label: planned.label,
            stamp: planned.stamp,
            creates_version_table: planned.unit.create_version_table,
            statements: planned.unit.statements.len(),
            version: planned.unit.version,
        })
        .collect();
    Ok(DryRun { target, units })
}

/// The SQL `db_sync` would run on a database in `state`, as a script for `dialect`'s client
/// (see [`ScriptWriter`] for what it leaves out). Refused for a database holding a unit an
/// interrupted MySQL run left half-applied: only `db_sync` can resume it.
pub fn script(trees: &MigrationTrees, state: &DatabaseState, dialect: Dialect, target: Target) -> Result<String> {
    if let Some(interrupted) = &state.interrupted {
        return Err(PlanError::from(interrupted).into());
    }
    let plan = plan_sync(trees, state, target)?;
    let units = plan_units(&plan, dialect);
    let command = target.command();
    let mut writer = ScriptWriter::new(dialect);
    if units.is_empty() {
        writer.comment(&format!(
            "{command} as SQL for {dialect}: nothing to do, the database is already where {command} brings it."
        ));
        return Ok(writer.into_text());
    }
    let count = units.len();
    writer.comment(&format!(
        "{command} as SQL for {dialect}: {count} unit{}, written by strata-manage db_sync --sql.",
        if count == 1 { "" } else { "s" }
    ));
    writer.comment(&format!("Run it with: {}", client_command(dialect)));
    writer.comment("It takes no lock: make sure no db_sync runs on the database at the same time.");
    if dialect == Dialect::Mysql {
        writer.comment(
            "MySQL commits each DDL statement implicitly, so this script has no transaction around them: if it\n\
             stops half-way, the database is left partly migrated. db_sync records its progress and resumes an\n\
             interrupted unit; a script cannot.",
        );
    }
    writer.blank_line();
    for planned in &units {
        writer.apply(&planned.unit)?;
    }
    Ok(writer.into_text())
}

/// How the script is meant to be run, stopping at the first error.
fn client_command(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "sqlite3 -bail FILE < script.sql",
        Dialect::Postgresql => "psql -X -q -v ON_ERROR_STOP=1 -d DBNAME -f script.sql",
        Dialect::Mysql => "mariadb DBNAME < script.sql (or mysql)",
    }
}

#[cfg(test)]
mod tests;
