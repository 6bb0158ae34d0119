use std::fs;
use std::path::Path;

use crate::support::{copy_alembic_tree, edit, run, strata, Engine, TestDb};
use crate::sync::{CONTRACT_HEAD, EXPAND_HEAD};

/// The password used in URLs of these tests: it must never appear in any output.
const SECRET: &str = "s3cr3t-Pa55";

fn assert_secret_hidden(run: &crate::support::Run) {
    assert!(!run.stdout.contains(SECRET) && !run.stderr.contains(SECRET), "password leaked\n{run}");
}

/// Every command against `url` fails cleanly with `text` in its error line, even at debug
/// level, and never shows the password.
fn every_command_fails(db: &mut TestDb, url: &str, text: &str) {
    for args in [&["db_sync"][..], &["db_sync", "--expand"], &["db_sync", "--check"], &["db_version"]] {
        let mut command = strata(db.dir.path());
        command.arg("--database-url").arg(url).arg("-d").args(args);
        let outcome = run(command);
        outcome.fails_with(text);
        assert_secret_hidden(&outcome);
    }
}

dbtest!(unreachable_server_or_path_fails_cleanly, |db| {
    let (url, text) = match db.engine {
        Engine::Sqlite => (format!("sqlite:///{}/no/such/dir/x.db", db.dir.path().display()), "does not exist"),
        Engine::Postgresql => (
            format!("postgresql+psycopg2://postgres:{SECRET}@127.0.0.1:1/keystone"),
            "cannot connect to postgresql://postgres:***@127.0.0.1:1/keystone",
        ),
        Engine::Mysql => (
            format!("mysql+pymysql://root:{SECRET}@127.0.0.1:1/keystone"),
            "cannot connect to mysql://root:***@127.0.0.1:1/keystone",
        ),
    };
    every_command_fails(db, &url, text);
});

dbtest!(missing_database_fails_cleanly, |db| {
    let url = match db.engine {
        // A SQLite file that does not exist yet is simply an empty database.
        Engine::Sqlite => return,
        Engine::Postgresql => {
            format!("postgresql://postgres:{SECRET}@127.0.0.1:5432/strata_no_such_database")
        }
        Engine::Mysql => format!("mysql://root:{SECRET}@127.0.0.1:3306/strata_no_such_database"),
    };
    every_command_fails(db, &url, "strata_no_such_database");
});

#[test]
fn unknown_dialect_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = strata(dir.path());
    command.args(["--database-url", &format!("oracle+cx://scott:{SECRET}@db/orcl"), "db_sync"]);
    let outcome = run(command);
    outcome.fails_with("unknown database dialect 'oracle'");
    assert_secret_hidden(&outcome);
    assert!(fs::read_dir(dir.path()).unwrap().next().is_none(), "nothing may be created");
}

#[test]
fn malformed_url_is_named() {
    let dir = tempfile::tempdir().unwrap();
    for (url, text) in [
        ("keystone.db", "is not of the form"),
        ("mysql://root:pw@localhost:port/ks", "invalid port 'port'"),
        ("postgresql://u@host", "names no database"),
    ] {
        let mut command = strata(dir.path());
        command.args(["--database-url", url, "db_sync"]);
        run(command).fails_with(text);
    }
}

#[test]
fn missing_unreadable_or_malformed_config_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.conf");
    let mut command = strata(dir.path());
    command.arg("--config-file").arg(&missing).arg("db_sync");
    run(command).fails_with(&format!("config file {} not found", missing.display()));

    let broken = dir.path().join("broken.conf");
    fs::write(&broken, "[database\nconnection = sqlite:///x.db\n").unwrap();
    let mut command = strata(dir.path());
    command.arg("--config-file").arg(&broken).arg("db_sync");
    run(command).fails_with("cannot parse config file");

    let not_a_dir = dir.path().join("no-such-dir");
    let mut command = strata(dir.path());
    command.arg("--config-dir").arg(&not_a_dir).arg("db_version");
    run(command).fails_with("cannot read");
    let created: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(created.len(), 1, "only the broken config file exists: {created:?}");
}

/// Damages a copy of the tree in place.
type BreakTree = Box<dyn Fn(&Path)>;

const E2: &str = "bobcat/expand/b4f8b3f584e0_fix_incorrect_constraints";

dbtest!(malformed_trees_are_refused_before_the_database_is_touched, |db| {
    // Expanded only: every command below would have work to do with an intact tree.
    db.manage(&["db_sync", "--expand"]).expect(0);
    let before = db.fingerprint();
    let cases: Vec<(&str, BreakTree, &str)> = vec![
        (
            "cycle",
            Box::new(|tree: &Path| {
                edit(
                    &tree.join("27e647c0fad4_initial_version/revision.toml"),
                    "revision = \"27e647c0fad4\"\n",
                    "revision = \"27e647c0fad4\"\ndown_revision = \"742c857f1dfb\"\n",
                );
            }),
            "cycle",
        ),
        (
            "duplicate",
            Box::new(|tree: &Path| {
                edit(
                    &tree.join(
                        "bobcat/expand/11c3b243b4cb_remove_service_provider_relay_state_server_default/revision.toml",
                    ),
                    "revision = \"11c3b243b4cb\"",
                    "revision = \"b4f8b3f584e0\"",
                );
            }),
            "defined twice",
        ),
        (
            "missing parent",
            Box::new(|tree: &Path| {
                edit(
                    &tree.join(E2).join("revision.toml"),
                    "down_revision = \"29e87d24a316\"",
                    "down_revision = \"000000000000\"",
                );
            }),
            "down_revision '000000000000'",
        ),
        (
            "two heads",
            Box::new(|tree: &Path| {
                edit(
                    &tree.join(
                        "2024.1/expand/47147121_add_identity_federation_attribute_mapping_schema_version/revision.toml",
                    ),
                    "down_revision = \"11c3b243b4cb\"",
                    "down_revision = \"b4f8b3f584e0\"",
                );
            }),
            "two heads",
        ),
        (
            "bad metadata",
            Box::new(|tree: &Path| {
                fs::write(tree.join(E2).join("revision.toml"), "revision = \"b4f8b3f584e0\"\ndown_revision = [\n")
                    .unwrap();
            }),
            "revision.toml",
        ),
        (
            "stray file",
            Box::new(|tree: &Path| {
                fs::write(tree.join(E2).join("upgrade.py"), "def upgrade(): pass\n").unwrap();
            }),
            "upgrade.py is not a migration file",
        ),
        (
            "unterminated SQL",
            Box::new(|tree: &Path| {
                fs::write(tree.join(E2).join("up.sql"), "ALTER TABLE trust ADD COLUMN x VARCHAR(1) DEFAULT 'oops;\n")
                    .unwrap();
                for backend in ["sqlite", "postgresql", "mysql"] {
                    fs::remove_file(tree.join(E2).join(format!("up.{backend}.sql"))).unwrap();
                }
            }),
            "never closed",
        ),
    ];
    for (label, break_tree, text) in cases {
        let scratch = tempfile::tempdir().unwrap();
        let tree = copy_alembic_tree(scratch.path());
        break_tree(&tree);
        for args in [&["db_sync"][..], &["db_sync", "--check"], &["db_version"]] {
            let mut full: Vec<&str> = vec!["--alembic-dir", tree.to_str().unwrap()];
            full.extend_from_slice(args);
            let outcome = db.manage(&full);
            assert_eq!(outcome.status, 1, "case {label}\n{outcome}");
            outcome.fails_with(text);
        }
        assert_eq!(before, db.fingerprint(), "case {label} changed the database");
    }
    // The intact copy works, so the failures above came from the breakage alone.
    let scratch = tempfile::tempdir().unwrap();
    let tree = copy_alembic_tree(scratch.path());
    db.manage(&["--alembic-dir", tree.to_str().unwrap(), "db_sync"]).expect(0);
    assert_eq!(db.alembic_rows().unwrap(), vec![EXPAND_HEAD.to_string(), CONTRACT_HEAD.to_string()]);
});

dbtest!(non_empty_database_without_version_tables_is_refused, |db| {
    db.conn().exec("CREATE TABLE project (id VARCHAR(64) NOT NULL PRIMARY KEY)");
    let before = db.fingerprint();
    for args in [&["db_sync"][..], &["db_sync", "--expand"], &["db_sync", "--check"]] {
        db.manage(args).fails_with("is under no version control");
    }
    assert_eq!(before, db.fingerprint());
});

dbtest!(unknown_revision_is_reported_as_a_newer_database, |db| {
    db.manage(&["db_sync"]).expect(0);
    db.conn()
        .exec(&format!("UPDATE alembic_version SET version_num = 'f00dfeed0001' WHERE version_num = '{EXPAND_HEAD}'"));
    let before = db.fingerprint();
    for args in [&["db_sync"][..], &["db_sync", "--expand"], &["db_sync", "--check"]] {
        db.manage(args).fails_with("holds revision 'f00dfeed0001', which this release does not know");
    }
    // db_version shows what the database holds, so that no SQL client is needed to see it.
    let version = db.manage(&["db_version"]);
    version.expect(0).stderr_has("WARN").stderr_has("revision f00dfeed0001, which this release does not know");
    assert_eq!(version.stdout, "f00dfeed0001\n");
    let json = db.manage(&["db_version", "--format", "json"]);
    json.expect(0).stdout_has("\"version\": \"f00dfeed0001\"").stdout_has("\"unknown_revisions\"");
    assert_eq!(before, db.fingerprint());
});

dbtest!(impossible_version_rows_are_refused, |db| {
    db.manage(&["db_sync"]).expect(0);
    db.conn().exec("INSERT INTO alembic_version (version_num) VALUES ('47147121')");
    let before = db.fingerprint();
    db.manage(&["db_sync"]).fails_with("two rows for the expand branch");
    db.manage(&["db_sync", "--check"]).fails_with("two rows for the expand branch");
    db.conn().exec(&format!("DELETE FROM alembic_version WHERE version_num IN ('47147121', '{EXPAND_HEAD}')"));
    db.manage(&["db_sync"]).fails_with("no expand revision");
    db.manage(&["db_sync", "--check"]).fails_with("no expand revision");
    assert_ne!(before, db.fingerprint());
});

dbtest!(legacy_rows_of_unknown_repositories_are_refused, |db| {
    db.conn().exec("CREATE TABLE migrate_version (repository_id VARCHAR(250) NOT NULL, repository_path TEXT, version INTEGER, PRIMARY KEY (repository_id))");
    db.conn().exec("INSERT INTO migrate_version VALUES ('keystone', '/old/migrate_repo', 109)");
    let before = db.fingerprint();
    db.manage(&["db_sync"]).fails_with("only repository ids this release does not know (keystone)");
    assert_eq!(before, db.fingerprint());
});

dbtest!(wrong_password_fails_cleanly, |db| {
    let url = match db.engine {
        // SQLite has no password; PostgreSQL here trusts every local connection, so a wrong
        // password cannot be provoked against it.
        Engine::Sqlite | Engine::Postgresql => return,
        Engine::Mysql => format!("mysql+pymysql://root:{SECRET}@127.0.0.1:3306/{}", db.name),
    };
    every_command_fails(db, &url, "Access denied");
});

#[test]
fn a_config_path_that_is_not_a_readable_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = strata(dir.path());
    command.arg("--config-file").arg(dir.path()).arg("db_sync");
    run(command).fails_with(&format!("cannot read {}", dir.path().display()));
    let binary = dir.path().join("binary.conf");
    fs::write(&binary, [0xff, 0xfe, 0x00, 0x5b]).unwrap();
    let mut command = strata(dir.path());
    command.arg("--config-file").arg(&binary).arg("db_sync");
    run(command).fails_with(&format!("cannot read {}", binary.display()));
}

/// The 3-character windows of `password` that occur in `output` but not in `neutral` (the
/// same commands' output with a password that cannot be confused with anything).
fn leaked_windows(password: &str, output: &str, neutral: &str) -> Vec<String> {
    let chars: Vec<char> = password.chars().collect();
    let mut leaked: Vec<String> = chars
        .windows(3)
        .map(String::from_iter)
        .filter(|window| output.contains(window.as_str()) && !neutral.contains(window.as_str()))
        .collect();
    leaked.dedup();
    leaked
}

/// The URLs an operator may write with `password`: percent-encoded (a valid URL), as typed
/// (possibly malformed), and as the `password` or `sslpassword` query parameter.
fn urls_with_password(db: &TestDb, password: &str) -> Vec<String> {
    let encoded: String = password
        .bytes()
        .map(|byte| if byte.is_ascii_alphanumeric() { (byte as char).to_string() } else { format!("%{byte:02X}") })
        .collect();
    let base = match db.engine {
        // SQLite URLs carry no credentials: an unreachable server stands in for it.
        Engine::Sqlite => "postgresql://postgres@127.0.0.1:1/keystone".to_owned(),
        _ => db.url.clone(),
    };
    let (scheme, rest) = base.split_once("://").unwrap();
    let (user, location) = rest.split_once('@').unwrap();
    vec![
        format!("{scheme}://{user}:{encoded}@{location}"),
        format!("{scheme}://{user}:{password}@{location}"),
        format!("{scheme}://{user}@{location}?password={encoded}"),
        // As typed in the query too: '?', '&' and '=' are not encoded there either.
        format!("{scheme}://{user}@{location}?password={password}&sslmode=prefer"),
        format!("{scheme}://{user}@{location}?sslmode=prefer&sslpassword={encoded}"),
    ]
}

/// Every command that may show the URL, at debug level, against each URL; all output joined.
fn output_of_every_command(db: &TestDb, password: &str) -> String {
    let mut output = String::new();
    for url in urls_with_password(db, password) {
        for args in [&["db_sync"][..], &["db_sync", "--check"], &["db_version"], &["current"], &["history"]] {
            let mut command = strata(db.dir.path());
            command.arg("--database-url").arg(&url).arg("-d").args(args);
            let outcome = run(command);
            assert!(!outcome.stderr.contains("panicked"), "{outcome}");
            output.push_str(&outcome.stdout);
            output.push_str(&outcome.stderr);
        }
    }
    output
}

dbtest!(no_part_of_any_password_appears_in_any_output, |db| {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    db.manage(&["db_sync"]).expect(0);
    // What the commands print whatever the password, also for one with the URL's delimiters
    // (whose fixed messages, such as the one about an unencoded '@', may share 3-character
    // windows with a password).
    let neutral = output_of_every_command(&*db, "\u{2603}\u{2604}\u{2605}\u{2606}\u{2607}\u{2608}")
        + &output_of_every_command(&*db, "\u{2603}@\u{2604}?\u{2605}&\u{2606}:\u{2607}/\u{2608}");
    // Digits are left out: timestamps and durations differ from one run to the next.
    let password = prop::collection::vec(
        prop_oneof![
            3 => prop::sample::select("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".chars().collect::<Vec<_>>()),
            2 => prop::sample::select("@:/?#%&=+ '\"\\[]*;!$,".chars().collect::<Vec<_>>()),
            1 => prop::sample::select("éßжλ€😀".chars().collect::<Vec<_>>()),
        ],
        6..16,
    )
    .prop_map(String::from_iter);
    let cases = crate::support::setting("STRATA_PASSWORD_CASES", 6) as u32;
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    runner
        .run(&password, |password| {
            let output = output_of_every_command(db, &password);
            let leaked = leaked_windows(&password, &output, &neutral);
            prop_assert!(leaked.is_empty(), "password {password:?}: {leaked:?} shown in\n{output}");
            Ok(())
        })
        .unwrap();
});

#[test]
fn an_unencoded_at_sign_in_a_password_is_refused_without_echoing_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = strata(dir.path());
    command.args(["--database-url", "postgresql://keystone:Ab3@Yx9W@127.0.0.1/keystone", "-d", "db_sync"]);
    let outcome = run(command);
    outcome.fails_with("contains '@': an '@' in the user name or password must be percent-encoded as %40");
    assert!(!outcome.stderr.contains("Yx9") && !outcome.stderr.contains("Ab3"), "{outcome}");
    assert!(fs::read_dir(dir.path()).unwrap().next().is_none(), "nothing may be created");
}

dbtest!(a_password_query_parameter_is_used_and_hidden, |db| {
    let url = match db.engine {
        // SQLite has no password; MySQL's root here has none, so a wrong one must fail.
        Engine::Sqlite => return,
        Engine::Postgresql => format!("{}?password={SECRET}", db.url),
        Engine::Mysql => format!("{}?password={SECRET}", db.url),
    };
    let mut command = strata(db.dir.path());
    command.args(["--database-url", &url, "-v", "db_sync"]);
    let outcome = run(command);
    assert_secret_hidden(&outcome);
    match db.engine {
        // PostgreSQL trusts local connections: the password is sent and ignored.
        Engine::Postgresql => {
            outcome.expect(0);
        }
        _ => {
            outcome.fails_with("cannot connect to mysql://root:***@");
        }
    }
});

#[test]
fn a_refused_contract_creates_no_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = strata(dir.path());
    command.args(["--database-url", "sqlite:///missing.db", "db_sync", "--contract"]);
    run(command).fails_with("You are attempting to upgrade contract ahead of expand");
    assert!(!dir.path().join("missing.db").exists(), "a refused --contract created the SQLite file");
}

dbtest!(a_refused_contract_changes_nothing, |db| {
    let before = db.fingerprint();
    db.manage(&["db_sync", "--contract"]).fails_with("You are attempting to upgrade contract ahead of expand");
    assert_eq!(before, db.fingerprint());
    if db.engine == Engine::Sqlite {
        assert!(!db.sqlite_path().exists(), "a refused --contract created the SQLite file");
    }
});

#[test]
fn migrate_still_validates_its_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = strata(dir.path());
    command.args(["--database-url", "garbage", "db_sync", "--migrate"]);
    run(command).fails_with("is not of the form");
    let mut command = strata(dir.path());
    command.arg("--config-file").arg(dir.path().join("missing.conf")).args(["db_sync", "--migrate"]);
    run(command).fails_with("not found");
    let mut command = strata(dir.path());
    command.args(["db_sync", "--migrate"]);
    run(command).expect(0).stdout_has("Data migrations are no longer supported");
    assert!(fs::read_dir(dir.path()).unwrap().next().is_none(), "--migrate creates nothing");
}

#[test]
fn a_sqlite_directory_that_cannot_be_written_is_named() {
    // /sys refuses new files even to root, as a read-only directory refuses them to others.
    let dir = tempfile::tempdir().unwrap();
    let mut command = strata(dir.path());
    command.args(["--database-url", "sqlite:////sys/keystone.db", "db_sync"]);
    run(command).fails_with("cannot write in /sys, the directory of the SQLite database");
}
