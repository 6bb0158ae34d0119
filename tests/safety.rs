//! Concurrency and crash safety. Trial counts are small by default so the suite stays
//! quick; `scripts/stress` runs the long versions (8 processes × 50 trials, 100 kills per
//! backend) through the environment variables below and prints the counts.

use std::collections::BTreeMap;
use std::process::Child;
use std::time::{Duration, Instant};

use crate::support::db::{fresh_fingerprint, LOCK_TABLE_SQL};
use crate::support::{finish, setting, tally_concurrent_runs, Backend, Run, TestDb};
use crate::sync::{CONTRACT_HEAD, EXPAND_HEAD};

dbtest!(concurrent_db_syncs_serialize_and_apply_everything_once, |db| {
    let processes = setting("STRATA_STRESS_PROCESSES", 4);
    let trials = setting("STRATA_STRESS_ROUNDS", 2);
    let fresh = fresh_fingerprint(db.engine);
    let (mut failures, mut twice, mut differing) = (0, 0, 0);
    for trial in 0..trials {
        db.reset();
        // Odd trials start from a database keystone Zed left, so fast-forwards race too.
        if trial % 2 == 1 {
            db.load_keystone_fixture("zed");
        }
        let children: Vec<Child> = (0..processes).map(|_| db.spawn(&["db_sync", "--lock-timeout", "120"])).collect();
        let runs: Vec<Run> = children.into_iter().map(finish).collect();
        let (failed, repeated) = tally_concurrent_runs(trial, &runs);
        failures += failed;
        twice += usize::from(repeated);
        if db.fingerprint() != fresh {
            differing += 1;
            eprintln!("trial {trial}: final schema differs from a fresh db_sync");
        }
    }
    eprintln!(
        "concurrency {}: {trials} trials x {processes} processes, {failures} failed runs, {twice} trials applied something twice, {differing} schemas differing",
        db.engine.name()
    );
    assert_eq!((failures, twice, differing), (0, 0, 0));
});

dbtest!(a_killed_db_sync_is_finished_by_the_next_one, |db| {
    let trials = setting("STRATA_STRESS_KILLS", 5);
    let fresh = fresh_fingerprint(db.engine);
    // How long an uninterrupted run takes here, to spread the kills over it.
    db.reset();
    let started = Instant::now();
    db.manage(&["db_sync"]).expect(0);
    let duration = started.elapsed();
    let (mut failures, mut differing, mut check_errors, mut resumed) = (0, 0, 0, 0);
    // Where the kills landed, by what --check said right after: 0 finished, 2 or 4 between
    // revisions, 1 in the middle of a MySQL revision.
    let mut landed: BTreeMap<i32, usize> = BTreeMap::new();
    for trial in 0..trials {
        db.reset();
        let delay = duration.mul_f64((trial as f64 + 0.5) / trials as f64);
        let mut child = db.spawn(&["db_sync"]);
        std::thread::sleep(delay);
        child.kill().expect("SIGKILL");
        let killed = finish(child);
        // --check must explain the state without crashing: done, pending or interrupted.
        let check = db.manage(&["db_sync", "--check"]);
        *landed.entry(check.status).or_insert(0) += 1;
        if ![0, 1, 2, 4].contains(&check.status) || check.stderr.contains("panicked") {
            check_errors += 1;
            eprintln!("trial {trial}: --check after a kill\n{check}");
        }
        if check.status == 1 && !check.stderr.contains("has not finished") {
            check_errors += 1;
            eprintln!("trial {trial}: --check failed for another reason\n{check}");
        }
        let rerun = db.manage(&["db_sync", "--lock-timeout", "60", "--lock-stale-after", "5"]);
        if rerun.status != 0 {
            failures += 1;
            eprintln!("trial {trial}: killed after {delay:?}\n{killed}\nthe next db_sync failed\n{rerun}");
            continue;
        }
        if rerun.stderr.contains("Resuming ") {
            resumed += 1;
        }
        if db.fingerprint() != fresh {
            differing += 1;
            eprintln!("trial {trial}: killed after {delay:?}: the schema differs from a fresh db_sync\n{rerun}");
        }
        assert_eq!(db.alembic_rows().unwrap(), vec![EXPAND_HEAD.to_string(), CONTRACT_HEAD.to_string()]);
    }
    eprintln!(
        "kills {}: {trials} trials over {duration:?}, {failures} failed reruns, {differing} schemas differing, {check_errors} bad --check answers; --check after the kill {landed:?}, {resumed} reruns resumed a half-applied revision",
        db.engine.name()
    );
    assert_eq!((failures, differing, check_errors), (0, 0, 0));
});

dbtest!(a_waiting_db_sync_names_the_holder_and_gives_up_at_its_timeout, |db| {
    db.manage(&["db_sync", "--expand"]).expect(0);
    let holder = db.hold_db_sync_lock();
    let mut command = crate::support::strata(db.dir.path());
    command.arg("--config-file").arg(&db.config).args(["db_sync", "--lock-timeout", "2"]);
    let started = Instant::now();
    let outcome = crate::support::run(command);
    outcome.fails_with("gave up after waiting").fails_with(&holder);
    assert!(outcome.stderr.contains("Waiting for the db_sync lock"), "{outcome}");
    if db.engine != crate::support::Engine::Sqlite {
        // The holder's start is shown as a local time with its age.
        assert!(outcome.stderr.contains(" ago) ("), "{outcome}");
    }
    assert!(started.elapsed() >= Duration::from_secs(2));
    // Still only expanded: the waiting run changed nothing.
    assert_eq!(db.conn().lines("SELECT version_num AS value FROM alembic_version"), vec![EXPAND_HEAD.to_string()]);
});

/// strata's MySQL progress table, as a killed run leaves it.
const PROGRESS_TABLE_SQL: &str = "CREATE TABLE strata_db_sync_progress (unit VARCHAR(190) NOT NULL, \
    holder VARCHAR(255) NOT NULL, applied INTEGER NOT NULL, failed INTEGER NOT NULL, statement_hashes TEXT NOT NULL, \
    PRIMARY KEY (unit)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";

/// The hash strata records for an applied statement: the first 8 bytes of its SHA-256.
fn statement_hash(statement: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(statement.as_bytes())[..8].iter().map(|byte| format!("{byte:02x}")).collect()
}

/// What a MySQL run killed in the middle of the base revision leaves: statements
/// `0..=done` applied, the first `recorded` of them in the progress record (the next one was
/// running when the process died), and the lock row of a connection that is gone.
fn leave_a_killed_base_revision(db: &mut TestDb, done: usize, recorded: usize, hashes_of: impl Fn(&str) -> String) {
    let trees = strata::tree::MigrationTrees::embedded().unwrap();
    let base = trees.graph.base();
    let statements = base.sql.statements(strata::Dialect::Mysql);
    db.conn().exec(strata::backend::CREATE_ALEMBIC_VERSION);
    for statement in &statements[..=done] {
        db.conn().exec(statement);
    }
    let hashes: String = statements[..recorded].iter().map(|statement| format!("{},", hashes_of(statement))).collect();
    db.conn().exec(PROGRESS_TABLE_SQL);
    db.conn().exec(&format!(
        "INSERT INTO strata_db_sync_progress VALUES ('revision {}', 'strata-manage db_sync on node7, pid 4242', {recorded}, 0, '{hashes}')",
        base.id
    ));
    db.conn().exec(LOCK_TABLE_SQL);
    db.conn().exec(
        "INSERT INTO strata_db_sync_lock VALUES (1, 'strata-manage db_sync on node7, pid 4242', CONCAT(@@hostname, ':', @@port), \
         CURRENT_USER(), 4000000000, 4000000001, 17)",
    );
}

/// A MySQL run killed in the middle of the base revision: `--check` names the interrupted
/// revision, and `db_sync` takes over the dead holder's lock, resumes after the recorded
/// statements, accepts the one that was running as applied (by its error number), and ends
/// with the fresh schema and none of strata's own tables.
fn resumes_an_interrupted_revision(backend: Backend) {
    TestDb::run(backend, "mysql_resume", |db| {
        let base = strata::tree::MigrationTrees::embedded().unwrap().graph.base().id.clone();
        let recorded = 20;
        leave_a_killed_base_revision(db, recorded, recorded, statement_hash);
        let unfinished = format!(
            "a db_sync by strata-manage db_sync on node7, pid 4242 started revision {base} (statements 1 to {recorded} applied) and has not finished it"
        );
        // Every command that says where the database stands says the same.
        for command in [&["db_sync", "--check"][..], &["db_version"], &["current"]] {
            db.manage(command).fails_with(&unfinished);
        }
        // Only db_sync can resume it: a script would run the applied statements again.
        db.manage(&["db_sync", "--sql"]).fails_with(&unfinished);
        db.manage(&["db_sync", "--dry-run"])
            .expect(0)
            .stdout_has(&format!("revision {base} (base): "))
            .stdout_has(&format!("resumes an interrupted run after statement {recorded}"));
        let run = db.manage(&["db_sync"]);
        run.expect(0)
            .stderr_has(
                "Took over the db_sync lock from strata-manage db_sync on node7, pid 4242 (its connection is gone)",
            )
            .stderr_has(&format!("Resuming revision {base}"))
            .stderr_has(&format!("Statement {} of revision {base}", recorded + 1))
            .stderr_has("was already applied by the interrupted run");
        assert_eq!(db.fingerprint(), fresh_fingerprint(db.backend));
        let tables = db.tables();
        assert!(!tables.iter().any(|table| table.starts_with("strata_")), "strata's tables are gone: {tables:?}");
        assert_eq!(db.manage(&["db_sync", "--check"]).status, 0);
    });
}

#[test]
fn mysql_resumes_an_interrupted_revision() {
    resumes_an_interrupted_revision(Backend::Mysql);
}

/// The same on the cluster's node 1, which answers in German: the statement that was
/// running is recognised as applied by its error number.
#[test]
fn galera_resumes_an_interrupted_revision() {
    resumes_an_interrupted_revision(Backend::Galera);
}

/// A tree changed between the kill and the rerun: the statements recorded as applied are
/// not the tree's any more. The rerun names the revision and the statement and changes
/// nothing.
fn refuses_to_resume_a_revision_whose_sql_changed(backend: Backend) {
    TestDb::run(backend, "mysql_tree_changed", |db| {
        let recorded = 12;
        leave_a_killed_base_revision(db, recorded - 1, recorded, |statement| {
            if statement.contains("CREATE TABLE access_rule") {
                "0000000000000000".into()
            } else {
                statement_hash(statement)
            }
        });
        // The run takes the dead holder's lock and releases it; nothing else may change.
        let schema = |db: &mut TestDb| -> Vec<String> {
            db.fingerprint().into_iter().filter(|fact| !fact.contains("strata_db_sync_lock")).collect()
        };
        let before = schema(db);
        let run = db.manage(&["db_sync"]);
        run.fails_with("revision 27e647c0fad4").fails_with("differs now from the one applied");
        assert_eq!(schema(db), before, "nothing changed");
    });
}

#[test]
fn mysql_refuses_to_resume_a_revision_whose_sql_changed() {
    refuses_to_resume_a_revision_whose_sql_changed(Backend::Mysql);
}

#[test]
fn galera_refuses_to_resume_a_revision_whose_sql_changed() {
    refuses_to_resume_a_revision_whose_sql_changed(Backend::Galera);
}

/// A MySQL revision whose second statement fails keeps its progress record; the failure
/// persists and is reported again rather than taken for "already applied"; once the cause
/// is removed, the next db_sync resumes after the statement already applied.
fn resumes_a_revision_after_its_failure_is_fixed(backend: Backend) {
    TestDb::run(backend, "mysql_failed_statement", |db| {
        // The tree as it was when 742c857f1dfb was the expand head, so that later
        // revisions do not run again after the version row is moved back.
        let scratch = tempfile::tempdir().unwrap();
        let tree = crate::sync::expand_tree_up_to(scratch.path(), "742c857f1dfb");
        let tree = tree.to_str().unwrap();
        let with_tree = |args: &[&'static str]| [&["--alembic-dir", tree][..], args].concat();
        db.manage(&with_tree(&["db_sync", "--expand"])).expect(0);
        db.conn().exec("UPDATE alembic_version SET version_num = 'e8725d6fa226'");
        db.conn().exec("DROP INDEX ix_revocation_event_project_id_user_id ON revocation_event");
        db.conn().exec("DROP INDEX ix_revocation_event_composite ON revocation_event");
        // Something in the way of the revision's second statement.
        db.conn().exec("CREATE INDEX ix_revocation_event_composite ON revocation_event (domain_id)");
        for _ in 0..2 {
            db.manage(&with_tree(&["db_sync", "--expand"]))
                .fails_with("revision 742c857f1dfb")
                .fails_with("failed at statement 2 of 2")
                .fails_with("Duplicate key name")
                .fails_with("server error 1061");
        }
        // --check and db_version tell a failed statement (fix its cause) from a killed run.
        for command in [&["db_sync", "--check"][..], &["db_version"]] {
            db.manage(&with_tree(command)).fails_with(
                "stopped revision 742c857f1dfb (statements 1 to 1 applied) at a statement that failed: fix the cause",
            );
        }
        let report = db.manage(&with_tree(&["db_sync", "--check", "--format", "json"]));
        assert_eq!(report.status, 1, "{report}");
        report.stdout_has("\"failed\": true");
        db.conn().exec("DROP INDEX ix_revocation_event_composite ON revocation_event");
        db.manage(&with_tree(&["db_sync"]))
            .expect(0)
            .stderr_has("Resuming revision 742c857f1dfb")
            .stderr_has("statements 1 to 1 of 2");
        // Then this release's own tree takes it the rest of the way.
        db.manage(&["db_sync"]).expect(0);
        assert_eq!(db.fingerprint(), fresh_fingerprint(db.backend));
    });
}

#[test]
fn mysql_resumes_a_revision_after_its_failure_is_fixed() {
    resumes_a_revision_after_its_failure_is_fixed(Backend::Mysql);
}

/// On the German node the persisting failure is still told from "already applied" by its
/// error number, and the operator reads the message in English.
#[test]
fn galera_resumes_a_revision_after_its_failure_is_fixed() {
    resumes_a_revision_after_its_failure_is_fixed(Backend::Galera);
}
