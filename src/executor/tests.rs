//! The executor against a fake backend that models an engine without transactional DDL:
//! statements of a failed unit stay applied, and applying the unit again resumes after them.
//! No database is involved.

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;

use super::*;
use crate::backend::{DriverError, HeldLock, StatementFailure};
use crate::dialect::Dialect;
use crate::lock::LockOptions;
use crate::plan::{plan_sync, Target};
use crate::state::{DatabaseState, Interrupted};
use crate::tree::MigrationTrees;

/// The fixture tree `tests/fixtures/trees/phases` (keystone's shape).
const BASE: &str = "aaaa00000000";
const EXPAND: [&str; 6] =
    ["e00000000000", "e10000000001", "e20000000002", "e30000000003", "e40000000004", "e50000000005"];

#[derive(Default)]
struct FakeBackend {
    /// Every statement run, as `(unit, index)`.
    ran: Vec<(UnitId, usize)>,
    /// Version changes written, in order.
    versions: Vec<VersionChange>,
    /// Which unit created alembic_version.
    created_table: Vec<UnitId>,
    /// Statements applied of units not finished.
    partial: HashMap<UnitId, usize>,
    /// The statement that fails.
    fail_at: Option<(UnitId, usize)>,
}

struct FakeLock {
    /// How many more units may start before the lock is found lost.
    budget: Rc<Cell<usize>>,
}

impl HeldLock for FakeLock {
    fn verify(&mut self) -> Result<(), DbError> {
        match self.budget.get() {
            0 => Err(DbError::LockLost { holder: "another run".into() }),
            left => {
                self.budget.set(left - 1);
                Ok(())
            }
        }
    }

    fn release(&mut self) -> Result<(), DbError> {
        Ok(())
    }
}

impl Backend for FakeBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Mysql
    }

    fn read_state(&mut self) -> Result<DatabaseState, DbError> {
        Ok(DatabaseState::default())
    }

    fn lock(&mut self, _options: &LockOptions) -> Result<LockGuard, DbError> {
        Ok(LockGuard::new(Box::new(FakeLock { budget: Rc::new(Cell::new(usize::MAX)) })))
    }

    fn apply(&mut self, unit: &Unit<'_>) -> Result<(), DbError> {
        if unit.create_version_table {
            self.created_table.push(unit.id.clone());
        }
        let start = self.partial.get(&unit.id).copied().unwrap_or_default();
        for index in start..unit.statements.len() {
            if self.fail_at.as_ref() == Some(&(unit.id.clone(), index)) {
                self.partial.insert(unit.id.clone(), index);
                let applied = format!("statements 1 to {index} of it are applied");
                return Err(DbError::Statement(Box::new(StatementFailure::new(
                    unit,
                    index,
                    applied,
                    DriverError::unexpected("disk full"),
                ))));
            }
            self.ran.push((unit.id.clone(), index));
        }
        self.partial.remove(&unit.id);
        self.versions.push(unit.version.clone());
        Ok(())
    }
}

fn trees() -> MigrationTrees {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    MigrationTrees::from_dirs(Some(&root.join("legacy_migrations")), &root.join("tests/fixtures/trees/phases"))
        .expect("the fixture tree is valid")
}

fn guard(budget: usize) -> LockGuard {
    LockGuard::new(Box::new(FakeLock { budget: Rc::new(Cell::new(budget)) }))
}

#[test]
fn every_unit_runs_in_order_with_its_version_change() {
    let trees = trees();
    let plan = plan_sync(&trees, &DatabaseState::default(), Target::Expand).unwrap();
    let mut backend = FakeBackend::default();
    let report = execute(&mut backend, &mut guard(usize::MAX), &plan).unwrap();
    let expected: Vec<String> = [BASE].into_iter().chain(EXPAND).map(str::to_owned).collect();
    assert_eq!(report.revisions, expected);
    assert_eq!(backend.created_table, vec![UnitId::Revision(BASE.into())], "alembic_version is created once, first");
    assert_eq!(backend.versions[0], VersionChange::Insert(BASE.into()));
    assert_eq!(backend.versions[1], VersionChange::Update { from: BASE.into(), to: EXPAND[0].into(), delete: vec![] });
    let base_statements = trees.graph.base().sql.statements(Dialect::Mysql).len();
    assert_eq!(backend.ran.iter().filter(|(unit, _)| *unit == UnitId::Revision(BASE.into())).count(), base_statements);
}

#[test]
fn a_failure_half_way_keeps_the_report_and_the_rerun_resumes_the_unit() {
    let trees = trees();
    let plan = plan_sync(&trees, &DatabaseState::default(), Target::Expand).unwrap();
    let failing = UnitId::Revision(BASE.into());
    let mut backend = FakeBackend { fail_at: Some((failing.clone(), 5)), ..FakeBackend::default() };
    let failure = execute(&mut backend, &mut guard(usize::MAX), &plan).unwrap_err();
    assert!(failure.report.is_empty(), "nothing was finished: {}", failure.report);
    let message = failure.error.to_string();
    assert!(message.contains(&format!("revision {BASE}")) && message.contains("failed at statement 6 of"), "{message}");
    assert_eq!(backend.versions, vec![], "no version row for a unit that failed");

    // The cause is fixed; the next run plans from what the database records and resumes.
    backend.fail_at = None;
    let state = DatabaseState {
        alembic_versions: Some(vec![]),
        tables: vec!["access_rule".into()],
        interrupted: Some(Interrupted { unit: failing.clone(), applied: 5, holder: "run 1".into(), failed: true }),
        ..DatabaseState::default()
    };
    let plan = plan_sync(&trees, &state, Target::Expand).unwrap();
    let report = execute(&mut backend, &mut guard(usize::MAX), &plan).unwrap();
    assert_eq!(report.revisions.len(), 7);
    let base_runs: Vec<usize> =
        backend.ran.iter().filter(|(unit, _)| *unit == failing).map(|(_, index)| *index).collect();
    assert_eq!(base_runs, (0..base_runs.len()).collect::<Vec<_>>(), "each statement ran exactly once");

    // A failure after some units reports them.
    let mut backend = FakeBackend { fail_at: Some((UnitId::Revision(EXPAND[2].into()), 0)), ..FakeBackend::default() };
    let plan = plan_sync(&trees, &DatabaseState::default(), Target::Expand).unwrap();
    let failure = execute(&mut backend, &mut guard(usize::MAX), &plan).unwrap_err();
    assert_eq!(failure.report.revisions, vec![BASE, EXPAND[0], EXPAND[1]]);
    assert_eq!(failure.report.to_string(), format!("revision {BASE}, revision {}, revision {}", EXPAND[0], EXPAND[1]));
}

#[test]
fn a_lost_lock_stops_the_run_before_its_next_unit() {
    let trees = trees();
    let plan = plan_sync(&trees, &DatabaseState::default(), Target::Expand).unwrap();
    let mut backend = FakeBackend::default();
    let failure = execute(&mut backend, &mut guard(3), &plan).unwrap_err();
    assert!(matches!(failure.error, DbError::LockLost { .. }), "{}", failure.error);
    assert_eq!(failure.report.revisions, vec![BASE, EXPAND[0], EXPAND[1]]);
    assert_eq!(backend.versions.len(), 3, "nothing ran after the lock was lost");
}
