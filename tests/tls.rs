//! TLS end to end, against real servers: PostgreSQL with `ssl = on` and Debian's self-signed
//! snakeoil certificate (CN and DNS name `localhost`), the Galera nodes of `scripts/galera`,
//! which serve a certificate for `localhost` and 127.0.0.1 signed by the CA in
//! `STRATA_GALERA_DIR/tls/ca.pem`, and the standalone MariaDB, which has TLS off.
//!
//! Each test proves that the session it asked to encrypt was encrypted (PostgreSQL's
//! `pg_stat_ssl` while the run waits for a lock the test holds; on MariaDB an account that
//! the server lets in over TLS only), and each refusal is one clear error line, exit 1, with
//! the database unchanged. A missing precondition (server TLS off, certificate unreadable)
//! skips loudly, and fails under `STRATA_TEST_REQUIRE_ALL_BACKENDS=1`; Galera nodes started
//! before `scripts/galera` configured TLS always fail, saying to restart them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::db::{fresh_fingerprint, galera_ports};
use crate::support::{finish_within, strata, Backend, Engine, Run, TestDb};

/// Debian's self-signed certificate, which the PostgreSQL server presents.
const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

/// Whether a precondition holds; if not, fails (all backends required) or says `SKIPPED`.
fn precondition(test: &str, outcome: Result<(), String>) -> bool {
    let Err(reason) = outcome else { return true };
    if std::env::var("STRATA_TEST_REQUIRE_ALL_BACKENDS").is_ok_and(|v| v == "1") {
        panic!("{test}: {reason}, and STRATA_TEST_REQUIRE_ALL_BACKENDS=1");
    }
    eprintln!("SKIPPED {test}: {reason}");
    false
}

/// `strata-manage --database-url URL ARGS`, in the test's directory.
fn manage_url(db: &mut TestDb, url: &str, args: &[&str]) -> Run {
    let mut all = vec!["--database-url", url];
    all.extend_from_slice(args);
    db.manage_bare(&all)
}

/// A self-signed CA of the test's own, in `dir`: it signed neither server's certificate.
fn stranger_ca(test: &str, dir: &Path) -> Option<PathBuf> {
    let ca = dir.join("stranger-ca.pem");
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=strata test stranger CA"])
        .arg("-keyout")
        .arg(dir.join("stranger-ca.key"))
        .arg("-out")
        .arg(&ca)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|error| format!("openssl cannot run ({error})"))
        .and_then(|status| if status.success() { Ok(()) } else { Err(format!("openssl failed ({status})")) });
    precondition(test, made).then_some(ca)
}

// ---------------------------------------------------------------------------------------
// PostgreSQL

/// The server has TLS on and the snakeoil certificate can be read.
fn postgres_tls_ready(db: &mut TestDb, test: &str) -> bool {
    let ssl = db.conn().lines("SELECT current_setting('ssl') AS value");
    let outcome = if ssl != ["on"] {
        Err(format!("the PostgreSQL server has ssl = {ssl:?}, not on"))
    } else {
        std::fs::read(SNAKEOIL).map(drop).map_err(|error| format!("cannot read {SNAKEOIL}: {error}"))
    };
    precondition(test, outcome)
}

fn postgres_url(host: &str, db: &TestDb, params: &str) -> String {
    format!("postgresql://postgres@{host}:5432/{}?{params}", db.name)
}

/// Runs `db_sync ARGS` with `url` while the test holds the db_sync lock, and reads from
/// `pg_stat_ssl` whether each of the run's sessions on the database is encrypted (as
/// `true`/`false`, one per session) while it waits; then lets it finish.
fn ssl_of_waiting_run(db: &mut TestDb, url: &str, args: &[&str]) -> (Vec<String>, Run) {
    db.hold_db_sync_lock();
    let mut all = vec!["db_sync", "--lock-timeout", "120"];
    all.extend_from_slice(args);
    let mut command = strata(db.dir.path());
    command.arg("--database-url").arg(url).args(&all).stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = command.spawn().expect("spawn strata-manage");
    let sql = "SELECT CAST(s.ssl AS text) AS value FROM pg_stat_activity a JOIN pg_stat_ssl s ON s.pid = a.pid \
               WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() ORDER BY a.pid";
    let deadline = Instant::now() + Duration::from_secs(60);
    let sessions = loop {
        let sessions = db.conn().lines(sql);
        if !sessions.is_empty() || Instant::now() >= deadline {
            break sessions;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Closing the test's connection releases the lock.
    db.disconnect();
    let run = finish_within(child, Duration::from_secs(180));
    (sessions, run)
}

/// `sslmode=require` encrypts every session of the run (and `sslmode=disable`, the control,
/// none), and `db_sync` and `--check` work through it.
#[test]
fn postgresql_sslmode_require_encrypts_the_session_and_db_sync_works() {
    TestDb::run(Engine::Postgresql, "tls_pg_require", |db| {
        if !postgres_tls_ready(db, "tls_pg_require") {
            return;
        }
        let (plain, expand) = ssl_of_waiting_run(db, &postgres_url("127.0.0.1", db, "sslmode=disable"), &["--expand"]);
        expand.expect(0);
        assert!(!plain.is_empty() && plain.iter().all(|ssl| ssl == "false"), "sslmode=disable: {plain:?}");
        let url = postgres_url("127.0.0.1", db, "sslmode=require");
        let (encrypted, sync) = ssl_of_waiting_run(db, &url, &[]);
        sync.expect(0);
        assert!(!encrypted.is_empty() && encrypted.iter().all(|ssl| ssl == "true"), "sslmode=require: {encrypted:?}");
        manage_url(db, &url, &["db_sync", "--check"]).expect(0);
        assert_eq!(db.fingerprint(), fresh_fingerprint(Engine::Postgresql));
    });
}

/// `verify-full` checks the host name: `localhost`, which the certificate names, connects;
/// 127.0.0.1 is refused naming the mismatch, and changes nothing. `verify-ca` with the same
/// root connects to 127.0.0.1 (only the name was wrong).
#[test]
fn postgresql_verify_full_checks_the_host_name() {
    TestDb::run(Engine::Postgresql, "tls_pg_verify_full", |db| {
        if !postgres_tls_ready(db, "tls_pg_verify_full") {
            return;
        }
        let root = format!("sslrootcert={SNAKEOIL}");
        let before = db.fingerprint();
        let refused =
            manage_url(db, &postgres_url("127.0.0.1", db, &format!("sslmode=verify-full&{root}")), &["db_sync"]);
        refused.fails_with("certificate").fails_with("127.0.0.1").fails_with("localhost");
        assert_eq!(db.fingerprint(), before, "a refused connection changed the database");
        manage_url(db, &postgres_url("127.0.0.1", db, &format!("sslmode=verify-ca&{root}")), &["db_version"])
            .expect(0)
            .stdout_has("None");
        let url = postgres_url("localhost", db, &format!("sslmode=verify-full&{root}"));
        manage_url(db, &url, &["db_sync"]).expect(0);
        manage_url(db, &url, &["db_sync", "--check"]).expect(0);
        assert_eq!(db.fingerprint(), fresh_fingerprint(Engine::Postgresql));
    });
}

/// `verify-ca` with a root certificate that did not sign the server's is refused clearly,
/// and changes nothing.
#[test]
fn postgresql_verify_ca_with_a_wrong_root_certificate_is_refused() {
    TestDb::run(Engine::Postgresql, "tls_pg_wrong_root", |db| {
        if !postgres_tls_ready(db, "tls_pg_wrong_root") {
            return;
        }
        let Some(stranger) = stranger_ca("tls_pg_wrong_root", db.dir.path()) else { return };
        let before = db.fingerprint();
        let url = postgres_url("127.0.0.1", db, &format!("sslmode=verify-ca&sslrootcert={}", stranger.display()));
        manage_url(db, &url, &["db_sync"]).fails_with("certificate").fails_with(&stranger.display().to_string());
        assert_eq!(db.fingerprint(), before, "a refused connection changed the database");
    });
}

// ---------------------------------------------------------------------------------------
// MySQL/MariaDB

/// The CA that signed the Galera nodes' certificate (see `scripts/galera`).
fn galera_ca() -> PathBuf {
    let root = std::env::var("STRATA_GALERA_DIR").unwrap_or_else(|_| "/var/tmp/strata-galera".to_owned());
    Path::new(&root).join("tls/ca.pem")
}

/// Panics unless the cluster's node 1 serves TLS and its CA is there: nodes started before
/// `scripts/galera` configured TLS must be restarted.
fn assert_galera_serves_tls(db: &mut TestDb) -> PathBuf {
    let have_ssl = db.conn().lines("SELECT CAST(@@have_ssl AS CHAR) AS value");
    assert_eq!(
        have_ssl,
        ["YES"],
        "Galera node 127.0.0.1:{} serves no TLS (have_ssl {have_ssl:?}): it was started before scripts/galera \
         configured TLS; restart the cluster with 'scripts/galera stop' then 'scripts/galera start'",
        galera_ports()[0]
    );
    let ca = galera_ca();
    assert!(
        std::fs::read(&ca).is_ok(),
        "cannot read the Galera CA {} although the nodes serve TLS: restart the cluster with 'scripts/galera stop' \
         then 'scripts/galera start' (STRATA_GALERA_DIR must name the cluster's directory)",
        ca.display()
    );
    ca
}

fn galera_url(user: &str, host: &str, db: &TestDb, params: &str) -> String {
    format!("mysql+pymysql://{user}@{host}:{}/{}?{params}", galera_ports()[0], db.name)
}

/// `ssl_mode=REQUIRED` encrypts: an account the server lets in over TLS only (`REQUIRE
/// SSL`) runs `db_sync` and `--check` with it, and is refused with `ssl_mode=DISABLED`
/// (the control).
#[test]
fn galera_ssl_mode_required_encrypts_the_session_and_db_sync_works() {
    TestDb::run(Backend::Galera, "tls_galera_required", |db| {
        assert_galera_serves_tls(db);
        let account = format!("strata_tls_{}", std::process::id());
        let sql = format!(
            "DROP USER IF EXISTS '{account}'@'127.0.0.1'; \
             CREATE USER '{account}'@'127.0.0.1' IDENTIFIED BY 'tls-only' REQUIRE SSL; \
             GRANT ALL PRIVILEGES ON `{}`.* TO '{account}'@'127.0.0.1'",
            db.name
        );
        db.conn().exec(&sql);
        let user = format!("{account}:tls-only");
        manage_url(db, &galera_url(&user, "127.0.0.1", db, "ssl_mode=DISABLED"), &["db_version"]).fails_with("(1045)");
        let url = galera_url(&user, "127.0.0.1", db, "ssl_mode=REQUIRED");
        manage_url(db, &url, &["db_sync"]).expect(0);
        manage_url(db, &url, &["db_sync", "--check"]).expect(0);
        assert_eq!(db.fingerprint(), fresh_fingerprint(Backend::Galera));
        // PREFERRED, written or as the default, encrypts too when the server offers TLS.
        for params in ["ssl_mode=PREFERRED", "charset=utf8mb4"] {
            manage_url(db, &galera_url(&user, "127.0.0.1", db, params), &["db_sync", "--check"]).expect(0);
        }
        db.conn().exec(&format!("DROP USER '{account}'@'127.0.0.1'"));
    });
}

/// `VERIFY_CA` with the cluster's CA connects; `VERIFY_IDENTITY` checks the name: 127.0.0.1,
/// which the certificate names, connects, and the same server as `::ffff:127.0.0.1` (an
/// address it does not name) is refused naming the mismatch; `VERIFY_CA` with a CA that did
/// not sign the certificate is refused too; refusals change nothing.
#[test]
fn galera_verify_modes_check_the_ca_and_the_host_name() {
    TestDb::run(Backend::Galera, "tls_galera_verify", |db| {
        let ca = assert_galera_serves_tls(db);
        let Some(stranger) = stranger_ca("tls_galera_verify", db.dir.path()) else { return };
        let before = db.fingerprint();
        let refused = manage_url(db, &galera_url("root", MAPPED, db, &with_ca("VERIFY_IDENTITY", &ca)), &["db_sync"]);
        refused.fails_with("certificate").fails_with("::ffff:127.0.0.1");
        let refused =
            manage_url(db, &galera_url("root", "127.0.0.1", db, &with_ca("VERIFY_CA", &stranger)), &["db_sync"]);
        refused.fails_with("certificate");
        assert_eq!(db.fingerprint(), before, "a refused connection changed the database");
        manage_url(db, &galera_url("root", "127.0.0.1", db, &with_ca("VERIFY_CA", &ca)), &["db_sync", "--expand"])
            .expect(0);
        let url = galera_url("root", "127.0.0.1", db, &with_ca("VERIFY_IDENTITY", &ca));
        manage_url(db, &url, &["db_sync"]).expect(0);
        manage_url(db, &url, &["db_sync", "--check"]).expect(0);
        assert_eq!(db.fingerprint(), fresh_fingerprint(Backend::Galera));
    });
}

/// The same server under an address its certificate does not name.
const MAPPED: &str = "[::ffff:127.0.0.1]";

fn with_ca(mode: &str, ca: &Path) -> String {
    format!("ssl_mode={mode}&ssl_ca={}", ca.display())
}

/// `VERIFY_CA` checks the chain only, as MySQL's clients do, so it reaches the node under an
/// address the certificate does not name. Known bug: mysql_async 0.36 recognises a name
/// mismatch by rustls's old message text, which rustls 0.23.46 no longer prints, so the name
/// is checked anyway and this connection is refused (mysql_async issue 404, fixed upstream after
/// the 0.36 series that diesel-async 0.9 requires: un-ignore on upgrading).
#[test]
#[ignore = "known bug: mysql_async 0.36 checks the host name under VERIFY_CA with rustls 0.23.46"]
fn galera_verify_ca_does_not_check_the_host_name() {
    TestDb::run(Backend::Galera, "tls_galera_verify_ca_name", |db| {
        let ca = assert_galera_serves_tls(db);
        manage_url(db, &galera_url("root", MAPPED, db, &with_ca("VERIFY_CA", &ca)), &["db_version"])
            .expect(0)
            .stdout_has("None");
    });
}

/// The standalone server has TLS off: `ssl_mode=REQUIRED` is refused with one clear line,
/// exit 1, and nothing changed; `PREFERRED` connects without TLS.
#[test]
fn mysql_ssl_mode_required_against_a_server_without_tls_is_refused() {
    TestDb::run(Engine::Mysql, "tls_mysql_no_tls", |db| {
        let have_ssl = db.conn().lines("SELECT CAST(@@have_ssl AS CHAR) AS value");
        let off = if have_ssl == ["YES"] {
            Err("the standalone MariaDB serves TLS (have_ssl YES), so it cannot show a refusal".to_owned())
        } else {
            Ok(())
        };
        if !precondition("tls_mysql_no_tls", off) {
            return;
        }
        let before = db.fingerprint();
        let url = format!("mysql+pymysql://root@127.0.0.1:3306/{}?ssl_mode=REQUIRED", db.name);
        manage_url(db, &url, &["db_sync"]).fails_with("TLS");
        assert_eq!(db.fingerprint(), before, "a refused connection changed the database");
        // PREFERRED (the default) falls back to an unencrypted session.
        let preferred = format!("mysql+pymysql://root@127.0.0.1:3306/{}?ssl_mode=PREFERRED", db.name);
        manage_url(db, &preferred, &["db_sync"]).expect(0);
    });
}
