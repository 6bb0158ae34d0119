use super::*;

fn file(path: &str, contents: &str) -> TreeFile {
    TreeFile { path: path.into(), contents: contents.into() }
}

fn revision(dir: &str, id: &str, down: &str, labels: &str) -> TreeFile {
    file(
        &format!("{dir}/revision.toml"),
        &format!("revision = \"{id}\"\ndown_revision = \"{down}\"\nbranch_labels = [{labels}]\ndepends_on = []\nmessage = \"m\"\n"),
    )
}

/// A base with a `widget` table, the two branch roots, and one revision per branch whose
/// SQL files are given.
fn tree(expand: &[(&str, &str)], contract: &[(&str, &str)]) -> Vec<TreeFile> {
    let mut files = vec![
        file("base/revision.toml", "revision = \"base\"\nbranch_labels = []\ndepends_on = []\nmessage = \"m\"\n"),
        file(
            "base/up.sql",
            "CREATE TABLE widget (id INTEGER NOT NULL, name VARCHAR(32), size SMALLINT, price DECIMAL(6, 2), PRIMARY KEY (id));",
        ),
        revision("r1/expand/e1_start", "e1", "base", "\"expand\""),
        file("r1/expand/e1_start/up.sql", "-- start"),
        revision("r1/contract/c1_start", "c1", "base", "\"contract\""),
        file("r1/contract/c1_start/up.sql", "-- start"),
        revision("r2/expand/e2_change", "e2", "e1", ""),
        revision("r2/contract/c2_change", "c2", "c1", ""),
    ];
    if expand.is_empty() {
        files.push(file("r2/expand/e2_change/up.sql", "-- nothing"));
    }
    for (name, sql) in expand {
        files.push(file(&format!("r2/expand/e2_change/{name}"), sql));
    }
    if contract.is_empty() {
        files.push(file("r2/contract/c2_change/up.sql", "-- nothing"));
    }
    for (name, sql) in contract {
        files.push(file(&format!("r2/contract/c2_change/{name}"), sql));
    }
    files
}

fn lint_expand(sql: &str) -> LintReport {
    lint_files("tree", &tree(&[("up.sql", sql)], &[])).unwrap()
}

fn rules_of(report: &LintReport) -> Vec<Rule> {
    report.findings.iter().map(|finding| finding.rule).collect()
}

#[test]
fn keystone_tree_passes_with_its_exceptions_all_used() {
    let report = lint_embedded().unwrap();
    assert!(report.is_clean(), "{report}");
    assert!(!report.exceptions.is_empty() && report.exceptions.iter().all(|exception| exception.used));
    assert!(report.revisions > 0 && report.statements > report.revisions, "{report}");
}

#[test]
fn drop_table_in_expand_is_refused_naming_the_revision() {
    let report = lint_expand("CREATE INDEX ix ON widget (name);\n\nDROP TABLE widget;");
    assert_eq!(rules_of(&report), vec![Rule::ExpandDropTable]);
    let finding = &report.findings[0];
    assert_eq!((finding.file.as_str(), finding.line), ("tree/r2/expand/e2_change/up.sql", 3));
    assert_eq!(finding.revision, "r2/expand/e2_change");
    let shown = finding.to_string();
    assert!(shown.starts_with("tree/r2/expand/e2_change/up.sql:3: expand-drop-table: DROP TABLE widget"), "{shown}");
    assert!(shown.ends_with("[revision r2/expand/e2_change]"), "{shown}");
}

#[test]
fn add_column_in_contract_is_refused_naming_the_revision() {
    let report =
        lint_files("tree", &tree(&[], &[("up.sql", "ALTER TABLE widget ADD COLUMN colour VARCHAR(8);")])).unwrap();
    assert_eq!(rules_of(&report), vec![Rule::ContractAddColumn]);
    assert_eq!(report.findings[0].revision, "r2/contract/c2_change");
    let report = lint_files("tree", &tree(&[], &[("up.sql", "CREATE TABLE gadget (id INTEGER);")])).unwrap();
    assert_eq!(rules_of(&report), vec![Rule::ContractCreateTable]);
    // What contract may do.
    let allowed =
        "ALTER TABLE widget DROP COLUMN size;\nDROP INDEX ix;\nALTER TABLE widget RENAME TO gizmo;\nDROP TABLE gizmo;";
    let report = lint_files("tree", &tree(&[], &[("up.sql", allowed)])).unwrap();
    assert!(report.is_clean(), "{report}");
}

#[test]
fn expand_may_only_add() {
    let allowed = [
        "CREATE TABLE gadget (id INTEGER NOT NULL, PRIMARY KEY (id))",
        "CREATE INDEX ix ON widget (name)",
        "CREATE VIEW v AS SELECT id FROM widget",
        "ALTER TABLE widget ADD COLUMN colour VARCHAR(8)",
        "ALTER TABLE widget ADD COLUMN colour VARCHAR(8) NOT NULL DEFAULT 'red'",
        "ALTER TABLE widget ALTER COLUMN name DROP NOT NULL",
        "ALTER TABLE widget ALTER COLUMN name DROP DEFAULT",
        "ALTER TABLE widget ALTER COLUMN name TYPE VARCHAR(64)",
        "ALTER TABLE widget ALTER COLUMN name TYPE TEXT",
        "ALTER TABLE widget ALTER COLUMN size TYPE BIGINT",
        "ALTER TABLE widget ALTER COLUMN price TYPE DECIMAL(10, 3)",
        "CREATE TABLE gadget (id INTEGER);\nALTER TABLE gadget ADD CONSTRAINT u UNIQUE (id)",
        "ALTER TABLE widget ADD CONSTRAINT c CHECK (size > 0) NOT VALID",
        "INSERT INTO widget (id) VALUES (1)",
    ];
    for sql in allowed {
        let report = lint_files("tree", &tree(&[("up.postgresql.sql", sql), ("up.sql", "SELECT 1")], &[])).unwrap();
        assert!(report.is_clean(), "{sql}: {report}");
    }
    let refused = [
        ("ALTER TABLE widget DROP COLUMN name", Rule::ExpandDropColumn),
        ("ALTER TABLE widget RENAME COLUMN name TO title", Rule::ExpandRename),
        ("ALTER TABLE widget RENAME TO gizmo", Rule::ExpandRename),
        ("ALTER TABLE widget ALTER COLUMN name TYPE VARCHAR(16)", Rule::ExpandNarrowType),
        ("ALTER TABLE widget ALTER COLUMN size TYPE VARCHAR(16)", Rule::ExpandNarrowType),
        ("ALTER TABLE widget ALTER COLUMN price TYPE DECIMAL(6, 3)", Rule::ExpandNarrowType),
        ("ALTER TABLE unknown ALTER COLUMN name TYPE TEXT", Rule::ExpandNarrowType),
        ("ALTER TABLE widget ADD COLUMN colour VARCHAR(8) NOT NULL", Rule::ExpandAddNotNull),
        ("ALTER TABLE widget ALTER COLUMN name SET NOT NULL", Rule::ExpandAddNotNull),
        ("ALTER TABLE widget ADD CONSTRAINT u UNIQUE (name)", Rule::ExpandAddConstraint),
        ("ALTER TABLE widget DROP CONSTRAINT u", Rule::ExpandDropConstraint),
        ("DROP INDEX ix", Rule::ExpandDropIndex),
        ("TRUNCATE widget", Rule::ExpandUnknownDdl),
        ("ALTER TABLE widget FROBNICATE", Rule::Unparsable),
    ];
    for (sql, rule) in refused {
        let report = lint_files("tree", &tree(&[("up.postgresql.sql", sql), ("up.sql", "SELECT 1")], &[])).unwrap();
        assert_eq!(rules_of(&report), vec![rule], "{sql}: {report}");
    }
}

#[test]
fn mysql_modify_is_judged_against_the_old_column() {
    let cases = [
        ("ALTER TABLE widget MODIFY name VARCHAR(64)", vec![]),
        ("ALTER TABLE widget MODIFY name VARCHAR(8)", vec![Rule::ExpandNarrowType]),
        ("ALTER TABLE widget MODIFY name VARCHAR(64) NOT NULL", vec![Rule::ExpandAddNotNull]),
        ("ALTER TABLE widget CHANGE name title VARCHAR(64)", vec![Rule::ExpandRename]),
        ("ALTER TABLE widget DROP INDEX ix", vec![Rule::ExpandDropIndex]),
        ("ALTER TABLE widget ADD INDEX ix (name)", vec![]),
        ("ALTER TABLE widget ADD UNIQUE INDEX ix (name)", vec![Rule::ExpandAddConstraint]),
        ("CREATE UNIQUE INDEX ix ON widget (name)", vec![Rule::ExpandAddConstraint]),
        ("CREATE TABLE gadget (id INTEGER);\nCREATE UNIQUE INDEX ix ON gadget (id)", vec![]),
        ("ALTER TABLE widget ALGORITHM=INPLACE, LOCK=NONE, ADD INDEX ix (name)", vec![]),
        ("ALTER TABLE widget ALGORITHM=INPLACE, DROP INDEX ix", vec![Rule::ExpandDropIndex]),
    ];
    for (sql, rules) in cases {
        let report = lint_files("tree", &tree(&[("up.mysql.sql", sql), ("up.sql", "SELECT 1")], &[])).unwrap();
        assert_eq!(rules_of(&report), rules, "{sql}: {report}");
    }
}

#[test]
fn up_sql_is_read_for_every_dialect_it_serves() {
    // Backticks quote an identifier for MySQL only: PostgreSQL and SQLite cannot read it.
    let report = lint_expand("CREATE INDEX ix ON `widget` (name);");
    assert_eq!(rules_of(&report), vec![Rule::Unparsable], "{report}");
    assert!(report.findings[0].message.contains("as "), "{report}");
}

#[test]
fn exceptions_allow_one_rule_on_one_statement_and_are_listed() {
    let sql = "-- strata: allow expand-drop-table: the table was never used by any release\n\
               DROP TABLE widget;\n\
               DROP TABLE other; -- strata: allow expand-drop-table: a trailing exception";
    let report = lint_expand(sql);
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.exceptions.len(), 2);
    assert_eq!(report.exceptions[0].reason, "the table was never used by any release");
    assert_eq!((report.exceptions[0].line, report.exceptions[1].line), (1, 3));
    assert!(report.to_string().contains("allowed: tree/r2/expand/e2_change/up.sql:1: expand-drop-table: the table"));

    // An exception for another rule allows nothing, and is itself a finding.
    let report = lint_expand("-- strata: allow expand-rename: wrong rule\nDROP TABLE widget;");
    assert_eq!(rules_of(&report), vec![Rule::ExpandDropTable, Rule::UnusedException], "{report}");
    // An exception belongs to the next statement only.
    let report = lint_expand(
        "-- strata: allow expand-drop-table: first only\nCREATE INDEX ix ON widget (name);\nDROP TABLE widget;",
    );
    assert_eq!(rules_of(&report), vec![Rule::ExpandDropTable, Rule::UnusedException], "{report}");
}

#[test]
fn malformed_exceptions_are_findings() {
    for (comment, expected) in [
        ("-- strata: allow expand-drop-table", "gives no reason"),
        ("-- strata: allow expand-drop-table:   ", "gives no reason"),
        ("-- strata: allow no-such-rule: why", "unknown rule 'no-such-rule'"),
        ("-- strata: allow unused-exception: why", "cannot be allowed"),
        ("-- strata: permit expand-drop-table: why", "not an exception"),
    ] {
        let report = lint_expand(&format!("{comment}\nCREATE INDEX ix ON widget (name);"));
        assert_eq!(rules_of(&report), vec![Rule::BadException], "{comment}: {report}");
        assert!(report.findings[0].message.contains(expected), "{comment}: {report}");
    }
}

#[test]
fn the_base_is_exempt_and_a_broken_graph_is_an_error() {
    let mut files = tree(&[], &[]);
    files[1].contents.push_str("\nDROP TABLE widget;\nTHIS IS NOT SQL;");
    assert!(lint_files("tree", &files).unwrap().is_clean());
    files.retain(|file| !file.path.starts_with("r1/expand"));
    assert!(lint_files("tree", &files).unwrap_err().to_string().contains("does not exist"));
}

#[test]
fn widening() {
    use sqlparser::ast::{CharacterLength, DataType, ExactNumberInfo};
    let varchar = |length| DataType::Varchar(Some(CharacterLength::IntegerLength { length, unit: None }));
    assert!(rules::widens(&varchar(8), &varchar(8)));
    assert!(rules::widens(&varchar(8), &varchar(9)));
    assert!(!rules::widens(&varchar(9), &varchar(8)));
    assert!(rules::widens(&varchar(9), &DataType::Text));
    assert!(!rules::widens(&DataType::Text, &varchar(9)));
    assert!(rules::widens(&DataType::Int(None), &DataType::BigInt(None)));
    assert!(!rules::widens(&DataType::BigInt(None), &DataType::Int(None)));
    let decimal = |p, s| DataType::Decimal(ExactNumberInfo::PrecisionAndScale(p, s));
    assert!(rules::widens(&decimal(6, 2), &decimal(8, 3)));
    assert!(!rules::widens(&decimal(6, 2), &decimal(6, 3)));
    assert!(!rules::widens(&DataType::Int(None), &varchar(64)));
}

#[test]
fn expand_may_create_triggers_and_new_functions() {
    let sqlite = "CREATE TRIGGER widget_named AFTER INSERT ON widget BEGIN\n    UPDATE widget SET name = 'w' WHERE id = NEW.id AND name IS NULL;\nEND;";
    let postgresql = "CREATE FUNCTION widget_named() RETURNS trigger AS $$ BEGIN NEW.name := 'w'; RETURN NEW; END; $$ LANGUAGE plpgsql;\n\
                      CREATE TRIGGER widget_named BEFORE INSERT ON widget FOR EACH ROW EXECUTE FUNCTION widget_named();";
    let mysql = "CREATE TRIGGER widget_named BEFORE INSERT ON widget FOR EACH ROW BEGIN\n    SET NEW.name = 'w';\nEND;";
    let files = [("up.sqlite.sql", sqlite), ("up.postgresql.sql", postgresql), ("up.mysql.sql", mysql)];
    let report = lint_files("tree", &tree(&files, &[])).unwrap();
    assert!(report.is_clean(), "{report}");
    // The base's one statement for each dialect, and each trigger (and function) read whole.
    assert_eq!(report.statements, 3 + 4, "{report}");

    // Replacing a function changes what old code relies on.
    let replace =
        "CREATE OR REPLACE FUNCTION widget_named() RETURNS trigger AS $$ BEGIN RETURN NEW; END; $$ LANGUAGE plpgsql;";
    let report = lint_files("tree", &tree(&[("up.postgresql.sql", replace), ("up.sql", "SELECT 1")], &[])).unwrap();
    assert_eq!(rules_of(&report), vec![Rule::ExpandUnknownDdl], "{report}");
}
