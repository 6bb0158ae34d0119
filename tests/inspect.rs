use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::support::{run, strata, Engine, Run, TestDb};
use crate::sync::{BASE, CONTRACT_HEAD, EXPAND_HEAD};

/// The other service's trees the snapshots use (`tests/cmd/other-service.in/`): an expand
/// branch that forks and merges, a contract revision, a legacy repository.
fn other_service() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cmd/other-service.in")
}

/// Parses a run's stdout as JSON, after checking it succeeded with `status` and said nothing
/// on stderr (JSON output carries no log or error line).
#[track_caller]
fn json_of(run: &Run, status: i32) -> Value {
    run.expect(status);
    assert!(!run.stderr.contains("error"), "unexpected error line\n{run}");
    serde_json::from_str(&run.stdout).unwrap_or_else(|error| panic!("stdout is not JSON: {error}\n{run}"))
}

/// The revision a text line shows for a branch: `Expand: <rev|None> (head: <rev>)`.
fn text_branch(text: &str, label: &str) -> (Value, Value) {
    let line = text.lines().find(|line| line.starts_with(label)).unwrap_or_else(|| panic!("no {label} line in {text}"));
    let (current, head) = line[label.len()..].trim().split_once(" (head: ").expect("'(head: ' in the line");
    let value = |text: &str| if text == "None" { Value::Null } else { json!(text) };
    (value(current), value(head.trim_end_matches(')')))
}

/// Runs `--check`, `db_version` and `current` in text and in JSON, asserts that each pair
/// says the same thing, and returns the `--check` JSON.
fn reports_agree(db: &mut TestDb) -> Value {
    let text = db.manage(&["db_sync", "--check"]);
    let check = json_of(&db.manage(&["db_sync", "--check", "--format", "json"]), text.status);
    assert_eq!(check["exit_status"], json!(text.status), "{text}");
    for (label, branch) in [("Expand:", "expand"), ("Contract:", "contract")] {
        if check["outcome"] == "legacy_controlled" {
            // keystone's legacy message stops before the version summary.
            assert!(!text.stdout.contains(label), "{text}");
            continue;
        }
        let (current, head) = text_branch(&text.stdout, label);
        assert_eq!((&check[branch]["current"], &check[branch]["head"]), (&current, &head), "{text}\n{check:#}");
    }
    match check["next_command"].as_str() {
        Some(next) => assert!(text.stdout.contains(&format!("run `{next}`")), "{text}\n{check:#}"),
        None => assert!(text.stdout.starts_with("All db_sync commands are upgraded"), "{text}"),
    }

    let version_text = db.manage(&["db_version"]).expect(0).stdout.trim().to_owned();
    let version = json_of(&db.manage(&["db_version", "--format", "json"]), 0);
    let shown = match &version["version"] {
        Value::Null => "None".to_owned(),
        Value::String(revision) => revision.clone(),
        Value::Number(number) => number.to_string(),
        other => panic!("version is a string, an integer or null, not {other}"),
    };
    assert_eq!(shown, version_text);
    for field in ["expand", "contract", "legacy_version"] {
        assert_eq!(version[field], check[field], "db_version and --check agree on {field}");
    }

    let current_text = db.manage(&["current"]).expect(0).stdout.clone();
    let current = json_of(&db.manage(&["current", "--format", "json"]), 0);
    let mut expected_lines = Vec::new();
    for branch in ["expand", "contract"] {
        if let Some(revision) = current[branch]["current"].as_str() {
            let head = if current[branch]["current"] == current[branch]["head"] { " (head)" } else { "" };
            expected_lines.push(format!("{revision} ({branch}){head}"));
        }
    }
    if let Some(version) = current["legacy_version"].as_i64() {
        expected_lines.push(format!("{version} (legacy)"));
    }
    if expected_lines.is_empty() {
        expected_lines.push("None".into());
    }
    assert_eq!(current_text, format!("{}\n", expected_lines.join("\n")));
    for field in ["expand", "contract", "legacy_version"] {
        assert_eq!(current[field], check[field], "current and --check agree on {field}");
    }
    check
}

dbtest!(json_reports_match_text_at_every_step_of_a_rolling_upgrade, |db| {
    let empty = db.fingerprint();
    let check = reports_agree(db);
    assert_eq!(check["outcome"], "not_under_version_control");
    assert_eq!(check["next_command"], "strata-manage db_sync --expand");
    assert_eq!(check["expand"], json!({"current": null, "head": EXPAND_HEAD}));
    assert_eq!(check["interrupted"], Value::Null);
    assert_eq!(empty, db.fingerprint(), "the read-only commands created nothing");

    db.manage(&["db_sync", "--expand"]).expect(0);
    let check = reports_agree(db);
    assert_eq!((check["exit_status"].as_i64(), check["outcome"].as_str()), (Some(4), Some("contract_pending")));
    assert_eq!(check["next_command"], "strata-manage db_sync --contract");
    assert_eq!(check["expand"]["current"], json!(EXPAND_HEAD));
    assert_eq!(check["contract"]["current"], Value::Null);

    db.manage(&["db_sync"]).expect(0);
    let check = reports_agree(db);
    assert_eq!((check["exit_status"].as_i64(), check["outcome"].as_str()), (Some(0), Some("up_to_date")));
    assert_eq!(check["next_command"], Value::Null);
    assert_eq!(check["contract"], json!({"current": CONTRACT_HEAD, "head": CONTRACT_HEAD}));

    // An older expand revision: expand pending again.
    db.conn().exec(&format!("UPDATE alembic_version SET version_num = '47147121' WHERE version_num = '{EXPAND_HEAD}'"));
    let check = reports_agree(db);
    assert_eq!((check["exit_status"].as_i64(), check["outcome"].as_str()), (Some(2), Some("expand_pending")));
    assert_eq!(check["expand"]["current"], "47147121");
    assert_eq!(db.manage(&["current"]).stdout, format!("47147121 (expand)\n{CONTRACT_HEAD} (contract) (head)\n"));
});

dbtest!(a_legacy_controlled_database_reports_its_legacy_version, |db| {
    db.put_under_legacy_control(72);
    let check = reports_agree(db);
    assert_eq!(check["outcome"], "legacy_controlled");
    assert_eq!(check["exit_status"], 2);
    assert_eq!(check["legacy_version"], 72);
    assert_eq!(check["expand"]["current"], Value::Null);
    assert_eq!(json_of(&db.manage(&["db_version", "--format", "json"]), 0)["version"], json!(72));
    db.manage(&["current"]).expect(0).stdout_has("72 (legacy)");

    // Once stamped, the database is under alembic control: no legacy version any more.
    db.manage(&["db_sync", "--expand"]).expect(0);
    let check = reports_agree(db);
    assert_eq!(check["outcome"], "contract_pending");
    assert_eq!(check["legacy_version"], Value::Null);
    assert_eq!(db.legacy_rows(), vec!["keystone_contract=79", "keystone_data_migrate=79", "keystone_expand=79"]);
});

dbtest!(history_marks_the_revisions_the_database_records, |db| {
    let current_of = |run: &Run| -> Vec<String> {
        run.stdout
            .lines()
            .filter(|line| line.contains(" (current)"))
            .map(|line| line.split(" -> ").nth(1).unwrap().split(' ').next().unwrap().to_owned())
            .collect()
    };
    let history = db.manage(&["history"]);
    assert_eq!(current_of(history.expect(0)), Vec::<String>::new(), "an empty database records nothing");
    assert_eq!(history.stdout.lines().count(), 10);
    assert_eq!(history.stdout.lines().last(), Some(format!("<base> -> {BASE} (expand), Initial version.").as_str()));

    db.manage(&["db_sync", "--expand"]).expect(0);
    assert_eq!(current_of(&db.manage(&["history"])), vec![EXPAND_HEAD]);
    let entries = json_of(&db.manage(&["history", "--format", "json"]), 0);
    let marked: Vec<&str> = entries
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["is_current"] == json!(true))
        .map(|entry| entry["revision"].as_str().unwrap())
        .collect();
    assert_eq!(marked, vec![EXPAND_HEAD]);

    db.manage(&["db_sync"]).expect(0);
    let history = db.manage(&["history"]);
    assert_eq!(current_of(&history), vec![EXPAND_HEAD, CONTRACT_HEAD]);
    assert!(history.stdout.contains(&format!(" -> {CONTRACT_HEAD} (contract) (head) (current), ")), "{history}");

    // --no-database reads nothing: no marks, no is_current field.
    assert!(current_of(&db.manage(&["history", "--no-database"])).is_empty());
    let entries = json_of(&db.manage(&["history", "--no-database", "--format", "json"]), 0);
    assert!(entries.as_array().unwrap().iter().all(|entry| entry.get("is_current").is_none()), "{entries:#}");
});

dbtest!(history_reads_only_a_database_the_operator_named, |db| {
    // Nothing names a database: the built-in default (./keystone.db) is not read, not created.
    let outcome = db.manage_bare(&["history"]);
    assert!(!outcome.expect(0).stdout.contains("(current)"), "{outcome}");
    assert!(!db.dir.path().join("keystone.db").exists());

    // A database that cannot be reached fails history, unless --no-database says not to read it.
    let unreachable = match db.engine {
        Engine::Sqlite => format!("sqlite:///{}/no/such/dir/k.db", db.dir.path().display()),
        Engine::Postgresql => "postgresql://postgres@127.0.0.1:1/keystone".to_owned(),
        Engine::Mysql => "mysql://root@127.0.0.1:1/keystone".to_owned(),
    };
    let fails = db.manage_bare(&["--database-url", &unreachable, "history"]);
    fails.fails_with(if db.engine == Engine::Sqlite { "does not exist" } else { "cannot connect" });
    let outcome = db.manage_bare(&["--database-url", &unreachable, "history", "--no-database"]);
    assert_eq!(outcome.expect(0).stdout.lines().count(), 10, "{outcome}");

    // The environment names one too.
    db.manage(&["db_sync", "--expand"]).expect(0);
    let mut command = strata(db.dir.path());
    command.env("STRATA_DATABASE_URL", &db.url).arg("history");
    run(command).expect(0).stdout_has(&format!("{EXPAND_HEAD} (expand) (head) (current)"));
});

dbtest!(inspection_commands_never_write, |db| {
    let commands: [&[&str]; 8] = [
        &["current"],
        &["current", "--format", "json"],
        &["history"],
        &["history", "--format", "json"],
        &["db_version", "--format", "json"],
        &["db_sync", "--check", "--format", "json"],
        &["heads"],
        &["show", "27e6"],
    ];
    let empty = db.fingerprint();
    for args in commands {
        db.manage(args);
    }
    assert_eq!(empty, db.fingerprint(), "not even a SQLite file is created");
    db.manage(&["db_sync", "--expand"]).expect(0);
    let expanded = db.fingerprint();
    for args in commands {
        db.manage(args).expect(if args.contains(&"--check") { 4 } else { 0 });
    }
    assert_eq!(expanded, db.fingerprint());
});

dbtest!(a_database_with_an_unknown_revision_fails_every_report, |db| {
    db.manage(&["db_sync"]).expect(0);
    db.conn()
        .exec(&format!("UPDATE alembic_version SET version_num = 'f00dfeed0001' WHERE version_num = '{EXPAND_HEAD}'"));
    let before = db.fingerprint();
    // db_version alone prints it (see bad_input::unknown_revision_is_reported_as_a_newer_database).
    let commands: [&[&str]; 4] =
        [&["current"], &["current", "--format", "json"], &["history"], &["db_sync", "--check", "--format", "json"]];
    for args in commands {
        db.manage(args).fails_with("holds revision 'f00dfeed0001', which this release does not know");
    }
    // history can still show the tree.
    db.manage(&["history", "--no-database"]).expect(0);
    assert_eq!(before, db.fingerprint());
});

dbtest!(show_finds_revisions_by_prefix_and_prints_the_configured_dialect, |db| {
    let detail = json_of(&db.manage(&["show", "b4f8", "--format", "json"]), 0);
    assert_eq!(detail["revision"], "b4f8b3f584e0");
    assert_eq!(detail["dialect"], db.engine.name(), "the configured database's dialect by default");
    let trees = strata::tree::MigrationTrees::embedded().unwrap();
    let dialect = match db.engine {
        Engine::Sqlite => strata::Dialect::Sqlite,
        Engine::Postgresql => strata::Dialect::Postgresql,
        Engine::Mysql => strata::Dialect::Mysql,
    };
    let expected = trees.graph.get("b4f8b3f584e0").unwrap().sql.statements(dialect);
    assert_eq!(detail["statements"], json!(expected));
    let text = db.manage(&["show", "b4f8b3f584e0"]);
    let count = if expected.len() == 1 { "1 statement".to_owned() } else { format!("{} statements", expected.len()) };
    text.expect(0).stdout_has(&format!("-- {}: {count}\n", db.engine.name()));
    for statement in expected {
        text.stdout_has(&format!("{statement};"));
    }

    db.manage(&["show", "f00dfeed"]).fails_with("no revision 'f00dfeed' in the migration tree");
    db.manage(&["show", "2"]).fails_with("revision prefix '2' is ambiguous: it matches 27e647c0fad4, 29e87d24a316");
    db.manage(&["show", ""]).fails_with("no revision '' in the migration tree");
});

dbtest!(another_services_trees_work_with_every_command, |db| {
    let tree = other_service();
    let alembic = tree.join("alembic");
    let legacy = tree.join("legacy");
    let trees = ["--alembic-dir", alembic.to_str().unwrap(), "--legacy-dir", legacy.to_str().unwrap()];
    let manage = |db: &mut TestDb, args: &[&str]| db.manage(&[&trees[..], args].concat());

    let heads = manage(db, &["heads"]);
    assert_eq!(heads.expect(0).stdout, "9c3e44f1abcd (expand) (head)\nd2c1bad0f00d (contract) (head)\n");
    let history = manage(db, &["history", "--no-database"]);
    history
        .expect(0)
        .stdout_has("8a5512e0beef, 8b0077e1dead -> 9c3e44f1abcd (expand) (head), Merge size and weight.\n");
    manage(db, &["show", "8"]).fails_with("it matches 8a5512e0beef, 8b0077e1dead");

    let check = json_of(&manage(db, &["db_sync", "--check", "--format", "json"]), 2);
    assert_eq!(check["expand"], json!({"current": null, "head": "9c3e44f1abcd"}));
    manage(db, &["db_sync", "--expand"]).expect(0);
    let check = json_of(&manage(db, &["db_sync", "--check", "--format", "json"]), 4);
    assert_eq!(check["expand"]["current"], "9c3e44f1abcd");
    manage(db, &["history"]).expect(0).stdout_has("-> 9c3e44f1abcd (expand) (head) (current), ");
    manage(db, &["db_sync"]).expect(0);
    let current = json_of(&manage(db, &["current", "--format", "json"]), 0);
    assert_eq!(current["contract"], json!({"current": "d2c1bad0f00d", "head": "d2c1bad0f00d"}));
    assert_eq!(json_of(&manage(db, &["db_version", "--format", "json"]), 0)["version"], "9c3e44f1abcd");

    // Under the other service's legacy control.
    db.reset();
    db.conn().exec(
        "CREATE TABLE migrate_version (repository_id VARCHAR(250) NOT NULL, repository_path TEXT, version INTEGER, PRIMARY KEY (repository_id))",
    );
    db.conn().exec("INSERT INTO migrate_version VALUES ('widgets_expand', '/legacy/expand_repo', 0)");
    let check = json_of(&manage(db, &["db_sync", "--check", "--format", "json"]), 2);
    assert_eq!((check["outcome"].as_str(), check["legacy_version"].as_i64()), (Some("legacy_controlled"), Some(0)));
    assert_eq!(manage(db, &["current"]).expect(0).stdout, "0 (legacy)\n");
});

/// An unfinished MySQL unit: text `--check` keeps its one-line error, `--format json`
/// reports the unit with exit status 1 and says to run `db_sync`.
#[test]
fn mysql_check_reports_an_interrupted_unit_in_json() {
    TestDb::run(Engine::Mysql, "mysql_json_interrupted", |db| {
        db.manage(&["db_sync", "--expand"]).expect(0);
        // The contract branch's first (no-op) revision is recorded; a run started the next one
        // and died after its first statement.
        db.conn().exec("INSERT INTO alembic_version (version_num) VALUES ('e25ffa003242')");
        db.conn().exec(
            "CREATE TABLE strata_db_sync_progress (unit VARCHAR(190) NOT NULL, holder VARCHAR(255) NOT NULL, \
             applied INTEGER NOT NULL, failed INTEGER NOT NULL, statement_hashes TEXT NOT NULL, PRIMARY KEY (unit))",
        );
        db.conn().exec(
            "INSERT INTO strata_db_sync_progress VALUES ('revision 99de3849d860', 'strata-manage db_sync on node7, pid 4242', 1, 0, '0123456789abcdef,')",
        );
        db.manage(&["db_sync", "--check"]).fails_with(
            "a db_sync by strata-manage db_sync on node7, pid 4242 started revision 99de3849d860 (statements 1 to 1 applied) and has not finished it",
        );
        let check = json_of(&db.manage(&["db_sync", "--check", "--format", "json"]), 1);
        assert_eq!(
            check,
            json!({
                "exit_status": 1,
                "outcome": "interrupted",
                "expand": {"current": EXPAND_HEAD, "head": EXPAND_HEAD},
                "contract": {"current": "e25ffa003242", "head": CONTRACT_HEAD},
                "legacy_version": null,
                "next_command": "strata-manage db_sync",
                "interrupted": {
                    "unit": "revision 99de3849d860",
                    "applied": 1,
                    "holder": "strata-manage db_sync on node7, pid 4242",
                    "failed": false,
                },
            })
        );
    });
}

#[test]
fn completion_scripts_name_every_command() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let mut command = strata(dir.path());
        command.args(["completions", shell]);
        let outcome = run(command);
        outcome.expect(0);
        for name in ["db_sync", "db_version", "current", "history", "heads", "show", "format", "no-database"] {
            assert!(outcome.stdout.contains(name), "{shell} script lacks {name}\n{outcome}");
        }
    }
    // bash itself accepts the script, where bash is installed.
    if std::process::Command::new("bash").arg("--version").output().is_ok() {
        let script = dir.path().join("strata-manage.bash");
        let mut command = strata(dir.path());
        command.args(["completions", "bash"]);
        std::fs::write(&script, run(command).stdout).unwrap();
        let check = std::process::Command::new("bash").arg("-n").arg(&script).output().unwrap();
        assert!(check.status.success(), "bash -n: {}", String::from_utf8_lossy(&check.stderr));
    }
    let mut command = strata(dir.path());
    command.args(["completions", "powershell"]);
    run(command).expect(2);
}

#[test]
fn man_pages_are_roff_built_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let man = |args: &[&str]| {
        let mut command = strata(dir.path());
        command.arg("man").args(args);
        run(command)
    };
    let page = man(&[]);
    page.expect(0).stdout_has(".TH strata-manage 1").stdout_has("db_sync").stdout_has("history");
    let page = man(&["db_sync"]);
    page.expect(0).stdout_has(".TH strata-manage-db_sync 1").stdout_has("\\-\\-contract").stdout_has("\\-\\-format");
    man(&["frobnicate"]).fails_with("no command 'frobnicate'");
    // Hidden from the help it documents.
    let mut command = strata(dir.path());
    command.arg("--help");
    let help = run(command);
    assert!(!help.expect(0).stdout.contains("man "), "{help}");
}

/// An unfinished MySQL unit: `db_version` answers as `db_sync --check` does (one error line
/// in text, the unit in JSON, exit status 1), instead of "None".
fn db_version_reports_an_interrupted_unit(db: &mut TestDb) {
    db.manage(&["db_sync", "--expand"]).expect(0);
    db.conn().exec("INSERT INTO alembic_version (version_num) VALUES ('e25ffa003242')");
    db.conn().exec(
        "CREATE TABLE strata_db_sync_progress (unit VARCHAR(190) NOT NULL, holder VARCHAR(255) NOT NULL, \
         applied INTEGER NOT NULL, failed INTEGER NOT NULL, statement_hashes TEXT NOT NULL, PRIMARY KEY (unit))",
    );
    db.conn().exec(
        "INSERT INTO strata_db_sync_progress VALUES ('revision 99de3849d860', 'strata-manage db_sync on node7, pid 4242, started at unix time 1795903460', 1, 0, '0123456789abcdef,')",
    );
    // The holder's start time is shown as a local time with its age.
    let expected = " ago) started revision 99de3849d860 (statements 1 to 1 applied) and has not finished it";
    for args in [&["db_sync", "--check"][..], &["db_version"]] {
        let outcome = db.manage(args);
        outcome.fails_with(expected).fails_with("a db_sync by strata-manage db_sync on node7, pid 4242, started 2026-");
        assert!(!outcome.stderr.contains("unix time"), "{outcome}");
    }
    let version = json_of(&db.manage(&["db_version", "--format", "json"]), 1);
    assert_eq!(version["version"], json!(EXPAND_HEAD));
    assert_eq!(version["interrupted"]["unit"], json!("revision 99de3849d860"));
    assert_eq!(version["interrupted"]["applied"], json!(1));
    let holder = version["interrupted"]["holder"].as_str().unwrap();
    assert!(holder.starts_with("strata-manage db_sync on node7, pid 4242, started 2026-") && holder.ends_with(" ago)"));
}

#[test]
fn mysql_db_version_reports_an_interrupted_unit() {
    TestDb::run(Engine::Mysql, "mysql_version_interrupted", db_version_reports_an_interrupted_unit);
}

#[test]
fn galera_db_version_reports_an_interrupted_unit() {
    TestDb::run(crate::support::Backend::Galera, "galera_version_interrupted", db_version_reports_an_interrupted_unit);
}
