//! Runs a [`Plan`] against a [`Backend`]: one unit of work per legacy version, stamp and
//! revision, each with its version-row update. Where DDL is transactional (PostgreSQL,
//! SQLite) a unit is one transaction, so a crash leaves either all of it or none of it. On
//! MySQL each statement commits by itself and the version row follows the last one.

use std::time::Instant;

use crate::backend::{Backend, DbError, CREATE_ALEMBIC_VERSION};
use crate::plan::{LegacyStep, Plan, RevisionStep, RowChange};
use crate::state::UnitId;
use crate::tree::MigrationSql;

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

/// Executes a plan. Progress is logged at info level: each unit as it starts and how long
/// it took when it ends, so an operator watching a long `ALTER TABLE` knows where the run is.
pub fn execute(backend: &mut dyn Backend, plan: &Plan<'_>) -> Result<SyncReport, DbError> {
    let mut report = SyncReport::default();
    let mut create_version_table = plan.create_version_table;
    if !plan.legacy.is_empty() || plan.stamp.is_some() {
        log::info!(
            "The database is still under legacy (sqlalchemy-migrate) control; applying any remaining legacy migrations and stamping the base revision"
        );
    }
    for step in &plan.legacy {
        run_legacy_step(backend, step)?;
        report.legacy.push((step.repository.repository_id.clone(), step.version.number));
    }
    if let Some(base) = plan.stamp {
        log::info!("Running stamp_revision  -> {}", base.id);
        unit(backend, &format!("stamping {}", base.id), |backend| {
            if std::mem::take(&mut create_version_table) {
                backend.execute(CREATE_ALEMBIC_VERSION)?;
            }
            backend.insert_alembic_row(&base.id)
        })?;
        report.stamped = Some(base.id.clone());
    }
    for step in &plan.revisions {
        let create_table = std::mem::take(&mut create_version_table);
        run_revision(backend, step, create_table)?;
        report.revisions.push(step.revision.id.clone());
    }
    if !backend.transactional_ddl() {
        backend.record_progress(None)?;
    }
    Ok(report)
}

fn run_legacy_step(backend: &mut dyn Backend, step: &LegacyStep<'_>) -> Result<(), DbError> {
    let repository = &step.repository.repository_id;
    let version = step.version.number;
    log::info!("Running legacy upgrade {repository} {} -> {version} ({})", step.from, step.version.name);
    let started = Instant::now();
    let what = format!("legacy migration {repository} {version} ({})", step.version.name);
    let id = UnitId::Legacy { repository_id: repository.clone(), version };
    unit(backend, &what, |backend| {
        run_statements(backend, &what, &id, &step.version.sql, step.resume_through)?;
        let matched = backend.update_legacy_row(repository, step.from, version)?;
        expect_one_row(matched, || format!("migrate_version no longer has {repository} at version {}", step.from))
    })?;
    log::info!("Finished legacy upgrade {repository} {version} in {}", elapsed(started));
    Ok(())
}

fn run_revision(backend: &mut dyn Backend, step: &RevisionStep<'_>, create_table: bool) -> Result<(), DbError> {
    let revision = step.revision;
    log::info!("Running upgrade {} -> {}, {}", revision.down_revisions.join(", "), revision.id, revision.message);
    let started = Instant::now();
    let what = format!("revision {} ({})", revision.id, revision.path);
    let id = UnitId::Revision(revision.id.clone());
    unit(backend, &what, |backend| {
        if create_table {
            backend.execute(CREATE_ALEMBIC_VERSION)?;
        }
        run_statements(backend, &what, &id, &revision.sql, step.resume_through)?;
        match &step.row {
            RowChange::Insert => backend.insert_alembic_row(&revision.id)?,
            RowChange::Update { from, delete } => {
                let matched = backend.update_alembic_row(from, &revision.id)?;
                expect_one_row(matched, || format!("alembic_version no longer holds '{from}'"))?;
                for row in delete {
                    backend.delete_alembic_row(row)?;
                }
            }
        }
        Ok(())
    })?;
    log::info!("Finished upgrade to {} in {}", revision.id, elapsed(started));
    Ok(())
}

/// Runs `body` as one transaction where the backend allows it; rolls back on failure.
fn unit(
    backend: &mut dyn Backend,
    what: &str,
    body: impl FnOnce(&mut dyn Backend) -> Result<(), DbError>,
) -> Result<(), DbError> {
    if !backend.transactional_ddl() {
        return body(backend);
    }
    backend.begin()?;
    match body(backend) {
        Ok(()) => backend.commit(),
        Err(error) => {
            if let Err(rollback) = backend.rollback() {
                log::warn!("rolling back {what} failed too: {rollback}");
            }
            Err(error)
        }
    }
}

/// Runs a unit's statements. Without transactional DDL, each statement is first recorded
/// as in progress. When resuming an interrupted unit, a statement up to `resume_through`
/// that fails because its effect is already there ("already exists") was applied by the
/// interrupted run and is skipped; any other failure stops the run.
fn run_statements(
    backend: &mut dyn Backend,
    what: &str,
    id: &UnitId,
    sql: &MigrationSql,
    resume_through: Option<usize>,
) -> Result<(), DbError> {
    let transactional = backend.transactional_ddl();
    let statements = sql.statements(backend.dialect());
    match resume_through {
        Some(usize::MAX) => {
            log::warn!("Resuming {what}, interrupted by a killed run: statements it had applied are skipped")
        }
        Some(last) => {
            log::warn!("Resuming {what}: statements 1 to {} of {} may be applied already", last + 1, statements.len())
        }
        None => {}
    }
    if !transactional {
        // One record per unit, before its first statement: enough to know what to resume
        // after a kill (a version row written later says the unit was finished).
        backend.record_progress(Some((id, None)))?;
    }
    // Statements run all at once; when resuming, one by one, so that each that turns out
    // to be applied already can be skipped.
    let mut next = 0;
    while next < statements.len() {
        let outcome = match resume_through {
            None => backend.execute_all(&statements[next..]).map_err(|(offset, error)| (next + offset, error)),
            Some(_) => backend.execute(&statements[next]).map_err(|error| (next, error)),
        };
        let (index, error) = match outcome {
            Ok(()) if resume_through.is_none() => break,
            Ok(()) => {
                next += 1;
                continue;
            }
            Err(failure) => failure,
        };
        next = index + 1;
        let statement = &statements[index];
        let message = match error {
            DbError::Statement { message, .. } => message,
            other => other.to_string(),
        };
        if resume_through.is_some_and(|last| index <= last) && backend.is_already_applied(&message) {
            log::warn!("Statement {} of {what} was already applied by the interrupted run ({message})", index + 1);
            continue;
        }
        if !transactional {
            // A statement that failed did not apply (MySQL DDL statements are atomic): what
            // may be applied is the statements before it, plus whatever an interrupted run
            // that this one resumed had applied.
            let progress = match (resume_through, index.checked_sub(1)) {
                (Some(usize::MAX), _) => Some((id, None)),
                (Some(earlier), Some(before)) => Some((id, Some(earlier.max(before)))),
                (Some(earlier), None) => Some((id, Some(earlier))),
                (None, Some(before)) => Some((id, Some(before))),
                (None, None) => None,
            };
            if let Err(error) = backend.record_progress(progress) {
                log::warn!("could not record how far {what} got: {error}");
            }
        }
        let outcome = if transactional {
            "nothing of it was applied (rolled back)".to_owned()
        } else if index == 0 {
            "no statement of it had been applied".to_owned()
        } else {
            format!(
                "statements 1 to {index} of it are committed (MySQL commits each DDL statement); strata-manage db_sync resumes it once the cause is fixed"
            )
        };
        return Err(DbError::Statement {
            context: format!(
                "{what} failed at statement {} of {} ({}); {outcome}",
                index + 1,
                statements.len(),
                abbreviate(statement)
            ),
            message,
        });
    }
    Ok(())
}

fn expect_one_row(matched: usize, describe: impl FnOnce() -> String) -> Result<(), DbError> {
    if matched == 1 {
        return Ok(());
    }
    Err(DbError::Concurrent(format!(
        "{}: another db_sync probably changed the database at the same time; run strata-manage db_sync --check to see where it stands",
        describe()
    )))
}

/// The first line of a statement, cut short, for error messages.
fn abbreviate(statement: &str) -> String {
    let first_line = statement.lines().next().unwrap_or_default().trim();
    let mut shown: String = first_line.chars().take(60).collect();
    if shown.len() < first_line.len() || statement.lines().nth(1).is_some() {
        shown.push_str(" …");
    }
    shown
}

fn elapsed(started: Instant) -> String {
    let duration = started.elapsed();
    if duration.as_secs() >= 10 {
        format!("{:.1} s", duration.as_secs_f64())
    } else {
        format!("{} ms", duration.as_millis())
    }
}
