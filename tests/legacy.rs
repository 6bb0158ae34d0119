use crate::support::db::fresh_fingerprint;
use crate::support::{Engine, TestDb};
use crate::sync::{check, db_version, BASE, CONTRACT_HEAD, EXPAND_HEAD};

/// A fingerprint with the differences the legacy path legitimately leaves removed: the
/// kept `migrate_version` table, SQLite's quoting of tables alembic rebuilt (keystone's
/// legacy path leaves `assignment` unquoted) and, on MySQL, the charset `alembic_version`
/// got from being created after the database's charset change.
fn without_legacy_traces(db: &mut TestDb, facts: Vec<String>) -> Vec<String> {
    let engine = db.engine;
    let mut facts: Vec<String> = facts
        .into_iter()
        .filter(|fact| !fact.contains("migrate_version"))
        .filter(|fact| {
            !(engine == Engine::Mysql && fact.contains("alembic_version") && !fact.starts_with("alembic_version|"))
        })
        .map(|fact| {
            if engine == Engine::Sqlite {
                fact.replace("CREATE TABLE \"assignment\"", "CREATE TABLE assignment")
            } else {
                fact
            }
        })
        .collect();
    facts.sort();
    facts
}

dbtest!(legacy_database_at_72_runs_legacy_then_stamps_then_heads, |db| {
    db.put_under_legacy_control(72);
    assert_eq!(db_version(db), "72");
    let (status, out) = check(db);
    assert_eq!(status, 2);
    assert!(out.contains("Your database is currently using legacy version control. Your first step is to run `strata-manage db_sync --expand`."), "{out}");
    db.manage(&["db_sync", "--contract"]).fails_with("contract ahead of expand");
    assert_eq!(db.tables(), vec!["migrate_version".to_string()], "refused --contract changed nothing");

    let run = db.manage(&["db_sync", "--expand"]);
    run.expect(0)
        .stderr_has("still under legacy (sqlalchemy-migrate) control")
        .stderr_has("Running legacy upgrade keystone_expand 72 -> 73 (073_expand_initial_migration)")
        .stderr_has("Running legacy upgrade keystone_contract 78 -> 79")
        .stderr_has(&format!("Running stamp_revision  -> {BASE}"));
    assert!(!run.stderr.contains(&format!("Running upgrade  -> {BASE}")), "the base is stamped, not run\n{run}");
    assert_eq!(
        db.legacy_rows(),
        vec!["keystone_contract=79".to_string(), "keystone_data_migrate=79".into(), "keystone_expand=79".into()]
    );
    assert_eq!(db.alembic_rows().unwrap(), vec![EXPAND_HEAD.to_string()]);
    assert_eq!(check(db).0, 4);

    db.manage(&["db_sync"]).expect(0);
    assert_eq!(check(db).0, 0);
    assert_eq!(db_version(db), EXPAND_HEAD);
    let project = db.conn().lines("SELECT name AS value FROM project");
    assert_eq!(project, vec!["<<keystone.domain.root>>".to_string()]);
    let facts = db.fingerprint();
    let got = without_legacy_traces(db, facts);
    let want = without_legacy_traces(db, fresh_fingerprint(db.engine));
    assert_eq!(got, want, "the legacy path must end with the fresh schema");
});

dbtest!(legacy_database_below_72_is_refused_untouched, |db| {
    db.put_under_legacy_control(65);
    let before = db.fingerprint();
    for args in [&["db_sync"][..], &["db_sync", "--expand"], &["db_sync", "--check"]] {
        let run = db.manage(args);
        run.fails_with("is at legacy version 65");
        assert!(run.stderr.contains("from version 72 on"), "{run}");
    }
    assert_eq!(db_version(db), "65");
    assert_eq!(before, db.fingerprint());
});

dbtest!(yoga_database_fast_forwards_in_one_sync, |db| {
    db.load_keystone_fixture("yoga");
    assert_eq!(db_version(db), "79");
    assert_eq!(check(db).0, 2);
    let run = db.manage(&["db_sync"]);
    run.expect(0);
    assert!(!run.stderr.contains("Running legacy upgrade"), "a Yoga database is at 79 already\n{run}");
    run.stderr_has(&format!("Running stamp_revision  -> {BASE}"));
    assert_eq!(db.alembic_rows().unwrap(), vec![EXPAND_HEAD.to_string(), CONTRACT_HEAD.to_string()]);
    assert_eq!(check(db).0, 0);
    assert_eq!(db_version(db), EXPAND_HEAD);
    let facts = db.fingerprint();
    let got = without_legacy_traces(db, facts);
    let want = without_legacy_traces(db, fresh_fingerprint(db.engine));
    assert_eq!(got, want);
});

dbtest!(zed_database_fast_forwards_in_one_sync, |db| {
    db.load_keystone_fixture("zed");
    assert_eq!(db_version(db), "29e87d24a316");
    let (status, out) = check(db);
    assert_eq!(status, 2);
    assert!(
        out.contains(&format!(
            "Expand: 29e87d24a316 (head: {EXPAND_HEAD})\nContract: e25ffa003242 (head: {CONTRACT_HEAD})"
        )),
        "{out}"
    );
    db.manage(&["db_sync"]).expect(0);
    assert_eq!(check(db).0, 0);
    assert_eq!(db_version(db), EXPAND_HEAD);
    assert_eq!(db.fingerprint(), fresh_fingerprint(db.engine));
});

dbtest!(rows_survive_the_table_rebuilds, |db| {
    db.load_keystone_fixture("zed");
    db.conn().exec(
        "INSERT INTO trust (id, trustor_user_id, trustee_user_id, project_id, impersonation, expires_at, remaining_uses, extra) \
         VALUES ('t1', 'alice', 'bob', NULL, FALSE, NULL, 3, '{}')",
    );
    db.conn().exec("INSERT INTO service_provider (auth_url, id, enabled, description, sp_url) VALUES ('http://a', 'sp1', TRUE, 'd', 'http://b')");
    db.conn().exec("INSERT INTO access_rule (id, service, path, method, external_id, user_id) VALUES (7, 'compute', '/v2', 'GET', 'x1', 'alice')");
    db.manage(&["db_sync"]).expect(0);
    assert_eq!(db.conn().lines("SELECT trustor_user_id AS value FROM trust"), vec!["alice".to_string()]);
    assert_eq!(
        db.conn().lines("SELECT relay_state_prefix AS value FROM service_provider"),
        vec!["ss:mem:".to_string()]
    );
    assert_eq!(db.conn().lines("SELECT external_id AS value FROM access_rule"), vec!["x1".to_string()]);
    assert_eq!(db.conn().lines("SELECT schema_version AS value FROM mapping"), Vec::<String>::new());
});

dbtest!(a_database_at_an_older_releases_heads_fast_forwards, |db| {
    // The tree as keystone 2024.1 shipped it: expand head 47147121 (every revision after it
    // removed, whatever later releases added).
    let scratch = tempfile::tempdir().unwrap();
    let tree = crate::sync::expand_tree_up_to(scratch.path(), "47147121");
    db.manage(&["--alembic-dir", tree.to_str().unwrap(), "db_sync"]).expect(0);
    assert_eq!(db_version(db), "47147121");
    let (status, out) = check(db);
    assert_eq!(status, 2, "{out}");
    assert!(
        out.contains(&format!(
            "Expand: 47147121 (head: {EXPAND_HEAD})\nContract: {CONTRACT_HEAD} (head: {CONTRACT_HEAD})"
        )),
        "{out}"
    );
    let run = db.manage(&["db_sync"]);
    run.expect(0)
        .stderr_has("Running upgrade 47147121 -> e8725d6fa226")
        .stderr_has("Running upgrade e8725d6fa226 -> 742c857f1dfb");
    assert_eq!(check(db).0, 0);
    assert_eq!(db.fingerprint(), fresh_fingerprint(db.engine));
});
