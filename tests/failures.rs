//! How a failing migration is reported: on every backend the one error line names the
//! revision, the statement and its first line where one failed, what of it is applied, and
//! the next step.

use crate::support::{run, strata, Backend, TestDb};

/// A PostgreSQL user that may connect but not create anything: the first thing the base
/// revision does fails, and the operator reads which revision, that nothing was applied,
/// and what to do.
#[test]
fn postgresql_permission_failure_names_the_revision_and_the_next_step() {
    TestDb::run(Backend::Postgresql, "pg_no_create", |db| {
        let role = format!("{}_ro", db.name).chars().take(63).collect::<String>();
        db.conn().exec(&format!(
            "DROP ROLE IF EXISTS \"{role}\"; CREATE ROLE \"{role}\" LOGIN; REVOKE CREATE ON SCHEMA public FROM PUBLIC; \
             REVOKE CREATE ON SCHEMA public FROM \"{role}\""
        ));
        let url = format!("postgresql://{role}@127.0.0.1:5432/{}", db.name);
        let mut command = strata(db.dir.path());
        command.args(["--database-url", &url, "db_sync"]);
        let outcome = run(command);
        outcome
            .fails_with("revision 27e647c0fad4")
            .fails_with("nothing of it was applied (rolled back); fix the cause, then run strata-manage db_sync again")
            .fails_with("permission denied for schema public")
            .fails_with("the database user lacks a privilege: see README.md");
        assert_eq!(db.alembic_rows(), None, "nothing was created");
        db.conn().exec(&format!("DROP OWNED BY \"{role}\"; DROP ROLE \"{role}\""));
    });
}

/// A statement that fails part way through a SQLite or PostgreSQL revision: the line names
/// the statement and its first line, and that the revision was rolled back.
#[test]
fn a_failed_statement_is_named_with_its_revision_on_transactional_backends() {
    for backend in [Backend::Sqlite, Backend::Postgresql] {
        TestDb::run(backend, "failed_statement_format", |db| {
            db.manage(&["db_sync", "--expand"]).expect(0);
            db.conn().exec("UPDATE alembic_version SET version_num = 'e8725d6fa226'");
            db.conn().exec("DROP INDEX ix_revocation_event_composite");
            db.conn().exec("CREATE INDEX ix_revocation_event_composite ON revocation_event (domain_id)");
            db.conn().exec("DROP INDEX ix_revocation_event_project_id_user_id");
            db.manage(&["db_sync", "--expand"])
                .fails_with("revision 742c857f1dfb")
                .fails_with("failed at statement 2 of 2 (CREATE INDEX ix_revocation_event_composite")
                .fails_with("nothing of it was applied (rolled back); fix the cause");
            let query = match db.engine {
                crate::support::Engine::Sqlite => {
                    "SELECT name AS value FROM sqlite_master WHERE name = 'ix_revocation_event_project_id_user_id'"
                }
                _ => "SELECT indexname::text AS value FROM pg_indexes WHERE indexname = 'ix_revocation_event_project_id_user_id'",
            };
            let indexes = db.conn().lines(query);
            assert!(indexes.is_empty(), "statement 1 was rolled back with the revision");
        });
    }
}

/// PostgreSQL's DETAIL (which row) is part of the one error line.
#[test]
fn postgresql_failure_keeps_the_servers_detail() {
    TestDb::run(Backend::Postgresql, "pg_failure_detail", |db| {
        let scratch = tempfile::tempdir().unwrap();
        let tree = crate::support::copy_alembic_tree(scratch.path());
        let mut command = strata(scratch.path());
        command.arg("--alembic-dir").arg(&tree).args(["revision", "--expand", "-m", "Unique region descriptions"]);
        let outcome = run(command);
        let folder = scratch.path().join(outcome.expect(0).stdout.trim());
        std::fs::write(folder.join("up.sql"), "CREATE UNIQUE INDEX ux_region_description ON region (description);\n")
            .unwrap();
        db.manage(&["db_sync"]).expect(0);
        db.conn().exec("INSERT INTO region (id, description, extra) VALUES ('r1', 'same', '{}'), ('r2', 'same', '{}')");
        let tree = tree.to_str().unwrap();
        db.manage(&["--alembic-dir", tree, "db_sync"])
            .fails_with("failed at statement 1 of 1 (CREATE UNIQUE INDEX ux_region_description")
            .fails_with("could not create unique index \"ux_region_description\"; detail: Key (description)=(same) is duplicated.");
    });
}
