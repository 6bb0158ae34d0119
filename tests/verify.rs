//! `verify`, the schema drift check: clean databases exit 0, hand-made drift exits 5 and is
//! named, the target is only read, and the scratch database is always dropped (after a
//! failed build, after SIGTERM); a user who may not create databases gets one clear line.

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use crate::support::{copy_alembic_tree, Engine, TestDb};
use crate::sync::{embedded_trees, CONTRACT_HEAD, EXPAND_HEAD};

/// The SQL file of the expand head that `db.engine` runs, in the tree copied to `alembic`:
/// the tests below change it after `db_sync` ran the revision.
fn expand_head_sql(alembic: &std::path::Path, db: &TestDb) -> std::path::PathBuf {
    let graph = &embedded_trees().graph;
    let head = graph.get(&EXPAND_HEAD).expect("the expand head is in the tree");
    let folder = alembic.join(head.path.strip_prefix("alembic_versions/").expect("embedded paths start with the tree"));
    let own = folder.join(format!("up.{}.sql", db.engine.name()));
    if own.exists() {
        own
    } else {
        folder.join("up.sql")
    }
}

/// How `verify` names a database at both heads.
fn at_heads() -> String {
    format!("(expand {}, contract {})", &*EXPAND_HEAD, &*CONTRACT_HEAD)
}

/// `verify` as JSON.
fn verify_json(db: &mut TestDb, extra: &[&str]) -> (i32, serde_json::Value) {
    let mut args = extra.to_vec();
    args.extend(["verify", "--format", "json"]);
    let run = db.manage(&args);
    let value = serde_json::from_str(&run.stdout).unwrap_or_else(|error| panic!("not JSON ({error})\n{run}"));
    (run.status, value)
}

/// The scratch database a run named on stderr.
fn scratch_name(stderr: &str) -> Option<String> {
    let at = stderr.find("strata_verify_")?;
    Some(stderr[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect())
}

/// Whether a database of that name exists on the test database's server.
fn database_exists(db: &mut TestDb, name: &str) -> bool {
    let sql = match db.engine {
        Engine::Postgresql => format!("SELECT datname::text AS value FROM pg_database WHERE datname = '{name}'"),
        _ => format!(
            "SELECT CAST(SCHEMA_NAME AS CHAR) AS value FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{name}'"
        ),
    };
    !db.conn().lines(&sql).is_empty()
}

dbtest!(an_up_to_date_database_verifies_clean_and_is_only_read, |db| {
    if db.engine == Engine::Sqlite {
        // A missing file is an empty database, and stays missing.
        db.manage(&["verify"]).expect(0).stdout_has("nothing recorded): 0 tables compared, no difference.");
        assert!(!db.sqlite_path().exists(), "verify created the SQLite file");
    }
    db.manage(&["db_sync"]).expect(0);
    let before = db.fingerprint();
    let run = db.manage(&["verify"]);
    run.expect(0).stdout_has(&format!("The schema matches its recorded revisions {}", at_heads()));
    if db.engine != Engine::Sqlite {
        let name = scratch_name(&run.stderr).unwrap_or_else(|| panic!("no scratch database named\n{run}"));
        assert!(!database_exists(db, &name), "{name} was left behind\n{run}");
    }
    let (status, report) = verify_json(db, &[]);
    assert_eq!(status, 0);
    assert_eq!(report["exit_status"], 0);
    assert_eq!(report["identical"], true);
    assert_eq!(report["dialect"], db.engine.name());
    assert_eq!(report["expand"]["current"], &*EXPAND_HEAD);
    assert_eq!(report["differences"], serde_json::json!([]));
    assert!(report["tables_compared"].as_u64().unwrap() > 40, "{report}");
    assert_eq!(db.fingerprint(), before, "verify changed the database");
});

dbtest!(hand_made_drift_exits_5_and_names_table_and_object, |db| {
    db.manage(&["db_sync"]).expect(0);
    let drift: &[&str] = match db.engine {
        // SQLite cannot alter a column: a hotfix edits the table's definition in place.
        Engine::Sqlite => &[
            "ALTER TABLE project ADD COLUMN hotfix VARCHAR(10)",
            "DROP INDEX ix_default_project_id",
            "CREATE TABLE scratchpad (id INTEGER)",
            "PRAGMA writable_schema = ON; UPDATE sqlite_master SET sql = replace(sql, \
             'description VARCHAR(255) NOT NULL', 'description VARCHAR(255) NOT NULL DEFAULT ''none''') \
             WHERE name = 'region'; PRAGMA writable_schema = OFF",
            "PRAGMA writable_schema = ON; UPDATE sqlite_master SET sql = replace(sql, 'extra TEXT,', 'extra TEXT NOT NULL,') \
             WHERE name = 'region'; PRAGMA writable_schema = OFF",
        ],
        Engine::Postgresql => &[
            "ALTER TABLE project ADD COLUMN hotfix VARCHAR(10)",
            "DROP INDEX ix_default_project_id",
            "CREATE TABLE scratchpad (id INTEGER)",
            "ALTER TABLE region ALTER COLUMN description SET DEFAULT 'none'",
            "ALTER TABLE region ALTER COLUMN extra SET NOT NULL",
        ],
        Engine::Mysql => &[
            "ALTER TABLE project ADD COLUMN hotfix VARCHAR(10)",
            "DROP INDEX ix_default_project_id ON user",
            "CREATE TABLE scratchpad (id INTEGER)",
            "ALTER TABLE region ALTER COLUMN description SET DEFAULT 'none'",
            "ALTER TABLE region MODIFY extra TEXT NOT NULL",
        ],
    };
    for statement in drift {
        db.conn().exec(statement);
    }
    let run = db.manage(&["verify"]);
    run.expect(5)
        .stdout_has("Schema drift: ")
        .stdout_has("table project, column hotfix: not produced by the recorded revisions")
        .stdout_has("table user, index ix_default_project_id: missing (expected (default_project_id))")
        .stdout_has("table scratchpad: not produced by the recorded revisions");
    run.stdout_has("table region, column description: expected ").stdout_has("'none'");
    run.stdout_has("table region, column extra: expected ");
    let (status, report) = verify_json(db, &[]);
    assert_eq!(status, 5);
    assert_eq!(report["exit_status"], 5);
    assert_eq!(report["identical"], false);
    let differences = report["differences"].as_array().unwrap();
    assert_eq!(differences.len(), drift.len(), "{report:#}");
    let hotfix = differences.iter().find(|d| d["object"] == "hotfix").expect("the extra column");
    assert_eq!(hotfix["table"], "project");
    assert_eq!(hotfix["object_type"], "column");
    assert_eq!(hotfix["change"], "unexpected");
    assert!(hotfix["expected"].is_null() && hotfix["found"].is_string(), "{hotfix}");
    // The drift is reported, not repaired.
    db.manage(&["verify"]).expect(5);
});

dbtest!(a_middle_revision_and_a_legacy_database_verify_against_their_own_revisions, |db| {
    // Expanded only: the contract branch's changes are not expected.
    db.manage(&["db_sync", "--expand"]).expect(0);
    db.manage(&["verify"]).expect(0).stdout_has(&format!("(expand {})", &*EXPAND_HEAD));
    // Legacy control at 75, reached by running db_sync's own script for the legacy
    // versions 073 to 075 in the engine's client (db_sync itself always goes on to 79).
    db.reset();
    db.put_under_legacy_control(72);
    if !db.has_native_client("a_middle_revision_and_a_legacy_database_verify_against_their_own_revisions") {
        return;
    }
    let script = db.manage(&["db_sync", "--sql"]);
    script.expect(0);
    let mut kept = String::new();
    let mut keep = true;
    for line in script.stdout.lines() {
        if let Some(title) = line.strip_prefix("-- legacy migration ") {
            let version: i64 = title.split(' ').nth(1).and_then(|v| v.parse().ok()).expect("a legacy version");
            keep = version <= 75;
        } else if line.starts_with("-- stamping ") || line.starts_with("-- revision ") {
            keep = false;
        }
        if keep {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    db.run_in_native_client(&kept).expect(0);
    assert_eq!(db.legacy_rows(), ["keystone_contract=75", "keystone_data_migrate=75", "keystone_expand=75"]);
    db.manage(&["verify"]).expect(0).stdout_has("(legacy 75)");
    // A table the legacy versions up to 75 do not create is drift.
    db.conn().exec("CREATE TABLE hotfix_table (id INTEGER)");
    db.manage(&["verify"]).expect(5).stdout_has("table hotfix_table: not produced by the recorded revisions");
});

dbtest!(databases_keystone_manage_migrated_verify_clean, |db| {
    // Zed: a fresh keystone 22 install (base revision run for real, Zed heads).
    db.load_keystone_fixture("zed");
    db.manage(&["verify"]).expect(0).stdout_has("(expand 29e87d24a316, contract e25ffa003242)");
    db.reset();
    // Yoga: the legacy layer alone, all three repositories at 79.
    db.load_keystone_fixture("yoga");
    db.manage(&["verify"]).expect(0).stdout_has("(legacy 79)");
    // Fast-forwarded by strata from there: legacy layer, stamp, both branches.
    db.manage(&["db_sync"]).expect(0);
    db.manage(&["verify"]).expect(0).stdout_has(&at_heads());
});

dbtest!(a_failed_build_leaves_no_scratch_database, |db| {
    db.manage(&["db_sync"]).expect(0);
    let alembic = copy_alembic_tree(db.dir.path());
    let file = expand_head_sql(&alembic, db);
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{text}\n;\nINSERT INTO strata_no_such_table VALUES (1);\n")).unwrap();
    let run = db.manage(&["--alembic-dir", alembic.to_str().unwrap(), "verify"]);
    run.fails_with("verify could not build the schema the recorded revisions produce");
    run.fails_with(&EXPAND_HEAD);
    // The statement failed on the scratch schema: no db_sync advice about the database.
    run.fails_with("the database being checked was not changed");
    assert!(!run.stderr.contains("db_sync again"), "{run}");
    if db.engine != Engine::Sqlite {
        let name =
            scratch_name(run.error_line()).unwrap_or_else(|| panic!("the error names no scratch database\n{run}"));
        run.fails_with(&format!("in the scratch database {name} (dropped)"));
        assert!(!database_exists(db, &name), "{name} was left behind\n{run}");
    }
});

dbtest!(an_interrupted_verify_drops_its_scratch_database, |db| {
    if db.engine == Engine::Sqlite {
        return; // in memory: nothing to leave behind
    }
    db.manage(&["db_sync"]).expect(0);
    let alembic = copy_alembic_tree(db.dir.path());
    let file = expand_head_sql(&alembic, db);
    let sleep = if db.engine == Engine::Postgresql { "SELECT pg_sleep(60)" } else { "DO SLEEP(60)" };
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{sleep};\n{text}")).unwrap();
    let started = Instant::now();
    let mut child = db.spawn(&["--alembic-dir", alembic.to_str().unwrap(), "verify"]);
    // Read stderr until the scratch database is named, then let the build reach the sleep.
    let mut stderr = BufReader::new(child.stderr.take().expect("piped"));
    let mut seen = String::new();
    let name = loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).expect("read stderr") == 0 {
            panic!("verify ended without naming its scratch database:\n{seen}");
        }
        seen.push_str(&line);
        if let Some(name) = scratch_name(&line) {
            break name;
        }
    };
    std::thread::sleep(Duration::from_secs(2));
    assert!(database_exists(db, &name), "{name} should exist while verify builds in it");
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = child.wait().expect("wait").code().unwrap_or(-1);
    let stderr = format!("{seen}{rest}");
    assert_eq!(status, 130, "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(50), "verify waited for the sleep\n{stderr}");
    assert!(stderr.contains(&format!("Dropped the scratch database {name}")), "{stderr}");
    assert!(!database_exists(db, &name), "{name} was left behind\n{stderr}");
});

dbtest!(a_user_who_may_not_create_databases_gets_one_clear_line, |db| {
    if db.engine == Engine::Sqlite {
        return; // no server, no privilege
    }
    db.manage(&["db_sync"]).expect(0);
    let user = format!("strata_nc{}_{}", std::process::id(), db.backend.name());
    let url = match db.engine {
        Engine::Postgresql => {
            db.conn().exec(&format!("DROP ROLE IF EXISTS {user}"));
            db.conn().exec(&format!("CREATE ROLE {user} LOGIN NOCREATEDB"));
            db.conn().exec(&format!("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {user}"));
            format!("postgresql://{user}@127.0.0.1:5432/{}", db.name)
        }
        _ => {
            db.conn().exec(&format!("DROP USER IF EXISTS '{user}'@'%'"));
            db.conn().exec(&format!("CREATE USER '{user}'@'%'"));
            let grant = format!("GRANT ALL ON `{}`.* TO '{user}'@'%'", db.name);
            db.conn().exec(&grant);
            format!("mysql://{user}@127.0.0.1:{}/{}", db.backend.ports()[0], db.name)
        }
    };
    let run = db.manage(&["--database-url", &url, "verify"]);
    let cleanup = match db.engine {
        Engine::Postgresql => {
            format!("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {user}; DROP ROLE IF EXISTS {user}")
        }
        _ => format!("DROP USER IF EXISTS '{user}'@'%'"),
    };
    db.conn().exec(&cleanup);
    run.fails_with("but the database user may not create strata_verify_");
    run.fails_with("CREATEDB");
    assert_eq!(run.stderr.lines().count(), 1 + run.stderr.matches(" INFO ").count(), "{run}");
});

dbtest!(keystone_reference_databases_verify_clean, |db| {
    // keystone 30's own databases, from the reference dumps: a fresh install, and one that
    // went from Yoga's legacy layer through Zed to 30.
    let reference = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/latest");
    if !reference.is_dir() {
        assert!(
            std::env::var("STRATA_TEST_REQUIRE_ALL_BACKENDS").map_or(true, |v| v != "1"),
            "{} is missing and STRATA_TEST_REQUIRE_ALL_BACKENDS=1",
            reference.display()
        );
        eprintln!("SKIPPED keystone_reference_databases_verify_clean: {} is missing", reference.display());
        return;
    }
    db.load_keystone_dump(&reference.join(db.engine.name()));
    db.manage(&["verify"]).expect(0).stdout_has("(expand 742c857f1dfb, contract c88cdce8f248)");
    db.reset();
    db.load_keystone_dump(&reference.join(db.engine.name()).join("from-legacy"));
    db.manage(&["verify"]).expect(0).stdout_has("(expand 742c857f1dfb, contract c88cdce8f248)");
});
