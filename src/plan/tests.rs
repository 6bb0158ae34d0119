//! The planner against every database state of the specification. No database is involved.
//!
//! The alembic tree is the fixture `tests/fixtures/trees/phases` (keystone's shape: a base,
//! six expand and three contract revisions), so that a new keystone revision changes no test
//! here; the legacy layer is keystone's own, which is history and does not change.

use std::path::Path;
use std::sync::OnceLock;

use super::*;
use crate::state::{Interrupted, LegacyRow, UnitId};

const BASE: &str = "aaaa00000000";
const EXPAND: [&str; 6] =
    ["e00000000000", "e10000000001", "e20000000002", "e30000000003", "e40000000004", "e50000000005"];
const CONTRACT: [&str; 3] = ["c00000000000", "c10000000001", "c20000000002"];

fn trees() -> &'static MigrationTrees {
    static TREES: OnceLock<MigrationTrees> = OnceLock::new();
    TREES.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        MigrationTrees::from_dirs(Some(&root.join("legacy_migrations")), &root.join("tests/fixtures/trees/phases"))
            .expect("the fixture tree is valid")
    })
}

fn empty() -> DatabaseState {
    DatabaseState::default()
}

fn alembic(rows: &[&str]) -> DatabaseState {
    DatabaseState {
        alembic_versions: Some(rows.iter().map(|row| row.to_string()).collect()),
        legacy_versions: None,
        tables: vec!["project".into()],
        interrupted: None,
    }
}

fn legacy(version: i64) -> DatabaseState {
    let rows = ["keystone_expand", "keystone_data_migrate", "keystone_contract"]
        .iter()
        .map(|id| LegacyRow { repository_id: id.to_string(), version: Some(version) })
        .collect();
    DatabaseState { alembic_versions: None, legacy_versions: Some(rows), tables: vec![], interrupted: None }
}

fn revision_ids(plan: &Plan<'_>) -> Vec<String> {
    plan.revisions.iter().map(|step| step.revision.id.clone()).collect()
}

fn strings(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| id.to_string()).collect()
}

#[test]
fn empty_database_gets_the_base_then_both_branches() {
    let plan = plan_sync(trees(), &empty(), Target::Full).unwrap();
    assert!(plan.legacy.is_empty() && plan.stamp.is_none() && plan.create_version_table);
    let expected: Vec<&str> = [BASE].into_iter().chain(EXPAND).chain(CONTRACT).collect();
    assert_eq!(revision_ids(&plan), strings(&expected));
    // keystone's statement sequence: INSERT base, UPDATEs along expand, INSERT the
    // contract root (its parent row is gone), UPDATEs along contract.
    assert_eq!(plan.revisions[0].row, RowChange::Insert);
    assert_eq!(plan.revisions[1].row, RowChange::Update { from: BASE.into(), delete: vec![] });
    assert_eq!(plan.revisions[7].row, RowChange::Insert);
    assert_eq!(plan.revisions[8].row, RowChange::Update { from: CONTRACT[0].into(), delete: vec![] });
}

#[test]
fn expand_only_stops_at_the_expand_head() {
    let plan = plan_sync(trees(), &empty(), Target::Expand).unwrap();
    let expected: Vec<&str> = [BASE].into_iter().chain(EXPAND).collect();
    assert_eq!(revision_ids(&plan), strings(&expected));
}

#[test]
fn contract_is_refused_until_the_expand_head_is_recorded() {
    for state in
        [empty(), legacy(72), legacy(79), alembic(&[EXPAND[3], CONTRACT[2]]), alembic(&[EXPAND[0], CONTRACT[0]])]
    {
        assert_eq!(
            plan_sync(trees(), &state, Target::Contract).unwrap_err(),
            PlanError::ContractBeforeExpand,
            "{state:?}"
        );
    }
    let plan = plan_sync(trees(), &alembic(&[EXPAND[5]]), Target::Contract).unwrap();
    assert_eq!(revision_ids(&plan), strings(&CONTRACT));
}

#[test]
fn legacy_database_runs_every_remaining_version_then_stamps() {
    for target in [Target::Full, Target::Expand] {
        let plan = plan_sync(trees(), &legacy(72), target).unwrap();
        let steps: Vec<(String, i64)> =
            plan.legacy.iter().map(|step| (step.repository.repository_id.clone(), step.version.number)).collect();
        assert_eq!(steps.len(), 21, "7 versions in each of the 3 repositories");
        assert_eq!(steps[0], ("keystone_expand".into(), 73));
        assert_eq!(steps[7], ("keystone_data_migrate".into(), 73));
        assert_eq!(steps[20], ("keystone_contract".into(), 79));
        assert_eq!(plan.stamp.map(|revision| revision.id.as_str()), Some(BASE));
        assert!(plan.create_version_table);
        assert_eq!(revision_ids(&plan)[0], EXPAND[0], "the base is stamped, not run");
        assert_eq!(plan.revisions[0].row, RowChange::Update { from: BASE.into(), delete: vec![] });
    }
    let expected: Vec<&str> = EXPAND.into_iter().chain(CONTRACT).collect();
    assert_eq!(revision_ids(&plan_sync(trees(), &legacy(79), Target::Full).unwrap()), strings(&expected));
    for version in 73..=79 {
        let plan = plan_sync(trees(), &legacy(version), Target::Expand).unwrap();
        assert_eq!(plan.legacy.len() as i64, 3 * (79 - version), "at {version}");
    }
}

#[test]
fn legacy_below_72_is_refused_with_the_minimum() {
    let error = plan_sync(trees(), &legacy(71), Target::Full).unwrap_err();
    assert_eq!(error, PlanError::LegacyTooOld { repository_id: "keystone_expand".into(), version: 71, minimum: 72 });
    assert!(error.to_string().contains("Ussuri"), "{error}");
    assert!(matches!(check(trees(), &legacy(65)), Err(PlanError::LegacyTooOld { version: 65, .. })));
    assert!(matches!(plan_sync(trees(), &legacy(80), Target::Full), Err(PlanError::LegacyTooNew { .. })));
}

#[test]
fn incomplete_or_foreign_legacy_rows_are_refused() {
    let mut state = legacy(79);
    state.legacy_versions.as_mut().unwrap().retain(|row| row.repository_id != "keystone_contract");
    assert!(matches!(plan_sync(trees(), &state, Target::Full), Err(PlanError::LegacyRowMissing { .. })));
    let foreign = DatabaseState {
        legacy_versions: Some(vec![LegacyRow { repository_id: "keystone".into(), version: Some(109) }]),
        ..empty()
    };
    let error = plan_sync(trees(), &foreign, Target::Full).unwrap_err();
    assert!(matches!(error, PlanError::UnknownLegacyRepositories { .. }), "{error}");
}

#[test]
fn partially_applied_expand_continues_where_it_stopped() {
    let plan = plan_sync(trees(), &alembic(&[EXPAND[2], CONTRACT[0]]), Target::Full).unwrap();
    let expected: Vec<&str> = EXPAND[3..].iter().copied().chain(CONTRACT[1..].iter().copied()).collect();
    assert_eq!(revision_ids(&plan), strings(&expected));
    assert!(!plan.create_version_table);
    // Zed's heads (the two no-op roots) fast-forward in one run.
    let plan = plan_sync(trees(), &alembic(&[EXPAND[0], CONTRACT[0]]), Target::Full).unwrap();
    assert_eq!(plan.revisions.len(), 7);
}

#[test]
fn up_to_date_database_has_nothing_to_do() {
    let state = alembic(&[EXPAND[5], CONTRACT[2]]);
    assert!(plan_sync(trees(), &state, Target::Full).unwrap().is_empty());
    assert!(plan_sync(trees(), &state, Target::Expand).unwrap().is_empty());
    assert!(plan_sync(trees(), &state, Target::Contract).unwrap().is_empty());
}

#[test]
fn unknown_revision_and_bad_rows_are_refused() {
    let error = plan_sync(trees(), &alembic(&["deadbeef0000"]), Target::Full).unwrap_err();
    assert_eq!(error, PlanError::UnknownRevision("deadbeef0000".into()));
    assert!(error.to_string().contains("newer than this release"));
    assert!(matches!(check(trees(), &alembic(&["deadbeef0000"])), Err(PlanError::UnknownRevision(_))));
    // db_version shows what the database holds instead of refusing it.
    assert_eq!(db_version(trees(), &alembic(&["deadbeef0000"])), Ok(DbVersion::Unknown(vec!["deadbeef0000".into()])));
    assert!(matches!(
        plan_sync(trees(), &alembic(&[EXPAND[1], EXPAND[4]]), Target::Full),
        Err(PlanError::DuplicateBranchRows { branch: Branch::Expand, .. })
    ));
    assert_eq!(
        plan_sync(trees(), &alembic(&[CONTRACT[2]]), Target::Full).unwrap_err(),
        PlanError::ContractAheadOfExpand(CONTRACT[2].into())
    );
}

#[test]
fn non_empty_database_without_version_tables_is_refused() {
    let state = DatabaseState { tables: vec!["project".into(), "user".into()], ..empty() };
    let error = plan_sync(trees(), &state, Target::Full).unwrap_err();
    assert_eq!(error, PlanError::UnversionedNonEmpty { count: 2, example: "project".into() });
    // An alembic_version table that exists but is empty changes nothing.
    let state = DatabaseState { alembic_versions: Some(vec![]), ..state };
    assert!(matches!(plan_sync(trees(), &state, Target::Expand), Err(PlanError::UnversionedNonEmpty { .. })));
}

#[test]
fn check_follows_keystone_exit_statuses() {
    let outcome = |state: &DatabaseState| check(trees(), state).unwrap().outcome;
    assert_eq!(outcome(&empty()), CheckOutcome::NotUnderVersionControl);
    assert_eq!(outcome(&legacy(72)), CheckOutcome::LegacyControlled);
    assert_eq!(outcome(&alembic(&[BASE])), CheckOutcome::ExpandPending);
    assert_eq!(outcome(&alembic(&[EXPAND[0], CONTRACT[0]])), CheckOutcome::ExpandPending);
    assert_eq!(outcome(&alembic(&[EXPAND[5]])), CheckOutcome::ContractPending);
    assert_eq!(outcome(&alembic(&[EXPAND[5], CONTRACT[1]])), CheckOutcome::ContractPending);
    assert_eq!(outcome(&alembic(&[EXPAND[5], CONTRACT[2]])), CheckOutcome::UpToDate);
    let statuses: Vec<u8> = [CheckOutcome::UpToDate, CheckOutcome::ExpandPending, CheckOutcome::ContractPending]
        .iter()
        .map(|outcome| outcome.exit_status())
        .collect();
    assert_eq!(statuses, vec![0, 2, 4]);
    let report = check(trees(), &alembic(&[EXPAND[5]])).unwrap();
    assert_eq!(report.expand.as_deref(), Some(EXPAND[5]));
    assert_eq!(report.contract, None);
    assert_eq!(report.contract_head.as_deref(), Some(CONTRACT[2]));
}

#[test]
fn db_version_reports_expand_legacy_or_none() {
    assert_eq!(db_version(trees(), &empty()).unwrap(), DbVersion::None);
    assert_eq!(db_version(trees(), &legacy(72)).unwrap(), DbVersion::Legacy(72));
    assert_eq!(
        db_version(trees(), &alembic(&[EXPAND[5], CONTRACT[2]])).unwrap(),
        DbVersion::Revision(EXPAND[5].into())
    );
    assert_eq!(db_version(trees(), &alembic(&[BASE])).unwrap(), DbVersion::Revision(BASE.into()));
}

#[test]
fn head_files_agree_with_the_graph() {
    let graph = &trees().graph;
    assert_eq!(graph.head(Branch::Expand).unwrap().id, EXPAND[5]);
    assert_eq!(graph.head(Branch::Contract).unwrap().id, CONTRACT[2]);
    assert_eq!(graph.base().id, BASE);
    // The embedded tree loads, and its head files name its graph's heads (the loader checks).
    let embedded = MigrationTrees::embedded().expect("embedded trees are valid").graph;
    assert_eq!(embedded.head(Branch::Expand).unwrap().id, include_str!("../../alembic_versions/EXPAND_HEAD").trim());
    assert_eq!(
        embedded.head(Branch::Contract).unwrap().id,
        include_str!("../../alembic_versions/CONTRACT_HEAD").trim()
    );
}

fn interrupted(unit: UnitId, applied: usize) -> Option<Interrupted> {
    Some(Interrupted { unit, applied, holder: "strata-manage db_sync on node1, pid 42".into(), failed: false })
}

#[test]
fn an_interrupted_revision_must_come_first_and_check_reports_it() {
    let mut state = alembic(&[EXPAND[2], CONTRACT[0]]);
    state.interrupted = interrupted(UnitId::Revision(EXPAND[3].into()), 0);
    let plan = plan_sync(trees(), &state, Target::Full).unwrap();
    assert_eq!(plan.unit_ids()[0], UnitId::Revision(EXPAND[3].into()), "the backend resumes it first");
    let error = check(trees(), &state).unwrap_err();
    assert!(matches!(error, PlanError::Interrupted { applied: 0, .. }), "{error}");
    assert!(!error.to_string().contains("statements 1 to"), "nothing recorded, nothing claimed: {error}");
    state.interrupted = interrupted(UnitId::Revision(EXPAND[3].into()), 1);
    let error = check(trees(), &state).unwrap_err();
    assert!(error.to_string().contains("(statements 1 to 1 applied)"), "{error}");
    assert!(error.to_string().contains("run strata-manage db_sync"), "{error}");
}

#[test]
fn an_interrupted_base_revision_is_planned_despite_its_tables() {
    let state = DatabaseState {
        alembic_versions: Some(vec![]),
        tables: vec!["access_rule".into(), "project".into()],
        interrupted: interrupted(UnitId::Revision(BASE.into()), 17),
        ..empty()
    };
    let plan = plan_sync(trees(), &state, Target::Expand).unwrap();
    assert_eq!(plan.revisions[0].revision.id, BASE);
    assert!(!plan.create_version_table, "alembic_version exists already");
}

#[test]
fn an_interrupted_legacy_version_comes_first() {
    let mut state = legacy(72);
    let unit = UnitId::Legacy { repository_id: "keystone_expand".into(), version: 73 };
    state.interrupted = interrupted(unit.clone(), 5);
    let plan = plan_sync(trees(), &state, Target::Full).unwrap();
    assert_eq!(plan.unit_ids()[0], unit);
}

#[test]
fn an_interrupted_unit_that_is_not_next_is_refused() {
    let mut state = alembic(&[EXPAND[3], CONTRACT[0]]);
    // Recorded already: the version tables were changed by hand after the interruption.
    state.interrupted = interrupted(UnitId::Revision(EXPAND[3].into()), 2);
    let error = plan_sync(trees(), &state, Target::Full).unwrap_err();
    assert!(matches!(error, PlanError::InterruptedOutOfOrder { .. }), "{error}");
    state.interrupted = interrupted(UnitId::Revision(EXPAND[5].into()), 0);
    let error = plan_sync(trees(), &state, Target::Full).unwrap_err();
    assert!(error.to_string().contains(&format!("revision {} comes first", EXPAND[4])), "{error}");
    state = alembic(&[EXPAND[5], CONTRACT[2]]);
    state.interrupted = interrupted(UnitId::Revision(EXPAND[5].into()), 0);
    let error = plan_sync(trees(), &state, Target::Full).unwrap_err();
    assert!(error.to_string().contains("nothing (the database is at the heads) comes first"), "{error}");
}

#[test]
fn unit_ids_round_trip_through_text() {
    for unit in
        [UnitId::Revision("47147121".into()), UnitId::Legacy { repository_id: "keystone_expand".into(), version: 79 }]
    {
        assert_eq!(unit.to_string().parse::<UnitId>().unwrap(), unit);
    }
    assert!("nonsense".parse::<UnitId>().is_err());
}

/// A fixture tree of `tests/fixtures/trees/`, without legacy repositories.
fn fixture(name: &str) -> Result<MigrationTrees, crate::tree::TreeError> {
    MigrationTrees::from_dirs(None, &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/trees").join(name))
}

#[test]
fn a_linear_tree_runs_the_base_then_each_branch() {
    let trees = fixture("linear").unwrap();
    let plan = plan_sync(&trees, &empty(), Target::Full).unwrap();
    assert_eq!(
        revision_ids(&plan),
        strings(&["aaaa00000000", "e10000000001", "e20000000002", "c10000000001", "c20000000002"])
    );
    let plan = plan_sync(&trees, &alembic(&["e10000000001", "c10000000001"]), Target::Full).unwrap();
    assert_eq!(revision_ids(&plan), strings(&["e20000000002", "c20000000002"]));
}

#[test]
fn a_merge_revision_replaces_both_of_its_parents_rows() {
    let trees = fixture("merge").unwrap();
    let plan = plan_sync(&trees, &empty(), Target::Expand).unwrap();
    let ids = revision_ids(&plan);
    assert_eq!(ids.len(), 5, "{ids:?}");
    assert_eq!(ids.last().map(String::as_str), Some("ee0000000003"));
    let merge = plan.revisions.last().unwrap();
    assert!(
        matches!(&merge.row, RowChange::Update { from, delete } if delete.len() == 1 && from != &delete[0]),
        "{:?}",
        merge.row
    );
    // A database that has one side of the merge gets the other side as a second expand
    // row, then the merge, which leaves one row.
    let plan = plan_sync(&trees, &alembic(&["ea0000000002", "c10000000001"]), Target::Full).unwrap();
    assert_eq!(revision_ids(&plan), strings(&["eb0000000002", "ee0000000003"]));
    assert_eq!(plan.revisions[0].row, RowChange::Insert);
    assert_eq!(
        plan.revisions[1].row,
        RowChange::Update { from: "ea0000000002".into(), delete: vec!["eb0000000002".into()] }
    );
    assert_eq!(check(&trees, &alembic(&["ee0000000003", "c10000000001"])).unwrap().outcome, CheckOutcome::UpToDate);
}

#[test]
fn depends_on_orders_a_contract_revision_after_its_expand_dependency() {
    let trees = fixture("depends_on").unwrap();
    let plan = plan_sync(&trees, &empty(), Target::Full).unwrap();
    assert_eq!(revision_ids(&plan), strings(&["aaaa00000000", "e10000000001", "c10000000001"]));
    let plan = plan_sync(&trees, &empty(), Target::Expand).unwrap();
    assert_eq!(revision_ids(&plan), strings(&["aaaa00000000", "e10000000001"]));
    assert_eq!(
        plan_sync(&trees, &alembic(&["aaaa00000000"]), Target::Contract).unwrap_err(),
        PlanError::ContractBeforeExpand
    );
    let plan = plan_sync(&trees, &alembic(&["e10000000001"]), Target::Contract).unwrap();
    assert_eq!(revision_ids(&plan), strings(&["c10000000001"]));
    // depends_on orders revisions; it does not make the contract revision a child.
    assert!(trees.graph.is_head("e10000000001") && trees.graph.is_head("c10000000001"));
}

#[test]
fn broken_fixture_trees_are_refused_naming_the_fault() {
    for (name, expected) in [
        ("two_heads", "the expand branch has two heads, 'ea0000000002'"),
        ("cycle", "is on a cycle of down_revision links"),
        ("missing_parent", "down_revision 'f00f00f00f00' of revision 'e10000000001' does not exist"),
    ] {
        let error = fixture(name).unwrap_err().to_string();
        assert!(error.contains(expected), "{name}: {error}");
    }
    let trees = fixture("base_only").unwrap();
    assert_eq!(revision_ids(&plan_sync(&trees, &empty(), Target::Full).unwrap()), strings(&["aaaa00000000"]));
}

fn legacy_with_alembic(version: i64, rows: &[&str]) -> DatabaseState {
    DatabaseState { alembic_versions: Some(strings(rows)), ..legacy(version) }
}

#[test]
fn rebuild_of_a_fresh_path_database_stops_at_each_recorded_revision() {
    let rebuild = plan_recorded(trees(), &alembic(&[EXPAND[2], CONTRACT[0]])).unwrap();
    assert!(rebuild.legacy_start.is_empty() && rebuild.plan.legacy.is_empty() && rebuild.plan.stamp.is_none());
    assert!(rebuild.plan.create_version_table);
    assert_eq!(revision_ids(&rebuild.plan), strings(&[BASE, EXPAND[0], EXPAND[1], EXPAND[2], CONTRACT[0]]));
    assert_eq!(rebuild.plan.revisions[0].row, RowChange::Insert);
}

#[test]
fn rebuild_of_an_expanded_database_leaves_contract_out() {
    let rebuild = plan_recorded(trees(), &alembic(&[EXPAND[5]])).unwrap();
    let expected: Vec<&str> = [BASE].into_iter().chain(EXPAND).collect();
    assert_eq!(revision_ids(&rebuild.plan), strings(&expected));
}

#[test]
fn rebuild_of_a_legacy_database_runs_the_legacy_versions_it_records() {
    let rebuild = plan_recorded(trees(), &legacy(75)).unwrap();
    let starts: Vec<i64> = rebuild.legacy_start.iter().map(|(_, version)| *version).collect();
    assert_eq!(starts, [72, 72, 72]);
    let steps: Vec<(String, i64)> =
        rebuild.plan.legacy.iter().map(|step| (step.repository.repository_id.clone(), step.version.number)).collect();
    let mut expected = Vec::new();
    for id in ["keystone_expand", "keystone_data_migrate", "keystone_contract"] {
        expected.extend((73..=75).map(|version| (id.to_owned(), version)));
    }
    assert_eq!(steps, expected);
    assert!(rebuild.plan.stamp.is_none() && rebuild.plan.revisions.is_empty() && !rebuild.plan.create_version_table);
}

#[test]
fn rebuild_of_a_stamped_database_goes_through_the_legacy_layer_and_the_stamp() {
    let rebuild = plan_recorded(trees(), &legacy_with_alembic(79, &[EXPAND[5], CONTRACT[2]])).unwrap();
    assert_eq!(rebuild.plan.legacy.len(), 3 * 7);
    assert_eq!(rebuild.plan.stamp.map(|base| base.id.as_str()), Some(BASE));
    let expected: Vec<&str> = EXPAND.into_iter().chain(CONTRACT).collect();
    assert_eq!(revision_ids(&rebuild.plan), strings(&expected));
    assert_eq!(rebuild.plan.revisions[0].row, RowChange::Update { from: BASE.into(), delete: vec![] });
}

#[test]
fn rebuild_of_nothing_recorded_is_empty_and_bad_rows_are_refused() {
    let rebuild = plan_recorded(trees(), &empty()).unwrap();
    assert!(rebuild.plan.is_empty() && rebuild.legacy_start.is_empty());
    assert_eq!(
        plan_recorded(trees(), &alembic(&["0123456789ab"])).unwrap_err(),
        PlanError::UnknownRevision("0123456789ab".into())
    );
    assert!(matches!(plan_recorded(trees(), &legacy(70)).unwrap_err(), PlanError::LegacyTooOld { .. }));
    assert!(matches!(plan_recorded(trees(), &legacy(80)).unwrap_err(), PlanError::LegacyTooNew { .. }));
}

#[test]
fn a_unit_stopped_by_a_failed_statement_says_to_fix_its_cause() {
    let unit = UnitId::Revision("e2".into());
    let killed =
        PlanError::from(&Interrupted { unit: unit.clone(), applied: 3, holder: "run 1".into(), failed: false });
    assert!(
        killed.to_string().contains(
            "(statements 1 to 3 applied) and has not finished it: it is still running, or it was interrupted"
        ),
        "{killed}"
    );
    let failed = PlanError::from(&Interrupted { unit, applied: 3, holder: "run 1".into(), failed: true });
    let shown = failed.to_string();
    assert!(
        shown.contains("stopped revision e2 (statements 1 to 3 applied) at a statement that failed: fix the cause"),
        "{shown}"
    );
    assert!(!shown.contains("still running"), "{shown}");
}
