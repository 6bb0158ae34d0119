//! The legacy sqlalchemy-migrate style repositories: `<repo>/migrate.cfg` and
//! `<repo>/versions/NNN_<slug>/up*.sql`.
//!
//! Versions are integers parsed from the folder name and ordered as numbers (never as
//! strings: `10_x` comes after `9_x`). Duplicates and gaps are errors.

use std::collections::BTreeMap;

use ini::Ini;

use super::{by_folder, file_name, shown, FromSqlFiles, TreeError, TreeFile};
use crate::sql::MigrationSql;

/// The repository folders, in the order keystone applies them.
pub const REPOSITORY_DIRS: [&str; 3] = ["expand_repo", "data_migration_repo", "contract_repo"];

/// One legacy version of one repository.
#[derive(Debug, Clone)]
pub struct LegacyVersion {
    /// The version number (`73` for `073_expand_initial_migration`).
    pub number: i64,
    /// The folder name, for logs.
    pub name: String,
    /// What it runs.
    pub sql: MigrationSql,
}

/// One repository (`expand_repo` …) with its versions in order.
#[derive(Debug, Clone)]
pub struct LegacyRepository {
    /// Folder name, e.g. `expand_repo`.
    pub dir: String,
    /// `repository_id` of `migrate.cfg`, the key of its `migrate_version` row.
    pub repository_id: String,
    /// Versions, ascending and contiguous.
    pub versions: Vec<LegacyVersion>,
}

impl LegacyRepository {
    /// The lowest version a database may be at for this repository to upgrade it (the
    /// number before its first version: 72 for keystone after the Yoga squash).
    pub fn initial_version(&self) -> i64 {
        self.versions.first().map_or(0, |version| version.number - 1)
    }

    /// The version a fully upgraded database is at (79 for keystone).
    pub fn latest_version(&self) -> i64 {
        self.versions.last().map_or(0, |version| version.number)
    }
}

/// All legacy repositories of a service, in application order (expand, data migration,
/// contract). Empty for a service that never used sqlalchemy-migrate.
#[derive(Debug, Clone, Default)]
pub struct LegacyTree {
    /// The repositories present, in [`REPOSITORY_DIRS`] order.
    pub repositories: Vec<LegacyRepository>,
}

impl LegacyTree {
    /// The repository whose `migrate_version` row decides whether a database is under
    /// legacy control (keystone consults only the expand repository).
    pub fn controlling(&self) -> Option<&LegacyRepository> {
        self.repositories.first()
    }
}

/// Parses a legacy tree given as files.
pub fn parse(root: &str, files: &[TreeFile]) -> Result<LegacyTree, TreeError> {
    let mut configs: BTreeMap<&str, &TreeFile> = BTreeMap::new();
    let mut versions: BTreeMap<&str, Vec<LegacyVersion>> = BTreeMap::new();
    for (dir, files) in by_folder(files) {
        let parts: Vec<&str> = if dir.is_empty() { Vec::new() } else { dir.split('/').collect() };
        match parts.as_slice() {
            [] => expect_only(root, &files, &["README.md"], "the legacy root holds only repository folders")?,
            [repo] if REPOSITORY_DIRS.contains(repo) => {
                expect_only(root, &files, &["migrate.cfg", "README.md"], "a repository folder holds migrate.cfg and versions/")?;
                if let Some(config) = files.iter().find(|file| file_name(&file.path) == "migrate.cfg") {
                    configs.insert(repo, config);
                }
            }
            [repo, "versions", version_dir] if REPOSITORY_DIRS.contains(repo) => {
                for file in &files {
                    if !MigrationSql::is_sql_file_name(file_name(&file.path)) {
                        return Err(TreeError::UnexpectedFile {
                            path: shown(root, &file.path),
                            hint: "a legacy version folder holds only up.sql and up.<backend>.sql",
                        });
                    }
                }
                let number = parse_version_number(version_dir).ok_or_else(|| TreeError::UnexpectedFile {
                    path: shown(root, dir),
                    hint: "legacy version folders are named NNN_<slug>, NNN a number",
                })?;
                let sql = MigrationSql::from_files(&shown(root, dir), &files)?;
                versions.entry(repo).or_default().push(LegacyVersion {
                    number,
                    name: (*version_dir).to_owned(),
                    sql,
                });
            }
            _ => {
                return Err(TreeError::UnexpectedFile {
                    path: shown(root, &files[0].path),
                    hint: "legacy trees hold expand_repo, data_migration_repo and contract_repo, each with migrate.cfg and versions/NNN_<slug>/",
                })
            }
        }
    }
    let mut repositories = Vec::new();
    for dir in REPOSITORY_DIRS {
        let config = configs.get(dir);
        let repo_versions = versions.remove(dir).unwrap_or_default();
        let Some(config) = config else {
            if repo_versions.is_empty() {
                continue;
            }
            return Err(TreeError::Legacy(format!("{} has versions but no migrate.cfg", shown(root, dir))));
        };
        let repository_id = repository_id(root, config)?;
        repositories.push(ordered_repository(root, dir, repository_id, repo_versions)?);
    }
    if !repositories.is_empty() && repositories[0].dir != REPOSITORY_DIRS[0] {
        return Err(TreeError::Legacy(format!(
            "{} has no expand_repo: it decides whether a database is under legacy control",
            shown(root, "")
        )));
    }
    Ok(LegacyTree { repositories })
}

fn expect_only(root: &str, files: &[&TreeFile], allowed: &[&str], hint: &'static str) -> Result<(), TreeError> {
    match files.iter().find(|file| !allowed.contains(&file_name(&file.path))) {
        Some(file) => Err(TreeError::UnexpectedFile { path: shown(root, &file.path), hint }),
        None => Ok(()),
    }
}

fn parse_version_number(dir: &str) -> Option<i64> {
    let (number, slug) = dir.split_once('_')?;
    if slug.is_empty() || number.is_empty() || !number.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    number.parse().ok()
}

fn repository_id(root: &str, config: &TreeFile) -> Result<String, TreeError> {
    let bad = |message: String| TreeError::BadMetadata { path: shown(root, &config.path), message };
    let ini = Ini::load_from_str(&config.contents).map_err(|error| bad(error.to_string()))?;
    let settings = ini.section(Some("db_settings")).ok_or_else(|| bad("no [db_settings] section".into()))?;
    if let Some(table) = settings.get("version_table") {
        if table.trim() != "migrate_version" {
            return Err(bad(format!("version_table is '{table}'; strata supports only migrate_version")));
        }
    }
    settings
        .get("repository_id")
        .map(|id| id.trim().to_owned())
        .filter(|id| !id.is_empty())
        .ok_or_else(|| bad("[db_settings] has no repository_id".into()))
}

fn ordered_repository(
    root: &str,
    dir: &str,
    repository_id: String,
    mut versions: Vec<LegacyVersion>,
) -> Result<LegacyRepository, TreeError> {
    versions.sort_by_key(|version| version.number);
    for pair in versions.windows(2) {
        let (previous, next) = (&pair[0], &pair[1]);
        if previous.number == next.number {
            return Err(TreeError::Legacy(format!(
                "{} has two versions numbered {}: {} and {}",
                shown(root, dir),
                next.number,
                previous.name,
                next.name
            )));
        }
        if next.number != previous.number + 1 {
            return Err(TreeError::Legacy(format!(
                "{} jumps from version {} to {}: legacy versions must be contiguous",
                shown(root, dir),
                previous.number,
                next.number
            )));
        }
    }
    Ok(LegacyRepository { dir: dir.to_owned(), repository_id, versions })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, contents: &str) -> TreeFile {
        TreeFile { path: path.into(), contents: contents.into() }
    }

    fn repo(dir: &str, id: &str, numbers: &[&str]) -> Vec<TreeFile> {
        let mut files = vec![file(
            &format!("{dir}/migrate.cfg"),
            &format!("[db_settings]\nrepository_id={id}\nversion_table=migrate_version\n"),
        )];
        for number in numbers {
            files.push(file(&format!("{dir}/versions/{number}_step/up.sql"), "SELECT 1;"));
        }
        files
    }

    #[test]
    fn versions_are_ordered_as_numbers() {
        let files = repo("expand_repo", "svc_expand", &["9", "10", "8"]);
        let tree = parse("legacy", &files).unwrap();
        let numbers: Vec<i64> = tree.repositories[0].versions.iter().map(|v| v.number).collect();
        assert_eq!(numbers, vec![8, 9, 10]);
        assert_eq!(tree.repositories[0].initial_version(), 7);
        assert_eq!(tree.repositories[0].latest_version(), 10);
    }

    #[test]
    fn duplicates_and_gaps_are_errors() {
        let mut files = repo("expand_repo", "svc_expand", &["073", "074"]);
        files.push(file("expand_repo/versions/074_other/up.sql", "SELECT 2;"));
        let error = parse("legacy", &files).unwrap_err().to_string();
        assert!(error.contains("two versions numbered 74"), "{error}");
        let files = repo("expand_repo", "svc_expand", &["073", "075"]);
        let error = parse("legacy", &files).unwrap_err().to_string();
        assert!(error.contains("jumps from version 73 to 75"), "{error}");
    }

    #[test]
    fn stray_files_and_bad_names_are_errors() {
        let mut files = repo("expand_repo", "svc_expand", &["073"]);
        files.push(file("expand_repo/versions/073_step/upgrade.py", "pass"));
        let error = parse("legacy", &files).unwrap_err().to_string();
        assert!(error.contains("legacy/expand_repo/versions/073_step/upgrade.py is not a migration file"), "{error}");
        let mut files = repo("expand_repo", "svc_expand", &[]);
        files.push(file("expand_repo/versions/first_step/up.sql", "SELECT 1;"));
        let error = parse("legacy", &files).unwrap_err().to_string();
        assert!(error.contains("NNN_<slug>"), "{error}");
    }

    #[test]
    fn migrate_cfg_needs_a_repository_id() {
        let files = vec![file("expand_repo/migrate.cfg", "[db_settings]\nversion_table=migrate_version\n")];
        let error = parse("legacy", &files).unwrap_err().to_string();
        assert!(error.contains("legacy/expand_repo/migrate.cfg") && error.contains("repository_id"), "{error}");
    }
}
