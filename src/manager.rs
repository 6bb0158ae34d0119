//! One strata command against one database: connect, read the state, plan, and (for
//! `db_sync`) execute, or (for `db_sync --sql` and `--dry-run`) describe. This is the
//! library's entry point; the CLI only calls it.

use crate::backend::{self, Access, Backend, DbError, ScratchDatabase};
use crate::catalog::Catalog;
use crate::dialect::Dialect;
use crate::error::{Error, Result};
use crate::executor::{self, SyncReport};
use crate::lock::LockOptions;
use crate::offline::{self, DryRun};
use crate::plan::{self, CheckReport, DbVersion, Target};
use crate::report::{self, CheckStatus, DatabaseVersions, HistoryEntry, VerifyReport, VersionReport};
use crate::state::DatabaseState;
use crate::tree::MigrationTrees;
use crate::url::{DatabaseUrl, Target as UrlTarget};

/// Brings the database to the heads `target` asks for, holding the `db_sync` lock: the
/// state is read and the plan made only once the lock is held, so a run that waited finds
/// what the previous one left. A failure carries the report of what was applied before it.
pub fn sync(url: &DatabaseUrl, trees: &MigrationTrees, target: Target, lock: &LockOptions) -> Result<SyncReport> {
    refuse_before_creating(url, trees, target)?;
    let mut backend = backend::connect(url, Access::ReadWrite)?.expect("read-write connections always open");
    let mut guard = backend.lock(lock)?;
    // On an error before anything runs, dropping the guard releases the lock.
    let state = backend.read_state()?;
    log::debug!("database state: {state:?}");
    let plan = plan::plan_sync(trees, &state, target)?;
    if plan.is_empty() {
        match plan::check(trees, &state).map(|report| report.outcome) {
            Ok(plan::CheckOutcome::ContractPending) => log::info!(
                "The expand branch is at its head: nothing to do for --expand; contract is pending: run {} db_sync --contract once no node runs the previous release",
                report::PROGRAM
            ),
            _ => log::info!("The database is up to date: nothing to do"),
        }
        guard.release()?;
        return Ok(SyncReport::default());
    }
    let outcome = executor::execute(backend.as_mut(), &mut guard, &plan);
    let released = guard.release();
    match outcome {
        Ok(report) => {
            released?;
            Ok(report)
        }
        Err(failure) => {
            // The run's own error matters more than one releasing the lock.
            if let Err(error) = released {
                log::warn!("could not release the db_sync lock: {error}");
            }
            Err(Error::Sync(failure))
        }
    }
}

/// A SQLite file that does not exist is an empty database: a request refused for an empty
/// database (`--contract`) is refused before the file is created. A directory SQLite cannot
/// write in (for the file or its journal) is named, rather than "unable to open".
fn refuse_before_creating(url: &DatabaseUrl, trees: &MigrationTrees, target: Target) -> Result<()> {
    if let UrlTarget::File(path) = &url.target {
        if !path.exists() {
            plan::plan_sync(trees, &DatabaseState::default(), target)?;
        }
        check_directory_writable(path)?;
    }
    Ok(())
}

/// Creates and removes a probe file next to the SQLite database, as SQLite will create its
/// journal there. A directory that does not exist is left to the backend to report.
fn check_directory_writable(database: &std::path::Path) -> Result<()> {
    let dir = match database.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => std::path::PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Ok(());
    }
    let probe = dir.join(format!(".strata-write-check-{}", std::process::id()));
    match std::fs::OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(source) if source.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(Error::SqliteDirectoryNotWritable { dir, source }),
    }
}

/// `db_sync --check`: compares the database with the code's heads. Read-only.
pub fn check(url: &DatabaseUrl, trees: &MigrationTrees) -> Result<CheckReport> {
    let state = read_state(url)?;
    Ok(plan::check(trees, &state)?)
}

/// `db_sync --check` as a serializable report; an unfinished MySQL unit is reported (exit
/// status 1) rather than an error. Read-only.
pub fn check_status(url: &DatabaseUrl, trees: &MigrationTrees) -> Result<CheckStatus> {
    let state = read_state(url)?;
    Ok(report::check_status(trees, &state)?)
}

/// `db_version`: where the database stands. Read-only. An unfinished MySQL unit is an
/// error, as for `db_sync --check`; revisions this release does not know are returned (and
/// warned about).
pub fn version(url: &DatabaseUrl, trees: &MigrationTrees) -> Result<DbVersion> {
    let state = read_state(url)?;
    plan::interrupted(&state)?;
    let version = plan::db_version(trees, &state)?;
    warn_about(&state, &version);
    Ok(version)
}

/// `db_version` as a serializable report, with every branch and an unfinished MySQL unit.
/// Read-only.
pub fn version_report(url: &DatabaseUrl, trees: &MigrationTrees) -> Result<VersionReport> {
    let state = read_state(url)?;
    let report = report::version_report(trees, &state)?;
    warn_about(&state, &report.version);
    Ok(report)
}

fn warn_about(state: &DatabaseState, version: &DbVersion) {
    match version {
        DbVersion::Unknown(revisions) => log::warn!(
            "alembic_version holds {}, which this release does not know: the database is probably newer than this release; db_sync refuses it",
            revisions.iter().map(|revision| format!("revision {revision}")).collect::<Vec<_>>().join(" and ")
        ),
        // An interrupted base revision left tables but no version row: that is not "no
        // version control".
        _ if state.interrupted.is_none() => warn_if_unversioned(state),
        _ => {}
    }
}

/// `current`: every branch's row and the legacy version of a database under legacy
/// control. Read-only: a SQLite file that does not exist is an empty database, not created.
/// A unit an interrupted MySQL run left is an error here, as in `db_version`: its rows alone
/// would not say where the database stands.
pub fn current(url: &DatabaseUrl, trees: &MigrationTrees) -> Result<DatabaseVersions> {
    let state = read_state(url)?;
    plan::interrupted(&state)?;
    warn_if_unversioned(&state);
    Ok(DatabaseVersions::of(trees, &state)?)
}

/// `history`: the revisions newest first, marked current from the database at `url` when
/// one is given. Read-only.
pub fn history(url: Option<&DatabaseUrl>, trees: &MigrationTrees) -> Result<Vec<HistoryEntry>> {
    let state = url.map(read_state).transpose()?;
    Ok(report::history(trees, state.as_ref())?)
}

fn warn_if_unversioned(state: &DatabaseState) {
    if state.alembic_rows().is_empty() && state.legacy_versions.is_none() && !state.tables.is_empty() {
        log::warn!("the database holds tables but no version table: it is not under version control");
    }
}

/// What `db_sync --sql` writes a script for.
#[derive(Debug, Clone, Copy)]
pub enum ScriptFor<'u> {
    /// The database at this URL, read (read-only, no lock) for what it still needs.
    Database(&'u DatabaseUrl),
    /// An empty database of this dialect; nothing is connected to.
    EmptyDatabase(Dialect),
}

/// `db_sync --sql`: the SQL `db_sync` would run, as a script (see
/// [`crate::backend::ScriptWriter`]). A database is only read: no lock is taken and nothing is
/// created, not even a SQLite file (a missing one is an empty database).
pub fn script(source: ScriptFor<'_>, trees: &MigrationTrees, target: Target) -> Result<String> {
    let (state, dialect) = match source {
        ScriptFor::Database(url) => (read_state(url)?, url.dialect),
        ScriptFor::EmptyDatabase(dialect) => (DatabaseState::default(), dialect),
    };
    offline::script(trees, &state, dialect, target)
}

/// `db_sync --dry-run`: the units `db_sync` would apply, in words. Read-only, no lock.
pub fn dry_run(url: &DatabaseUrl, trees: &MigrationTrees, target: Target) -> Result<DryRun> {
    let state = read_state(url)?;
    log::debug!("database state: {state:?}");
    offline::dry_run(trees, &state, url.dialect, target)
}

/// `verify`: builds the schema the database's recorded versions produce (SQLite: in memory;
/// PostgreSQL, MySQL: in a scratch database on the same server, always dropped) with the
/// planner, executor code and backends `db_sync` uses, and compares it with the database's.
/// Read-only on the database: no lock, no write, no SQLite file created (a missing one is an
/// empty database).
pub fn verify(url: &DatabaseUrl, trees: &MigrationTrees) -> Result<VerifyReport> {
    let (state, found) = match backend::connect(url, Access::ReadOnly)? {
        Some(mut target) => {
            let state = target.read_state()?;
            let catalog = target.catalog()?;
            (state, catalog)
        }
        None => (DatabaseState::default(), Catalog::default()),
    };
    log::debug!("database state: {state:?}");
    let rebuild = plan::plan_recorded(trees, &state)?;
    let versions = DatabaseVersions::of(trees, &state)?;
    let mut scratch = ScratchDatabase::create(url)?;
    let name = scratch.name().map(str::to_owned);
    let built = build(scratch.backend(), &rebuild).and_then(|()| scratch.backend().catalog());
    let expected = match built {
        Ok(expected) => expected,
        Err(source) => {
            // Dropped first, so that the error can say whether it is gone.
            let dropped = scratch
                .drop_now()
                .inspect_err(|error| log::error!("could not drop the scratch database: {error}"))
                .is_ok();
            // The failed statement ran on the scratch schema: db_sync's advice on what of it
            // is applied, and how to resume, does not apply to the database being checked.
            let source = match source {
                DbError::Statement(mut failure) => {
                    failure.applied = "the database being checked was not changed".to_owned();
                    DbError::Statement(failure)
                }
                other => other,
            };
            return Err(Error::VerifyBuild { scratch: name, dropped, source });
        }
    };
    scratch.drop_now()?;
    Ok(VerifyReport::new(url.dialect, versions, name, &expected, &found))
}

/// Runs a rebuild plan on an empty database.
fn build(backend: &mut dyn Backend, rebuild: &plan::Rebuild<'_>) -> Result<(), DbError> {
    if !rebuild.legacy_start.is_empty() {
        backend.create_legacy_rows(&rebuild.legacy_start)?;
    }
    let units = executor::plan_units(&rebuild.plan, backend.dialect());
    log::debug!("building the expected schema: {} units", units.len());
    for planned in units {
        log::debug!("applying {}", planned.label);
        backend.apply(&planned.unit)?;
    }
    Ok(())
}

fn read_state(url: &DatabaseUrl) -> Result<DatabaseState> {
    let mut state = match backend::connect(url, Access::ReadOnly)? {
        Some(mut backend) => backend.read_state()?,
        None => DatabaseState::default(),
    };
    // Who left a unit unfinished, and how long ago.
    if let Some(interrupted) = state.interrupted.as_mut() {
        interrupted.holder = crate::lock::describe_holder(&interrupted.holder, std::time::SystemTime::now());
    }
    Ok(state)
}
