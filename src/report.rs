//! What the read-only commands report (`db_sync --check`, `db_sync --dry-run`, `db_version`,
//! `current`, `history`, `heads`, `show`, `verify`), as plain data. Every report serializes to
//! the JSON that `--format json` prints; the CLI renders the text form from the same values,
//! so the two cannot disagree.
//!
//! Building a report is pure: migration trees and a [`DatabaseState`] in, a report out. The
//! JSON schema is documented in README.md ("JSON output") and is stable: fields may be added
//! in later releases, never renamed, retyped or removed.

use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::backend::VersionChange;
use crate::dialect::Dialect;
use crate::executor::SyncReport;
use crate::graph::{Branch, LookupError, Revision};
use crate::offline::{DryRun, UnitSummary};
use crate::plan::{self, CheckOutcome, CheckReport, DbVersion, PlanError};
use crate::state::{DatabaseState, Interrupted, UnitId};
use crate::tree::MigrationTrees;

/// The name of the command-line program, as the commands it suggests spell it.
pub const PROGRAM: &str = "strata-manage";

/// One branch: what the database records next to what the code has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BranchVersion {
    /// The branch's row in `alembic_version`; `None` when the branch has no row.
    pub current: Option<String>,
    /// The branch's head in the migration tree; `None` for a tree without the branch.
    pub head: Option<String>,
}

impl BranchVersion {
    /// Whether the database records the code's head for this branch.
    pub fn is_at_head(&self) -> bool {
        self.current.is_some() && self.current == self.head
    }
}

/// Where the database stands: each branch next to the code's heads, and the legacy version
/// of a database still under legacy control.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatabaseVersions {
    /// The expand branch.
    pub expand: BranchVersion,
    /// The contract branch.
    pub contract: BranchVersion,
    /// The controlling legacy repository's version (`keystone_expand`'s row in
    /// `migrate_version`) while the database is under legacy control, that is while
    /// `alembic_version` has no row; `None` otherwise.
    pub legacy_version: Option<i64>,
}

impl DatabaseVersions {
    /// Reads a database state against the trees; fails as `db_version` does on rows the
    /// trees cannot place (an unknown revision, two rows for one branch, contract without
    /// expand).
    pub fn of(trees: &MigrationTrees, state: &DatabaseState) -> Result<DatabaseVersions, PlanError> {
        let rows = plan::current_heads(trees, state)?;
        let head = |branch| trees.graph.head(branch).map(|revision: &Revision| revision.id.clone());
        let legacy_version = if state.alembic_rows().is_empty() {
            trees
                .legacy
                .controlling()
                .and_then(|repository| state.legacy_row(&repository.repository_id))
                .and_then(|row| row.version)
        } else {
            None
        };
        Ok(DatabaseVersions {
            expand: BranchVersion { current: rows.expand, head: head(Branch::Expand) },
            contract: BranchVersion { current: rows.contract, head: head(Branch::Contract) },
            legacy_version,
        })
    }

    /// The branch's entry.
    pub fn branch(&self, branch: Branch) -> &BranchVersion {
        match branch {
            Branch::Expand => &self.expand,
            Branch::Contract => &self.contract,
        }
    }
}

/// What `db_sync --check` found, in one word (the JSON's `outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckState {
    /// Both branches at the code's heads (exit 0).
    UpToDate,
    /// Empty database, under no version control (exit 2).
    NotUnderVersionControl,
    /// Still under legacy control (exit 2).
    LegacyControlled,
    /// The expand branch is behind the code (exit 2).
    ExpandPending,
    /// Expand is done, contract is behind (exit 4).
    ContractPending,
    /// A MySQL unit was started and not finished (exit 1).
    Interrupted,
}

impl From<CheckOutcome> for CheckState {
    fn from(outcome: CheckOutcome) -> CheckState {
        match outcome {
            CheckOutcome::UpToDate => CheckState::UpToDate,
            CheckOutcome::NotUnderVersionControl => CheckState::NotUnderVersionControl,
            CheckOutcome::LegacyControlled => CheckState::LegacyControlled,
            CheckOutcome::ExpandPending => CheckState::ExpandPending,
            CheckOutcome::ContractPending => CheckState::ContractPending,
        }
    }
}

impl CheckState {
    /// The process exit status `db_sync --check` ends with.
    pub fn exit_status(self) -> u8 {
        match self {
            CheckState::Interrupted => 1,
            CheckState::UpToDate => CheckOutcome::UpToDate.exit_status(),
            CheckState::NotUnderVersionControl => CheckOutcome::NotUnderVersionControl.exit_status(),
            CheckState::LegacyControlled => CheckOutcome::LegacyControlled.exit_status(),
            CheckState::ExpandPending => CheckOutcome::ExpandPending.exit_status(),
            CheckState::ContractPending => CheckOutcome::ContractPending.exit_status(),
        }
    }

    /// The command that moves the database on, or `None` when it is up to date.
    pub fn next_command(self) -> Option<String> {
        let arguments = match self {
            CheckState::UpToDate => return None,
            CheckState::NotUnderVersionControl | CheckState::LegacyControlled | CheckState::ExpandPending => {
                "db_sync --expand"
            }
            CheckState::ContractPending => "db_sync --contract",
            // A db_sync waits for a run still going and otherwise resumes the unit.
            CheckState::Interrupted => "db_sync",
        };
        Some(format!("{PROGRAM} {arguments}"))
    }
}

/// A unit that a MySQL `db_sync` started and did not record as finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InterruptedUnit {
    /// The unit: `revision <id>` or `legacy <repository_id> <version>`.
    pub unit: String,
    /// How many of its statements are recorded as applied.
    pub applied: usize,
    /// Who ran it (host, process, start time).
    pub holder: String,
    /// Whether that run recorded that a statement failed: its cause must be fixed before
    /// `db_sync` can resume the unit.
    pub failed: bool,
}

impl From<&Interrupted> for InterruptedUnit {
    fn from(interrupted: &Interrupted) -> InterruptedUnit {
        InterruptedUnit {
            unit: interrupted.unit.to_string(),
            applied: interrupted.applied,
            holder: interrupted.holder.clone(),
            failed: interrupted.failed,
        }
    }
}

/// `db_sync --check --format json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckStatus {
    /// The exit status of the process.
    pub exit_status: u8,
    /// What was found.
    pub outcome: CheckState,
    /// Where the database stands (flattened: `expand`, `contract`, `legacy_version`).
    #[serde(flatten)]
    pub versions: DatabaseVersions,
    /// The command to run next (`strata-manage db_sync --expand`), `None` when up to date.
    pub next_command: Option<String>,
    /// The unfinished MySQL unit, if any.
    pub interrupted: Option<InterruptedUnit>,
}

/// `db_sync --check` as a report. Unlike [`plan::check`], an interrupted unit is a report
/// (exit status 1, `interrupted` filled in) rather than an error; every other state `db_sync`
/// would refuse is still an error.
pub fn check_status(trees: &MigrationTrees, state: &DatabaseState) -> Result<CheckStatus, PlanError> {
    if let Some(interrupted) = &state.interrupted {
        // Rows the trees cannot place make the interruption the thing to report, as in text.
        let versions = DatabaseVersions::of(trees, state).map_err(|_| PlanError::from(interrupted))?;
        let outcome = CheckState::Interrupted;
        return Ok(CheckStatus {
            exit_status: outcome.exit_status(),
            outcome,
            versions,
            next_command: outcome.next_command(),
            interrupted: Some(interrupted.into()),
        });
    }
    let outcome = CheckState::from(plan::check(trees, state)?.outcome);
    Ok(CheckStatus {
        exit_status: outcome.exit_status(),
        outcome,
        versions: DatabaseVersions::of(trees, state)?,
        next_command: outcome.next_command(),
        interrupted: None,
    })
}

/// `db_version --format json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionReport {
    /// What `db_version` prints: a revision (string), a legacy version (integer) or `None`
    /// (null).
    #[serde(serialize_with = "serialize_db_version")]
    pub version: DbVersion,
    /// Where the database stands (flattened: `expand`, `contract`, `legacy_version`); rows
    /// this release does not know are left out of it.
    #[serde(flatten)]
    pub versions: DatabaseVersions,
    /// Revisions in `alembic_version` this release does not know; only present when there
    /// are any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unknown_revisions: Vec<String>,
    /// The unfinished MySQL unit, if any (then `db_version` exits 1, as `--check` does);
    /// only present when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<InterruptedUnit>,
}

fn serialize_db_version<S: Serializer>(version: &DbVersion, serializer: S) -> Result<S::Ok, S::Error> {
    match version {
        DbVersion::Revision(revision) => serializer.serialize_str(revision),
        DbVersion::Legacy(version) => serializer.serialize_i64(*version),
        DbVersion::None => serializer.serialize_none(),
        DbVersion::Unknown(revisions) => serializer.serialize_str(&revisions.join(", ")),
    }
}

/// `db_version` as a report.
pub fn version_report(trees: &MigrationTrees, state: &DatabaseState) -> Result<VersionReport, PlanError> {
    let version = plan::db_version(trees, state)?;
    let unknown_revisions = match &version {
        DbVersion::Unknown(revisions) => revisions.clone(),
        _ => Vec::new(),
    };
    let versions = if unknown_revisions.is_empty() {
        DatabaseVersions::of(trees, state)?
    } else {
        // Only the rows this release can place are shown on their branches.
        let head = |branch| trees.graph.head(branch).map(|revision: &Revision| revision.id.clone());
        let current =
            |branch| state.alembic_rows().iter().find(|row| trees.graph.branch_of(row) == Some(branch)).cloned();
        DatabaseVersions {
            expand: BranchVersion { current: current(Branch::Expand), head: head(Branch::Expand) },
            contract: BranchVersion { current: current(Branch::Contract), head: head(Branch::Contract) },
            legacy_version: None,
        }
    };
    Ok(VersionReport {
        version,
        versions,
        unknown_revisions,
        interrupted: state.interrupted.as_ref().map(InterruptedUnit::from),
    })
}

/// The line a successful `db_sync` ends with: how long it took, what it applied and where
/// the database stands (`db_sync --expand done in 1.2 s: 6 revisions applied, database at
/// expand 742c857f1dfb, contract None; contract pending`). `command` is how it was invoked
/// (`db_sync`, `db_sync --expand`); `after` is the database read again, when that worked.
pub fn sync_summary(command: &str, elapsed: Duration, applied: &SyncReport, after: Option<&CheckReport>) -> String {
    let plural = |count: usize, what: &str| format!("{count} {what}{}", if count == 1 { "" } else { "s" });
    let mut parts = Vec::new();
    if !applied.legacy.is_empty() {
        parts.push(format!("{} applied", plural(applied.legacy.len(), "legacy migration")));
    }
    if let Some(stamped) = &applied.stamped {
        parts.push(format!("{stamped} stamped"));
    }
    if !applied.revisions.is_empty() || parts.is_empty() {
        parts.push(format!("{} applied", plural(applied.revisions.len(), "revision")));
    }
    let mut line = format!("{command} done in {:.1} s: {}", elapsed.as_secs_f64(), parts.join(", "));
    if let Some(after) = after {
        let shown = |revision: &Option<String>| revision.clone().unwrap_or_else(|| "None".to_owned());
        line.push_str(&format!(", database at expand {}, contract {}", shown(&after.expand), shown(&after.contract)));
        if after.outcome == CheckOutcome::ContractPending {
            line.push_str(&format!(
                "; contract pending: run {PROGRAM} db_sync --contract when no node runs the previous release"
            ));
        }
    }
    line
}

/// One line of `history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// The revision id.
    pub revision: String,
    /// Its parents (empty for the base, several for a merge).
    pub down_revisions: Vec<String>,
    /// Its branch (the base counts as expand).
    pub branch: Branch,
    /// Its message.
    pub message: String,
    /// Whether it is its branch's head.
    pub is_head: bool,
    /// Whether `alembic_version` records it; only present when a database was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_current: Option<bool>,
}

/// The revisions newest first (children before parents, the expand branch before the
/// contract branch, as the graph orders them), each marked current when `database` is given
/// and its `alembic_version` records it.
pub fn history(trees: &MigrationTrees, database: Option<&DatabaseState>) -> Result<Vec<HistoryEntry>, PlanError> {
    let current: Option<Vec<String>> = match database {
        Some(state) => {
            let rows = plan::current_heads(trees, state)?;
            Some(rows.expand.into_iter().chain(rows.contract).collect())
        }
        None => None,
    };
    let graph = &trees.graph;
    Ok(graph
        .in_order()
        .rev()
        .map(|revision| HistoryEntry {
            revision: revision.id.clone(),
            down_revisions: revision.down_revisions.clone(),
            branch: branch_of(trees, revision),
            message: revision.message.clone(),
            is_head: graph.is_head(&revision.id),
            is_current: current.as_ref().map(|rows| rows.contains(&revision.id)),
        })
        .collect())
}

/// One line of `heads`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeadEntry {
    /// The head revision's id.
    pub revision: String,
    /// Its branch.
    pub branch: Branch,
}

/// The head of each branch the tree has, expand first.
pub fn heads(trees: &MigrationTrees) -> Vec<HeadEntry> {
    trees.graph.heads().map(|(branch, revision)| HeadEntry { revision: revision.id.clone(), branch }).collect()
}

/// `show REV`: one revision's metadata and its statements for one dialect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevisionDetail {
    /// The revision id (in full, also when a prefix was asked for).
    pub revision: String,
    /// Its branch.
    pub branch: Branch,
    /// Whether it is its branch's head.
    pub is_head: bool,
    /// Its parents (empty for the base, several for a merge).
    pub down_revisions: Vec<String>,
    /// Branch labels declared on it (`["expand"]` on a branch root).
    pub branch_labels: Vec<String>,
    /// Revisions it must come after without being their child.
    pub depends_on: Vec<String>,
    /// Its message.
    pub message: String,
    /// Its creation date as its `revision.toml` records it, if it does.
    pub create_date: Option<String>,
    /// Its folder (`alembic_versions/…` for the built-in tree, else below `--alembic-dir`).
    pub path: String,
    /// The dialect of `statements`.
    pub dialect: Dialect,
    /// The statements strata sends on that dialect, in order, without the closing `;`.
    pub statements: Vec<String>,
}

/// Finds a revision by id or unique id prefix and describes it for `dialect`.
pub fn revision_detail(
    trees: &MigrationTrees,
    id_or_prefix: &str,
    dialect: Dialect,
) -> Result<RevisionDetail, LookupError> {
    let revision = trees.graph.find(id_or_prefix)?;
    Ok(RevisionDetail {
        revision: revision.id.clone(),
        branch: branch_of(trees, revision),
        is_head: trees.graph.is_head(&revision.id),
        down_revisions: revision.down_revisions.clone(),
        branch_labels: revision.branch_labels.clone(),
        depends_on: revision.depends_on.clone(),
        message: revision.message.clone(),
        create_date: revision.create_date.clone(),
        path: revision.path.clone(),
        dialect,
        statements: revision.sql.statements(dialect).to_vec(),
    })
}

fn branch_of(trees: &MigrationTrees, revision: &Revision) -> Branch {
    trees.graph.branch_of(&revision.id).unwrap_or(Branch::Expand)
}

/// The exit status of `verify` when the database's schema differs from what its recorded
/// revisions produce (distinct from 1 error, 2 usage, 3 `lint` findings, 4 contract
/// pending).
pub const DRIFT_EXIT_STATUS: u8 = 5;

/// What `verify` found: the schema the database's recorded versions produce, compared with
/// the database's own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// The exit status of the process: 0 identical, 5 drift.
    pub exit_status: u8,
    /// Whether the two schemas are identical.
    pub identical: bool,
    /// The engine.
    pub dialect: Dialect,
    /// The recorded versions the expected schema was built from (flattened: `expand`,
    /// `contract`, `legacy_version`).
    #[serde(flatten)]
    pub versions: DatabaseVersions,
    /// The scratch database the expected schema was built in (dropped since); `None` on
    /// SQLite, which builds it in memory.
    pub scratch_database: Option<String>,
    /// How many tables were compared (those of either side).
    pub tables_compared: usize,
    /// Every difference, sorted by table, then object.
    pub differences: Vec<crate::catalog::Difference>,
}

impl VerifyReport {
    /// Compares the catalogs and builds the report.
    pub fn new(
        dialect: Dialect,
        versions: DatabaseVersions,
        scratch_database: Option<String>,
        expected: &crate::catalog::Catalog,
        found: &crate::catalog::Catalog,
    ) -> VerifyReport {
        let differences = crate::catalog::diff(expected, found);
        let identical = differences.is_empty();
        let tables_compared =
            expected.tables.keys().chain(found.tables.keys()).collect::<std::collections::BTreeSet<_>>().len();
        VerifyReport {
            exit_status: if identical { 0 } else { DRIFT_EXIT_STATUS },
            identical,
            dialect,
            versions,
            scratch_database,
            tables_compared,
            differences,
        }
    }
}

/// `db_sync --dry-run --format json`: the units `db_sync` would apply, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DryRunReport {
    /// The command planned for: `strata-manage db_sync`, `… --expand` or `… --contract`.
    pub command: String,
    /// The units in the order `db_sync` would run them; empty when there is nothing to do.
    pub units: Vec<DryRunUnit>,
}

/// One unit of a [`DryRunReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DryRunUnit {
    /// The unit, as the progress records and `--check` name it: `revision <id>` or
    /// `legacy <repository_id> <version>`.
    pub unit: String,
    /// What it is: a legacy migration, the stamp of the base revision, or a revision.
    pub kind: UnitKind,
    /// How the text form names it: `revision 29e87d24a316 (expand)`, `stamp 27e647c0fad4`.
    pub description: String,
    /// How many statements it runs (0 for the stamp and for empty revisions).
    pub statements: usize,
    /// How many of them an interrupted MySQL run applied already, `None` when it is not the
    /// interrupted unit.
    pub already_applied: Option<usize>,
    /// Whether it creates `alembic_version` first.
    pub creates_version_table: bool,
    /// Its change to `migrate_version`, for a legacy migration.
    pub migrate_version: Option<LegacyRowChange>,
    /// Its change to `alembic_version`, for the stamp and the revisions.
    pub alembic_version: Option<RevisionRowChange>,
}

/// What a dry-run unit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    /// A legacy (sqlalchemy-migrate) version.
    Legacy,
    /// The base revision recorded without running it, on top of the legacy schema.
    Stamp,
    /// An alembic-style revision.
    Revision,
}

/// A legacy repository's row in `migrate_version`, before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LegacyRowChange {
    /// The repository.
    pub repository_id: String,
    /// The version before.
    pub from: i64,
    /// The version after.
    pub to: i64,
}

/// A branch's row in `alembic_version`, before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevisionRowChange {
    /// The row replaced, `None` when a row is inserted.
    pub from: Option<String>,
    /// The row written.
    pub to: String,
    /// Further rows deleted (the other parents of a merge revision).
    pub delete: Vec<String>,
}

impl From<&DryRun> for DryRunReport {
    fn from(dry_run: &DryRun) -> DryRunReport {
        DryRunReport {
            command: format!("{PROGRAM} {}", dry_run.target.command()),
            units: dry_run.units.iter().map(DryRunUnit::from).collect(),
        }
    }
}

impl From<&UnitSummary> for DryRunUnit {
    fn from(summary: &UnitSummary) -> DryRunUnit {
        let kind = match (&summary.id, summary.stamp) {
            (UnitId::Legacy { .. }, _) => UnitKind::Legacy,
            (UnitId::Revision(_), true) => UnitKind::Stamp,
            (UnitId::Revision(_), false) => UnitKind::Revision,
        };
        let (migrate_version, alembic_version) = match &summary.version {
            VersionChange::Legacy { repository_id, from, to } => {
                (Some(LegacyRowChange { repository_id: repository_id.clone(), from: *from, to: *to }), None)
            }
            VersionChange::Insert(revision) => {
                (None, Some(RevisionRowChange { from: None, to: revision.clone(), delete: Vec::new() }))
            }
            VersionChange::Update { from, to, delete } => {
                (None, Some(RevisionRowChange { from: Some(from.clone()), to: to.clone(), delete: delete.clone() }))
            }
        };
        DryRunUnit {
            unit: summary.id.to_string(),
            kind,
            description: summary.label.clone(),
            statements: summary.statements,
            already_applied: summary.already_applied,
            creates_version_table: summary.creates_version_table,
            migrate_version,
            alembic_version,
        }
    }
}

#[cfg(test)]
mod tests;
