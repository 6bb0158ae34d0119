//! Authoring revisions: what `strata-manage revision` writes into an alembic tree.
//!
//! A new revision is a folder `<release>/<branch>/<id>_<slug>/` with a `revision.toml`
//! (message, `create_date`, `down_revision` = the branch's current head) and an `up.sql`
//! template; the branch's `EXPAND_HEAD` / `CONTRACT_HEAD` file then names it. The id is 12
//! lowercase hex characters of a random (version 4) uuid, as alembic makes them, and the
//! slug is the message as alembic shortens it. When two people have each added a revision
//! to the same branch, the branch has two heads and no other command loads the tree; a
//! merge revision (`down_revision` = both heads) joins them again.
//!
//! The release folder is `--release`, or else the *newest* release folder: the one holding
//! the revision with the latest `create_date`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::graph::{Branch, Revision};
use crate::tree::{self, alembic, TreeError};

/// The longest slug, as alembic's default `truncate_slug_length`.
const SLUG_LENGTH: usize = 40;

/// What to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionRequest {
    /// The branch; for a merge, `None` means "the branch that has several heads".
    pub branch: Option<Branch>,
    /// A merge revision of the branch's heads.
    pub merge: bool,
    /// The message (`-m`).
    pub message: String,
    /// The release folder; `None`: the newest.
    pub release: Option<String>,
    /// Revisions (ids or unique prefixes) the new one depends on besides its parent.
    pub depends_on: Vec<String>,
    /// The id to give it (alembic's `--rev-id`: keystone's own id, when bringing a keystone
    /// revision over); `None`: a fresh random one.
    pub id: Option<String>,
}

/// A revision `revision` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedRevision {
    /// Its id.
    pub id: String,
    /// Its branch.
    pub branch: Branch,
    /// Its folder.
    pub folder: PathBuf,
    /// Its parents.
    pub down_revisions: Vec<String>,
}

/// Why a revision cannot be created.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AuthoringError {
    /// The tree as it is cannot be read.
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// A file could not be written.
    #[error("cannot write {}: {source}", .path.display())]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// No tree was named and none was found.
    #[error("no alembic tree: pass --alembic-dir DIR, or run from a strata checkout (a folder with alembic_versions/ and Cargo.toml, or below one)")]
    NoTree,
    /// The message is empty.
    #[error("the revision message is empty: say what the revision does with -m MESSAGE")]
    EmptyMessage,
    /// The tree has no release folder and none was named.
    #[error("{0} has no release folder (<release>/expand/…) yet: name one with --release NAME")]
    NoRelease(String),
    /// A release name that is not one folder name.
    #[error("release name '{0}' must be one folder name (letters, digits, '.', '-', '_')")]
    BadRelease(String),
    /// The branch has several heads: a new revision would not know its parent.
    #[error("the {branch} branch has {} heads, {}: join them first with strata-manage revision --merge --{branch} -m MESSAGE", .heads.len(), .heads.join(" and "))]
    SeveralHeads {
        /// The branch.
        branch: Branch,
        /// Its heads, with their folders.
        heads: Vec<String>,
    },
    /// `--merge` on a branch with one head (or none).
    #[error("the {branch} branch has {count} head{}: there is nothing to merge", if *.count == 1 { "" } else { "s" })]
    NothingToMerge {
        /// The branch.
        branch: Branch,
        /// How many heads it has.
        count: usize,
    },
    /// `--merge` without a branch, and no branch (or both) has several heads.
    #[error("{0}: name the branch to merge with --expand or --contract")]
    WhichBranch(&'static str),
    /// A `--rev-id` that cannot be a revision id.
    #[error("revision id '{0}' must be 1 to 32 letters, digits or '_' (alembic_version.version_num is VARCHAR(32))")]
    BadId(String),
    /// A `--rev-id` the tree already has.
    #[error("revision id '{id}' is already used by {path}")]
    DuplicateId {
        /// The id.
        id: String,
        /// The folder that has it.
        path: String,
    },
    /// A `--depends-on` revision that the tree does not have.
    #[error("--depends-on {0}: no such revision in the tree (give an id or the start of one)")]
    UnknownDependency(String),
}

/// Finds the alembic tree of the strata checkout that `start` is in: `alembic_versions/`
/// next to a `Cargo.toml`, in `start` or a folder above it.
pub fn find_checkout_tree(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join("alembic_versions"))
        .find(|tree| tree.is_dir() && tree.with_file_name("Cargo.toml").is_file())
}

/// A new revision id: the first 12 hex digits of a random uuid.
pub fn new_revision_id() -> String {
    let mut id = uuid::Uuid::new_v4().simple().to_string();
    id.truncate(12);
    id
}

/// The folder-name slug of a message, as alembic makes it: its words joined by `_`, lower
/// case, cut at a word boundary to at most 40 characters (then ending in `_`).
pub fn slug(message: &str) -> String {
    let words: Vec<String> = message
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect();
    let slug = words.join("_");
    if slug.chars().count() <= SLUG_LENGTH {
        return slug;
    }
    let cut: String = slug.chars().take(SLUG_LENGTH).collect();
    match cut.rsplit_once('_') {
        Some((kept, _)) => format!("{kept}_"),
        None => format!("{cut}_"),
    }
}

/// The current local time as alembic writes `create_date`.
fn now() -> String {
    let now = jiff::Zoned::now();
    format!("{}.{:06}", now.strftime("%Y-%m-%d %H:%M:%S"), now.subsec_nanosecond() / 1000)
}

/// Creates a revision in the tree at `dir` with a fresh id and the current time.
pub fn create_revision(dir: &Path, request: &RevisionRequest) -> Result<CreatedRevision, AuthoringError> {
    let id = request.id.clone().unwrap_or_else(new_revision_id);
    create_revision_with(dir, request, &id, &now())
}

/// Creates a revision with the given id and `create_date` (tests use fixed ones).
pub fn create_revision_with(
    dir: &Path,
    request: &RevisionRequest,
    id: &str,
    create_date: &str,
) -> Result<CreatedRevision, AuthoringError> {
    if request.message.trim().is_empty() {
        return Err(AuthoringError::EmptyMessage);
    }
    if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(AuthoringError::BadId(id.to_owned()));
    }
    let root = dir.display().to_string();
    let scanned = alembic::scan(&root, &tree::read_dir_files(dir)?)?;
    let revisions = &scanned.revisions;
    if let Some(existing) = revisions.iter().find(|revision| revision.id == id) {
        return Err(AuthoringError::DuplicateId { id: id.to_owned(), path: existing.path.clone() });
    }
    let heads = branch_heads(revisions);
    let (branch, down_revisions, label) = if request.merge {
        let branch = match request.branch {
            Some(branch) => branch,
            None => {
                let several: Vec<Branch> =
                    Branch::ALL.into_iter().filter(|&branch| heads_of(&heads, branch).len() > 1).collect();
                match several.as_slice() {
                    [branch] => *branch,
                    [] => return Err(AuthoringError::WhichBranch("no branch has several heads")),
                    _ => return Err(AuthoringError::WhichBranch("both branches have several heads")),
                }
            }
        };
        let own = heads_of(&heads, branch);
        if own.len() < 2 {
            return Err(AuthoringError::NothingToMerge { branch, count: own.len() });
        }
        let mut ids: Vec<String> = own.iter().map(|head| head.revision.id.clone()).collect();
        ids.sort();
        (branch, ids, false)
    } else {
        let branch = request.branch.unwrap_or(Branch::Expand);
        match heads_of(&heads, branch).as_slice() {
            [head] => (branch, vec![head.revision.id.clone()], !head.labelled),
            [] => {
                // The branch does not exist yet: it starts at the base, with its label.
                let base = revisions.iter().find(|revision| revision.down_revisions.is_empty());
                (branch, base.map(|base| vec![base.id.clone()]).unwrap_or_default(), true)
            }
            several => {
                return Err(AuthoringError::SeveralHeads {
                    branch,
                    heads: several
                        .iter()
                        .map(|head| format!("{} ({})", head.revision.id, head.revision.path))
                        .collect(),
                })
            }
        }
    };
    let depends_on = request
        .depends_on
        .iter()
        .map(|wanted| resolve(revisions, wanted))
        .collect::<Result<Vec<String>, AuthoringError>>()?;
    let release = match &request.release {
        Some(release) => {
            if release.is_empty()
                || release.starts_with('.')
                || !release.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_'))
            {
                return Err(AuthoringError::BadRelease(release.clone()));
            }
            release.clone()
        }
        None => newest_release(&root, revisions).ok_or_else(|| AuthoringError::NoRelease(root.clone()))?,
    };
    let folder = dir.join(&release).join(branch.label()).join(format!("{id}_{}", slug(&request.message)));
    let metadata =
        revision_toml(id, &down_revisions, label.then_some(branch), &depends_on, &request.message, create_date);
    let template = up_sql_template(id, branch, request.merge, &request.message);
    let write = |path: PathBuf, contents: &str| {
        fs::write(&path, contents).map_err(|source| AuthoringError::Write { path, source })
    };
    fs::create_dir_all(&folder).map_err(|source| AuthoringError::Write { path: folder.clone(), source })?;
    write(folder.join("revision.toml"), &metadata)?;
    write(folder.join("up.sql"), &template)?;
    let head_file = match branch {
        Branch::Expand => "EXPAND_HEAD",
        Branch::Contract => "CONTRACT_HEAD",
    };
    write(dir.join(head_file), &format!("{id}\n"))?;
    // The new revision is fine; the tree may still be broken elsewhere (the other branch
    // with two heads, say): say so now rather than at the next db_sync.
    if let Err(error) = tree::read_dir_files(dir).and_then(|files| alembic::parse(&root, &files)) {
        log::warn!("the tree does not load yet: {error}");
    }
    Ok(CreatedRevision { id: id.to_owned(), branch, folder, down_revisions })
}

/// A head of a branch, and whether the branch's label is declared on it or an ancestor
/// (else a new child must declare it).
struct Head<'a> {
    branch: Branch,
    revision: &'a Revision,
    labelled: bool,
}

fn heads_of<'h, 'a>(heads: &'h [Head<'a>], branch: Branch) -> Vec<&'h Head<'a>> {
    heads.iter().filter(|head| head.branch == branch).collect()
}

/// The revisions nothing has as `down_revision`, with their branch: the label declared on
/// them or inherited along `down_revision`, else their folder's, else expand (the base).
fn branch_heads(revisions: &[Revision]) -> Vec<Head<'_>> {
    let find = |id: &str| revisions.iter().find(|revision| revision.id == id);
    let label_of = |start: &Revision| -> Option<Branch> {
        let mut pending = vec![start];
        let mut seen = std::collections::BTreeSet::new();
        while let Some(revision) = pending.pop() {
            if !seen.insert(revision.id.clone()) {
                continue;
            }
            for label in &revision.branch_labels {
                if let Some(branch) = Branch::ALL.into_iter().find(|branch| branch.label() == label) {
                    return Some(branch);
                }
            }
            pending.extend(revision.down_revisions.iter().filter_map(|id| find(id)));
        }
        None
    };
    revisions
        .iter()
        .filter(|candidate| !revisions.iter().any(|other| other.down_revisions.contains(&candidate.id)))
        .map(|revision| {
            let label = label_of(revision);
            Head {
                branch: label.or(revision.folder_branch).unwrap_or(Branch::Expand),
                revision,
                labelled: label.is_some(),
            }
        })
        .collect()
}

/// A `--depends-on` argument as a full id: an id, or a prefix of exactly one.
fn resolve(revisions: &[Revision], wanted: &str) -> Result<String, AuthoringError> {
    if revisions.iter().any(|revision| revision.id == wanted) {
        return Ok(wanted.to_owned());
    }
    let matches: Vec<&Revision> =
        revisions.iter().filter(|revision| !wanted.is_empty() && revision.id.starts_with(wanted)).collect();
    match matches.as_slice() {
        [only] => Ok(only.id.clone()),
        _ => Err(AuthoringError::UnknownDependency(wanted.to_owned())),
    }
}

/// The release folder (`<release>/<branch>/<revision>`) of the revision with the latest
/// `create_date`.
fn newest_release(root: &str, revisions: &[Revision]) -> Option<String> {
    revisions
        .iter()
        .filter_map(|revision| {
            let relative = revision.path.strip_prefix(root).unwrap_or(&revision.path).trim_start_matches('/');
            let parts: Vec<&str> = relative.split('/').collect();
            match parts.as_slice() {
                [release, "expand" | "contract", _] => Some((revision.create_date.clone(), release.to_string())),
                _ => None,
            }
        })
        .max()
        .map(|(_, release)| release)
}

/// `revision.toml`, in the order its fields are read.
#[derive(serde::Serialize)]
struct RevisionMetadata<'a> {
    revision: &'a str,
    down_revision: DownRevision<'a>,
    branch_labels: Vec<&'a str>,
    depends_on: &'a [String],
    message: &'a str,
    create_date: &'a str,
}

/// One parent as a string, a merge's parents as a list, as alembic writes them.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum DownRevision<'a> {
    One(&'a str),
    Several(&'a [String]),
}

fn revision_toml(
    id: &str,
    down_revisions: &[String],
    label: Option<Branch>,
    depends_on: &[String],
    message: &str,
    create_date: &str,
) -> String {
    let metadata = RevisionMetadata {
        revision: id,
        down_revision: match down_revisions {
            [one] => DownRevision::One(one),
            several => DownRevision::Several(several),
        },
        branch_labels: label.map(Branch::label).into_iter().collect(),
        depends_on,
        message: message.trim(),
        create_date,
    };
    toml::to_string(&metadata).expect("strings and lists of strings always serialize")
}

fn up_sql_template(id: &str, branch: Branch, merge: bool, message: &str) -> String {
    let first_line = message.trim().lines().next().unwrap_or_default();
    let what = if merge {
        "-- A merge revision joins the branch's heads again; it usually holds no SQL.\n".to_owned()
    } else {
        match branch {
            Branch::Expand => "-- Expand: only add, while the previous release still runs. Allowed: CREATE TABLE,\n\
                 -- INDEX, VIEW or TRIGGER; ADD COLUMN that is nullable or has a DEFAULT; a wider type;\n\
                 -- DROP DEFAULT or DROP NOT NULL; a constraint no existing row can violate.\n\
                 -- Drops, renames, narrower types and NOT NULL without a default go in contract.\n"
                .to_owned(),
            Branch::Contract => "-- Contract: runs once no node runs the previous release. Drop and rename here,\n\
                 -- tighten constraints, drop indexes; never create tables or add columns (expand).\n"
                .to_owned(),
        }
    };
    format!(
        "-- {id}: {first_line}\n{what}\
         -- SQL every backend accepts goes here; where backends differ, write up.sqlite.sql,\n\
         -- up.postgresql.sql or up.mysql.sql next to this file instead. `strata-manage lint`\n\
         -- checks the rules; an exception is a comment before the statement:\n\
         -- `-- strata: allow <rule-id>: <why>`.\n"
    )
}

#[cfg(test)]
mod tests;
