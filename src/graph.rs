//! The alembic revision graph: validated once, before any database is touched.
//!
//! Checks: unique ids, every parent and dependency present, exactly one base, no cycle,
//! branch labels consistent along every path, at most one head per branch, and revision
//! folders placed under the branch they belong to. Heads are classified as keystone does:
//! a revision in the `contract` branch is a contract head, anything else (the base
//! included) counts as expand.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::Serialize;
use thiserror::Error;

use crate::sql::MigrationSql;

/// The two branches of an expand/contract migration tree. Serialized as its label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Branch {
    /// Additive changes, safe while old code still runs.
    Expand,
    /// Destructive changes, run once no old code is left.
    Contract,
}

impl Branch {
    /// Both branches in the order a full `db_sync` applies them.
    pub const ALL: [Branch; 2] = [Branch::Expand, Branch::Contract];

    /// The branch label as written in `branch_labels`.
    pub fn label(self) -> &'static str {
        match self {
            Branch::Expand => "expand",
            Branch::Contract => "contract",
        }
    }

    fn from_label(label: &str) -> Option<Branch> {
        match label {
            "expand" => Some(Branch::Expand),
            "contract" => Some(Branch::Contract),
            _ => None,
        }
    }

    /// The branch whose head an `EXPAND_HEAD` / `CONTRACT_HEAD` file names.
    pub(crate) fn from_head_file(name: &str) -> Option<Branch> {
        match name {
            "EXPAND_HEAD" => Some(Branch::Expand),
            "CONTRACT_HEAD" => Some(Branch::Contract),
            _ => None,
        }
    }
}

impl fmt::Display for Branch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One revision of the graph.
#[derive(Debug, Clone)]
pub struct Revision {
    /// The revision id (`b4f8b3f584e0`).
    pub id: String,
    /// Parent ids; empty for the base, several for a merge.
    pub down_revisions: Vec<String>,
    /// Labels declared on this revision (children inherit them).
    pub branch_labels: Vec<String>,
    /// Extra ordering dependencies.
    pub depends_on: Vec<String>,
    /// One-line description for the log.
    pub message: String,
    /// When the revision was written, as its author recorded it (informational).
    pub create_date: Option<String>,
    /// Where it was loaded from, for error messages.
    pub path: String,
    /// The branch its folder (`<release>/<branch>/…`) promises, if any.
    pub folder_branch: Option<Branch>,
    /// Its SQL per backend.
    pub sql: MigrationSql,
}

/// A validated revision graph.
#[derive(Debug)]
pub struct RevisionGraph {
    revisions: Vec<Revision>,
    index: HashMap<String, usize>,
    /// Branch of each revision (`None` only for revisions above every branch root).
    branches: Vec<Option<Branch>>,
    /// Revisions in dependency order (parents first).
    order: Vec<usize>,
    base: usize,
    heads: BTreeMap<Branch, usize>,
}

/// An inconsistent revision graph (duplicate id, missing parent, cycle, ...), described for
/// the author of the tree.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("invalid revision graph: {0}")]
pub struct GraphError(pub String);

/// A revision asked for by id or id prefix that the graph cannot name.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum LookupError {
    /// No revision id is or starts with the text.
    #[error("no revision '{0}' in the migration tree (neither an id nor the start of one); strata-manage history lists the revisions")]
    Unknown(String),
    /// Several revision ids start with the text.
    #[error("revision prefix '{prefix}' is ambiguous: it matches {}; give more characters", .candidates.join(", "))]
    Ambiguous {
        /// The prefix given.
        prefix: String,
        /// Every id it starts, sorted.
        candidates: Vec<String>,
    },
}

fn graph_error(message: String) -> GraphError {
    GraphError(message)
}

impl RevisionGraph {
    /// Validates revisions and builds the graph.
    pub fn new(revisions: Vec<Revision>) -> Result<RevisionGraph, GraphError> {
        let mut index = HashMap::new();
        for (position, revision) in revisions.iter().enumerate() {
            if revision.id.is_empty()
                || revision.id.len() > 32
                || !revision.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                return Err(graph_error(format!(
                    "{}: revision id {:?} must be 1 to 32 letters, digits or '_' (it is stored in alembic_version.version_num VARCHAR(32))",
                    revision.path, revision.id
                )));
            }
            if let Some(first) = index.insert(revision.id.clone(), position) {
                return Err(graph_error(format!(
                    "revision '{}' is defined twice: {} and {}",
                    revision.id, revisions[first].path, revision.path
                )));
            }
        }
        let mut parents: Vec<Vec<usize>> = Vec::with_capacity(revisions.len());
        for revision in &revisions {
            let mut own = Vec::new();
            for (kind, id) in revision
                .down_revisions
                .iter()
                .map(|id| ("down_revision", id))
                .chain(revision.depends_on.iter().map(|id| ("depends_on", id)))
            {
                let parent = *index.get(id).ok_or_else(|| {
                    graph_error(format!(
                        "{}: {kind} '{id}' of revision '{}' does not exist in the tree",
                        revision.path, revision.id
                    ))
                })?;
                own.push(parent);
            }
            parents.push(own);
        }
        let bases: Vec<usize> = (0..revisions.len()).filter(|&r| revisions[r].down_revisions.is_empty()).collect();
        let base = match bases.as_slice() {
            [base] => *base,
            [] => {
                return Err(graph_error(format!(
                    "no base revision (one without down_revision): the graph has a cycle through {}",
                    revisions[0].path
                )))
            }
            several => {
                let paths: Vec<&str> = several.iter().map(|&r| revisions[r].path.as_str()).collect();
                return Err(graph_error(format!("more than one base revision: {}", paths.join(", "))));
            }
        };
        let order = topological_order(&revisions, &parents)?;
        let branches = assign_branches(&revisions, &index, &order)?;
        // As in alembic, heads and branch labels follow down_revision only; depends_on
        // orders revisions without making them children.
        let mut has_children = vec![false; revisions.len()];
        for revision in &revisions {
            for parent in &revision.down_revisions {
                has_children[index[parent]] = true;
            }
        }
        let mut heads = BTreeMap::new();
        for position in (0..revisions.len()).filter(|&r| !has_children[r]) {
            let branch = branches[position].unwrap_or(Branch::Expand);
            if let Some(other) = heads.insert(branch, position) {
                return Err(graph_error(format!(
                    "the {branch} branch has two heads, '{}' ({}) and '{}' ({}): add a merge revision or fix a down_revision",
                    revisions[other].id, revisions[other].path, revisions[position].id, revisions[position].path
                )));
            }
        }
        Ok(RevisionGraph { revisions, index, branches, order, base, heads })
    }

    /// A revision by id.
    pub fn get(&self, id: &str) -> Option<&Revision> {
        self.index.get(id).map(|&position| &self.revisions[position])
    }

    /// A revision by its id or, as alembic accepts, by a prefix of its id that no other id
    /// shares. An exact id always wins over a longer id it is the prefix of.
    pub fn find(&self, id_or_prefix: &str) -> Result<&Revision, LookupError> {
        if let Some(revision) = self.get(id_or_prefix) {
            return Ok(revision);
        }
        let mut matches: Vec<&Revision> = if id_or_prefix.is_empty() {
            Vec::new()
        } else {
            self.revisions.iter().filter(|revision| revision.id.starts_with(id_or_prefix)).collect()
        };
        match matches.len() {
            0 => Err(LookupError::Unknown(id_or_prefix.to_owned())),
            1 => Ok(matches.remove(0)),
            _ => {
                let mut candidates: Vec<String> = matches.iter().map(|revision| revision.id.clone()).collect();
                candidates.sort();
                Err(LookupError::Ambiguous { prefix: id_or_prefix.to_owned(), candidates })
            }
        }
    }

    /// Whether `id` is the head of its branch.
    pub fn is_head(&self, id: &str) -> bool {
        self.index.get(id).is_some_and(|position| self.heads.values().any(|head| head == position))
    }

    /// The heads of the branches the graph has, expand first.
    pub fn heads(&self) -> impl Iterator<Item = (Branch, &Revision)> {
        self.heads.iter().map(|(&branch, &position)| (branch, &self.revisions[position]))
    }

    /// The base revision (the one that is stamped on a legacy database).
    pub fn base(&self) -> &Revision {
        &self.revisions[self.base]
    }

    /// The head of a branch, if the branch exists.
    pub fn head(&self, branch: Branch) -> Option<&Revision> {
        self.heads.get(&branch).map(|&position| &self.revisions[position])
    }

    /// The branch a revision belongs to; the base and anything not below a labelled
    /// revision count as expand, as in keystone.
    pub fn branch_of(&self, id: &str) -> Option<Branch> {
        self.index.get(id).map(|&position| self.branches[position].unwrap_or(Branch::Expand))
    }

    /// `id` and all its ancestors.
    pub fn ancestors_inclusive(&self, id: &str) -> Vec<&Revision> {
        let Some(&start) = self.index.get(id) else {
            return Vec::new();
        };
        let mut seen = vec![false; self.revisions.len()];
        let mut pending = vec![start];
        while let Some(position) = pending.pop() {
            if std::mem::replace(&mut seen[position], true) {
                continue;
            }
            for parent in self.parent_positions(position) {
                pending.push(parent);
            }
        }
        self.order.iter().filter(|&&r| seen[r]).map(|&r| &self.revisions[r]).collect()
    }

    /// Every revision, parents before children (`.rev()`: newest first, as `history` lists
    /// them).
    pub fn in_order(&self) -> impl DoubleEndedIterator<Item = &Revision> {
        self.order.iter().map(|&position| &self.revisions[position])
    }

    fn parent_positions(&self, position: usize) -> impl Iterator<Item = usize> + '_ {
        let revision = &self.revisions[position];
        revision.down_revisions.iter().chain(&revision.depends_on).map(|id| self.index[id])
    }
}

/// Kahn's algorithm; a revision left over is on a cycle.
fn topological_order(revisions: &[Revision], parents: &[Vec<usize>]) -> Result<Vec<usize>, GraphError> {
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); revisions.len()];
    let mut waiting: Vec<usize> = parents.iter().map(Vec::len).collect();
    for (child, own) in parents.iter().enumerate() {
        for &parent in own {
            children[parent].push(child);
        }
    }
    let mut ready: Vec<usize> = (0..revisions.len()).filter(|&r| waiting[r] == 0).rev().collect();
    let mut order = Vec::with_capacity(revisions.len());
    while let Some(position) = ready.pop() {
        order.push(position);
        for &child in children[position].iter().rev() {
            waiting[child] -= 1;
            if waiting[child] == 0 {
                ready.push(child);
            }
        }
    }
    if let Some(stuck) = (0..revisions.len()).find(|&r| waiting[r] > 0) {
        // Revisions below a cycle are stuck too; walking up through stuck parents from any
        // of them must come back to a revision already seen, which is on the cycle.
        let mut seen = vec![false; revisions.len()];
        let mut current = stuck;
        while !std::mem::replace(&mut seen[current], true) {
            current = parents[current].iter().copied().find(|&parent| waiting[parent] > 0).unwrap_or(current);
        }
        return Err(graph_error(format!(
            "revision '{}' ({}) is on a cycle of down_revision links",
            revisions[current].id, revisions[current].path
        )));
    }
    Ok(order)
}

/// Propagates branch labels from each labelled revision to its descendants.
fn assign_branches(
    revisions: &[Revision],
    index: &HashMap<String, usize>,
    order: &[usize],
) -> Result<Vec<Option<Branch>>, GraphError> {
    let mut branches: Vec<Option<Branch>> = vec![None; revisions.len()];
    for &position in order {
        let revision = &revisions[position];
        let mut branch = None;
        let inherited = revision.down_revisions.iter().filter_map(|parent| branches[index[parent]]);
        let declared = revision.branch_labels.iter().map(|label| {
            Branch::from_label(label).ok_or_else(|| {
                graph_error(format!(
                    "{}: unknown branch label '{label}' (strata's branches are 'expand' and 'contract')",
                    revision.path
                ))
            })
        });
        for candidate in declared.collect::<Result<Vec<_>, _>>()?.into_iter().chain(inherited) {
            match branch {
                Some(existing) if existing != candidate => {
                    return Err(graph_error(format!(
                        "{}: revision '{}' would belong to both the expand and the contract branch",
                        revision.path, revision.id
                    )))
                }
                _ => branch = Some(candidate),
            }
        }
        if let (Some(folder), Some(actual)) = (revision.folder_branch, branch.or(Some(Branch::Expand))) {
            if folder != actual {
                return Err(graph_error(format!(
                    "{}: revision '{}' sits in a {folder} folder but belongs to the {actual} branch",
                    revision.path, revision.id
                )));
            }
        }
        branches[position] = branch;
    }
    Ok(branches)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revision(id: &str, down: &[&str], labels: &[&str]) -> Revision {
        Revision {
            id: id.into(),
            down_revisions: down.iter().map(|s| s.to_string()).collect(),
            branch_labels: labels.iter().map(|s| s.to_string()).collect(),
            depends_on: Vec::new(),
            message: String::new(),
            create_date: None,
            path: format!("tree/{id}"),
            folder_branch: None,
            sql: MigrationSql::default(),
        }
    }

    fn keystone_like() -> Vec<Revision> {
        vec![
            revision("base", &[], &[]),
            revision("e1", &["base"], &["expand"]),
            revision("e2", &["e1"], &[]),
            revision("c1", &["base"], &["contract"]),
            revision("c2", &["c1"], &[]),
        ]
    }

    fn error(revisions: Vec<Revision>) -> String {
        RevisionGraph::new(revisions).unwrap_err().to_string()
    }

    #[test]
    fn heads_are_classified_by_branch() {
        let graph = RevisionGraph::new(keystone_like()).unwrap();
        assert_eq!(graph.head(Branch::Expand).unwrap().id, "e2");
        assert_eq!(graph.head(Branch::Contract).unwrap().id, "c2");
        assert_eq!(graph.base().id, "base");
        assert_eq!(graph.branch_of("base"), Some(Branch::Expand));
        assert_eq!(graph.branch_of("c2"), Some(Branch::Contract));
        let ids: Vec<&str> = graph.ancestors_inclusive("c2").iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, vec!["base", "c1", "c2"]);
    }

    #[test]
    fn a_lone_base_is_the_expand_head() {
        let graph = RevisionGraph::new(vec![revision("only", &[], &[])]).unwrap();
        assert_eq!(graph.head(Branch::Expand).unwrap().id, "only");
        assert!(graph.head(Branch::Contract).is_none());
    }

    #[test]
    fn duplicate_ids_name_both_files() {
        let mut revisions = keystone_like();
        let mut twin = revision("e1", &["base"], &[]);
        twin.path = "tree/other".into();
        revisions.push(twin);
        let message = error(revisions);
        assert!(message.contains("defined twice: tree/e1 and tree/other"), "{message}");
    }

    #[test]
    fn missing_parent_is_named() {
        let mut revisions = keystone_like();
        revisions.push(revision("e3", &["nope"], &[]));
        assert!(error(revisions).contains("tree/e3: down_revision 'nope'"));
    }

    #[test]
    fn cycles_are_found() {
        let mut revisions = keystone_like();
        revisions.push(revision("x", &["y"], &[]));
        revisions.push(revision("y", &["x"], &[]));
        assert!(error(revisions).contains("on a cycle"));
    }

    #[test]
    fn two_heads_on_one_branch_are_refused() {
        let mut revisions = keystone_like();
        revisions.push(revision("e3", &["e1"], &[]));
        let message = error(revisions);
        assert!(message.contains("expand branch has two heads"), "{message}");
    }

    #[test]
    fn inconsistent_labels_are_refused() {
        let mut revisions = keystone_like();
        revisions.push(revision("bad", &["c2"], &["expand"]));
        assert!(error(revisions).contains("both the expand and the contract branch"));
        let mut revisions = keystone_like();
        revisions[1].branch_labels = vec!["data_migration".into()];
        assert!(error(revisions).contains("unknown branch label 'data_migration'"));
    }

    #[test]
    fn revisions_are_found_by_id_or_unique_prefix() {
        let mut revisions = keystone_like();
        revisions.push(revision("e22", &["e2"], &[]));
        let graph = RevisionGraph::new(revisions).unwrap();
        assert_eq!(graph.find("base").unwrap().id, "base");
        assert_eq!(graph.find("ba").unwrap().id, "base");
        // An exact id wins over the longer id it starts.
        assert_eq!(graph.find("e2").unwrap().id, "e2");
        assert_eq!(graph.find("e22").unwrap().id, "e22");
        assert_eq!(
            graph.find("e").unwrap_err(),
            LookupError::Ambiguous { prefix: "e".into(), candidates: vec!["e1".into(), "e2".into(), "e22".into()] }
        );
        assert_eq!(graph.find("x").unwrap_err(), LookupError::Unknown("x".into()));
        assert_eq!(graph.find("").unwrap_err(), LookupError::Unknown(String::new()));
        assert!(graph.find("e").unwrap_err().to_string().contains("it matches e1, e2, e22"));
    }

    #[test]
    fn heads_are_listed_expand_first_and_known_as_heads() {
        let graph = RevisionGraph::new(keystone_like()).unwrap();
        let heads: Vec<(Branch, &str)> =
            graph.heads().map(|(branch, revision)| (branch, revision.id.as_str())).collect();
        assert_eq!(heads, vec![(Branch::Expand, "e2"), (Branch::Contract, "c2")]);
        assert!(graph.is_head("e2") && graph.is_head("c2"));
        assert!(!graph.is_head("e1") && !graph.is_head("base") && !graph.is_head("nope"));
        let newest_first: Vec<&str> = graph.in_order().rev().map(|revision| revision.id.as_str()).collect();
        assert_eq!(newest_first.last(), Some(&"base"));
        assert_eq!(newest_first.len(), 5);
    }

    #[test]
    fn two_bases_are_refused() {
        let mut revisions = keystone_like();
        revisions.push(revision("base2", &[], &[]));
        assert!(error(revisions).contains("more than one base revision"));
    }
}
