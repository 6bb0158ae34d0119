use std::collections::BTreeSet;

use super::*;
use crate::tree::alembic;

/// A copy of `tests/fixtures/trees/<name>` in a temporary folder.
fn fixture(name: &str) -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        fs::create_dir_all(to).unwrap();
        for entry in fs::read_dir(from).unwrap() {
            let path = entry.unwrap().path();
            let target = to.join(path.file_name().unwrap());
            if path.is_dir() {
                copy(&path, &target);
            } else {
                fs::copy(&path, &target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/trees").join(name), dir.path());
    dir
}

fn request(branch: Option<Branch>, merge: bool, message: &str) -> RevisionRequest {
    RevisionRequest { branch, merge, message: message.into(), release: None, depends_on: Vec::new(), id: None }
}

fn graph_of(dir: &Path) -> crate::graph::RevisionGraph {
    alembic::parse("tree", &tree::read_dir_files(dir).unwrap()).unwrap()
}

#[test]
fn ids_are_twelve_random_lowercase_hex_digits() {
    let ids: BTreeSet<String> = (0..200).map(|_| new_revision_id()).collect();
    assert_eq!(ids.len(), 200);
    for id in &ids {
        assert_eq!(id.len(), 12, "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{id}");
    }
}

#[test]
fn slugs_are_cut_as_alembic_cuts_them() {
    // Folder names of keystone's own revisions, made by alembic from their messages.
    assert_eq!(slug("Add project_id index to project_endpoint_group"), "add_project_id_index_to_project_");
    assert_eq!(slug("Fix incorrect constraints."), "fix_incorrect_constraints");
    assert_eq!(slug("Add index in revocation_event"), "add_index_in_revocation_event");
    assert_eq!(slug("  Héllo,  wörld!  "), "héllo_wörld");
}

#[test]
fn an_expand_revision_follows_the_head_and_becomes_it() {
    let dir = fixture("linear");
    let created = create_revision_with(
        dir.path(),
        &request(Some(Branch::Expand), false, "Add widget"),
        "abcdef012345",
        "2026-01-01",
    )
    .unwrap();
    assert_eq!(created.down_revisions, vec!["e20000000002".to_string()]);
    // The newest release folder holds the newest revision (r2, by create_date).
    assert_eq!(created.folder, dir.path().join("r2/expand/abcdef012345_add_widget"));
    assert_eq!(fs::read_to_string(dir.path().join("EXPAND_HEAD")).unwrap(), "abcdef012345\n");
    let graph = graph_of(dir.path());
    let revision = graph.head(Branch::Expand).unwrap();
    assert_eq!(revision.id, "abcdef012345");
    assert_eq!(revision.message, "Add widget");
    assert_eq!(revision.create_date.as_deref(), Some("2026-01-01"));
    assert!(revision.branch_labels.is_empty());
    assert_eq!(graph.head(Branch::Contract).unwrap().id, "c20000000002");
}

#[test]
fn a_contract_revision_goes_in_the_named_release() {
    let dir = fixture("linear");
    let mut wanted = request(Some(Branch::Contract), false, "Drop \"name\"");
    wanted.release = Some("r3".into());
    wanted.depends_on = vec!["e2".into()];
    let created = create_revision_with(dir.path(), &wanted, "0123456789ab", "2026-01-01").unwrap();
    assert_eq!(created.folder, dir.path().join("r3/contract/0123456789ab_drop_name"));
    let graph = graph_of(dir.path());
    let revision = graph.head(Branch::Contract).unwrap();
    assert_eq!((revision.id.as_str(), revision.message.as_str()), ("0123456789ab", "Drop \"name\""));
    assert_eq!(revision.depends_on, vec!["e20000000002".to_string()]);
    wanted.release = Some("../escape".into());
    assert!(matches!(
        create_revision_with(dir.path(), &wanted, "0123456789ac", "x"),
        Err(AuthoringError::BadRelease(_))
    ));
    wanted.release = None;
    wanted.depends_on = vec!["nope".into()];
    assert!(matches!(
        create_revision_with(dir.path(), &wanted, "0123456789ad", "x"),
        Err(AuthoringError::UnknownDependency(_))
    ));
}

#[test]
fn two_heads_need_a_merge_which_joins_them() {
    let dir = fixture("two_heads");
    let error = create_revision_with(dir.path(), &request(Some(Branch::Expand), false, "More"), "111111111111", "x")
        .unwrap_err();
    let message = error.to_string();
    assert!(message.contains("expand branch has 2 heads, ea0000000002") && message.contains("--merge"), "{message}");
    let created = create_revision_with(dir.path(), &request(None, true, "Merge"), "222222222222", "x").unwrap();
    assert_eq!(created.branch, Branch::Expand);
    assert_eq!(created.down_revisions, vec!["ea0000000002".to_string(), "eb0000000002".to_string()]);
    let graph = graph_of(dir.path());
    assert_eq!(graph.head(Branch::Expand).unwrap().id, "222222222222");
    // Now a plain revision follows the merge.
    let next =
        create_revision_with(dir.path(), &request(Some(Branch::Expand), false, "Next"), "333333333333", "x").unwrap();
    assert_eq!(next.down_revisions, vec!["222222222222".to_string()]);
    let error = create_revision_with(dir.path(), &request(None, true, "Merge"), "444444444444", "x").unwrap_err();
    assert!(error.to_string().contains("no branch has several heads"), "{error}");
}

#[test]
fn a_first_tree_gets_its_branches_with_their_labels() {
    let dir = fixture("base_only");
    let error =
        create_revision_with(dir.path(), &request(Some(Branch::Expand), false, "x"), "555555555555", "x").unwrap_err();
    assert!(matches!(error, AuthoringError::NoRelease(_)), "{error}");
    for (branch, id) in [(Branch::Expand, "666666666666"), (Branch::Contract, "777777777777")] {
        let mut wanted = request(Some(branch), false, "Start");
        wanted.release = Some("2027.1".into());
        let created = create_revision_with(dir.path(), &wanted, id, "x").unwrap();
        assert_eq!(created.down_revisions, vec!["aaaa00000000".to_string()]);
    }
    let graph = graph_of(dir.path());
    assert_eq!(graph.head(Branch::Expand).unwrap().branch_labels, vec!["expand".to_string()]);
    assert_eq!(graph.head(Branch::Contract).unwrap().branch_labels, vec!["contract".to_string()]);
}

#[test]
fn the_checkout_tree_is_found_from_below() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert_eq!(find_checkout_tree(&root.join("src/cli")), Some(root.join("alembic_versions")));
    assert_eq!(find_checkout_tree(Path::new("/")), None);
}

#[test]
fn an_empty_message_is_refused() {
    let dir = fixture("linear");
    assert!(matches!(
        create_revision_with(dir.path(), &request(Some(Branch::Expand), false, "  "), "888888888888", "x"),
        Err(AuthoringError::EmptyMessage)
    ));
}

#[test]
fn a_given_id_is_checked() {
    let dir = fixture("linear");
    let wanted = request(Some(Branch::Expand), false, "x");
    let error = create_revision_with(dir.path(), &wanted, "e20000000002", "x").unwrap_err();
    assert!(
        error.to_string().contains("already used by ")
            && error.to_string().ends_with("r2/expand/e20000000002_add_gadget"),
        "{error}"
    );
    assert!(matches!(create_revision_with(dir.path(), &wanted, "no-dashes", "x"), Err(AuthoringError::BadId(_))));
    let created = create_revision(dir.path(), &RevisionRequest { id: Some("47147121".into()), ..wanted }).unwrap();
    assert_eq!(created.id, "47147121");
}
