use std::fs;
use std::path::{Path, PathBuf};

use crate::support::{copy_alembic_tree, run, strata};
use crate::sync::EXPAND_HEAD;

/// Runs `strata-manage --alembic-dir TREE revision ARGS` and returns the folder it made.
fn revision(tree: &Path, args: &[&str]) -> PathBuf {
    let mut command = strata(tree.parent().unwrap());
    command.arg("--alembic-dir").arg(tree).arg("revision").args(args);
    let outcome = run(command);
    outcome.expect(0);
    // Printed relative to the working directory (the tree's parent here).
    let printed = PathBuf::from(outcome.stdout.trim());
    assert!(printed.is_relative() && printed.starts_with(tree.file_name().unwrap()), "{outcome}");
    let folder = tree.parent().unwrap().join(printed);
    assert!(folder.join("revision.toml").is_file(), "{outcome}");
    folder
}

/// The revision id of a folder `<id>_<slug>`.
fn id_of(folder: &Path) -> String {
    let name = folder.file_name().unwrap().to_string_lossy();
    name.split('_').next().unwrap().to_owned()
}

/// Appends SQL to a revision's `up.sql`, under the template's comments.
fn add_sql(folder: &Path, sql: &str) {
    let path = folder.join("up.sql");
    let mut text = fs::read_to_string(&path).unwrap();
    text.push_str(sql);
    fs::write(path, text).unwrap();
}

fn lint(tree: &Path) -> crate::support::Run {
    let mut command = strata(tree.parent().unwrap());
    command.arg("--alembic-dir").arg(tree).arg("lint");
    run(command)
}

fn with_tree<'a>(tree: &'a Path, args: &[&'a str]) -> Vec<&'a str> {
    let mut full = vec!["--alembic-dir", tree.to_str().unwrap()];
    full.extend_from_slice(args);
    full
}

dbtest!(a_new_expand_revision_runs_and_check_names_it, |db| {
    let scratch = tempfile::tempdir().unwrap();
    let tree = copy_alembic_tree(scratch.path());
    // The database is at the embedded tree's heads, as after the previous release.
    db.manage(&["db_sync"]).expect(0);
    let folder = revision(&tree, &["--expand", "-m", "Add widget table"]);
    let id = id_of(&folder);
    assert_eq!(id.len(), 12);
    assert_eq!(fs::read_to_string(tree.join("EXPAND_HEAD")).unwrap(), format!("{id}\n"));
    let metadata = fs::read_to_string(folder.join("revision.toml")).unwrap();
    assert!(metadata.contains(&format!("down_revision = \"{EXPAND_HEAD}\"")), "{metadata}");
    add_sql(&folder, "CREATE TABLE widget (id VARCHAR(64) NOT NULL, name VARCHAR(255), PRIMARY KEY (id));\n");
    lint(&tree).expect(0).stdout_has(": 0 findings");

    let outcome = db.manage(&with_tree(&tree, &["db_sync", "--check"]));
    assert_eq!(outcome.status, 2, "{outcome}");
    outcome.stdout_has(&format!("Expand: {EXPAND_HEAD} (head: {id})"));
    let outcome = db.manage(&with_tree(&tree, &["db_version"]));
    assert_eq!(outcome.expect(0).stdout.trim(), EXPAND_HEAD.to_string());

    db.manage(&with_tree(&tree, &["db_sync", "--expand"]))
        .expect(0)
        .stderr_has(&format!("Running upgrade {EXPAND_HEAD} -> {id}, Add widget table"));
    assert!(db.tables().contains(&"widget".to_string()), "{:?}", db.tables());
    let outcome = db.manage(&with_tree(&tree, &["db_sync", "--check"]));
    assert_eq!(outcome.status, 0, "{outcome}");
    outcome.stdout_has(&format!("Expand: {id} (head: {id})"));
    assert_eq!(db.manage(&with_tree(&tree, &["db_version"])).expect(0).stdout.trim(), id);
    // The binary's own tree does not know the new revision, and says so.
    db.manage(&["db_sync", "--check"]).fails_with(&id);
});

dbtest!(two_heads_are_merged_and_the_merge_runs, |db| {
    let scratch = tempfile::tempdir().unwrap();
    let tree = copy_alembic_tree(scratch.path());
    // Two people each add an expand revision on the same head.
    let left = revision(&tree, &["--expand", "-m", "Add left table"]);
    add_sql(&left, "CREATE TABLE merge_left (id INTEGER NOT NULL, PRIMARY KEY (id));\n");
    let aside = scratch.path().join(left.file_name().unwrap());
    fs::rename(&left, &aside).unwrap();
    fs::write(tree.join("EXPAND_HEAD"), format!("{EXPAND_HEAD}\n")).unwrap();
    let right = revision(&tree, &["--expand", "-m", "Add right table"]);
    add_sql(&right, "CREATE TABLE merge_right (id INTEGER NOT NULL, PRIMARY KEY (id));\n");
    fs::rename(&aside, &left).unwrap();

    db.manage(&with_tree(&tree, &["db_sync"])).fails_with("the expand branch has two heads");
    assert_eq!(db.tables(), Vec::<String>::new());
    let mut command = strata(scratch.path());
    command.arg("--alembic-dir").arg(&tree).args(["revision", "--expand", "-m", "After"]);
    run(command).fails_with("the expand branch has 2 heads");

    let merge = revision(&tree, &["--merge", "-m", "Merge left and right"]);
    let metadata = fs::read_to_string(merge.join("revision.toml")).unwrap();
    let mut parents = [id_of(&left), id_of(&right)];
    parents.sort();
    assert!(metadata.contains(&format!("down_revision = [\"{}\", \"{}\"]", parents[0], parents[1])), "{metadata}");
    lint(&tree).expect(0);

    db.manage(&with_tree(&tree, &["db_sync"])).expect(0);
    let tables = db.tables();
    assert!(tables.contains(&"merge_left".into()) && tables.contains(&"merge_right".into()), "{tables:?}");
    let merge_id = id_of(&merge);
    assert_eq!(db.manage(&with_tree(&tree, &["db_version"])).expect(0).stdout.trim(), merge_id);
    let outcome = db.manage(&with_tree(&tree, &["db_sync", "--check"]));
    assert_eq!(outcome.status, 0, "{outcome}");
    // One expand row: the merge replaced both of its parents.
    let rows = db.alembic_rows().unwrap();
    assert!(rows.contains(&merge_id) && rows.len() == 2, "{rows:?}");
});

dbtest!(a_contract_revision_waits_for_the_expand_revision_it_depends_on, |db| {
    let scratch = tempfile::tempdir().unwrap();
    let tree = copy_alembic_tree(scratch.path());
    db.manage(&["db_sync"]).expect(0);
    let expand = revision(&tree, &["--expand", "-m", "Add gadget table"]);
    add_sql(&expand, "CREATE TABLE gadget (id INTEGER NOT NULL, name VARCHAR(64), PRIMARY KEY (id));\n");
    let expand_id = id_of(&expand);
    // The contract revision uses the expand revision's table: it depends on it.
    let contract = revision(&tree, &["--contract", "-m", "Index gadget names", "--depends-on", &expand_id[..8]]);
    add_sql(&contract, "CREATE INDEX ix_gadget_name ON gadget (name);\n");
    let metadata = fs::read_to_string(contract.join("revision.toml")).unwrap();
    assert!(metadata.contains(&format!("depends_on = [\"{expand_id}\"]")), "{metadata}");
    lint(&tree).expect(0);

    db.manage(&with_tree(&tree, &["db_sync", "--contract"]))
        .fails_with("You are attempting to upgrade contract ahead of expand.");
    db.manage(&with_tree(&tree, &["db_sync", "--expand"])).expect(0);
    let outcome = db.manage(&with_tree(&tree, &["db_sync", "--check"]));
    assert_eq!(outcome.status, 4, "{outcome}");
    db.manage(&with_tree(&tree, &["db_sync", "--contract"]))
        .expect(0)
        .stderr_has(&format!("-> {}, Index gadget names", id_of(&contract)));
    assert_eq!(db.manage(&with_tree(&tree, &["db_sync", "--check"])).status, 0);
    let mut expected = vec![expand_id, id_of(&contract)];
    expected.sort();
    assert_eq!(db.alembic_rows().unwrap(), expected);
});

dbtest!(a_fresh_database_gets_a_revision_and_its_dependency_in_order, |db| {
    let scratch = tempfile::tempdir().unwrap();
    let tree = copy_alembic_tree(scratch.path());
    let expand = revision(&tree, &["--expand", "-m", "Add gadget table"]);
    add_sql(&expand, "CREATE TABLE gadget (id INTEGER NOT NULL, name VARCHAR(64), PRIMARY KEY (id));\n");
    let contract = revision(&tree, &["--contract", "-m", "Index gadget names", "--depends-on", &id_of(&expand)]);
    add_sql(&contract, "CREATE INDEX ix_gadget_name ON gadget (name);\n");
    db.manage(&with_tree(&tree, &["db_sync"])).expect(0);
    assert_eq!(db.manage(&with_tree(&tree, &["db_sync", "--check"])).status, 0);
    assert!(db.tables().contains(&"gadget".to_string()));
});

#[test]
fn lint_refuses_drop_table_in_expand_and_add_column_in_contract_naming_the_revision() {
    let scratch = tempfile::tempdir().unwrap();
    let tree = copy_alembic_tree(scratch.path());
    let expand = revision(&tree, &["--expand", "-m", "Drop the trust table"]);
    add_sql(&expand, "DROP TABLE trust;\n");
    let contract = revision(&tree, &["--contract", "-m", "Add a colour"]);
    add_sql(&contract, "ALTER TABLE project ADD COLUMN colour VARCHAR(8);\n");
    let outcome = lint(&tree);
    assert_eq!(outcome.status, 3, "{outcome}");
    let relative = |folder: &Path| folder.strip_prefix(&tree).unwrap().display().to_string();
    let lines: Vec<&str> = outcome.stdout.lines().filter(|line| !line.starts_with("allowed: ")).collect();
    assert_eq!(lines.len(), 3, "{outcome}");
    let up = |folder: &Path| folder.join("up.sql").display().to_string();
    assert!(
        lines.iter().any(|line| line.starts_with(&format!("{}:", up(&expand)))
            && line.contains(": expand-drop-table: DROP TABLE trust")
            && line.ends_with(&format!("[revision {}]", relative(&expand)))),
        "{outcome}"
    );
    assert!(
        lines.iter().any(|line| line.starts_with(&format!("{}:", up(&contract)))
            && line.contains(": contract-add-column: ALTER TABLE project ADD COLUMN colour")
            && line.ends_with(&format!("[revision {}]", relative(&contract)))),
        "{outcome}"
    );
    assert!(lines[2].contains(": 2 findings, "), "{outcome}");
    // keystone's own exceptions are listed too.
    outcome.stdout_has("allowed: ").stdout_has(": expand-drop-table: keystone b4f8b3f584e0");
    // The same as one JSON document, with the same exit status.
    let mut command = strata(scratch.path());
    command.arg("--alembic-dir").arg(&tree).args(["lint", "--format", "json"]);
    let json = run(command);
    assert_eq!(json.status, 3, "{json}");
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let mut found: Vec<(String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|finding| (finding["rule"].as_str().unwrap().to_owned(), finding["revision"].as_str().unwrap().to_owned()))
        .collect();
    found.sort();
    assert_eq!(
        found,
        vec![
            ("contract-add-column".to_owned(), relative(&contract)),
            ("expand-drop-table".to_owned(), relative(&expand))
        ]
    );
    assert!(report["exceptions"].as_array().unwrap().iter().all(|exception| exception["used"] == true), "{json}");

    // An exception with a reason lets the DROP TABLE through, and is listed.
    let text = fs::read_to_string(expand.join("up.sql"))
        .unwrap()
        .replace("DROP TABLE trust;", "-- strata: allow expand-drop-table: a test of exceptions\nDROP TABLE trust;");
    fs::write(expand.join("up.sql"), text).unwrap();
    let outcome = lint(&tree);
    assert_eq!(outcome.status, 3, "{outcome}");
    outcome.stdout_has("expand-drop-table: a test of exceptions");
    assert!(!outcome.stdout.contains(": expand-drop-table: DROP TABLE trust"), "{outcome}");
    outcome.stdout_has(": 1 finding, ");
}

#[test]
fn the_embedded_tree_passes_lint() {
    let scratch = tempfile::tempdir().unwrap();
    let outcome = run({
        let mut command = strata(scratch.path());
        command.arg("lint");
        command
    });
    outcome.expect(0).stdout_has(": 0 findings, ");
}

/// A trigger per engine (SQLite's and MySQL's with a `BEGIN … END` body holding several
/// statements; PostgreSQL's with its function), naming a widget that comes without a name.
const TRIGGER_SQL: [(&str, &str); 3] = [
    (
        "up.sqlite.sql",
        "CREATE TABLE widget (id INTEGER NOT NULL, name VARCHAR(64), PRIMARY KEY (id));\n\
         CREATE TRIGGER widget_named AFTER INSERT ON widget WHEN NEW.name IS NULL BEGIN\n\
         \x20   UPDATE widget SET name = 'unnamed' WHERE id = NEW.id;\n\
         \x20   UPDATE widget SET name = name || ';' WHERE id = NEW.id;\n\
         END;\n",
    ),
    (
        "up.mysql.sql",
        "CREATE TABLE widget (id INTEGER NOT NULL, name VARCHAR(64), PRIMARY KEY (id));\n\
         CREATE TRIGGER widget_named BEFORE INSERT ON widget FOR EACH ROW BEGIN\n\
         \x20   IF NEW.name IS NULL THEN\n\
         \x20       SET NEW.name = 'unnamed';\n\
         \x20   END IF;\n\
         \x20   SET NEW.name = CONCAT(NEW.name, ';');\n\
         END;\n",
    ),
    (
        "up.postgresql.sql",
        "CREATE TABLE widget (id INTEGER NOT NULL, name VARCHAR(64), PRIMARY KEY (id));\n\
         CREATE FUNCTION widget_named() RETURNS trigger AS $$\n\
         BEGIN\n\
         \x20   NEW.name := COALESCE(NEW.name, 'unnamed') || ';';\n\
         \x20   RETURN NEW;\n\
         END;\n\
         $$ LANGUAGE plpgsql;\n\
         CREATE TRIGGER widget_named BEFORE INSERT ON widget FOR EACH ROW EXECUTE FUNCTION widget_named();\n",
    ),
];

dbtest!(an_expand_revision_with_a_trigger_runs_and_its_script_runs_in_the_native_client, |db| {
    let scratch = tempfile::tempdir().unwrap();
    let tree = copy_alembic_tree(scratch.path());
    db.manage(&["db_sync"]).expect(0);
    let at_heads = db.fingerprint();
    let folder = revision(&tree, &["--expand", "-m", "Add widget with a naming trigger"]);
    fs::remove_file(folder.join("up.sql")).unwrap();
    for (file, sql) in TRIGGER_SQL {
        fs::write(folder.join(file), sql).unwrap();
    }
    lint(&tree).expect(0).stdout_has(": 0 findings");
    let named = |db: &mut crate::support::db::TestDb| {
        db.conn().exec("INSERT INTO widget (id) VALUES (1)");
        db.conn().lines("SELECT name AS value FROM widget WHERE id = 1")
    };

    // db_sync sends the trigger whole.
    db.manage(&with_tree(&tree, &["db_sync"])).expect(0);
    assert_eq!(named(db), ["unnamed;"]);
    assert_eq!(db.manage(&with_tree(&tree, &["db_sync", "--check"])).status, 0);

    // So does the offline script, through the engine's own client (MySQL's needs DELIMITER).
    if !db.has_native_client("an_expand_revision_with_a_trigger_runs_and_its_script_runs_in_the_native_client") {
        return;
    }
    db.reset();
    db.manage(&["db_sync"]).expect(0);
    assert_eq!(db.fingerprint(), at_heads);
    let script = db.manage(&with_tree(&tree, &["db_sync", "--sql"])).expect(0).stdout.clone();
    assert_eq!(script.contains("DELIMITER"), db.engine.name() == "mysql", "{script}");
    db.run_in_native_client(&script).expect(0);
    assert_eq!(named(db), ["unnamed;"]);
    assert_eq!(db.manage(&with_tree(&tree, &["db_sync", "--check"])).status, 0);
});
