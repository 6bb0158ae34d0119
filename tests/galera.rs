//! The 3-node MariaDB Galera cluster of `scripts/galera`: runs on different nodes see each
//! other's work, concurrent runs spread over the nodes serialize, and a run killed on one node
//! is finished from another, leaving every node with a fresh database's schema and the cluster
//! healthy. Node 1 answers in German, so none of this can depend on a message's text.
//!
//! Trial counts are small by default; `scripts/stress` runs the long versions through the
//! same environment variables as tests/safety.rs and prints the count lines.

use std::collections::BTreeMap;
use std::process::Child;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;

use crate::support::db::{fresh_fingerprint, Conn};
use crate::support::{
    assert_cluster_healthy, cluster_health, cluster_is_healthy, finish, finish_within, setting, tally_concurrent_runs,
    Backend, Engine, Run, TestDb,
};
use crate::sync::{CONTRACT_HEAD, EXPAND_HEAD};

/// How long a concurrent run may take before the test kills it: its lock timeout, plus a
/// generous margin for the run itself on a loaded 2-core machine.
const HANG_MARGIN: Duration = Duration::from_secs(300);

/// Every node's fingerprint that differs from `fresh`, as "node N" names, with a report on
/// stderr.
fn nodes_differing(db: &mut TestDb, fresh: &[String], context: &str) -> usize {
    let mut differing = 0;
    for node in 0..db.node_count() {
        let facts = db.fingerprint_on(node);
        if facts != fresh {
            differing += 1;
            let missing: Vec<_> = fresh.iter().filter(|fact| !facts.contains(fact)).collect();
            let extra: Vec<_> = facts.iter().filter(|fact| !fresh.contains(fact)).collect();
            eprintln!(
                "{context}: node {} differs from a fresh db_sync\n  missing: {missing:?}\n  extra: {extra:?}",
                node + 1
            );
        }
    }
    differing
}

/// Whether the cluster is healthy after a trial; says what is wrong on stderr otherwise.
fn healthy_after(context: &str) -> bool {
    let nodes = cluster_health();
    if cluster_is_healthy(&nodes) {
        return true;
    }
    let shown: Vec<String> = nodes.iter().map(ToString::to_string).collect();
    eprintln!("{context}: the cluster is not healthy any more: {}", shown.join("; "));
    false
}

/// The premise of the suite's `galera` runs: node 1 answers in German, the others in English.
#[test]
fn node_1_answers_in_german_and_the_others_in_english() {
    TestDb::run(Backend::Galera, "galera_languages", |db| {
        for node in 0..db.node_count() {
            let language = db.node_conn(node).lines("SELECT CAST(@@lc_messages AS CHAR) AS value");
            assert_eq!(language, vec![if node == 0 { "de_DE" } else { "en_US" }], "node {}", node + 1);
        }
        let Conn::My(conn) = db.conn() else { unreachable!("the cluster is MySQL") };
        let error = conn.batch_execute("SELECT no_such_column").unwrap_err();
        assert!(error.to_string().contains("Unbekanntes Tabellenfeld"), "node 1 answers in German: {error}");
    });
}

/// `fingerprint_on` reads each node itself: a table created on node 3 alone (replication off
/// for the session) shows in node 3's fingerprint only.
#[test]
fn each_nodes_fingerprint_is_read_through_that_node() {
    TestDb::run(Backend::Galera, "galera_fingerprint_on", |db| {
        db.manage(&["db_sync"]).expect(0);
        let fresh = fresh_fingerprint(Backend::Galera);
        let mut node3 = db.node_conn(2);
        node3.exec("SET SESSION wsrep_on = OFF; CREATE TABLE only_on_node_3 (id INTEGER PRIMARY KEY)");
        assert_eq!(db.fingerprint_on(0), fresh);
        assert_eq!(db.fingerprint_on(1), fresh);
        assert_ne!(db.fingerprint_on(2), fresh);
        assert_eq!(nodes_differing(db, &fresh, "a table on node 3 alone"), 1);
        node3.exec("DROP TABLE only_on_node_3");
        assert_eq!(nodes_differing(db, &fresh, "dropped again"), 0);
        assert_cluster_healthy();
    });
}

/// The cluster builds exactly the schema the standalone server builds: the `galera` runs of
/// the other modules compare with the standalone server's fresh fingerprint.
#[test]
fn a_fresh_db_sync_on_the_cluster_builds_the_standalone_servers_schema_on_every_node() {
    TestDb::run(Backend::Galera, "galera_fresh", |db| {
        db.manage_on(1, &["db_sync"]).expect(0);
        let fresh = fresh_fingerprint(Backend::Galera);
        assert_eq!(nodes_differing(db, &fresh, "db_sync on node 2"), 0);
        if let Err(reason) = Backend::Mysql.available() {
            eprintln!("SKIPPED the comparison with the standalone server: unreachable ({reason})");
        } else {
            assert_eq!(fresh, fresh_fingerprint(Engine::Mysql), "the cluster and the standalone server differ");
        }
        assert_cluster_healthy();
    });
}

/// A rolling upgrade whose steps run on different nodes: each step sees what the previous
/// one committed elsewhere.
#[test]
fn phases_run_on_different_nodes_see_each_others_work() {
    TestDb::run(Backend::Galera, "galera_phases", |db| {
        db.manage_on(0, &["db_sync", "--expand"]).expect(0);
        for node in 0..db.node_count() {
            assert_eq!(db.manage_on(node, &["db_sync", "--check"]).status, 4, "node {}", node + 1);
            db.manage_on(node, &["db_version"]).expect(0).stdout_has(&EXPAND_HEAD);
        }
        db.manage_on(2, &["db_sync", "--contract"]).expect(0);
        for node in 0..db.node_count() {
            db.manage_on(node, &["db_sync", "--check"]).expect(0);
        }
        // Nothing left to do, whichever node asks.
        db.manage_on(1, &["db_sync"]).expect(0);
        let fresh = fresh_fingerprint(Backend::Galera);
        assert_eq!(nodes_differing(db, &fresh, "phases on nodes 1 and 3"), 0);
        assert_cluster_healthy();
    });
}

/// Concurrent `db_sync` runs spread round-robin over the nodes (2 per node by default): all
/// exit 0, nothing is applied twice, every node ends with a fresh database's schema, and the
/// cluster stays Synced with all three nodes. Odd trials start from a database keystone Zed
/// left. A trial that leaves the cluster unhealthy ends the test (the next trials could not
/// run anyway).
#[test]
fn concurrent_db_syncs_on_every_node_serialize_and_leave_every_node_fresh() {
    TestDb::run(Backend::Galera, "galera_concurrency", |db| {
        let processes = setting("STRATA_STRESS_PROCESSES", 6);
        let trials = setting("STRATA_STRESS_ROUNDS", 2);
        let fresh = fresh_fingerprint(Backend::Galera);
        let nodes = db.node_count();
        let (mut done, mut failures, mut twice, mut differing, mut unhealthy) = (0, 0, 0, 0, 0);
        for trial in 0..trials {
            db.reset();
            if trial % 2 == 1 {
                db.load_keystone_fixture("zed");
            }
            db.disconnect();
            let children: Vec<(usize, Child)> = (0..processes)
                .map(|process| {
                    let node = process % nodes;
                    (node, db.spawn_on(node, &["db_sync", "--lock-timeout", "120"]))
                })
                .collect();
            let limit = Duration::from_secs(120) + HANG_MARGIN;
            let runs: Vec<Run> = children
                .into_iter()
                .map(|(node, child)| {
                    let mut run = finish_within(child, limit);
                    run.command = format!("strata-manage db_sync --lock-timeout 120 (on node {})", node + 1);
                    run
                })
                .collect();
            done += 1;
            let (failed, repeated) = tally_concurrent_runs(trial, &runs);
            failures += failed;
            twice += usize::from(repeated);
            if !healthy_after(&format!("trial {trial}")) {
                unhealthy += 1;
                break;
            }
            differing += nodes_differing(db, &fresh, &format!("trial {trial}"));
        }
        eprintln!(
            "concurrency galera: {done} of {trials} trials x {processes} processes over {nodes} nodes, {failures} failed runs, {twice} trials applied something twice, {differing} node schemas differing, {unhealthy} trials leaving the cluster unhealthy"
        );
        assert_eq!((failures, twice, differing, unhealthy), (0, 0, 0, 0));
    });
}

/// A `db_sync` killed with SIGKILL on node i at a point spread over an uninterrupted run;
/// `--check` on node i+1 explains the state, and a rerun there (taking over the dead
/// holder's lock once it is stale) finishes the job: every node ends with a fresh
/// database's schema, and the cluster stays healthy.
#[test]
fn a_db_sync_killed_on_one_node_is_finished_from_the_next() {
    TestDb::run(Backend::Galera, "galera_kills", |db| {
        let trials = setting("STRATA_STRESS_KILLS", 5);
        let fresh = fresh_fingerprint(Backend::Galera);
        let nodes = db.node_count();
        // How long an uninterrupted run takes here, to spread the kills over it.
        db.reset();
        let started = Instant::now();
        db.manage_on(0, &["db_sync"]).expect(0);
        let duration = started.elapsed();
        let (mut done, mut failures, mut differing, mut check_errors, mut resumed, mut unhealthy) = (0, 0, 0, 0, 0, 0);
        // Where the kills landed, by what --check said right after: 0 finished, 2 or 4
        // between revisions, 1 in the middle of a revision.
        let mut landed: BTreeMap<i32, usize> = BTreeMap::new();
        for trial in 0..trials {
            let (node, next) = (trial % nodes, (trial + 1) % nodes);
            db.reset();
            done += 1;
            let delay = duration.mul_f64((trial as f64 + 0.5) / trials as f64);
            let mut child = db.spawn_on(node, &["db_sync"]);
            std::thread::sleep(delay);
            child.kill().expect("SIGKILL");
            let killed = finish(child);
            let context = format!("trial {trial}: killed on node {} after {delay:?}", node + 1);
            let check = db.manage_on(next, &["db_sync", "--check"]);
            *landed.entry(check.status).or_insert(0) += 1;
            if ![0, 1, 2, 4].contains(&check.status) || check.stderr.contains("panicked") {
                check_errors += 1;
                eprintln!("{context}: --check on node {}\n{check}", next + 1);
            }
            if check.status == 1 && !check.stderr.contains("has not finished") {
                check_errors += 1;
                eprintln!("{context}: --check on node {} failed for another reason\n{check}", next + 1);
            }
            let rerun = finish_within(
                db.spawn_on(next, &["db_sync", "--lock-timeout", "60", "--lock-stale-after", "5"]),
                Duration::from_secs(60) + HANG_MARGIN,
            );
            if rerun.status != 0 {
                failures += 1;
                eprintln!("{context}\n{killed}\nthe next db_sync, on node {}, failed\n{rerun}", next + 1);
            } else if rerun.stderr.contains("Resuming ") {
                resumed += 1;
            }
            if !healthy_after(&context) {
                unhealthy += 1;
                break;
            }
            if rerun.status == 0 {
                differing += nodes_differing(db, &fresh, &context);
                assert_eq!(db.alembic_rows().unwrap(), vec![EXPAND_HEAD.to_string(), CONTRACT_HEAD.to_string()]);
            }
        }
        eprintln!(
            "kills galera: {done} of {trials} trials over {duration:?}, {failures} failed reruns, {differing} node schemas differing, {check_errors} bad --check answers, {unhealthy} trials leaving the cluster unhealthy; --check after the kill {landed:?}, {resumed} reruns resumed a half-applied revision"
        );
        assert_eq!((failures, differing, check_errors, unhealthy), (0, 0, 0, 0));
    });
}
