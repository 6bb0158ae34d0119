//! Runs a [`Plan`] on a [`Backend`]: a loop over the plan's units, each applied by the
//! backend with its version-row change. How a unit is made safe (one transaction, or
//! progress records on MySQL) is the backend's business; the executor only checks that it
//! still holds the lock before each unit, logs progress, and keeps the report of what was
//! applied, which survives a failure.

use std::fmt;
use std::time::Instant;

use crate::backend::{Backend, DbError, LockGuard, Unit, VersionChange};
use crate::dialect::Dialect;
use crate::plan::{Plan, RowChange};
use crate::state::UnitId;

/// What a `db_sync` run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Legacy versions applied, as `(repository_id, version)`.
    pub legacy: Vec<(String, i64)>,
    /// The revision stamped without running, if any.
    pub stamped: Option<String>,
    /// Revisions applied, in order.
    pub revisions: Vec<String>,
}

impl SyncReport {
    /// Whether nothing was applied.
    pub fn is_empty(&self) -> bool {
        self.legacy.is_empty() && self.stamped.is_none() && self.revisions.is_empty()
    }

    fn record(&mut self, unit: &UnitId, stamp: bool) {
        match unit {
            UnitId::Legacy { repository_id, version } => self.legacy.push((repository_id.clone(), *version)),
            UnitId::Revision(id) if stamp => self.stamped = Some(id.clone()),
            UnitId::Revision(id) => self.revisions.push(id.clone()),
        }
    }
}

impl fmt::Display for SyncReport {
    /// `legacy keystone_expand 73, …, stamp 27e647c0fad4, revision 29e87d24a316, …`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = self.legacy.iter().map(|(id, version)| format!("legacy {id} {version}")).collect();
        parts.extend(self.stamped.iter().map(|id| format!("stamp {id}")));
        parts.extend(self.revisions.iter().map(|id| format!("revision {id}")));
        if parts.is_empty() {
            f.write_str("nothing")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// A run that stopped: the error, and what had been applied before it.
#[derive(Debug)]
pub struct SyncFailure {
    /// What was applied (and is recorded in the version tables) before the failure.
    pub report: SyncReport,
    /// Why the run stopped.
    pub error: DbError,
}

/// One unit of a plan, ready to run: the unit a backend applies, and how the log and the
/// dry run name it. [`plan_units`] makes them; `db_sync`, `db_sync --sql` and
/// `db_sync --dry-run` all work from this one list, so they cannot disagree.
#[derive(Debug, Clone)]
pub struct PlannedUnit<'t> {
    /// The unit.
    pub unit: Unit<'t>,
    /// What it is, for the dry run: `revision 29e87d24a316 (expand)`,
    /// `legacy keystone_expand 73 (073_expand_initial_migration)`, `stamp 27e647c0fad4`.
    pub label: String,
    /// Whether this is the stamp (the base revision recorded without running it).
    pub stamp: bool,
    /// The log line when it starts, after "Running ".
    running: String,
    /// The log line when it ends, after "Finished " (the stamp logs none).
    finished: String,
}

/// The units of a plan in the order they run, with `dialect`'s statements: legacy versions,
/// the stamp, then the revisions. `alembic_version` is created by the first unit that
/// records a revision.
pub fn plan_units<'t>(plan: &Plan<'t>, dialect: Dialect) -> Vec<PlannedUnit<'t>> {
    let mut create_version_table = plan.create_version_table;
    let mut units = Vec::new();
    for step in &plan.legacy {
        let repository_id = step.repository.repository_id.clone();
        let version = step.version.number;
        let id = UnitId::Legacy { repository_id: repository_id.clone(), version };
        units.push(PlannedUnit {
            label: format!("{id} ({})", step.version.name),
            stamp: false,
            running: format!("legacy upgrade {repository_id} {} -> {version} ({})", step.from, step.version.name),
            finished: format!("legacy upgrade {repository_id} {version}"),
            unit: Unit {
                id,
                title: format!("legacy migration {repository_id} {version} ({})", step.version.name),
                create_version_table: false,
                statements: step.version.sql.statements(dialect),
                version: VersionChange::Legacy { repository_id: repository_id.clone(), from: step.from, to: version },
            },
        });
    }
    if let Some(base) = plan.stamp {
        units.push(PlannedUnit {
            label: format!("stamp {}", base.id),
            stamp: true,
            running: format!("stamp_revision  -> {}", base.id),
            finished: String::new(),
            unit: Unit {
                id: UnitId::Revision(base.id.clone()),
                title: format!("stamping {}", base.id),
                create_version_table: std::mem::take(&mut create_version_table),
                statements: &[],
                version: VersionChange::Insert(base.id.clone()),
            },
        });
    }
    for step in &plan.revisions {
        let revision = step.revision;
        let version = match &step.row {
            RowChange::Insert => VersionChange::Insert(revision.id.clone()),
            RowChange::Update { from, delete } => {
                VersionChange::Update { from: from.clone(), to: revision.id.clone(), delete: delete.clone() }
            }
        };
        let kind = if revision.down_revisions.is_empty() { "base" } else { step.branch.label() };
        units.push(PlannedUnit {
            label: format!("revision {} ({kind})", revision.id),
            stamp: false,
            running: format!("upgrade {} -> {}, {}", revision.down_revisions.join(", "), revision.id, revision.message),
            finished: format!("upgrade to {}", revision.id),
            unit: Unit {
                id: UnitId::Revision(revision.id.clone()),
                title: format!("revision {} ({})", revision.id, revision.path),
                create_version_table: std::mem::take(&mut create_version_table),
                statements: revision.sql.statements(dialect),
                version,
            },
        });
    }
    units
}

/// Executes a plan while `lock` is held. Progress is logged at info level: each unit as it
/// starts and how long it took when it ends, so an operator watching a long `ALTER TABLE`
/// knows where the run is.
pub fn execute(
    backend: &mut dyn Backend,
    lock: &mut LockGuard,
    plan: &Plan<'_>,
) -> Result<SyncReport, Box<SyncFailure>> {
    let mut report = SyncReport::default();
    if !plan.legacy.is_empty() || plan.stamp.is_some() {
        log::info!(
            "The database is still under legacy (sqlalchemy-migrate) control; applying any remaining legacy migrations and stamping the base revision"
        );
    }
    for planned in plan_units(plan, backend.dialect()) {
        let outcome = lock.verify().and_then(|()| {
            log::info!("Running {}", planned.running);
            let started = Instant::now();
            backend.apply(&planned.unit)?;
            if !planned.stamp {
                log::info!("Finished {} in {}", planned.finished, elapsed(started));
            }
            Ok(())
        });
        if let Err(error) = outcome {
            return Err(Box::new(SyncFailure { report, error }));
        }
        report.record(&planned.unit.id, planned.stamp);
    }
    Ok(report)
}

fn elapsed(started: Instant) -> String {
    let duration = started.elapsed();
    if duration.as_secs() >= 10 {
        format!("{:.1} s", duration.as_secs_f64())
    } else {
        format!("{} ms", duration.as_millis())
    }
}

#[cfg(test)]
mod tests;
