//! Graph validation, planning and tree loading on synthetic trees (see benches/README.md):
//!
//! ```text
//! cargo bench --bench trees [-- SIZES] [--no-load]   # SIZES default: 1000,10000,100000
//! ```
//!
//! Plain timing with `std::time::Instant` (best of several runs), so that the benchmark adds
//! no dependency to the build. `cargo test --all-targets` builds it and runs it without
//! `--bench`, which returns at once.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use strata::graph::{Branch, Revision, RevisionGraph};
use strata::plan::{self, Target};
use strata::sql::MigrationSql;
use strata::state::DatabaseState;
use strata::tree::{read_dir_files, LegacyTree, MigrationTrees};
use strata::Dialect;

/// Revisions of a synthetic tree: a base, then half the rest on the expand branch and half
/// on the contract branch, each a chain, as keystone's tree is.
fn revisions(count: usize) -> Vec<Revision> {
    let mut sql = MigrationSql::default();
    for dialect in Dialect::ALL {
        sql.set(dialect, vec!["SELECT 1".to_owned()]);
    }
    let revision = |index: usize, parent: Option<String>, branch: Option<Branch>, first: bool| Revision {
        id: id(index),
        down_revisions: parent.into_iter().collect(),
        branch_labels: match (branch, first) {
            (Some(branch), true) => vec![branch.label().to_owned()],
            _ => Vec::new(),
        },
        depends_on: Vec::new(),
        message: format!("revision {index}"),
        create_date: None,
        path: format!("tree/{index}"),
        folder_branch: branch,
        sql: sql.clone(),
    };
    let mut all = vec![revision(0, None, None, false)];
    let expand = (count - 1) / 2;
    for index in 1..count {
        let branch = if index <= expand { Branch::Expand } else { Branch::Contract };
        let first = index == 1 || index == expand + 1;
        let parent = if first { 0 } else { index - 1 };
        all.push(revision(index, Some(id(parent)), Some(branch), first));
    }
    all
}

fn id(index: usize) -> String {
    format!("{index:012x}")
}

/// The shortest of `runs` timings of `work`, each on a fresh input from `setup` (not timed).
fn best<I, O>(runs: usize, mut setup: impl FnMut() -> I, mut work: impl FnMut(I) -> O) -> Duration {
    (0..runs)
        .map(|_| {
            let input = setup();
            let started = Instant::now();
            let output = std::hint::black_box(work(input));
            let elapsed = started.elapsed();
            // Freeing the result is not part of the work.
            drop(output);
            elapsed
        })
        .min()
        .expect("at least one run")
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Writes a synthetic tree of `count` revisions as an alembic directory.
fn write_tree(root: &Path, count: usize) {
    let all = revisions(count);
    let mut heads = (String::new(), String::new());
    for revision in &all {
        let folder = match revision.folder_branch {
            Some(branch) => root.join("2026.1").join(branch.label()).join(format!("{}_step", revision.id)),
            None => root.join(format!("{}_base", revision.id)),
        };
        fs::create_dir_all(&folder).unwrap();
        let down = revision.down_revisions.first().map(|parent| format!("down_revision = \"{parent}\"\n"));
        let labels: Vec<String> = revision.branch_labels.iter().map(|label| format!("\"{label}\"")).collect();
        fs::write(
            folder.join("revision.toml"),
            format!(
                "revision = \"{}\"\n{}branch_labels = [{}]\ndepends_on = []\nmessage = \"{}\"\n",
                revision.id,
                down.unwrap_or_default(),
                labels.join(", "),
                revision.message
            ),
        )
        .unwrap();
        fs::write(folder.join("up.sql"), "CREATE TABLE t (id INTEGER);\nDROP TABLE t;\n").unwrap();
        match revision.folder_branch {
            Some(Branch::Expand) => heads.0.clone_from(&revision.id),
            Some(Branch::Contract) => heads.1.clone_from(&revision.id),
            None => {}
        }
    }
    fs::write(root.join("EXPAND_HEAD"), format!("{}\n", heads.0)).unwrap();
    fs::write(root.join("CONTRACT_HEAD"), format!("{}\n", heads.1)).unwrap();
}

/// Just reading every file of a directory tree: the floor for loading it.
fn read_all(root: &Path) -> usize {
    let mut bytes = 0;
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                bytes += fs::read(&path).unwrap().len();
            }
        }
    }
    bytes
}

fn main() {
    // `cargo test --all-targets` runs this without `--bench`: nothing to measure then.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|arg| arg == "--bench") {
        return;
    }
    let sizes: Vec<usize> = args
        .iter()
        .find(|arg| !arg.starts_with('-'))
        .map(|list| list.split(',').map(|size| size.parse().expect("sizes are numbers")).collect())
        .unwrap_or_else(|| vec![1_000, 10_000, 100_000]);

    println!("graph validation and planning, in memory (best of 5)");
    println!(
        "{:>8} {:>12} {:>12} {:>10} {:>10} {:>12} {:>12}",
        "revs", "validate ms", "plan ms", "check µs", "version µs", "validate/rev", "plan/rev"
    );
    for &count in &sizes {
        let input = revisions(count);
        let validate = best(5, || input.clone(), |revisions| RevisionGraph::new(revisions).expect("valid tree"));
        let trees = MigrationTrees {
            legacy: LegacyTree::default(),
            graph: RevisionGraph::new(input.clone()).expect("valid tree"),
        };
        let fresh = DatabaseState::default();
        let plan = best(5, || (), |()| plan::plan_sync(&trees, &fresh, Target::Full).expect("plans").unit_ids().len());
        let at_heads = DatabaseState {
            alembic_versions: Some(trees.graph.heads().map(|(_, revision)| revision.id.clone()).collect()),
            ..DatabaseState::default()
        };
        let check = best(5, || (), |()| plan::check(&trees, &at_heads).expect("checks"));
        let version = best(5, || (), |()| plan::db_version(&trees, &at_heads).expect("answers"));
        let per_revision = |duration: Duration| format!("{:.0} ns", duration.as_secs_f64() * 1e9 / count as f64);
        println!(
            "{count:>8} {:>12.2} {:>12.2} {:>10.1} {:>10.1} {:>12} {:>12}",
            ms(validate),
            ms(plan),
            check.as_secs_f64() * 1e6,
            version.as_secs_f64() * 1e6,
            per_revision(validate),
            per_revision(plan)
        );
    }

    if args.iter().any(|arg| arg == "--no-load") {
        return;
    }
    let count = 10_000;
    let scratch = tempfile::tempdir().expect("temporary directory");
    write_tree(scratch.path(), count);
    println!();
    println!("loading a {count}-revision tree from a directory (best of 5, page cache warm)");
    let floor = best(5, || (), |()| read_all(scratch.path()));
    let listed = best(5, || (), |()| read_dir_files(scratch.path()).expect("readable").len());
    let loaded = best(5, || (), |()| MigrationTrees::from_dirs(None, scratch.path()).expect("valid tree"));
    println!("{:>36} {:>8.1} ms", "reading every file (floor)", ms(floor));
    println!("{:>36} {:>8.1} ms", "tree::read_dir_files", ms(listed));
    println!("{:>36} {:>8.1} ms  ({:.2}x the floor)", "MigrationTrees::from_dirs", ms(loaded), ms(loaded) / ms(floor));
}
