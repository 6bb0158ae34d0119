//! One strata command against one database: connect, read the state, plan, and (for
//! `db_sync`) execute. This is the library's entry point; the CLI only calls it.

use crate::backend::{self, Access, Backend};
use crate::error::Result;
use crate::executor::{self, SyncReport};
use crate::lock::LockOptions;
use crate::plan::{self, CheckReport, DbVersion, Target};
use crate::state::DatabaseState;
use crate::tree::MigrationTrees;
use crate::url::DatabaseUrl;

/// Brings the database to the heads `target` asks for, holding the `db_sync` lock: the
/// state is read and the plan made only once the lock is held, so a run that waited finds
/// what the previous one left.
pub fn sync(url: &DatabaseUrl, trees: &MigrationTrees, target: Target, lock: &LockOptions) -> Result<SyncReport> {
    let mut backend = backend::connect(url, Access::ReadWrite)?.expect("read-write connections always open");
    backend.lock(lock)?;
    let outcome = plan_and_execute(backend.as_mut(), trees, target);
    // Released on every path; an error releasing it matters less than the run's own.
    let unlocked = backend.unlock();
    let report = outcome?;
    unlocked?;
    Ok(report)
}

fn plan_and_execute(backend: &mut dyn Backend, trees: &MigrationTrees, target: Target) -> Result<SyncReport> {
    let state = backend.read_state()?;
    log::debug!("database state: {state:?}");
    let plan = plan::plan_sync(trees, &state, target)?;
    if plan.is_empty() {
        log::info!("The database is up to date: nothing to do");
        return Ok(SyncReport::default());
    }
    Ok(executor::execute(backend, &plan)?)
}

/// `db_sync --check`: compares the database with the code's heads. Read-only.
pub fn check(url: &DatabaseUrl, trees: &MigrationTrees) -> Result<CheckReport> {
    let state = read_state(url)?;
    Ok(plan::check(trees, &state)?)
}

/// `db_version`: where the database stands. Read-only.
pub fn version(url: &DatabaseUrl, trees: &MigrationTrees) -> Result<DbVersion> {
    let state = read_state(url)?;
    if state.alembic_rows().is_empty() && state.legacy_versions.is_none() && !state.tables.is_empty() {
        log::warn!("the database holds tables but no version table: it is not under version control");
    }
    Ok(plan::db_version(trees, &state)?)
}

fn read_state(url: &DatabaseUrl) -> Result<DatabaseState> {
    match backend::connect(url, Access::ReadOnly)? {
        Some(mut backend) => Ok(backend.read_state()?),
        None => Ok(DatabaseState::default()),
    }
}
