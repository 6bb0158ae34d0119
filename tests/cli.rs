use std::fs;

use crate::support::{run, strata};
use crate::sync::EXPAND_HEAD;

#[test]
fn help_lists_the_commands_and_exit_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = strata(dir.path());
    command.arg("--help");
    let outcome = run(command);
    outcome.expect(0).stdout_has("db_sync").stdout_has("db_version").stdout_has("Exit status");
    let mut command = strata(dir.path());
    command.args(["db_sync", "--help"]);
    run(command)
        .expect(0)
        .stdout_has("--expand")
        .stdout_has("--contract")
        .stdout_has("--check")
        .stdout_has("--migrate");
}

#[test]
fn unknown_command_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = strata(dir.path());
    command.arg("db_frobnicate");
    run(command).expect(2);
}

#[test]
fn default_database_is_keystone_db_in_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = strata(dir.path());
    command.arg("db_sync");
    run(command).expect(0);
    assert!(dir.path().join("keystone.db").is_file());
    let mut command = strata(dir.path());
    command.arg("db_version");
    assert_eq!(run(command).expect(0).stdout.trim(), EXPAND_HEAD);
}

#[test]
fn flag_beats_environment_beats_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("keystone.conf");
    fs::write(&conf, "[database]\nconnection = sqlite:///from-file.db\n").unwrap();
    let sync = |flag: Option<&str>, env: Option<&str>| {
        let mut command = strata(dir.path());
        command.arg("--config-file").arg(&conf);
        if let Some(url) = flag {
            command.args(["--database-url", url]);
        }
        if let Some(url) = env {
            command.env("STRATA_DATABASE_URL", url);
        }
        command.args(["db_sync", "--expand"]);
        run(command).expect(0);
    };
    sync(None, None);
    assert!(dir.path().join("from-file.db").is_file());
    sync(None, Some("sqlite:///from-env.db"));
    assert!(dir.path().join("from-env.db").is_file());
    sync(Some("sqlite:///from-flag.db"), Some("sqlite:///not-this.db"));
    assert!(dir.path().join("from-flag.db").is_file());
    assert!(!dir.path().join("not-this.db").exists());
}

#[test]
fn config_dir_files_are_read_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    let confd = dir.path().join("keystone.conf.d");
    fs::create_dir(&confd).unwrap();
    fs::write(confd.join("10-first.conf"), "[database]\nconnection = sqlite:///first.db\n").unwrap();
    fs::write(confd.join("20-second.conf"), "[database]\nconnection = sqlite:///second.db\n").unwrap();
    let mut command = strata(dir.path());
    command.arg("--config-dir").arg(&confd).args(["db_sync", "--expand"]);
    run(command).expect(0);
    assert!(dir.path().join("second.db").is_file() && !dir.path().join("first.db").exists());
}

#[test]
fn debug_logs_show_sql_and_url_but_never_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.db");
    let conf = dir.path().join("k.conf");
    // The password is ignored by SQLite but must still be hidden wherever the URL is shown.
    fs::write(&conf, format!("[database]\nconnection = sqlite:///{}\n", db.display())).unwrap();
    let mut command = strata(dir.path());
    command.arg("--config-file").arg(&conf).args(["-d", "db_sync"]);
    let outcome = run(command);
    outcome.expect(0).stderr_has("CREATE TABLE alembic_version").stderr_has("DEBUG");
    let mut command = strata(dir.path());
    command.args(["--database-url", "postgresql://keystone:hunter2hunter2@127.0.0.1:1/ks", "-d", "db_version"]);
    let outcome = run(command);
    outcome.expect(1);
    assert!(outcome.stderr.contains("keystone:***@") && !outcome.stderr.contains("hunter2"), "{outcome}");
}

#[test]
fn logs_go_to_stderr_and_output_to_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = strata(dir.path());
    command.args(["db_sync", "--expand"]);
    let outcome = run(command);
    outcome.expect(0);
    assert!(outcome.stdout.is_empty() && outcome.stderr.contains("INFO"), "{outcome}");
    let mut command = strata(dir.path());
    command.args(["-v", "db_version"]);
    let outcome = run(command);
    assert_eq!(outcome.expect(0).stdout, format!("{EXPAND_HEAD}\n"));
}
