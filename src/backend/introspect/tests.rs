//! The parts of catalog introspection that need no database: names the server generated,
//! check constraints in SQLite's `CREATE TABLE` text.

use super::generated_name;
use super::sqlite::checks_in;

#[test]
fn generated_names_have_the_servers_shapes() {
    assert!(generated_name("password_ibfk_1", "password", &["_ibfk_"]));
    assert!(generated_name("password_ibfk_12", "password", &["_ibfk_"]));
    assert!(generated_name("project_parent_id_fkey", "project", &["_fkey"]));
    assert!(generated_name("region_description_key1", "region", &["_key"]));
    assert!(!generated_name("fk_project_parent", "project", &["_fkey"]));
    assert!(!generated_name("password_ibfk_1", "user", &["_ibfk_"]));
    assert!(!generated_name("ixu_region_key", "region", &["_fkey"]));
}

#[test]
fn checks_are_found_with_their_names_outside_quotes() {
    let sql = "CREATE TABLE t (\n\tid INTEGER NOT NULL, \n\tenabled BOOLEAN CHECK (enabled IN (0, 1)), \
               \n\tnote VARCHAR(9) DEFAULT 'CHECK (x)', \n\tCONSTRAINT ck_positive CHECK (id > 0), \
               \n\tCONSTRAINT \"quoted\" check(note <> ')')\n)";
    assert_eq!(
        checks_in(sql),
        [
            ("enabled IN (0, 1)".to_owned(), None),
            ("id > 0".to_owned(), Some("ck_positive".to_owned())),
            ("note <> ')'".to_owned(), Some("quoted".to_owned())),
        ]
    );
    assert_eq!(checks_in("CREATE TABLE checks (checked INTEGER)"), []);
}
