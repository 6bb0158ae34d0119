//! The dry run and the script against database states of the specification, on the fixture
//! tree `tests/fixtures/trees/phases` (keystone's shape) with keystone's legacy layer. No
//! database is involved: `tests/offline.rs` runs the scripts in the native clients.

use std::sync::OnceLock;

use super::*;
use crate::backend::CREATE_ALEMBIC_VERSION;
use crate::sql::split_statements;
use crate::state::{Interrupted, LegacyRow};

const BASE: &str = "aaaa00000000";
const EXPAND_ROOT: &str = "e00000000000";
const EXPAND_HEAD: &str = "e50000000005";
const CONTRACT_ROOT: &str = "c00000000000";
const CONTRACT_HEAD: &str = "c20000000002";

fn trees() -> &'static MigrationTrees {
    static TREES: OnceLock<MigrationTrees> = OnceLock::new();
    TREES.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        MigrationTrees::from_dirs(Some(&root.join("legacy_migrations")), &root.join("tests/fixtures/trees/phases"))
            .expect("the fixture tree is valid")
    })
}

fn at(rows: &[&str]) -> DatabaseState {
    DatabaseState {
        alembic_versions: Some(rows.iter().map(|row| row.to_string()).collect()),
        tables: vec!["project".into()],
        ..DatabaseState::default()
    }
}

fn legacy(version: i64) -> DatabaseState {
    let rows = ["keystone_expand", "keystone_data_migrate", "keystone_contract"]
        .iter()
        .map(|id| LegacyRow { repository_id: id.to_string(), version: Some(version) })
        .collect();
    DatabaseState { legacy_versions: Some(rows), ..DatabaseState::default() }
}

fn statements_of(revision: &str, dialect: Dialect) -> usize {
    trees().graph.get(revision).expect("known revision").sql.statements(dialect).len()
}

#[test]
fn dry_run_of_an_empty_database_lists_every_revision_with_its_row_change() {
    let dry_run = dry_run(trees(), &DatabaseState::default(), Dialect::Postgresql, Target::Full).unwrap();
    assert_eq!(dry_run.units.len(), 10, "{dry_run}");
    let text = dry_run.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "db_sync would apply 10 units, in this order (nothing was changed):");
    assert_eq!(
        lines[1],
        format!(
            "revision {BASE} (base): creates alembic_version, {} statements; alembic_version: insert {BASE}",
            statements_of(BASE, Dialect::Postgresql)
        )
    );
    let expand_root = statements_of(EXPAND_ROOT, Dialect::Postgresql);
    assert_eq!(
        lines[2],
        format!(
            "revision {EXPAND_ROOT} (expand): {}; alembic_version: {BASE} -> {EXPAND_ROOT}",
            match expand_root {
                0 => "no statements".to_owned(),
                1 => "1 statement".to_owned(),
                count => format!("{count} statements"),
            }
        )
    );
    assert!(lines[7].starts_with(&format!("revision {EXPAND_HEAD} (expand): ")), "{text}");
    // The contract root's parent row was replaced by the expand branch: a new row.
    assert!(lines[8].starts_with(&format!("revision {CONTRACT_ROOT} (contract): ")), "{text}");
    assert!(lines[8].ends_with(&format!("; alembic_version: insert {CONTRACT_ROOT}")), "{text}");
    assert!(lines[10].starts_with(&format!("revision {CONTRACT_HEAD} (contract): ")), "{text}");
}

#[test]
fn dry_run_counts_the_statements_of_the_dialect_asked_for() {
    for dialect in Dialect::ALL {
        let dry_run = dry_run(trees(), &DatabaseState::default(), dialect, Target::Expand).unwrap();
        assert_eq!(dry_run.units[0].statements, statements_of(BASE, dialect));
    }
    assert_ne!(statements_of(BASE, Dialect::Postgresql), statements_of(BASE, Dialect::Sqlite), "a test that can fail");
}

#[test]
fn dry_run_of_a_legacy_database_shows_legacy_versions_then_the_stamp() {
    let dry_run = dry_run(trees(), &legacy(72), Dialect::Sqlite, Target::Expand).unwrap();
    let text = dry_run.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("db_sync --expand would apply 28 units"), "{text}");
    assert!(lines[1].starts_with("legacy keystone_expand 73 (073_expand_initial_migration): "), "{text}");
    assert!(lines[1].ends_with("statements; migrate_version keystone_expand: 72 -> 73"), "{text}");
    assert!(lines[8].ends_with("; migrate_version keystone_data_migrate: 72 -> 73"), "{text}");
    assert!(lines[21].ends_with("; migrate_version keystone_contract: 78 -> 79"), "{text}");
    assert_eq!(
        lines[22],
        format!(
            "stamp {BASE}: creates alembic_version, recorded without running (the legacy schema is the base revision's); alembic_version: insert {BASE}"
        )
    );
    assert!(lines[23].starts_with(&format!("revision {EXPAND_ROOT} (expand): ")), "{text}");
    assert_eq!(lines.len(), 29, "{text}");
}

#[test]
fn dry_run_at_the_heads_has_nothing_to_do() {
    let state = at(&[EXPAND_HEAD, CONTRACT_HEAD]);
    let text = dry_run(trees(), &state, Dialect::Mysql, Target::Full).unwrap().to_string();
    assert_eq!(text, "Nothing to do: the database is already where db_sync brings it.");
    let expanded = at(&[EXPAND_HEAD]);
    let text = dry_run(trees(), &expanded, Dialect::Mysql, Target::Expand).unwrap().to_string();
    assert_eq!(text, "Nothing to do: the database is already where db_sync --expand brings it.");
    let text = dry_run(trees(), &expanded, Dialect::Mysql, Target::Contract).unwrap().to_string();
    assert!(text.starts_with("db_sync --contract would apply 3 units"), "{text}");
}

#[test]
fn dry_run_and_script_refuse_what_db_sync_refuses() {
    for dialect in Dialect::ALL {
        let error = dry_run(trees(), &DatabaseState::default(), dialect, Target::Contract).unwrap_err();
        assert!(error.to_string().contains("contract ahead of expand"), "{error}");
        let error = script(trees(), &DatabaseState::default(), dialect, Target::Contract).unwrap_err();
        assert!(error.to_string().contains("contract ahead of expand"), "{error}");
        let error = script(trees(), &legacy(65), dialect, Target::Full).unwrap_err();
        assert!(error.to_string().contains("is at legacy version 65"), "{error}");
    }
}

#[test]
fn an_interrupted_unit_is_resumed_by_db_sync_but_cannot_be_scripted() {
    let state = DatabaseState {
        alembic_versions: Some(vec![]),
        tables: vec!["access_rule".into()],
        interrupted: Some(Interrupted {
            unit: UnitId::Revision(BASE.into()),
            applied: 5,
            holder: "strata-manage db_sync on node1, pid 42".into(),
            failed: false,
        }),
        ..DatabaseState::default()
    };
    let dry_run = dry_run(trees(), &state, Dialect::Mysql, Target::Full).unwrap();
    assert_eq!(dry_run.units[0].already_applied, Some(5));
    assert!(dry_run.to_string().contains("resumes an interrupted run after statement 5"), "{dry_run}");
    assert_eq!(dry_run.units[1].already_applied, None);
    let error = script(trees(), &state, Dialect::Mysql, Target::Full).unwrap_err().to_string();
    assert!(
        error.contains(&format!("started revision {BASE} (statements 1 to 5 applied) and has not finished it")),
        "{error}"
    );
}

/// What a script must hold for a unit, written out independently of the script writer.
fn expected_unit(dialect: Dialect, planned: &crate::executor::PlannedUnit<'_>) -> Vec<String> {
    let unit = &planned.unit;
    let mut expected = Vec::new();
    let transactional = dialect != Dialect::Mysql;
    if transactional {
        expected.push("BEGIN".to_owned());
    }
    if unit.create_version_table {
        expected.push(match dialect {
            Dialect::Mysql => CREATE_ALEMBIC_VERSION.replacen("CREATE TABLE", "CREATE TABLE IF NOT EXISTS", 1),
            _ => CREATE_ALEMBIC_VERSION.to_owned(),
        });
    }
    expected.extend(unit.statements.iter().cloned());
    if !transactional {
        expected.push("BEGIN".to_owned());
    }
    expected.push(match &unit.version {
        VersionChange::Insert(revision) => format!("INSERT INTO alembic_version (version_num) VALUES ('{revision}')"),
        VersionChange::Update { from, to, delete } => {
            assert!(delete.is_empty(), "keystone's tree has no merge revision");
            format!("UPDATE alembic_version SET version_num = '{to}' WHERE alembic_version.version_num = '{from}'")
        }
        VersionChange::Legacy { repository_id, from, to } => {
            format!("UPDATE migrate_version SET version = {to} WHERE version = {from} AND repository_id = '{repository_id}'")
        }
    });
    expected.push("COMMIT".to_owned());
    expected
}

#[test]
fn the_script_splits_back_into_exactly_the_statements_db_sync_runs() {
    for state in [DatabaseState::default(), legacy(72), at(&[EXPAND_HEAD]), at(&[EXPAND_ROOT])] {
        for dialect in Dialect::ALL {
            let text = script(trees(), &state, dialect, Target::Full).unwrap();
            let plan = plan_sync(trees(), &state, Target::Full).unwrap();
            let mut expected = Vec::new();
            if dialect == Dialect::Sqlite {
                expected.push("PRAGMA foreign_keys = OFF".to_owned());
            }
            for planned in plan_units(&plan, dialect) {
                expected.extend(expected_unit(dialect, &planned));
            }
            let got = split_statements(&text).unwrap();
            assert_eq!(got, expected, "{dialect} script from {state:?}");
            assert!(text.starts_with("-- db_sync as SQL for "), "{text}");
            assert_eq!(text.contains("MySQL commits each DDL statement implicitly"), dialect == Dialect::Mysql);
        }
    }
}

#[test]
fn each_unit_of_the_script_is_introduced_by_its_title() {
    let text = script(trees(), &legacy(72), Dialect::Postgresql, Target::Expand).unwrap();
    assert!(
        text.contains("\n-- legacy migration keystone_expand 73 (073_expand_initial_migration)\nBEGIN;\n"),
        "{text}"
    );
    assert!(text.contains(&format!("\n-- stamping {BASE}\nBEGIN;\n{CREATE_ALEMBIC_VERSION};\nINSERT INTO")), "{text}");
    assert!(text.contains(&format!("\n-- revision {EXPAND_ROOT} (")), "{text}");
    assert!(text.contains(&format!("/r1/expand/{EXPAND_ROOT}_expand_0)\nBEGIN;\n")), "{text}");
    assert!(!text.contains(CONTRACT_ROOT), "--expand writes no contract revision");
}

#[test]
fn a_script_with_nothing_to_do_is_one_comment() {
    for dialect in Dialect::ALL {
        let text = script(trees(), &at(&[EXPAND_HEAD, CONTRACT_HEAD]), dialect, Target::Full).unwrap();
        assert_eq!(
            text,
            format!(
                "-- db_sync as SQL for {dialect}: nothing to do, the database is already where db_sync brings it.\n"
            )
        );
        assert!(split_statements(&text).unwrap().is_empty());
    }
}
