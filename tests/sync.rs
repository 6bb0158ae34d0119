use std::fmt;
use std::sync::OnceLock;

use strata::graph::Branch;
use strata::tree::MigrationTrees;

use crate::support::TestDb;

/// A revision of the tree embedded in the binary under test, read from that tree (never
/// written here), so that a new keystone revision breaks no test but the reference
/// comparisons: `format!("{EXPAND_HEAD}")`, `&*EXPAND_HEAD` as a `&str`.
#[derive(Debug, Clone, Copy)]
pub enum TreeRevision {
    /// The base revision.
    Base,
    /// A branch's head.
    Head(Branch),
}

pub const BASE: TreeRevision = TreeRevision::Base;
pub const EXPAND_HEAD: TreeRevision = TreeRevision::Head(Branch::Expand);
pub const CONTRACT_HEAD: TreeRevision = TreeRevision::Head(Branch::Contract);

/// The embedded trees, loaded once.
pub fn embedded_trees() -> &'static MigrationTrees {
    static TREES: OnceLock<MigrationTrees> = OnceLock::new();
    TREES.get_or_init(|| MigrationTrees::embedded().expect("the embedded trees load"))
}

/// How many revisions `db_sync` runs on an empty database: every revision of the embedded
/// tree, and those of `db_sync --expand` (the base and the expand branch).
pub fn revision_counts() -> (usize, usize) {
    let graph = &embedded_trees().graph;
    (graph.in_order().count(), graph.ancestors_inclusive(&EXPAND_HEAD).len())
}

/// A copy of the embedded alembic tree in `scratch` as it was when `last` was its expand
/// head: every revision after `last` removed, whatever later releases added.
pub fn expand_tree_up_to(scratch: &std::path::Path, last: &str) -> std::path::PathBuf {
    let tree = crate::support::copy_alembic_tree(scratch);
    let graph = &embedded_trees().graph;
    for revision in graph.in_order().filter(|revision| {
        revision.id != last && graph.ancestors_inclusive(&revision.id).iter().any(|ancestor| ancestor.id == last)
    }) {
        let relative = revision.path.strip_prefix("alembic_versions/").expect("embedded paths start with the tree");
        std::fs::remove_dir_all(tree.join(relative)).unwrap();
    }
    std::fs::write(tree.join("EXPAND_HEAD"), format!("{last}\n")).unwrap();
    tree
}

impl std::ops::Deref for TreeRevision {
    type Target = str;
    fn deref(&self) -> &str {
        let graph = &embedded_trees().graph;
        match self {
            TreeRevision::Base => &graph.base().id,
            TreeRevision::Head(branch) => &graph.head(*branch).expect("keystone's tree has both branches").id,
        }
    }
}

impl fmt::Display for TreeRevision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

impl PartialEq<TreeRevision> for String {
    fn eq(&self, other: &TreeRevision) -> bool {
        self.as_str() == &**other
    }
}

impl PartialEq<TreeRevision> for &str {
    fn eq(&self, other: &TreeRevision) -> bool {
        *self == &**other
    }
}

impl serde::Serialize for TreeRevision {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self)
    }
}

/// Runs `db_sync --check` and returns (exit status, stdout).
pub fn check(db: &mut TestDb) -> (i32, String) {
    let run = db.manage(&["db_sync", "--check"]);
    assert!(run.stderr.lines().all(|line| !line.contains("error")), "{run}");
    (run.status, run.stdout)
}

pub fn db_version(db: &mut TestDb) -> String {
    let run = db.manage(&["db_version"]);
    run.expect(0);
    run.stdout.trim().to_owned()
}

dbtest!(fresh_sync_reaches_both_heads_and_reports_them, |db| {
    assert_eq!(db_version(db), "None");
    let (status, out) = check(db);
    assert_eq!(status, 2);
    assert!(
        out.contains("Your database is not up to date. Your first step is to run `strata-manage db_sync --expand`."),
        "{out}"
    );
    assert!(
        out.contains(&format!("Expand: None (head: {EXPAND_HEAD})\nContract: None (head: {CONTRACT_HEAD})")),
        "{out}"
    );

    let run = db.manage(&["db_sync"]);
    run.expect(0);
    // Progress is logged on stderr, never on stdout.
    assert!(run.stdout.is_empty(), "{run}");
    run.stderr_has("Running upgrade  -> 27e647c0fad4, Initial version.")
        .stderr_has("Running upgrade 29e87d24a316 -> b4f8b3f584e0, Fix incorrect constraints.")
        .stderr_has(&format!("Finished upgrade to {CONTRACT_HEAD} in"));

    assert_eq!(db.alembic_rows().unwrap(), vec![EXPAND_HEAD.to_string(), CONTRACT_HEAD.to_string()]);
    let (status, out) = check(db);
    assert_eq!(status, 0, "{out}");
    assert!(out.starts_with("All db_sync commands are upgraded to the same version and up-to-date.\n"), "{out}");
    assert_eq!(db_version(db), EXPAND_HEAD);
    let project = db.conn().lines("SELECT id AS value FROM project");
    assert_eq!(project, vec!["<<keystone.domain.root>>".to_string()]);
});

dbtest!(second_sync_changes_nothing, |db| {
    db.manage(&["db_sync"]).expect(0);
    let before = db.fingerprint();
    db.manage(&["db_sync"]).expect(0).stderr_has("up to date");
    db.manage(&["db_sync", "--expand"]).expect(0);
    db.manage(&["db_sync", "--contract"]).expect(0);
    assert_eq!(before, db.fingerprint());
});

dbtest!(rolling_upgrade_expand_then_contract_equals_full_sync, |db| {
    let run = db.manage(&["db_sync", "--contract"]);
    run.fails_with("You are attempting to upgrade contract ahead of expand.");
    assert_eq!(db.tables(), Vec::<String>::new(), "a refused --contract creates nothing");

    db.manage(&["db_sync", "--expand"]).expect(0);
    assert_eq!(db.alembic_rows().unwrap(), vec![EXPAND_HEAD.to_string()]);
    let (status, out) = check(db);
    assert_eq!(status, 4, "{out}");
    assert!(out
        .contains("Expand version is ahead of contract. Your next step is to run `strata-manage db_sync --contract`."));
    assert!(out.contains(&format!("Contract: None (head: {CONTRACT_HEAD})")), "{out}");
    assert_eq!(db_version(db), EXPAND_HEAD);

    let before = db.fingerprint();
    db.manage(&["db_sync", "--migrate"])
        .expect(0)
        .stdout_has("Data migrations are no longer supported with alembic. This is now a no-op.");
    assert_eq!(before, db.fingerprint(), "--migrate touches nothing");

    db.manage(&["db_sync", "--contract"]).expect(0);
    assert_eq!(check(db).0, 0);
    assert_eq!(db.fingerprint(), crate::support::db::fresh_fingerprint(db.engine));
});

dbtest!(check_and_db_version_never_write, |db| {
    let empty = db.fingerprint();
    check(db);
    db_version(db);
    assert_eq!(empty, db.fingerprint(), "read-only commands must not create anything, not even a file");
    db.manage(&["db_sync", "--expand"]).expect(0);
    let expanded = db.fingerprint();
    check(db);
    db_version(db);
    assert_eq!(expanded, db.fingerprint());
});

dbtest!(check_reports_an_older_expand_revision, |db| {
    db.manage(&["db_sync"]).expect(0);
    db.conn().exec(&format!("UPDATE alembic_version SET version_num = '47147121' WHERE version_num = '{EXPAND_HEAD}'"));
    let (status, out) = check(db);
    assert_eq!(status, 2, "{out}");
    assert!(out.contains(&format!("Expand: 47147121 (head: {EXPAND_HEAD})")), "{out}");
});

dbtest!(version_argument_is_refused, |db| {
    db.manage(&["db_sync", "42"]).fails_with("Specifying a version is no longer supported");
    assert!(db.tables().is_empty());
    // With a flag the argument is ignored, as keystone does.
    db.manage(&["db_sync", "--expand", "42"]).expect(0);
});

dbtest!(two_phase_flags_are_a_usage_error, |db| {
    let run = db.manage(&["db_sync", "--expand", "--contract"]);
    run.expect(2);
    assert!(run.stderr.contains("cannot be used with"), "{run}");
    assert!(db.tables().is_empty());
});

dbtest!(expand_on_an_expanded_database_says_contract_is_pending, |db| {
    db.manage(&["db_sync", "--expand"]).expect(0);
    let again = db.manage(&["db_sync", "--expand"]);
    again.expect(0).stderr_has("contract is pending: run strata-manage db_sync --contract");
    assert!(!again.stderr.contains("The database is up to date"), "{again}");
    db.manage(&["db_sync", "--contract"]).expect(0);
    db.manage(&["db_sync", "--expand"]).expect(0).stderr_has("The database is up to date: nothing to do");
});

dbtest!(every_db_sync_ends_with_a_summary_line, |db| {
    let summary = |run: &crate::support::Run| {
        run.stderr.lines().filter(|line| line.contains(" done in ")).map(str::to_owned).collect::<Vec<_>>()
    };
    // Counted in the embedded tree: the base and the expand branch, then the contract branch.
    let graph = &embedded_trees().graph;
    let on_expand = graph.ancestors_inclusive(&EXPAND_HEAD).len();
    let on_contract = graph.ancestors_inclusive(&CONTRACT_HEAD).len() - 1;
    let expand = db.manage(&["db_sync", "--expand"]);
    let lines = summary(expand.expect(0));
    assert_eq!(lines.len(), 1, "{expand}");
    assert!(
        lines[0].contains("db_sync --expand done in ")
            && lines[0].ends_with(&format!(
                ": {on_expand} revisions applied, database at expand {EXPAND_HEAD}, contract None; contract pending: run strata-manage db_sync --contract when no node runs the previous release"
            )),
        "{expand}"
    );
    let full = db.manage(&["db_sync"]);
    let lines = summary(full.expect(0));
    assert!(
        lines.len() == 1
            && lines[0].contains("db_sync done in ")
            && lines[0].ends_with(&format!(
                ": {on_contract} revisions applied, database at expand {EXPAND_HEAD}, contract {CONTRACT_HEAD}"
            )),
        "{full}"
    );
    let again = db.manage(&["db_sync"]);
    let lines = summary(again.expect(0));
    assert!(lines.len() == 1 && lines[0].contains(": 0 revisions applied, database at expand"), "{again}");
});
