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

/// Names the database every way an operator can get wrong, and checks that none of them
/// upgrades `./keystone.db` behind the operator's back.
#[test]
fn a_database_nobody_named_is_never_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("keystone.conf");
    let cases: [(&str, Option<&str>, Option<&str>, &str); 5] = [
        ("empty flag", Some(""), None, "--database-url is set but empty"),
        ("empty environment", None, Some(""), "STRATA_DATABASE_URL is set but empty"),
        ("empty option", None, None, "[database] connection in"),
        ("[sql] connection", None, None, "sets [sql] connection, a name keystone no longer reads"),
        ("no [database] section", None, None, "no [database] connection in"),
    ];
    for (label, flag, env, text) in cases {
        let file = match label {
            "empty option" => "[database]\nconnection =\n",
            "[sql] connection" => "[sql]\nconnection = sqlite:///keystone.db\n",
            "no [database] section" => "[DEFAULT]\ndebug = true\n",
            _ => "[database]\nconnection = sqlite:///named.db\n",
        };
        fs::write(&conf, file).unwrap();
        let mut command = strata(dir.path());
        command.arg("--config-file").arg(&conf);
        if let Some(url) = flag {
            command.args(["--database-url", url]);
        }
        if let Some(url) = env {
            command.env("STRATA_DATABASE_URL", url);
        }
        command.arg("db_sync");
        let outcome = run(command);
        outcome.fails_with(text);
        if label.starts_with("empty option") || label == "no [database] section" {
            assert!(
                outcome.error_line().contains(&conf.display().to_string()),
                "case {label}: the file is named\n{outcome}"
            );
        }
        let files: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(files, vec![std::ffi::OsString::from("keystone.conf")], "case {label} created a database");
    }
}

/// A configuration file in oslo.config's default locations that names no database is
/// refused too: the built-in default is only for a machine without any configuration.
#[test]
fn a_default_config_file_without_a_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("keystone.conf");
    fs::write(&conf, "[DEFAULT]\ndebug = true\n").unwrap();
    let mut command = strata(dir.path());
    command.arg("db_sync");
    run(command).fails_with(&format!("no [database] connection in {}", conf.display()));
    assert!(!dir.path().join("keystone.db").exists());
}

/// A `--config-dir` that holds no `*.conf` file names no database either: the operator asked
/// for a configuration that is not there, and nothing is upgraded.
#[test]
fn an_empty_config_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let confd = dir.path().join("keystone.conf.d");
    fs::create_dir(&confd).unwrap();
    let mut command = strata(dir.path());
    command.arg("--config-dir").arg(&confd).arg("db_sync");
    run(command).fails_with(&format!("--config-dir {} holds no *.conf file", confd.display()));
    assert!(!dir.path().join("keystone.db").exists());
}

/// oslo.config reads group names without regard to case, option names with it.
#[test]
fn config_files_are_read_with_oslo_config_case_rules() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("keystone.conf");
    fs::write(&conf, "[Database]\nconnection = \"sqlite:///upper.db\"\n").unwrap();
    let mut command = strata(dir.path());
    command.arg("--config-file").arg(&conf).args(["db_sync", "--expand"]);
    run(command).expect(0);
    assert!(dir.path().join("upper.db").is_file() && !dir.path().join("keystone.db").exists());
    fs::write(&conf, "[database]\nCONNECTION = sqlite:///upper.db\n").unwrap();
    let mut command = strata(dir.path());
    command.arg("--config-file").arg(&conf).arg("db_sync");
    run(command).fails_with("no [database] connection in");
}

/// Without any configuration file, the built-in default is used, and said to be.
#[test]
fn the_built_in_default_is_said_at_the_default_log_level() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = strata(dir.path());
    command.args(["db_sync", "--expand"]);
    run(command).expect(0).stderr_has(
        "Using database sqlite:///keystone.db (from the built-in default, as no configuration file exists)",
    );
}

dbtest!(db_sync_says_which_database_it_upgrades_and_from_where, |db| {
    let shown = strata::url::DatabaseUrl::parse(&db.url).unwrap().to_string();
    let config = db.config.display().to_string();
    for args in [&["db_sync", "--expand"][..], &["db_sync", "--contract"], &["db_sync"]] {
        let outcome = db.manage(args);
        outcome
            .expect(0)
            .stderr_has("INFO")
            .stderr_has(&format!("Using database {shown} (from [database] connection in {config})"));
    }
});

/// keystone-manage scripts pass oslo.log's options: they are accepted, and the log goes
/// where they say.
#[test]
fn oslo_log_options_are_accepted_and_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = strata(dir.path());
    command.args(["--log-file", "sync.log", "--debug", "--verbose", "db_sync", "--expand"]);
    let outcome = run(command);
    outcome.expect(0);
    assert!(!outcome.stderr.contains("INFO"), "the log goes to the file, not stderr\n{outcome}");
    let log = fs::read_to_string(dir.path().join("sync.log")).unwrap();
    assert!(log.contains("Using database sqlite:///keystone.db") && log.contains("Running upgrade"), "{log}");

    let logs = dir.path().join("logs");
    fs::create_dir(&logs).unwrap();
    let mut command = strata(dir.path());
    command.args(["db_sync", "--log-dir", logs.to_str().unwrap()]);
    run(command).expect(0);
    let log = fs::read_to_string(logs.join("strata-manage.log")).unwrap();
    assert!(log.contains("Running upgrade"), "{log}");
    let mut command = strata(dir.path());
    command.args(["--log-dir", logs.to_str().unwrap(), "--log-file", "named.log", "db_version"]);
    run(command).expect(0);
    assert!(logs.join("named.log").is_file(), "--log-file is relative to --log-dir");

    let mut command = strata(dir.path());
    command.args(["--log-file", "/nonexistent/dir/x.log", "db_version"]);
    run(command).fails_with("cannot open log file /nonexistent/dir/x.log");

    for option in ["--use-syslog", "--use-journal"] {
        let mut command = strata(dir.path());
        command.args([option, "db_version"]).env("STRATA_SYSLOG_SOCKET", dir.path().join("no-such-socket"));
        command.env("STRATA_JOURNAL_SOCKET", dir.path().join("no-such-socket"));
        let outcome = run(command);
        assert_eq!(outcome.expect(0).stdout, format!("{EXPAND_HEAD}\n"));
        let warnings: Vec<&str> = outcome.stderr.lines().filter(|line| line.contains(option)).collect();
        assert_eq!(warnings.len(), 1, "one warning when the socket is missing\n{outcome}");
        assert!(warnings[0].contains("logging to stderr instead"), "{outcome}");
    }
}

/// Each of oslo.log's destinations gets the log, all at once as oslo.log's handlers do, and
/// the error that ends a failed run is in them too.
#[test]
fn syslog_journal_and_log_file_all_receive_the_log_and_the_final_error() {
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().unwrap();
    let syslog_path = dir.path().join("syslog.sock");
    let journal_path = dir.path().join("journal.sock");
    // Readers that keep up, as syslog and journald do: a datagram waits while the queue is full.
    let listen = |path: &std::path::Path| {
        let socket = UnixDatagram::bind(path).unwrap();
        let messages = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = messages.clone();
        std::thread::spawn(move || {
            let mut buffer = vec![0; 65536];
            while let Ok(length) = socket.recv(&mut buffer) {
                sink.lock().unwrap().push(String::from_utf8_lossy(&buffer[..length]).into_owned());
            }
        });
        messages
    };
    let syslog = listen(&syslog_path);
    let journal = listen(&journal_path);
    let received = |messages: &std::sync::Arc<std::sync::Mutex<Vec<String>>>| {
        // The run has ended; what it sent is queued or read.
        std::thread::sleep(std::time::Duration::from_millis(200));
        std::mem::take(&mut *messages.lock().unwrap())
    };
    let logged = |args: &[&str]| {
        let mut command = strata(dir.path());
        command
            .args(["--use-syslog", "--use-journal", "--log-file", "all.log"])
            .args(args)
            .env("STRATA_SYSLOG_SOCKET", &syslog_path)
            .env("STRATA_JOURNAL_SOCKET", &journal_path);
        run(command)
    };

    let outcome = logged(&["db_sync"]);
    outcome.expect(0);
    assert!(!outcome.stderr.contains("Running upgrade"), "the log has left stderr\n{outcome}");
    let from_syslog = received(&syslog);
    assert!(
        from_syslog
            .iter()
            .any(|message| message.starts_with("<14>strata-manage[") && message.contains("Running upgrade")),
        "{from_syslog:?}"
    );
    let from_journal = received(&journal);
    assert!(
        from_journal.iter().any(|message| message.contains("PRIORITY=6\nSYSLOG_IDENTIFIER=strata-manage\n")
            && message.contains("Running upgrade")),
        "{from_journal:?}"
    );
    let log = fs::read_to_string(dir.path().join("all.log")).unwrap();
    assert!(log.contains("Running upgrade"), "{log}");

    // A failed run: its error line is on stderr and in every destination.
    let outcome = logged(&["db_sync", "2"]);
    let error = "Specifying a version is no longer supported";
    outcome.fails_with(error);
    assert!(received(&syslog).iter().any(|message| message.starts_with("<11>") && message.contains(error)));
    assert!(received(&journal).iter().any(|message| message.contains("PRIORITY=3\n") && message.contains(error)));
    let log = fs::read_to_string(dir.path().join("all.log")).unwrap();
    assert!(log.lines().any(|line| line.contains("ERROR") && line.contains(error)), "{log}");
}
