use super::*;

#[test]
fn keystone_tree_passes() {
    let report = lint_embedded().unwrap();
    assert!(report.is_clean(), "{report}");
}
