use crate::support::db::fresh_fingerprint;
use crate::support::{run, strata, TestDb};
use crate::sync::{check, revision_counts, BASE, CONTRACT_HEAD, EXPAND_HEAD};

const EXPAND_ROOT: &str = "29e87d24a316";
const CONTRACT_ROOT: &str = "e25ffa003242";

/// `strata-manage db_sync --sql ARGS` on the test's database: the script (stdout).
fn script(db: &mut TestDb, args: &[&str]) -> String {
    let run = db.manage(&[&["db_sync", "--sql"], args].concat());
    run.expect(0);
    assert!(run.stdout.ends_with(";\n") || run.stdout.starts_with("-- "), "{run}");
    run.stdout.clone()
}

/// Runs a script through the engine's client and panics with its output if it fails.
fn run_script(db: &mut TestDb, script: &str) {
    db.run_in_native_client(script).expect(0);
}

/// The script without its first line (which names the command it was printed for).
fn without_first_line(script: &str) -> &str {
    script.split_once('\n').map_or("", |(_, rest)| rest)
}

dbtest!(sql_script_of_an_empty_database_builds_what_db_sync_builds, |db| {
    if !db.has_native_client("sql_script_of_an_empty_database_builds_what_db_sync_builds") {
        return;
    }
    let empty = db.fingerprint();
    let text = script(db, &[]);
    assert_eq!(db.fingerprint(), empty, "--sql creates nothing, not even a SQLite file");
    // Without a database, for the dialect alone: the same script.
    let offline = db.manage_bare(&["db_sync", "--sql", "--dialect", db.engine.name()]);
    assert_eq!(offline.expect(0).stdout, text);
    let (all, _) = revision_counts();
    assert!(text.starts_with(&format!("-- db_sync as SQL for {}: {all} units", db.engine.name())), "{text}");

    run_script(db, &text);
    assert_eq!(db.fingerprint(), fresh_fingerprint(db.engine), "the script leaves what db_sync leaves");
    assert_eq!(check(db).0, 0);
    db.manage(&["db_sync"]).expect(0).stderr_has("up to date");
    assert_eq!(
        script(db, &[]),
        format!(
            "-- db_sync as SQL for {}: nothing to do, the database is already where db_sync brings it.\n",
            db.engine.name()
        )
    );
    if db.can_dump_schema("sql_script_of_an_empty_database_builds_what_db_sync_builds") {
        assert_eq!(db.differences_from_reference("", &[]), Vec::<String>::new(), "keystone's reference dump");
    }
});

dbtest!(sql_script_of_a_legacy_database_does_what_db_sync_does, |db| {
    if !db.has_native_client("sql_script_of_a_legacy_database_does_what_db_sync_does") {
        return;
    }
    // What db_sync leaves, phase by phase, from the legacy layer at 72.
    db.put_under_legacy_control(72);
    db.manage(&["db_sync", "--expand"]).expect(0);
    let expanded = db.fingerprint();
    db.manage(&["db_sync"]).expect(0);
    let synced = db.fingerprint();

    db.reset();
    db.put_under_legacy_control(72);
    let legacy = db.fingerprint();
    let expand = script(db, &["--expand"]);
    assert_eq!(db.fingerprint(), legacy, "--sql changes nothing");
    assert!(expand.contains(
        "\nUPDATE migrate_version SET version = 73 WHERE version = 72 AND repository_id = 'keystone_expand';\n"
    ));
    assert!(expand.contains(&format!("\nINSERT INTO alembic_version (version_num) VALUES ('{BASE}');\n")));
    assert!(!expand.contains(CONTRACT_ROOT), "--expand leaves the contract branch out");
    run_script(db, &expand);
    assert_eq!(db.fingerprint(), expanded);
    assert_eq!(check(db).0, 4);

    let rest = script(db, &[]);
    assert!(!rest.contains("migrate_version") && !rest.contains(&format!("-- revision {EXPAND_ROOT}")), "{rest}");
    run_script(db, &rest);
    assert_eq!(db.fingerprint(), synced);
    assert_eq!(check(db).0, 0);
    if db.can_dump_schema("sql_script_of_a_legacy_database_does_what_db_sync_does") {
        // keystone's own legacy path, less the repository paths in migrate_version (as the
        // conformance tool compares it).
        let differences = db.differences_from_reference("from-legacy", &["repository_path", "|/", "\t/"]);
        assert_eq!(differences, Vec::<String>::new(), "keystone's reference dump of its legacy path");
    }
});

dbtest!(sql_script_of_an_expanded_database_holds_only_the_contract_phase, |db| {
    if !db.has_native_client("sql_script_of_an_expanded_database_holds_only_the_contract_phase") {
        return;
    }
    db.manage(&["db_sync", "--contract", "--sql"]).fails_with("contract ahead of expand");
    db.manage(&["db_sync", "--expand"]).expect(0);
    let expanded = db.fingerprint();
    let text = script(db, &[]);
    assert_eq!(db.fingerprint(), expanded);
    let (all, expand) = revision_counts();
    assert!(text.starts_with(&format!("-- db_sync as SQL for {}: {} units", db.engine.name(), all - expand)), "{text}");
    assert!(!text.contains("CREATE TABLE alembic_version") && !text.contains("CREATE TABLE IF NOT EXISTS"));
    assert!(text.contains(&format!("\nINSERT INTO alembic_version (version_num) VALUES ('{CONTRACT_ROOT}');\n")));
    assert!(text.contains("WHERE alembic_version.version_num = '99de3849d860';\n"), "{text}");
    assert!(!text.contains(&format!("-- revision {EXPAND_HEAD}")));
    assert_eq!(
        without_first_line(&script(db, &["--contract"])),
        without_first_line(&text),
        "--contract scripts the same units"
    );
    assert_eq!(script(db, &["--expand"]).lines().count(), 1, "nothing left to expand");

    run_script(db, &text);
    assert_eq!(db.fingerprint(), fresh_fingerprint(db.engine));
    assert_eq!(db.alembic_rows().unwrap(), vec![EXPAND_HEAD.to_string(), CONTRACT_HEAD.to_string()]);
    assert_eq!(check(db).0, 0);
});

dbtest!(dry_run_lists_what_db_sync_then_runs_and_changes_nothing, |db| {
    let empty = db.fingerprint();
    let dry_run = db.manage(&["db_sync", "--dry-run"]);
    dry_run.expect(0);
    assert_eq!(db.fingerprint(), empty, "--dry-run creates nothing, not even a SQLite file");
    let lines: Vec<&str> = dry_run.stdout.lines().collect();
    let (all, _) = revision_counts();
    assert_eq!(lines[0], format!("db_sync would apply {all} units, in this order (nothing was changed):"), "{dry_run}");
    assert!(lines[1].starts_with(&format!("revision {BASE} (base): creates alembic_version, ")), "{dry_run}");
    assert!(lines[1].ends_with(&format!(" statements; alembic_version: insert {BASE}")), "{dry_run}");
    assert_eq!(
        lines[2],
        format!("revision {EXPAND_ROOT} (expand): no statements; alembic_version: {BASE} -> {EXPAND_ROOT}")
    );
    assert_eq!(
        lines[8],
        format!("revision {CONTRACT_ROOT} (contract): no statements; alembic_version: insert {CONTRACT_ROOT}")
    );

    // db_sync runs exactly those units, in that order.
    let planned: Vec<&str> = lines[1..].iter().map(|line| line.split(' ').nth(1).unwrap_or_default()).collect();
    let sync = db.manage(&["db_sync"]);
    sync.expect(0);
    let ran: Vec<&str> = sync
        .stderr
        .lines()
        .filter_map(|line| line.split_once("Running upgrade ")?.1.split_once(" -> ")?.1.split_once(','))
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ran, planned, "{sync}");

    let synced = db.fingerprint();
    db.manage(&["db_sync", "--dry-run"])
        .expect(0)
        .stdout_has("Nothing to do: the database is already where db_sync brings it.");
    assert_eq!(db.fingerprint(), synced);
});

dbtest!(dry_run_of_a_legacy_database_shows_the_legacy_versions_and_the_stamp, |db| {
    db.put_under_legacy_control(72);
    let before = db.fingerprint();
    db.manage(&["db_sync", "--dry-run", "--contract"]).fails_with("contract ahead of expand");
    let run = db.manage(&["db_sync", "--dry-run", "--expand"]);
    // 7 legacy versions in each of 3 repositories, the stamp, and the expand branch.
    let (_, expand) = revision_counts();
    run.expect(0)
        .stdout_has(&format!("db_sync --expand would apply {} units", 21 + expand))
        .stdout_has("\nlegacy keystone_expand 73 (073_expand_initial_migration): ")
        .stdout_has(" statements; migrate_version keystone_expand: 72 -> 73\n")
        .stdout_has("; migrate_version keystone_contract: 78 -> 79\n")
        .stdout_has(&format!("\nstamp {BASE}: creates alembic_version, recorded without running"))
        .stdout_has(&format!("; alembic_version: insert {BASE}\nrevision {EXPAND_ROOT} (expand): "));
    assert!(!run.stdout.contains(CONTRACT_ROOT), "{run}");
    assert_eq!(db.fingerprint(), before, "--dry-run changes nothing");
});

dbtest!(sql_and_dry_run_take_no_lock, |db| {
    db.manage(&["db_sync", "--expand"]).expect(0);
    let holder = db.hold_db_sync_lock();
    let with_config = |args: &[&str]| {
        let mut command = strata(db.dir.path());
        command.arg("--config-file").arg(&db.config).args(args);
        command
    };
    // The lock is really held: db_sync waits and gives up.
    run(with_config(&["db_sync", "--lock-timeout", "1"])).fails_with(&holder);
    for args in [&["db_sync", "--sql", "--lock-timeout", "1"][..], &["db_sync", "--dry-run", "--lock-timeout", "1"]] {
        let outcome = run(with_config(args));
        outcome.expect(0).stdout_has(CONTRACT_ROOT);
        assert!(!outcome.stderr.contains("Waiting for the db_sync lock"), "{outcome}");
    }
});

#[test]
fn sql_and_dry_run_refuse_flags_they_cannot_serve() {
    let dir = tempfile::tempdir().unwrap();
    let usage_error = |args: &[&str], text: &str| {
        let mut command = strata(dir.path());
        command.args(args);
        let outcome = run(command);
        outcome.expect(2);
        assert!(outcome.stderr.contains(text), "{outcome}");
    };
    usage_error(&["db_sync", "--sql", "--check"], "cannot be used with");
    usage_error(&["db_sync", "--sql", "--migrate"], "cannot be used with");
    usage_error(&["db_sync", "--sql", "--dry-run"], "cannot be used with");
    usage_error(&["db_sync", "--dry-run", "--check"], "cannot be used with");
    usage_error(&["db_sync", "--dry-run", "--migrate"], "cannot be used with");
    usage_error(&["db_sync", "--dialect", "sqlite"], "--sql");
    usage_error(&["db_sync", "--dry-run", "--dialect", "sqlite"], "cannot be used with");
    usage_error(&["db_sync", "--sql", "--dialect", "oracle"], "possible values: sqlite, postgresql, mysql");
    for args in [
        &["--database-url", "sqlite:///x.db", "db_sync", "--sql", "--dialect", "sqlite"][..],
        &["db_sync", "--sql", "--dialect", "sqlite", "--database-url", "sqlite:///x.db"],
    ] {
        usage_error(args, "cannot be used with");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no database file was created");

    let mut command = strata(dir.path());
    command.args(["db_sync", "--help"]);
    run(command).expect(0).stdout_has("--sql").stdout_has("--dialect <DIALECT>").stdout_has("--dry-run");
}

#[test]
fn sql_of_the_default_database_reads_but_never_creates_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = strata(dir.path());
    command.args(["db_sync", "--sql", "--expand"]);
    let outcome = run(command);
    outcome
        .expect(0)
        .stdout_has(&format!("-- db_sync --expand as SQL for sqlite: {} units", revision_counts().1))
        .stdout_has("PRAGMA foreign_keys = OFF;");
    let mut command = strata(dir.path());
    command.args(["db_sync", "--dry-run"]);
    run(command).expect(0).stdout_has(&format!("db_sync would apply {} units", revision_counts().0));
    assert!(!dir.path().join("keystone.db").exists(), "keystone.db was created");
}
