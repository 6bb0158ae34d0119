use super::*;

fn column(data_type: &str, nullable: bool, default: Option<&str>) -> Column {
    Column { data_type: data_type.into(), nullable, default: default.map(Into::into), collation: None }
}

fn fk(columns: &[&str], table: &str, name: Option<&str>) -> ForeignKey {
    ForeignKey {
        columns: columns.iter().map(|c| c.to_string()).collect(),
        referred_table: table.into(),
        referred_columns: vec!["id".into()],
        on_update: "NO ACTION".into(),
        on_delete: "CASCADE".into(),
        name: name.map(Into::into),
    }
}

/// A small schema: `project` and `user` referencing it.
fn schema() -> Catalog {
    let mut project = Table::default();
    project.columns.insert("id".into(), column("varchar(64)", false, None));
    project.columns.insert("enabled".into(), column("tinyint(1)", true, Some("1")));
    project.primary_key = vec!["id".into()];
    project.checks.insert(Check { expression: "enabled IN (0, 1)".into(), name: None });
    let mut user = Table::default();
    user.columns.insert("id".into(), column("varchar(64)", false, None));
    user.columns.insert("domain_id".into(), column("varchar(64)", false, None));
    user.primary_key = vec!["id".into()];
    user.indexes.insert("ix_user_domain".into(), Index { columns: vec!["domain_id".into()], unique: false });
    user.uniques
        .insert(Unique { columns: vec!["id".into(), "domain_id".into()], name: Some("ixu_user_id_domain".into()) });
    user.foreign_keys.insert(fk(&["domain_id"], "project", None));
    user.options.insert("engine".into(), "InnoDB".into());
    Catalog { tables: [("project".to_owned(), project), ("user".to_owned(), user)].into_iter().collect() }
}

#[test]
fn identical_catalogs_have_no_differences() {
    assert_eq!(diff(&schema(), &schema()), Vec::new());
}

#[test]
fn an_extra_column_is_unexpected_and_named() {
    let mut found = schema();
    found.tables.get_mut("user").unwrap().columns.insert("hotfix".into(), column("varchar(255)", true, None));
    let differences = diff(&schema(), &found);
    assert_eq!(differences.len(), 1, "{differences:?}");
    let only = &differences[0];
    assert_eq!((only.table.as_str(), only.object_type, only.object.as_str()), ("user", "column", "hotfix"));
    assert_eq!(only.change, Change::Unexpected);
    assert_eq!(
        only.to_string(),
        "table user, column hotfix: not produced by the recorded revisions (found varchar(255) NULL)"
    );
}

#[test]
fn changed_default_and_nullability_are_changes_of_the_column() {
    let mut found = schema();
    let project = found.tables.get_mut("project").unwrap();
    project.columns.get_mut("enabled").unwrap().default = Some("0".into());
    found.tables.get_mut("user").unwrap().columns.get_mut("domain_id").unwrap().nullable = true;
    let shown: Vec<String> = diff(&schema(), &found).iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "table project, column enabled: expected tinyint(1) NULL DEFAULT 1, found tinyint(1) NULL DEFAULT 0",
            "table user, column domain_id: expected varchar(64) NOT NULL, found varchar(64) NULL",
        ]
    );
}

#[test]
fn a_dropped_index_and_a_changed_one() {
    let mut found = schema();
    let user = found.tables.get_mut("user").unwrap();
    user.indexes.remove("ix_user_domain");
    user.indexes.insert("ix_other".into(), Index { columns: vec!["id".into()], unique: true });
    let differences = diff(&schema(), &found);
    let brief: Vec<(&str, Change)> = differences.iter().map(|d| (d.object.as_str(), d.change)).collect();
    assert_eq!(brief, [("ix_other", Change::Unexpected), ("ix_user_domain", Change::Missing)]);
    assert_eq!(differences[1].expected.as_deref(), Some("(domain_id)"));
    assert_eq!(differences[0].found.as_deref(), Some("UNIQUE (id)"));
}

#[test]
fn tables_missing_and_unexpected() {
    let mut found = schema();
    found.tables.remove("project");
    found.tables.insert("scratch".into(), Table::default());
    let brief: Vec<(String, &str, Change)> =
        diff(&schema(), &found).into_iter().map(|d| (d.table, d.object_type, d.change)).collect();
    assert_eq!(
        brief,
        [("project".to_owned(), "table", Change::Missing), ("scratch".to_owned(), "table", Change::Unexpected)]
    );
}

#[test]
fn unnamed_constraints_match_by_definition_whatever_the_server_called_them() {
    let mut expected = schema();
    let mut found = schema();
    // One side's introspection kept a name the other's did not (a generated name is None).
    expected.tables.get_mut("user").unwrap().foreign_keys = [fk(&["domain_id"], "project", None)].into();
    found.tables.get_mut("user").unwrap().foreign_keys = [fk(&["domain_id"], "project", Some("fk_x"))].into();
    assert_eq!(diff(&expected, &found), Vec::new());
}

#[test]
fn constraints_named_differently_by_their_migrations_are_a_change() {
    let mut found = schema();
    let user = found.tables.get_mut("user").unwrap();
    user.uniques = [Unique { columns: vec!["id".into(), "domain_id".into()], name: Some("renamed".into()) }].into();
    let differences = diff(&schema(), &found);
    assert_eq!(differences.len(), 1, "{differences:?}");
    assert_eq!(differences[0].change, Change::Changed);
    assert_eq!(differences[0].expected.as_deref(), Some("named ixu_user_id_domain"));
    assert_eq!(differences[0].found.as_deref(), Some("named renamed"));
}

#[test]
fn dropped_foreign_key_check_and_primary_key() {
    let mut found = schema();
    let user = found.tables.get_mut("user").unwrap();
    user.foreign_keys.clear();
    user.primary_key.clear();
    found.tables.get_mut("project").unwrap().checks.clear();
    let shown: Vec<String> = diff(&schema(), &found).iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "table project, check constraint CHECK (enabled IN (0, 1)): missing",
            "table user, foreign key (domain_id) REFERENCES project (id) ON DELETE CASCADE: missing",
            "table user, primary key: missing (expected (id))",
        ]
    );
}

#[test]
fn table_options_are_compared_by_name() {
    let mut found = schema();
    found.tables.get_mut("user").unwrap().options.insert("engine".into(), "MyISAM".into());
    let shown: Vec<String> = diff(&schema(), &found).iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["table user, table option engine: expected InnoDB, found MyISAM"]);
}
