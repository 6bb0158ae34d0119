//! The trees compiled into the binary by `build.rs`.

use super::TreeFile;

include!(concat!(env!("OUT_DIR"), "/embedded_trees.rs"));

fn to_files(files: &[(&str, &str)]) -> Vec<TreeFile> {
    files
        .iter()
        .map(|(path, contents)| TreeFile { path: (*path).to_owned(), contents: (*contents).to_owned() })
        .collect()
}

/// `legacy_migrations/` as it was at build time.
pub(super) fn legacy_files() -> Vec<TreeFile> {
    to_files(LEGACY_FILES)
}

/// `alembic_versions/` as it was at build time.
pub(super) fn alembic_files() -> Vec<TreeFile> {
    to_files(ALEMBIC_FILES)
}
