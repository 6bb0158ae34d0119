//! The alembic-style tree: `revision.toml` + SQL per revision folder, `EXPAND_HEAD` and
//! `CONTRACT_HEAD` at the root.

use serde::Deserialize;

use super::{by_folder, file_name, shown, FromSqlFiles, TreeError, TreeFile};
use crate::graph::{Branch, Revision, RevisionGraph};
use crate::sql::MigrationSql;

/// Files allowed at the root of an alembic tree besides revision folders.
const ROOT_FILES: [&str; 3] = ["EXPAND_HEAD", "CONTRACT_HEAD", "README.md"];

/// `revision.toml`, parsed strictly: an unknown or missing key is an error, so that a typo
/// can never silently change what runs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RevisionMetadata {
    revision: String,
    #[serde(default)]
    down_revision: Option<OneOrMany>,
    branch_labels: Vec<String>,
    depends_on: Vec<String>,
    message: String,
    #[serde(default)]
    create_date: Option<String>,
}

/// `down_revision` is one id, or several for a merge revision.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(id) => vec![id],
            OneOrMany::Many(ids) => ids,
        }
    }
}

/// The revisions of an alembic tree and the heads its `EXPAND_HEAD` / `CONTRACT_HEAD` files
/// declare (with the file), read without validating the graph: what `revision` needs to
/// find a branch's heads in a tree that has two of them.
#[derive(Debug)]
pub struct ScannedTree {
    /// Every revision, in folder order.
    pub revisions: Vec<Revision>,
    /// `(branch, file, id)` for each head file.
    pub declared_heads: Vec<(Branch, String, String)>,
}

/// Parses an alembic tree given as files and validates its graph.
pub fn parse(root: &str, files: &[TreeFile]) -> Result<RevisionGraph, TreeError> {
    let ScannedTree { revisions, declared_heads } = scan(root, files)?;
    let graph = RevisionGraph::new(revisions)?;
    for (branch, path, declared) in declared_heads {
        let actual = graph.head(branch).map(|revision| revision.id.as_str());
        if actual != Some(declared.as_str()) {
            return Err(TreeError::Graph(crate::graph::GraphError(format!(
                "{} says the {branch} head is {declared:?}, but the graph's {branch} head is {}",
                shown(root, &path),
                actual.map_or("missing".to_owned(), |id| format!("{id:?}")),
            ))));
        }
    }
    Ok(graph)
}

/// Reads an alembic tree's revisions strictly (files, metadata, SQL), without building the
/// graph.
pub fn scan(root: &str, files: &[TreeFile]) -> Result<ScannedTree, TreeError> {
    let mut revisions = Vec::new();
    let mut declared_heads = Vec::new();
    for (dir, files) in by_folder(files) {
        let Some(metadata_file) = files.iter().find(|file| file_name(&file.path) == "revision.toml") else {
            for file in &files {
                let name = file_name(&file.path);
                if dir.is_empty() && ROOT_FILES.contains(&name) {
                    if let Some(branch) = Branch::from_head_file(name) {
                        declared_heads.push((branch, file.path.clone(), file.contents.trim().to_owned()));
                    }
                    continue;
                }
                let hint = if MigrationSql::is_sql_file_name(name) {
                    "its folder has no revision.toml"
                } else {
                    "a revision folder holds only revision.toml, up.sql and up.<backend>.sql"
                };
                return Err(TreeError::UnexpectedFile { path: shown(root, &file.path), hint });
            }
            continue;
        };
        for file in &files {
            let name = file_name(&file.path);
            if name != "revision.toml" && !MigrationSql::is_sql_file_name(name) {
                return Err(TreeError::UnexpectedFile {
                    path: shown(root, &file.path),
                    hint: "a revision folder holds only revision.toml, up.sql and up.<backend>.sql",
                });
            }
        }
        let metadata: RevisionMetadata = toml::from_str(&metadata_file.contents).map_err(|error| {
            TreeError::BadMetadata { path: shown(root, &metadata_file.path), message: error.message().to_owned() }
        })?;
        let sql = MigrationSql::from_files(&shown(root, dir), &files)?;
        revisions.push(Revision {
            id: metadata.revision,
            down_revisions: metadata.down_revision.map(OneOrMany::into_vec).unwrap_or_default(),
            branch_labels: metadata.branch_labels,
            depends_on: metadata.depends_on,
            message: metadata.message,
            create_date: metadata.create_date,
            path: shown(root, dir),
            folder_branch: folder_branch(dir),
            sql,
        });
    }
    if revisions.is_empty() {
        return Err(TreeError::Empty(root.to_owned()));
    }
    Ok(ScannedTree { revisions, declared_heads })
}

/// The branch a revision folder's location promises (`<release>/expand/<rev>_<slug>`).
fn folder_branch(dir: &str) -> Option<Branch> {
    let mut parts = dir.rsplit('/');
    parts.next()?;
    match parts.next()? {
        "expand" => Some(Branch::Expand),
        "contract" => Some(Branch::Contract),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, contents: &str) -> TreeFile {
        TreeFile { path: path.into(), contents: contents.into() }
    }

    fn revision(dir: &str, id: &str, down: Option<&str>, labels: &str) -> Vec<TreeFile> {
        let down = down.map(|down| format!("down_revision = \"{down}\"\n")).unwrap_or_default();
        vec![
            file(
                &format!("{dir}/revision.toml"),
                &format!(
                    "revision = \"{id}\"\n{down}branch_labels = [{labels}]\ndepends_on = []\nmessage = \"m {id}\"\n"
                ),
            ),
            file(&format!("{dir}/up.sql"), "SELECT 1;"),
        ]
    }

    fn small_tree() -> Vec<TreeFile> {
        let mut files = Vec::new();
        files.extend(revision("base_x", "base", None, ""));
        files.extend(revision("r1/expand/e1_x", "e1", Some("base"), "\"expand\""));
        files.extend(revision("r1/contract/c1_x", "c1", Some("base"), "\"contract\""));
        files.extend(revision("r2/expand/e2_x", "e2", Some("e1"), ""));
        files.push(file("EXPAND_HEAD", "e2\n"));
        files.push(file("CONTRACT_HEAD", "c1\n"));
        files
    }

    fn error_of(files: &[TreeFile]) -> String {
        parse("tree", files).unwrap_err().to_string()
    }

    #[test]
    fn parses_a_valid_tree() {
        let graph = parse("tree", &small_tree()).unwrap();
        assert_eq!(graph.head(Branch::Expand).unwrap().id, "e2");
        assert_eq!(graph.head(Branch::Contract).unwrap().id, "c1");
    }

    #[test]
    fn stray_files_are_errors_that_name_the_file() {
        let mut files = small_tree();
        files.push(file("r1/expand/e1_x/notes.txt", "hello"));
        assert!(error_of(&files).contains("tree/r1/expand/e1_x/notes.txt is not a migration file"));
        let mut files = small_tree();
        files.push(file("r3/expand/e3_x/up.sql", "SELECT 1;"));
        assert!(error_of(&files).contains("has no revision.toml"), "{}", error_of(&files));
    }

    #[test]
    fn metadata_is_strict() {
        let mut files = small_tree();
        files[0].contents.push_str("down_revison = \"typo\"\n");
        let error = error_of(&files);
        assert!(error.contains("tree/base_x/revision.toml") && error.contains("down_revison"), "{error}");
        let mut files = small_tree();
        files[0].contents = "revision = \"base\"\n".into();
        assert!(error_of(&files).contains("missing field"), "{}", error_of(&files));
    }

    #[test]
    fn head_files_must_match_the_graph() {
        let mut files = small_tree();
        files.retain(|file| file.path != "EXPAND_HEAD");
        files.push(file("EXPAND_HEAD", "e1\n"));
        assert!(error_of(&files).contains("says the expand head is \"e1\""), "{}", error_of(&files));
    }

    #[test]
    fn missing_backend_sql_is_named() {
        let mut files = small_tree();
        files.retain(|file| file.path != "r2/expand/e2_x/up.sql");
        files.push(file("r2/expand/e2_x/up.sqlite.sql", "SELECT 1;"));
        let error = error_of(&files);
        assert!(error.contains("tree/r2/expand/e2_x has no SQL for postgresql"), "{error}");
    }

    #[test]
    fn folder_must_agree_with_branch() {
        let mut files = small_tree();
        for file in &mut files {
            file.path = file.path.replace("r2/expand/", "r2/contract/");
        }
        let error = error_of(&files);
        assert!(error.contains("contract folder") && error.contains("expand branch"), "{error}");
    }
}
