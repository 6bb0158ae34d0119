//! Reports on a tiny tree (a merge on the expand branch, a dependency across branches, one
//! legacy repository), so that no new keystone revision changes these tests.

use serde_json::json;

use super::*;
use crate::state::{LegacyRow, UnitId};
use crate::tree::TreeFile;

fn file(path: &str, contents: &str) -> TreeFile {
    TreeFile { path: path.into(), contents: contents.into() }
}

fn revision(dir: &str, metadata: &str) -> TreeFile {
    file(&format!("{dir}/revision.toml"), metadata)
}

fn trees() -> MigrationTrees {
    let legacy = vec![
        file("expand_repo/migrate.cfg", "[db_settings]\nrepository_id=svc_expand\nversion_table=migrate_version\n"),
        file("expand_repo/versions/002_second/up.sql", "SELECT 2;"),
    ];
    let alembic = vec![
        revision(
            "base_x",
            "revision = \"base\"\nbranch_labels = []\ndepends_on = []\nmessage = \"Base.\"\ncreate_date = \"2024-01-01 10:00:00\"\n",
        ),
        file("base_x/up.sql", "CREATE TABLE t (id INTEGER);\nCREATE INDEX t_id ON t (id);"),
        revision(
            "r1/expand/e1_x",
            "revision = \"e1\"\ndown_revision = \"base\"\nbranch_labels = [\"expand\"]\ndepends_on = []\nmessage = \"First expand.\"\n",
        ),
        file("r1/expand/e1_x/up.sql", "SELECT 1;"),
        file("r1/expand/e1_x/up.postgresql.sql", "SELECT 'pg';"),
        revision(
            "r1/expand/e2a_x",
            "revision = \"e2a\"\ndown_revision = \"e1\"\nbranch_labels = []\ndepends_on = []\nmessage = \"Left.\"\n",
        ),
        file("r1/expand/e2a_x/up.sql", "-- nothing"),
        revision(
            "r1/expand/e2b_x",
            "revision = \"e2b\"\ndown_revision = \"e1\"\nbranch_labels = []\ndepends_on = []\nmessage = \"Right.\"\n",
        ),
        file("r1/expand/e2b_x/up.sql", "-- nothing"),
        revision(
            "r2/expand/merge_x",
            "revision = \"merge\"\ndown_revision = [\"e2a\", \"e2b\"]\nbranch_labels = []\ndepends_on = []\nmessage = \"Merge.\"\n",
        ),
        file("r2/expand/merge_x/up.sql", "-- nothing"),
        revision(
            "r1/contract/c1_x",
            "revision = \"c1\"\ndown_revision = \"base\"\nbranch_labels = [\"contract\"]\ndepends_on = [\"e1\"]\nmessage = \"Contract.\"\n",
        ),
        file("r1/contract/c1_x/up.sql", "DROP INDEX t_id;"),
        file("EXPAND_HEAD", "merge\n"),
        file("CONTRACT_HEAD", "c1\n"),
    ];
    MigrationTrees::from_files("legacy", &legacy, "tree", &alembic).expect("the test tree is valid")
}

fn rows(rows: &[&str]) -> DatabaseState {
    DatabaseState {
        alembic_versions: Some(rows.iter().map(|row| row.to_string()).collect()),
        tables: vec!["t".into()],
        ..DatabaseState::default()
    }
}

fn legacy(version: i64) -> DatabaseState {
    DatabaseState {
        legacy_versions: Some(vec![LegacyRow { repository_id: "svc_expand".into(), version: Some(version) }]),
        ..DatabaseState::default()
    }
}

fn interrupted(mut state: DatabaseState, unit: &str) -> DatabaseState {
    state.interrupted = Some(Interrupted {
        unit: UnitId::Revision(unit.into()),
        applied: 2,
        holder: "db1 (pid 42)".into(),
        failed: false,
    });
    state
}

#[test]
fn check_status_at_each_step_names_the_next_command() {
    let trees = trees();
    let steps: [(DatabaseState, CheckState, u8, Option<&str>); 5] = [
        (DatabaseState::default(), CheckState::NotUnderVersionControl, 2, Some("strata-manage db_sync --expand")),
        (legacy(1), CheckState::LegacyControlled, 2, Some("strata-manage db_sync --expand")),
        (rows(&["e1"]), CheckState::ExpandPending, 2, Some("strata-manage db_sync --expand")),
        (rows(&["merge"]), CheckState::ContractPending, 4, Some("strata-manage db_sync --contract")),
        (rows(&["merge", "c1"]), CheckState::UpToDate, 0, None),
    ];
    for (state, outcome, exit_status, next) in steps {
        let status = check_status(&trees, &state).unwrap();
        assert_eq!((status.outcome, status.exit_status), (outcome, exit_status), "{state:?}");
        assert_eq!(status.next_command.as_deref(), next, "{state:?}");
        assert_eq!(status.interrupted, None);
        // The same exit status as the text report of plan::check.
        assert_eq!(plan::check(&trees, &state).unwrap().outcome.exit_status(), exit_status);
    }
}

#[test]
fn check_status_json_has_the_documented_fields() {
    let status = check_status(&trees(), &rows(&["merge"])).unwrap();
    assert_eq!(
        serde_json::to_value(&status).unwrap(),
        json!({
            "exit_status": 4,
            "outcome": "contract_pending",
            "expand": {"current": "merge", "head": "merge"},
            "contract": {"current": null, "head": "c1"},
            "legacy_version": null,
            "next_command": "strata-manage db_sync --contract",
            "interrupted": null,
        })
    );
    let status = check_status(&trees(), &legacy(1)).unwrap();
    let value = serde_json::to_value(&status).unwrap();
    assert_eq!(value["legacy_version"], json!(1));
    assert_eq!(value["expand"], json!({"current": null, "head": "merge"}));
}

#[test]
fn an_interrupted_unit_is_reported_with_exit_status_one() {
    let trees = trees();
    let status = check_status(&trees, &interrupted(rows(&["e1"]), "e2a")).unwrap();
    assert_eq!(status.outcome, CheckState::Interrupted);
    assert_eq!(status.exit_status, 1);
    assert_eq!(status.next_command.as_deref(), Some("strata-manage db_sync"));
    assert_eq!(status.versions.expand.current.as_deref(), Some("e1"));
    assert_eq!(
        serde_json::to_value(&status).unwrap()["interrupted"],
        json!({"unit": "revision e2a", "applied": 2, "holder": "db1 (pid 42)", "failed": false})
    );
    // The text report turns the same state into PlanError::Interrupted.
    assert!(matches!(plan::check(&trees, &interrupted(rows(&["e1"]), "e2a")), Err(PlanError::Interrupted { .. })));
    // Rows the trees cannot place leave the interruption as the error.
    let error = check_status(&trees, &interrupted(rows(&["nope"]), "e2a")).unwrap_err();
    assert!(matches!(error, PlanError::Interrupted { applied: 2, .. }), "{error}");
}

#[test]
fn states_db_sync_refuses_are_errors_not_reports() {
    let trees = trees();
    assert_eq!(check_status(&trees, &rows(&["nope"])).unwrap_err(), PlanError::UnknownRevision("nope".into()));
    assert!(matches!(check_status(&trees, &rows(&["e1", "e2a"])), Err(PlanError::DuplicateBranchRows { .. })));
    assert!(matches!(version_report(&trees, &rows(&["c1"])), Err(PlanError::ContractAheadOfExpand(_))));
    assert!(matches!(history(&trees, Some(&rows(&["nope"]))), Err(PlanError::UnknownRevision(_))));
}

#[test]
fn version_report_is_a_revision_an_integer_or_null() {
    let trees = trees();
    let version = |state: &DatabaseState| serde_json::to_value(version_report(&trees, state).unwrap()).unwrap();
    assert_eq!(version(&rows(&["merge", "c1"]))["version"], json!("merge"));
    assert_eq!(version(&legacy(2))["version"], json!(2));
    assert_eq!(version(&legacy(2))["legacy_version"], json!(2));
    let empty = version(&DatabaseState::default());
    assert_eq!(
        empty,
        json!({
            "version": null,
            "expand": {"current": null, "head": "merge"},
            "contract": {"current": null, "head": "c1"},
            "legacy_version": null,
        })
    );
}

#[test]
fn legacy_version_is_only_shown_under_legacy_control() {
    let trees = trees();
    let mut adopted = rows(&["base"]);
    adopted.legacy_versions = legacy(2).legacy_versions;
    let versions = DatabaseVersions::of(&trees, &adopted).unwrap();
    assert_eq!(versions.legacy_version, None, "a stamped database is under alembic control");
    assert_eq!(versions.expand.current.as_deref(), Some("base"));
    assert!(!versions.expand.is_at_head() && !versions.contract.is_at_head());
    let done = DatabaseVersions::of(&trees, &rows(&["merge", "c1"])).unwrap();
    assert!(done.branch(Branch::Expand).is_at_head() && done.branch(Branch::Contract).is_at_head());
}

#[test]
fn history_lists_newest_first_with_merges_and_current_marks() {
    let trees = trees();
    let entries = history(&trees, None).unwrap();
    let ids: Vec<&str> = entries.iter().map(|entry| entry.revision.as_str()).collect();
    assert_eq!(ids.len(), 6);
    assert_eq!(ids.last(), Some(&"base"));
    let position = |id: &str| ids.iter().position(|candidate| *candidate == id).unwrap();
    assert!(position("merge") < position("e2a") && position("e2a") < position("e1"));
    assert!(position("merge") < position("e2b") && position("e2b") < position("e1"));
    let merge = &entries[position("merge")];
    assert_eq!(merge.down_revisions, vec!["e2a".to_string(), "e2b".into()]);
    assert!(merge.is_head && entries[position("c1")].is_head && !entries[position("e1")].is_head);
    assert_eq!(entries[position("c1")].branch, Branch::Contract);
    assert_eq!(entries[position("base")].branch, Branch::Expand);
    assert!(entries.iter().all(|entry| entry.is_current.is_none()));
    assert_eq!(
        serde_json::to_value(&entries[position("base")]).unwrap(),
        json!({"revision": "base", "down_revisions": [], "branch": "expand", "message": "Base.", "is_head": false})
    );

    let read = history(&trees, Some(&rows(&["e2a", "e2b"]))).unwrap_err();
    assert!(matches!(read, PlanError::DuplicateBranchRows { .. }), "two expand rows are refused: {read}");
    let entries = history(&trees, Some(&rows(&["merge", "c1"]))).unwrap();
    let current: Vec<&str> =
        entries.iter().filter(|entry| entry.is_current == Some(true)).map(|entry| entry.revision.as_str()).collect();
    assert_eq!(current, vec!["merge", "c1"]);
    assert!(entries.iter().all(|entry| entry.is_current.is_some()));
    let entries = history(&trees, Some(&legacy(2))).unwrap();
    assert!(entries.iter().all(|entry| entry.is_current == Some(false)));
}

#[test]
fn heads_are_listed_with_their_branch() {
    assert_eq!(
        serde_json::to_value(heads(&trees())).unwrap(),
        json!([{"revision": "merge", "branch": "expand"}, {"revision": "c1", "branch": "contract"}])
    );
}

#[test]
fn revision_detail_resolves_prefixes_and_picks_the_dialect() {
    let trees = trees();
    let detail = revision_detail(&trees, "e1", Dialect::Postgresql).unwrap();
    assert_eq!(detail.statements, vec!["SELECT 'pg'".to_string()]);
    assert_eq!(detail.branch_labels, vec!["expand".to_string()]);
    assert_eq!(detail.path, "tree/r1/expand/e1_x");
    assert_eq!(revision_detail(&trees, "e1", Dialect::Mysql).unwrap().statements, vec!["SELECT 1".to_string()]);
    let base = revision_detail(&trees, "ba", Dialect::Sqlite).unwrap();
    assert_eq!(
        serde_json::to_value(&base).unwrap(),
        json!({
            "revision": "base",
            "branch": "expand",
            "is_head": false,
            "down_revisions": [],
            "branch_labels": [],
            "depends_on": [],
            "message": "Base.",
            "create_date": "2024-01-01 10:00:00",
            "path": "tree/base_x",
            "dialect": "sqlite",
            "statements": ["CREATE TABLE t (id INTEGER)", "CREATE INDEX t_id ON t (id)"],
        })
    );
    let contract = revision_detail(&trees, "c", Dialect::Sqlite).unwrap();
    assert_eq!((contract.depends_on, contract.is_head, contract.create_date), (vec!["e1".to_string()], true, None));
    assert!(revision_detail(&trees, "e2", Dialect::Sqlite).unwrap_err().to_string().contains("e2a, e2b"));
    assert_eq!(revision_detail(&trees, "zz", Dialect::Sqlite).unwrap_err(), LookupError::Unknown("zz".into()));
}
