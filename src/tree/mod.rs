//! Migration trees as data: the legacy repositories and the alembic revision folders.
//!
//! A tree is first read into a list of [`TreeFile`]s — from the copy embedded in the binary
//! at build time or from a directory — and then parsed by one parser, so the embedded trees
//! and a service's own trees obey exactly the same rules. Anything that is not part of a
//! migration is an error naming the file: a misnamed file must never be silently skipped.

pub mod alembic;
mod embedded;
pub mod legacy;

use std::cell::Cell;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use thiserror::Error;

use crate::dialect::Dialect;
use crate::graph::{GraphError, RevisionGraph};
use crate::sql::{MigrationSql, SplitError};

pub use legacy::{LegacyRepository, LegacyTree, LegacyVersion};

/// One file of a tree: its path relative to the tree's root (with `/`) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeFile {
    /// Path relative to the tree root, `/`-separated.
    pub path: String,
    /// The file's text.
    pub contents: String,
}

/// A malformed migration tree. Every variant names the file or folder at fault.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TreeError {
    /// A file or folder could not be read.
    #[error("cannot read migration tree {path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// A file is not UTF-8 text.
    #[error("migration file {path} is not UTF-8 text")]
    NotText {
        /// The file.
        path: String,
    },
    /// A file that is not part of any migration.
    #[error("{path} is not a migration file: {hint}")]
    UnexpectedFile {
        /// The file.
        path: String,
        /// What would have been expected there.
        hint: &'static str,
    },
    /// A metadata file that does not parse, or lacks a required key.
    #[error("cannot read {path}: {message}")]
    BadMetadata {
        /// The file.
        path: String,
        /// The parser's message.
        message: String,
    },
    /// A migration with no SQL for one backend.
    #[error("{path} has no SQL for {dialect}: add up.sql (all backends) or up.{dialect}.sql")]
    MissingSql {
        /// The migration folder.
        path: String,
        /// The backend left without SQL.
        dialect: Dialect,
    },
    /// A SQL file that cannot be split into statements.
    #[error("cannot split {path} into statements: {source}")]
    BadSql {
        /// The file.
        path: String,
        /// What is wrong.
        source: SplitError,
    },
    /// The revision graph is inconsistent (duplicate id, missing parent, cycle, ...).
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The legacy repositories are inconsistent.
    #[error("invalid legacy repository: {0}")]
    Legacy(String),
    /// The tree holds no revision at all.
    #[error("{0} holds no migration: point strata at a folder with revision folders")]
    Empty(String),
}

/// Reading a migration folder's SQL files.
trait FromSqlFiles: Sized {
    fn from_files(dir: &str, files: &[&TreeFile]) -> Result<Self, TreeError>;
    fn is_sql_file_name(name: &str) -> bool;
}

impl FromSqlFiles for MigrationSql {
    /// Builds the per-backend SQL of the migration folder `dir` from its `up*.sql` files,
    /// split now unless the tree is the embedded one (see [`SPLIT_LATER`]).
    fn from_files(dir: &str, files: &[&TreeFile]) -> Result<MigrationSql, TreeError> {
        let mut sql = MigrationSql::default();
        let mut shared: Option<Arc<str>> = None;
        for dialect in Dialect::ALL {
            let specific = format!("up.{}.sql", dialect.name());
            let (file, text) = match files.iter().find(|file| file_name(&file.path) == specific) {
                Some(file) => (file, Arc::from(file.contents.as_str())),
                None => {
                    let file = files
                        .iter()
                        .find(|file| file_name(&file.path) == "up.sql")
                        .ok_or_else(|| TreeError::MissingSql { path: dir.to_owned(), dialect })?;
                    (file, Arc::clone(shared.get_or_insert_with(|| Arc::from(file.contents.as_str()))))
                }
            };
            sql.set_source(dialect, format!("{dir}/{}", file_name(&file.path)), text);
        }
        if !SPLIT_LATER.get() {
            sql.check().map_err(|(path, source)| TreeError::BadSql { path, source })?;
        }
        Ok(sql)
    }

    /// Whether `name` is one of the SQL file names a migration folder may hold.
    fn is_sql_file_name(name: &str) -> bool {
        name == "up.sql" || Dialect::ALL.iter().any(|dialect| name == format!("up.{dialect}.sql"))
    }
}

thread_local! {
    /// Set while the embedded trees are read: their SQL is split when first needed, since a
    /// unit test splits all of it, so that commands that run no SQL split none. Any other
    /// tree's SQL is split as it is read, so a bad file fails every command.
    static SPLIT_LATER: Cell<bool> = const { Cell::new(false) };
}

/// The last component of a `/`-separated path.
fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The folder part of a `/`-separated path (empty at the root).
fn parent_dir(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// Both trees of a service, validated.
#[derive(Debug)]
pub struct MigrationTrees {
    /// The legacy repositories (empty for a service that never had any).
    pub legacy: LegacyTree,
    /// The alembic revision graph.
    pub graph: RevisionGraph,
}

/// The name the embedded alembic tree goes by in messages (its folder in the repository).
pub const EMBEDDED_ALEMBIC_ROOT: &str = "alembic_versions";

/// The files of the alembic tree embedded in this binary, as they were at build time.
pub fn embedded_alembic_files() -> Vec<TreeFile> {
    embedded::alembic_files()
}

impl MigrationTrees {
    /// Keystone's trees as embedded in this binary.
    pub fn embedded() -> Result<MigrationTrees, TreeError> {
        SPLIT_LATER.set(true);
        let trees = MigrationTrees::from_files(
            "legacy_migrations",
            &embedded::legacy_files(),
            EMBEDDED_ALEMBIC_ROOT,
            &embedded::alembic_files(),
        );
        SPLIT_LATER.set(false);
        trees
    }

    /// Another service's trees, read from two directories. `legacy` may be `None` for a
    /// service without legacy migrations.
    pub fn from_dirs(legacy: Option<&Path>, alembic: &Path) -> Result<MigrationTrees, TreeError> {
        let legacy_files = match legacy {
            Some(dir) => read_dir_files(dir)?,
            None => Vec::new(),
        };
        MigrationTrees::from_files(
            &legacy.map(|dir| dir.display().to_string()).unwrap_or_default(),
            &legacy_files,
            &alembic.display().to_string(),
            &read_dir_files(alembic)?,
        )
    }

    /// Parses and validates trees given as file lists; `*_root` only names the trees in
    /// errors.
    pub fn from_files(
        legacy_root: &str,
        legacy_files: &[TreeFile],
        alembic_root: &str,
        alembic_files: &[TreeFile],
    ) -> Result<MigrationTrees, TreeError> {
        let legacy = legacy::parse(legacy_root, legacy_files)?;
        let graph = alembic::parse(alembic_root, alembic_files)?;
        Ok(MigrationTrees { legacy, graph })
    }
}

/// Reads every file below `root` (sorted, so that error messages are reproducible).
pub fn read_dir_files(root: &Path) -> Result<Vec<TreeFile>, TreeError> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let io_error = |source| TreeError::Io { path: dir.clone(), source };
        for entry in fs::read_dir(&dir).map_err(io_error)? {
            let path = entry.map_err(io_error)?.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let relative = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .components()
                .map(|part| part.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            let bytes = fs::read(&path).map_err(|source| TreeError::Io { path: path.clone(), source })?;
            let contents =
                String::from_utf8(bytes).map_err(|_| TreeError::NotText { path: path.display().to_string() })?;
            files.push(TreeFile { path: relative, contents });
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// Groups files by their folder.
fn by_folder(files: &[TreeFile]) -> std::collections::BTreeMap<&str, Vec<&TreeFile>> {
    let mut folders: std::collections::BTreeMap<&str, Vec<&TreeFile>> = Default::default();
    for file in files {
        folders.entry(parent_dir(&file.path)).or_default().push(file);
    }
    folders
}

/// Joins a tree root and a relative path for messages.
pub(crate) fn shown(root: &str, path: &str) -> String {
    if root.is_empty() {
        path.to_owned()
    } else if path.is_empty() {
        root.to_owned()
    } else {
        format!("{root}/{path}")
    }
}
