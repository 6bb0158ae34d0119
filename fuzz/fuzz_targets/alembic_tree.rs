//! The tree parsers on a few files: the input is split on NUL bytes into
//! `path, contents, path, contents, ...` (lossily decoded). It is parsed as an alembic tree,
//! as a legacy tree, and as both through `MigrationTrees::from_files`: no panic; a graph has
//! its base first and heads in their own branch; an error names the tree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata::graph::Branch;
use strata::tree::{alembic, legacy, MigrationTrees, TreeFile};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|byte| *byte == 0).map(|part| String::from_utf8_lossy(part).into_owned());
    let mut files = Vec::new();
    while let (Some(path), Some(contents)) = (parts.next(), parts.next()) {
        files.push(TreeFile { path, contents });
    }
    match alembic::parse("fuzz", &files) {
        Ok(graph) => {
            assert_eq!(graph.in_order().next().map(|rev| &rev.id), Some(&graph.base().id));
            for branch in Branch::ALL {
                if let Some(head) = graph.head(branch) {
                    assert_eq!(graph.branch_of(&head.id), Some(branch));
                }
            }
        }
        Err(error) => assert!(!error.to_string().is_empty()),
    }
    if let Ok(tree) = legacy::parse("fuzz", &files) {
        for repository in &tree.repositories {
            assert!(repository.versions.windows(2).all(|pair| pair[0].number + 1 == pair[1].number));
        }
    }
    let _ = MigrationTrees::from_files("fuzz-legacy", &files, "fuzz", &files);
});
