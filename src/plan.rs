//! The planner: a pure function from (trees, database state, request) to a plan, a check
//! outcome or a version. No I/O happens here, so every database state of the specification
//! is unit-tested without a database.
//!
//! Rules, in the order they apply (keystone's, plus strata's refusals of states keystone
//! would run into blindly):
//! 1. The rows of `alembic_version` must name known revisions, one per branch, and the
//!    contract branch may not be recorded without the expand branch.
//! 2. `--contract` needs the code's expand head in `alembic_version` (checked before the
//!    legacy transition, so a legacy database is refused too).
//! 3. With no alembic rows and a `migrate_version` row for the controlling (expand)
//!    repository, the database is under legacy control: every remaining legacy version of
//!    every repository runs, whatever the target, then the base revision is stamped.
//! 4. With no version rows at all, an empty database gets the base revision for real; a
//!    database that holds tables is refused.
//! 5. Then each requested branch is brought to its head, expand before contract.

use std::collections::HashSet;

use thiserror::Error;

use crate::graph::{Branch, Revision};
use crate::state::{DatabaseState, Interrupted, UnitId};
use crate::tree::{LegacyRepository, LegacyVersion, MigrationTrees};

/// What `db_sync` was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// No flag: legacy, stamp, expand head, contract head (no order validation).
    Full,
    /// `--expand`: legacy, stamp, expand head.
    Expand,
    /// `--contract`: refused unless the expand head is recorded; then the contract head.
    Contract,
}

impl Target {
    /// The command that asks for this target: `db_sync`, `db_sync --expand`,
    /// `db_sync --contract`.
    pub fn command(self) -> &'static str {
        match self {
            Target::Full => "db_sync",
            Target::Expand => "db_sync --expand",
            Target::Contract => "db_sync --contract",
        }
    }

    fn branches(self) -> &'static [Branch] {
        match self {
            Target::Full => &Branch::ALL,
            Target::Expand => &[Branch::Expand],
            Target::Contract => &[Branch::Contract],
        }
    }
}

/// A database state or request strata refuses, before anything changes.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlanError {
    /// keystone's ordering error, word for word except for the documentation pointer.
    #[error("You are attempting to upgrade contract ahead of expand. Please refer to the strata documentation (README.md, section \"Rolling upgrades\") to see the proper steps for rolling upgrades.")]
    ContractBeforeExpand,
    /// `alembic_version` names a revision the trees do not have.
    #[error("alembic_version holds revision '{0}', which this release does not know: the database is probably newer than this release (migrated by a newer strata-manage or keystone-manage); use that release or a newer one")]
    UnknownRevision(String),
    /// Two rows for one branch.
    #[error("alembic_version holds two rows for the {branch} branch ('{first}' and '{second}'), but only one per branch is possible: check which revision the schema matches and delete the other row")]
    DuplicateBranchRows {
        /// The branch.
        branch: Branch,
        /// One row.
        first: String,
        /// The other.
        second: String,
    },
    /// A contract row without any expand row.
    #[error("alembic_version records contract revision '{0}' but no expand revision: the contract branch was applied ahead of expand, which neither strata nor keystone-manage does; restore the database from a backup or repair alembic_version by hand")]
    ContractAheadOfExpand(String),
    /// A legacy version too old for the first legacy migration this release has.
    #[error("migrate_version says {repository_id} is at legacy version {version}, but this release upgrades legacy databases only from version {minimum} on (keystone: Ussuri or newer); first run db_sync with a keystone release from Ussuri (17.0.0) to Xena (20.0.0), then run strata-manage db_sync again")]
    LegacyTooOld {
        /// The repository.
        repository_id: String,
        /// Its version.
        version: i64,
        /// The lowest version this release can upgrade.
        minimum: i64,
    },
    /// A legacy version beyond the last legacy migration this release has.
    #[error("migrate_version says {repository_id} is at legacy version {version}, newer than {latest}, the last legacy version this release knows: the database is newer than this release")]
    LegacyTooNew {
        /// The repository.
        repository_id: String,
        /// Its version.
        version: i64,
        /// The last version this release has.
        latest: i64,
    },
    /// The controlling repository has a row, another repository has none.
    #[error("migrate_version has a row for {controlling} but none for {missing}: the legacy version rows are incomplete; restore them from a backup (all three repositories are recorded together)")]
    LegacyRowMissing {
        /// The controlling repository id.
        controlling: String,
        /// The repository id without a row.
        missing: String,
    },
    /// `migrate_version` rows exist, but none for a repository this release knows.
    #[error("migrate_version holds only repository ids this release does not know ({found}); expected a row for {expected}: this is not a database of this service, or it predates its legacy repositories")]
    UnknownLegacyRepositories {
        /// The ids found, comma-separated.
        found: String,
        /// The controlling id expected.
        expected: String,
    },
    /// A unit was started on MySQL and never recorded as finished (`--check` reports it).
    #[error("{}", interrupted_message(unit, *.applied, holder, *.failed))]
    Interrupted {
        /// The unit.
        unit: UnitId,
        /// How many of its statements are recorded as applied.
        applied: usize,
        /// Who ran it.
        holder: String,
        /// Whether that run recorded a failed statement.
        failed: bool,
    },
    /// The unit recorded as interrupted is not the next one to run: the version rows were
    /// changed since.
    #[error("{unit} was interrupted{}, but the version tables say {next} comes first: the database was changed by hand since; check the schema against {unit}, then delete its row from strata_db_sync_progress", progress(*.applied))]
    InterruptedOutOfOrder {
        /// The interrupted unit.
        unit: UnitId,
        /// How many of its statements are recorded as applied.
        applied: usize,
        /// What the plan would run first.
        next: String,
    },
    /// Tables but no version table at all.
    #[error("the database holds {count} table(s) (such as '{example}') but is under no version control (no alembic_version or migrate_version rows): strata will not guess its schema; use an empty database, or restore the version tables from a backup")]
    UnversionedNonEmpty {
        /// Number of tables.
        count: usize,
        /// One of them.
        example: String,
    },
}

/// " (statements 1 to N applied)", nothing when none is.
impl From<&Interrupted> for PlanError {
    fn from(interrupted: &Interrupted) -> PlanError {
        PlanError::Interrupted {
            unit: interrupted.unit.clone(),
            applied: interrupted.applied,
            holder: interrupted.holder.clone(),
            failed: interrupted.failed,
        }
    }
}

/// What `--check` says of an unfinished unit: a failed statement needs its cause fixed; a
/// unit that was only left (killed, or still running) needs another `db_sync`.
fn interrupted_message(unit: &UnitId, applied: usize, holder: &str, failed: bool) -> String {
    let applied_part = progress(applied);
    if failed {
        format!(
            "a db_sync by {holder} stopped {unit}{applied_part} at a statement that failed: fix the cause that run reported (strata-manage db_sync shows it again), then run strata-manage db_sync, which resumes {unit}"
        )
    } else {
        format!(
            "a db_sync by {holder} started {unit}{applied_part} and has not finished it: it is still running, or it was interrupted; run strata-manage db_sync, which waits for a running one and otherwise resumes {unit}"
        )
    }
}

fn progress(applied: usize) -> String {
    match applied {
        0 => String::new(),
        applied => format!(" (statements 1 to {applied} applied)"),
    }
}

/// One legacy version to apply.
#[derive(Debug, Clone)]
pub struct LegacyStep<'t> {
    /// The repository.
    pub repository: &'t LegacyRepository,
    /// The version to apply.
    pub version: &'t LegacyVersion,
    /// The version the row is at before this step.
    pub from: i64,
}

/// How `alembic_version` changes after a revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowChange {
    /// First revision of a branch whose parent row was already replaced: a new row.
    Insert,
    /// The usual case: the parent's row becomes this revision's.
    Update {
        /// The parent row replaced.
        from: String,
        /// Further parent rows removed (merge revisions).
        delete: Vec<String>,
    },
}

/// One alembic revision to apply.
#[derive(Debug, Clone)]
pub struct RevisionStep<'t> {
    /// The revision.
    pub revision: &'t Revision,
    /// The branch whose head it leads to (the base revision counts as expand).
    pub branch: Branch,
    /// Its version-row bookkeeping.
    pub row: RowChange,
}

/// Everything a `db_sync` run will do, in order.
#[derive(Debug, Clone, Default)]
pub struct Plan<'t> {
    /// Legacy versions, repository by repository.
    pub legacy: Vec<LegacyStep<'t>>,
    /// The base revision to record without running it (legacy transition).
    pub stamp: Option<&'t Revision>,
    /// Whether `alembic_version` has to be created first.
    pub create_version_table: bool,
    /// Alembic revisions, expand branch before contract branch.
    pub revisions: Vec<RevisionStep<'t>>,
}

impl Plan<'_> {
    /// True when the database is already where the request wants it.
    pub fn is_empty(&self) -> bool {
        self.legacy.is_empty() && self.stamp.is_none() && self.revisions.is_empty()
    }
}

/// The result of `db_sync --check`, with keystone's exit statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOutcome {
    /// Both branches at the code's heads (exit 0).
    UpToDate,
    /// Empty or unversioned database: run `db_sync --expand` (exit 2).
    NotUnderVersionControl,
    /// Still under legacy control: run `db_sync --expand` (exit 2).
    LegacyControlled,
    /// Expand branch behind the code (exit 2).
    ExpandPending,
    /// Expand done, contract behind (exit 4).
    ContractPending,
}

impl CheckOutcome {
    /// keystone's exit status for this outcome.
    pub fn exit_status(self) -> u8 {
        match self {
            CheckOutcome::UpToDate => 0,
            CheckOutcome::ContractPending => 4,
            _ => 2,
        }
    }
}

/// `db_sync --check`'s findings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// What to do next.
    pub outcome: CheckOutcome,
    /// The database's expand revision.
    pub expand: Option<String>,
    /// The database's contract revision.
    pub contract: Option<String>,
    /// The code's expand head.
    pub expand_head: Option<String>,
    /// The code's contract head.
    pub contract_head: Option<String>,
}

/// What `db_version` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbVersion {
    /// The expand branch's revision.
    Revision(String),
    /// A database still under legacy control: the controlling repository's version.
    Legacy(i64),
    /// Nothing recorded.
    None,
    /// `alembic_version` holds revisions this release does not know (a newer database).
    Unknown(Vec<String>),
}

/// The database's current revision per branch, validated against the graph.
#[derive(Debug, Default)]
pub(crate) struct CurrentHeads {
    pub(crate) expand: Option<String>,
    pub(crate) contract: Option<String>,
}

/// Sorts the rows of `alembic_version` by branch, refusing unknown revisions, two rows for
/// one branch and a contract row without an expand row.
pub(crate) fn current_heads(trees: &MigrationTrees, state: &DatabaseState) -> Result<CurrentHeads, PlanError> {
    let mut heads = CurrentHeads::default();
    for row in state.alembic_rows() {
        let branch = trees.graph.branch_of(row).ok_or_else(|| PlanError::UnknownRevision(row.clone()))?;
        let slot = match branch {
            Branch::Expand => &mut heads.expand,
            Branch::Contract => &mut heads.contract,
        };
        if let Some(first) = slot.replace(row.clone()) {
            return Err(PlanError::DuplicateBranchRows { branch, first, second: row.clone() });
        }
    }
    if let (None, Some(contract)) = (&heads.expand, &heads.contract) {
        return Err(PlanError::ContractAheadOfExpand(contract.clone()));
    }
    Ok(heads)
}

/// How the database is versioned, once the alembic rows are known to be empty.
enum Unversioned<'t> {
    /// Under legacy control, with the steps that remain.
    Legacy(Vec<LegacyStep<'t>>),
    /// Nothing at all: an empty database.
    Empty,
}

fn unversioned<'t>(trees: &'t MigrationTrees, state: &DatabaseState) -> Result<Unversioned<'t>, PlanError> {
    let legacy_rows = state.legacy_versions.as_deref().unwrap_or_default();
    let controlling = trees.legacy.controlling();
    let controlled = controlling.is_some_and(|repository| state.legacy_row(&repository.repository_id).is_some());
    if !controlled {
        if !legacy_rows.is_empty() {
            let found: Vec<&str> = legacy_rows.iter().map(|row| row.repository_id.as_str()).collect();
            return Err(PlanError::UnknownLegacyRepositories {
                found: found.join(", "),
                expected: controlling.map_or_else(
                    || "none (this service has no legacy repositories)".into(),
                    |r| r.repository_id.clone(),
                ),
            });
        }
        // An interrupted base revision (MySQL) left tables but no version row: resumable.
        let base_interrupted = state
            .interrupted
            .as_ref()
            .is_some_and(|interrupted| interrupted.unit == UnitId::Revision(trees.graph.base().id.clone()));
        if let Some(example) = state.tables.first().filter(|_| !base_interrupted) {
            return Err(PlanError::UnversionedNonEmpty { count: state.tables.len(), example: example.clone() });
        }
        return Ok(Unversioned::Empty);
    }
    let mut steps = Vec::new();
    for repository in &trees.legacy.repositories {
        let controlling_id = &trees.legacy.repositories[0].repository_id;
        let row = state.legacy_row(&repository.repository_id).ok_or_else(|| PlanError::LegacyRowMissing {
            controlling: controlling_id.clone(),
            missing: repository.repository_id.clone(),
        })?;
        // sqlalchemy-migrate writes the version when it puts a repository under control;
        // a NULL is as unusable as a version below the first script.
        let version = row.version.unwrap_or(i64::MIN);
        if version < repository.initial_version() {
            return Err(PlanError::LegacyTooOld {
                repository_id: repository.repository_id.clone(),
                version: row.version.unwrap_or(0),
                minimum: repository.initial_version(),
            });
        }
        if version > repository.latest_version() {
            return Err(PlanError::LegacyTooNew {
                repository_id: repository.repository_id.clone(),
                version,
                latest: repository.latest_version(),
            });
        }
        for step in repository.versions.iter().filter(|step| step.number > version) {
            steps.push(LegacyStep { repository, version: step, from: step.number - 1 });
        }
    }
    Ok(Unversioned::Legacy(steps))
}

/// Plans a `db_sync`.
pub fn plan_sync<'t>(trees: &'t MigrationTrees, state: &DatabaseState, target: Target) -> Result<Plan<'t>, PlanError> {
    let heads = current_heads(trees, state)?;
    if target == Target::Contract {
        let expand_head = trees.graph.head(Branch::Expand).map(|revision| &revision.id);
        if expand_head.is_some() && heads.expand.as_ref() != expand_head {
            return Err(PlanError::ContractBeforeExpand);
        }
    }
    let mut plan = Plan::default();
    let mut rows: Vec<String> = state.alembic_rows().to_vec();
    if rows.is_empty() {
        if let Unversioned::Legacy(steps) = unversioned(trees, state)? {
            plan.legacy = steps;
            plan.stamp = Some(trees.graph.base());
            rows.push(trees.graph.base().id.clone());
        }
    }
    let heads: Vec<(Branch, &str)> = target
        .branches()
        .iter()
        .filter_map(|&branch| trees.graph.head(branch).map(|head| (branch, head.id.as_str())))
        .collect();
    add_revisions(trees, &mut plan, rows, &heads);
    plan.create_version_table =
        state.alembic_versions.is_none() && (plan.stamp.is_some() || !plan.revisions.is_empty());
    if let Some(interrupted) = &state.interrupted {
        check_resumable(&plan, interrupted)?;
    }
    Ok(plan)
}

/// Adds to `plan` every revision up to each of `heads` that `rows` (the `alembic_version`
/// rows before it) do not record, with its version-row change, branch by branch.
fn add_revisions<'t>(trees: &'t MigrationTrees, plan: &mut Plan<'t>, mut rows: Vec<String>, heads: &[(Branch, &str)]) {
    let mut applied: HashSet<&str> = HashSet::new();
    for row in &rows {
        applied.extend(trees.graph.ancestors_inclusive(row).into_iter().map(|revision| revision.id.as_str()));
    }
    for &(branch, head) in heads {
        for revision in trees.graph.ancestors_inclusive(head) {
            if !applied.insert(revision.id.as_str()) {
                continue;
            }
            let mut parents = revision.down_revisions.iter().filter(|parent| rows.contains(parent)).cloned();
            let row = match parents.next() {
                None => RowChange::Insert,
                Some(from) => RowChange::Update { from, delete: parents.collect() },
            };
            rows.retain(|row| !revision.down_revisions.contains(row));
            rows.push(revision.id.clone());
            // A revision reached through another branch's dependency is named by its own branch.
            let branch = trees.graph.branch_of(&revision.id).unwrap_or(branch);
            plan.revisions.push(RevisionStep { revision, branch, row });
        }
    }
}

/// How to rebuild, in an empty database, the schema a database's version rows record
/// (`verify`): the `migrate_version` rows to create first, then a plan.
#[derive(Debug, Clone, Default)]
pub struct Rebuild<'t> {
    /// `(repository_id, version)` rows of `migrate_version` to create before the plan runs
    /// (each repository at the version before its first script); empty when the database
    /// never was under legacy control.
    pub legacy_start: Vec<(String, i64)>,
    /// The units that bring the empty database to exactly the recorded versions: legacy
    /// versions up to the recorded ones, the stamp where the database was stamped, then each
    /// branch up to its recorded revision (not to the code's heads).
    pub plan: Plan<'t>,
}

/// Plans the rebuild of what a database's version rows record: a database that went
/// through the legacy layer is rebuilt through it (legacy versions, stamp), one that did
/// not runs the base revision for real, as `db_sync` did for each. Refused where `db_sync`
/// would refuse the rows (unknown revisions, legacy versions this release cannot build, a
/// unit a MySQL run left unfinished). No rows at all plan nothing: the schema expected is
/// empty.
pub fn plan_recorded<'t>(trees: &'t MigrationTrees, state: &DatabaseState) -> Result<Rebuild<'t>, PlanError> {
    interrupted(state)?;
    let heads = current_heads(trees, state)?;
    let mut rebuild = Rebuild::default();
    let controlled =
        trees.legacy.controlling().is_some_and(|repository| state.legacy_row(&repository.repository_id).is_some());
    if controlled {
        for repository in &trees.legacy.repositories {
            let (start, latest) = (repository.initial_version(), repository.latest_version());
            let row = state.legacy_row(&repository.repository_id).ok_or_else(|| PlanError::LegacyRowMissing {
                controlling: trees.legacy.repositories[0].repository_id.clone(),
                missing: repository.repository_id.clone(),
            })?;
            let version = match row.version {
                Some(version) if version < start => {
                    return Err(PlanError::LegacyTooOld {
                        repository_id: repository.repository_id.clone(),
                        version,
                        minimum: start,
                    })
                }
                Some(version) if version > latest => {
                    return Err(PlanError::LegacyTooNew {
                        repository_id: repository.repository_id.clone(),
                        version,
                        latest,
                    })
                }
                Some(version) => version,
                None => {
                    return Err(PlanError::LegacyTooOld {
                        repository_id: repository.repository_id.clone(),
                        version: 0,
                        minimum: start,
                    })
                }
            };
            rebuild.legacy_start.push((repository.repository_id.clone(), start));
            for step in repository.versions.iter().filter(|step| step.number <= version) {
                rebuild.plan.legacy.push(LegacyStep { repository, version: step, from: step.number - 1 });
            }
        }
    }
    if state.alembic_rows().is_empty() {
        return Ok(rebuild);
    }
    let mut rows = Vec::new();
    if controlled {
        rebuild.plan.stamp = Some(trees.graph.base());
        rows.push(trees.graph.base().id.clone());
    }
    let recorded: Vec<(Branch, &str)> = [(Branch::Expand, &heads.expand), (Branch::Contract, &heads.contract)]
        .into_iter()
        .filter_map(|(branch, row)| row.as_deref().map(|row| (branch, row)))
        .collect();
    add_revisions(trees, &mut rebuild.plan, rows, &recorded);
    rebuild.plan.create_version_table = true;
    Ok(rebuild)
}

impl Plan<'_> {
    /// The units of the plan in the order they run.
    pub fn unit_ids(&self) -> Vec<UnitId> {
        let legacy = self.legacy.iter().map(|step| UnitId::Legacy {
            repository_id: step.repository.repository_id.clone(),
            version: step.version.number,
        });
        let stamp = self.stamp.map(|base| UnitId::Revision(base.id.clone()));
        let revisions = self.revisions.iter().map(|step| UnitId::Revision(step.revision.id.clone()));
        legacy.chain(stamp).chain(revisions).collect()
    }
}

/// An interrupted unit is resumed by the backend when it runs again, so it must be the
/// first unit of the plan; anything else means the version tables changed since.
fn check_resumable(plan: &Plan<'_>, interrupted: &Interrupted) -> Result<(), PlanError> {
    match plan.unit_ids().into_iter().next() {
        Some(first) if first == interrupted.unit => Ok(()),
        first => Err(PlanError::InterruptedOutOfOrder {
            unit: interrupted.unit.clone(),
            applied: interrupted.applied,
            next: first.map_or_else(|| "nothing (the database is at the heads)".to_owned(), |unit| unit.to_string()),
        }),
    }
}

/// The error `db_sync --check` and `db_version` report for a unit a MySQL run started and
/// did not finish, if there is one.
pub fn interrupted(state: &DatabaseState) -> Result<(), PlanError> {
    match &state.interrupted {
        Some(interrupted) => Err(PlanError::from(interrupted)),
        None => Ok(()),
    }
}

/// `db_sync --check`: compares the database with the code's heads (keystone's fixed
/// behaviour, not the Zed bug that compared the database with itself).
pub fn check(trees: &MigrationTrees, state: &DatabaseState) -> Result<CheckReport, PlanError> {
    interrupted(state)?;
    let heads = current_heads(trees, state)?;
    let expand_head = trees.graph.head(Branch::Expand).map(|revision| revision.id.clone());
    let contract_head = trees.graph.head(Branch::Contract).map(|revision| revision.id.clone());
    let outcome = if state.alembic_rows().is_empty() {
        match unversioned(trees, state)? {
            Unversioned::Legacy(_) => CheckOutcome::LegacyControlled,
            Unversioned::Empty => CheckOutcome::NotUnderVersionControl,
        }
    } else if heads.expand != expand_head {
        CheckOutcome::ExpandPending
    } else if heads.contract != contract_head {
        CheckOutcome::ContractPending
    } else {
        CheckOutcome::UpToDate
    };
    Ok(CheckReport { outcome, expand: heads.expand, contract: heads.contract, expand_head, contract_head })
}

/// `db_version`: the expand branch's revision, the legacy version, or nothing; the rows
/// this release does not know, when there are any (never an error: the operator needs to
/// see them). An interrupted unit is not looked at here: see [`interrupted`].
pub fn db_version(trees: &MigrationTrees, state: &DatabaseState) -> Result<DbVersion, PlanError> {
    let unknown: Vec<String> =
        state.alembic_rows().iter().filter(|row| trees.graph.branch_of(row).is_none()).cloned().collect();
    if !unknown.is_empty() {
        return Ok(DbVersion::Unknown(unknown));
    }
    let heads = current_heads(trees, state)?;
    if let Some(expand) = heads.expand {
        return Ok(DbVersion::Revision(expand));
    }
    let legacy = trees
        .legacy
        .controlling()
        .and_then(|repository| state.legacy_row(&repository.repository_id))
        .and_then(|row| row.version);
    Ok(legacy.map_or(DbVersion::None, DbVersion::Legacy))
}

#[cfg(test)]
mod tests;
