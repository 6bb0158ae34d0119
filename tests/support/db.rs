//! One test database on one engine, created for the test and dropped after it passes.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use diesel::connection::SimpleConnection;
use diesel::{Connection, MysqlConnection, PgConnection, RunQueryDsl, SqliteConnection};

use super::{run, strata, Run};

const PG_ADMIN_URL: &str = "postgresql://postgres@127.0.0.1:5432/postgres";
const MYSQL_ADMIN_URL: &str = "mysql://root@127.0.0.1:3306/mysql";

/// The database engines strata supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// SQLite file.
    Sqlite,
    /// PostgreSQL at 127.0.0.1:5432.
    Postgresql,
    /// MariaDB/MySQL at 127.0.0.1:3306.
    Mysql,
}

impl Engine {
    /// The folder name of this engine's fixtures.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgresql => "postgresql",
            Engine::Mysql => "mysql",
        }
    }

    /// Whether the engine's server answers; `Err` says why not.
    fn availability(self) -> &'static Result<(), String> {
        static PG: OnceLock<Result<(), String>> = OnceLock::new();
        static MY: OnceLock<Result<(), String>> = OnceLock::new();
        match self {
            Engine::Sqlite => &Ok(()),
            Engine::Postgresql => {
                PG.get_or_init(|| PgConnection::establish(PG_ADMIN_URL).map(drop).map_err(|e| e.to_string()))
            }
            Engine::Mysql => {
                MY.get_or_init(|| MysqlConnection::establish(MYSQL_ADMIN_URL).map(drop).map_err(|e| e.to_string()))
            }
        }
    }
}

/// A connection of the test's own, to set up states and read them back.
pub enum Conn {
    /// SQLite.
    Sqlite(SqliteConnection),
    /// PostgreSQL.
    Pg(PgConnection),
    /// MySQL/MariaDB.
    My(MysqlConnection),
}

#[derive(diesel::QueryableByName)]
struct Line {
    #[diesel(sql_type = diesel::sql_types::Text)]
    value: String,
}

impl Conn {
    /// Runs SQL (several statements allowed).
    pub fn exec(&mut self, sql: &str) {
        let result = match self {
            Conn::Sqlite(conn) => conn.batch_execute(sql),
            Conn::Pg(conn) => conn.batch_execute(sql),
            Conn::My(conn) => conn.batch_execute(sql),
        };
        result.unwrap_or_else(|error| panic!("test SQL failed: {error}\n{sql}"));
    }

    /// Rows of a query whose single column is aliased `value` and is text.
    pub fn lines(&mut self, sql: &str) -> Vec<String> {
        let query = diesel::sql_query(sql);
        let result = match self {
            Conn::Sqlite(conn) => query.load::<Line>(conn),
            Conn::Pg(conn) => query.load::<Line>(conn),
            Conn::My(conn) => query.load::<Line>(conn),
        };
        result
            .unwrap_or_else(|error| panic!("test query failed: {error}\n{sql}"))
            .into_iter()
            .map(|l| l.value)
            .collect()
    }
}

/// A brand-new database for one test.
pub struct TestDb {
    /// Which engine.
    pub engine: Engine,
    /// The database name (server engines) or file stem.
    pub name: String,
    /// Scratch directory: working directory and HOME of every strata-manage run.
    pub dir: tempfile::TempDir,
    /// The SQLAlchemy-style URL strata-manage is given.
    pub url: String,
    /// `--config-file` naming `url`.
    pub config: PathBuf,
    conn: Option<Conn>,
}

impl TestDb {
    /// Creates the database and runs `body`; drops it afterwards unless the body panicked.
    pub fn run(engine: Engine, test: &str, body: fn(&mut TestDb)) {
        if let Err(reason) = engine.availability() {
            if std::env::var("STRATA_TEST_REQUIRE_ALL_BACKENDS").is_ok_and(|v| v == "1") {
                panic!("{} server unreachable and STRATA_TEST_REQUIRE_ALL_BACKENDS=1: {reason}", engine.name());
            }
            eprintln!("SKIPPED {test} on {}: server unreachable ({reason})", engine.name());
            return;
        }
        let mut db = TestDb::create(engine, test);
        body(&mut db);
        db.destroy();
    }

    fn create(engine: Engine, test: &str) -> TestDb {
        let dir = tempfile::Builder::new().prefix("strata-test-").tempdir().expect("temp dir");
        // Server-side names must be unique per test, engine and test process (two checkouts
        // may run their suites against one server), and short (PostgreSQL: 63 bytes).
        let name: String =
            format!("strata_t{}_{}_{}", std::process::id(), engine.name(), test).chars().take(63).collect();
        let (url, conn) = match engine {
            Engine::Sqlite => {
                let path = dir.path().join(format!("{name}.db"));
                (format!("sqlite:///{}", path.display()), None)
            }
            Engine::Postgresql => {
                let mut admin = PgConnection::establish(PG_ADMIN_URL).expect("postgres admin connection");
                // One statement per call: PostgreSQL refuses DROP DATABASE in the implicit
                // transaction of a multi-statement query.
                admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .expect("drop old test database");
                admin.batch_execute(&format!("CREATE DATABASE \"{name}\"")).expect("create test database");
                (format!("postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"), None)
            }
            Engine::Mysql => {
                let mut admin = MysqlConnection::establish(MYSQL_ADMIN_URL).expect("mysql admin connection");
                admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS `{name}`; CREATE DATABASE `{name}`"))
                    .expect("create test database");
                (format!("mysql+pymysql://root@127.0.0.1:3306/{name}"), None)
            }
        };
        let config = dir.path().join("keystone.conf");
        fs::write(&config, format!("[database]\nconnection = {url}\n")).expect("write config");
        TestDb { engine, name, dir, url, config, conn }
    }

    /// Drops and recreates the database (SQLite: deletes the file and its journal), for tests
    /// that run several trials.
    pub fn reset(&mut self) {
        self.conn = None;
        match self.engine {
            Engine::Sqlite => {
                for suffix in ["", "-journal", "-wal", "-shm"] {
                    let path = PathBuf::from(format!("{}{suffix}", self.sqlite_path().display()));
                    if path.exists() {
                        fs::remove_file(path).expect("remove sqlite file");
                    }
                }
            }
            Engine::Postgresql => {
                let mut admin = PgConnection::establish(PG_ADMIN_URL).expect("postgres admin connection");
                admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name)).expect("drop");
                admin.batch_execute(&format!("CREATE DATABASE \"{}\"", self.name)).expect("create");
            }
            Engine::Mysql => {
                let mut admin = MysqlConnection::establish(MYSQL_ADMIN_URL).expect("mysql admin connection");
                admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS `{0}`; CREATE DATABASE `{0}`", self.name))
                    .expect("recreate");
            }
        }
    }

    /// Starts `strata-manage --config-file <this db's config> ARGS` without waiting.
    pub fn spawn(&mut self, args: &[&str]) -> std::process::Child {
        self.disconnect();
        let mut command = strata(self.dir.path());
        command
            .arg("--config-file")
            .arg(&self.config)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        command.spawn().expect("spawn strata-manage")
    }

    fn destroy(mut self) {
        self.conn = None;
        match self.engine {
            Engine::Sqlite => {}
            Engine::Postgresql => {
                let mut admin = PgConnection::establish(PG_ADMIN_URL).expect("postgres admin connection");
                admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name)).expect("drop");
            }
            Engine::Mysql => {
                let mut admin = MysqlConnection::establish(MYSQL_ADMIN_URL).expect("mysql admin connection");
                admin.batch_execute(&format!("DROP DATABASE IF EXISTS `{}`", self.name)).expect("drop");
            }
        }
    }

    /// The test's own connection (opened on first use; SQLite creates the file).
    pub fn conn(&mut self) -> &mut Conn {
        if self.conn.is_none() {
            let conn = match self.engine {
                Engine::Sqlite => Conn::Sqlite(
                    SqliteConnection::establish(&self.sqlite_path().to_string_lossy()).expect("open sqlite"),
                ),
                Engine::Postgresql => Conn::Pg(
                    PgConnection::establish(&format!("postgresql://postgres@127.0.0.1:5432/{}", self.name))
                        .expect("connect"),
                ),
                Engine::Mysql => Conn::My(
                    MysqlConnection::establish(&format!("mysql://root@127.0.0.1:3306/{}", self.name)).expect("connect"),
                ),
            };
            self.conn = Some(conn);
        }
        self.conn.as_mut().expect("just opened")
    }

    /// Closes the test's own connection (so that nothing of ours holds locks).
    pub fn disconnect(&mut self) {
        self.conn = None;
    }

    /// The SQLite file (SQLite only).
    pub fn sqlite_path(&self) -> PathBuf {
        self.dir.path().join(format!("{}.db", self.name))
    }

    /// Runs `strata-manage --config-file <this db's config> ARGS`.
    pub fn manage(&mut self, args: &[&str]) -> Run {
        self.disconnect();
        let mut command = strata(self.dir.path());
        command.arg("--config-file").arg(&self.config).args(args);
        run(command)
    }

    /// Runs `strata-manage ARGS` in this test's directory with no database option at all.
    pub fn manage_bare(&mut self, args: &[&str]) -> Run {
        self.disconnect();
        let mut command = strata(self.dir.path());
        command.args(args);
        run(command)
    }

    /// Rows of `alembic_version`, sorted; `None` when the table is absent.
    pub fn alembic_rows(&mut self) -> Option<Vec<String>> {
        if !self.tables().iter().any(|t| t == "alembic_version") {
            return None;
        }
        let mut rows = self.conn().lines("SELECT version_num AS value FROM alembic_version");
        rows.sort();
        Some(rows)
    }

    /// `repository_id=version` rows of `migrate_version`, sorted.
    pub fn legacy_rows(&mut self) -> Vec<String> {
        if !self.tables().iter().any(|t| t == "migrate_version") {
            return Vec::new();
        }
        let sql = match self.engine {
            Engine::Mysql => "SELECT CONCAT(repository_id, '=', version) AS value FROM migrate_version",
            _ => "SELECT repository_id || '=' || CAST(version AS TEXT) AS value FROM migrate_version",
        };
        let mut rows = self.conn().lines(sql);
        rows.sort();
        rows
    }

    /// Every table name, sorted.
    pub fn tables(&mut self) -> Vec<String> {
        let sql = match self.engine {
            Engine::Sqlite => "SELECT name AS value FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' ORDER BY name",
            Engine::Postgresql => "SELECT table_name::text AS value FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
            Engine::Mysql => "SELECT CAST(table_name AS CHAR) AS value FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY 1",
        };
        if self.engine == Engine::Sqlite && !self.sqlite_path().exists() {
            return Vec::new();
        }
        self.conn().lines(sql)
    }

    /// A sorted list of catalog facts and contents: tables, columns, types, defaults,
    /// constraints, indexes, per-engine objects, version rows and every table's row count.
    /// Two databases with equal fingerprints have the same schema and the same rows where
    /// it matters here.
    pub fn fingerprint(&mut self) -> Vec<String> {
        if self.engine == Engine::Sqlite && !self.sqlite_path().exists() {
            return vec!["(no database file)".into()];
        }
        let queries: &[&str] = match self.engine {
            Engine::Sqlite => &["SELECT type || '|' || name || '|' || tbl_name || '|' || coalesce(sql, '') AS value FROM sqlite_master"],
            Engine::Postgresql => &[
                "SELECT 'column|' || table_name || '|' || ordinal_position || '|' || column_name || '|' || data_type || '|' || udt_name || '|' || coalesce(character_maximum_length::text, '') || '|' || is_nullable || '|' || coalesce(column_default, '') AS value FROM information_schema.columns WHERE table_schema = 'public'",
                "SELECT 'constraint|' || conrelid::regclass::text || '|' || conname || '|' || pg_get_constraintdef(oid) AS value FROM pg_constraint WHERE connamespace = 'public'::regnamespace",
                "SELECT 'index|' || indexdef AS value FROM pg_indexes WHERE schemaname = 'public'",
                "SELECT 'sequence|' || sequence_name::text AS value FROM information_schema.sequences WHERE sequence_schema = 'public'",
                "SELECT 'enum|' || t.typname::text || '|' || string_agg(e.enumlabel::text, ',' ORDER BY e.enumsortorder) AS value FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY t.typname",
                "SELECT 'function|' || proname::text || '|' || md5(prosrc) AS value FROM pg_proc WHERE pronamespace = 'public'::regnamespace",
            ],
            Engine::Mysql => &[
                "SELECT CAST(CONCAT_WS('|', 'database', default_character_set_name, default_collation_name) AS CHAR) AS value FROM information_schema.schemata WHERE schema_name = DATABASE()",
                "SELECT CAST(CONCAT_WS('|', 'table', table_name, engine, table_collation) AS CHAR) AS value FROM information_schema.tables WHERE table_schema = DATABASE()",
                "SELECT CAST(CONCAT_WS('|', 'column', table_name, ordinal_position, column_name, column_type, is_nullable, IFNULL(column_default, 'NULL'), extra, IFNULL(collation_name, '')) AS CHAR) AS value FROM information_schema.columns WHERE table_schema = DATABASE()",
                "SELECT CAST(CONCAT_WS('|', 'index', table_name, index_name, non_unique, GROUP_CONCAT(column_name ORDER BY seq_in_index)) AS CHAR) AS value FROM information_schema.statistics WHERE table_schema = DATABASE() GROUP BY table_name, index_name, non_unique",
                "SELECT CAST(CONCAT_WS('|', 'fk', k.table_name, k.constraint_name, GROUP_CONCAT(k.column_name ORDER BY k.ordinal_position), k.referenced_table_name, GROUP_CONCAT(k.referenced_column_name ORDER BY k.ordinal_position), r.update_rule, r.delete_rule) AS CHAR) AS value FROM information_schema.key_column_usage k JOIN information_schema.referential_constraints r ON r.constraint_schema = k.table_schema AND r.constraint_name = k.constraint_name AND r.table_name = k.table_name WHERE k.table_schema = DATABASE() GROUP BY k.table_name, k.constraint_name, k.referenced_table_name, r.update_rule, r.delete_rule",
            ],
        };
        let mut facts = Vec::new();
        for query in queries {
            facts.extend(self.conn().lines(query));
        }
        for table in self.tables() {
            let quoted = match self.engine {
                Engine::Mysql => format!("`{table}`"),
                _ => format!("\"{table}\""),
            };
            let count = self.conn().lines(&format!("SELECT CAST(COUNT(*) AS CHAR(20)) AS value FROM {quoted}"));
            facts.push(format!("rows|{table}|{}", count[0]));
        }
        for row in self.alembic_rows().unwrap_or_default() {
            facts.push(format!("alembic_version|{row}"));
        }
        for row in self.legacy_rows() {
            facts.push(format!("migrate_version|{row}"));
        }
        facts.sort();
        facts
    }

    /// Loads a database as a keystone release left it, from `tests/fixtures/keystone/<release>/`
    /// (a dump of a database keystone-manage migrated), with its version rows and the
    /// root-domain row.
    pub fn load_keystone_fixture(&mut self, release: &str) {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/keystone")
            .join(release)
            .join(self.engine.name());
        let schema = fs::read_to_string(folder.join("schema.sql")).expect("fixture schema");
        let versions = fs::read_to_string(folder.join("versions.txt")).expect("fixture versions");
        match self.engine {
            Engine::Sqlite => self.conn().exec(&schema),
            // pg_dump empties search_path for its own session; put it back afterwards.
            Engine::Postgresql => self.conn().exec(&format!("{schema}\nSET search_path = public;")),
            // The dump lists tables by name, before the tables their foreign keys name; the
            // database charset is what keystone's ALTER DATABASE left.
            Engine::Mysql => self.conn().exec(&format!(
                "ALTER DATABASE DEFAULT CHARACTER SET utf8; SET FOREIGN_KEY_CHECKS = 0;\n{schema}\nSET FOREIGN_KEY_CHECKS = 1;"
            )),
        }
        let mut table = "";
        for line in versions.lines() {
            if let Some(name) = line.strip_prefix("# ") {
                table = if name == "migrate_version" { "migrate_version" } else { "alembic_version" };
                continue;
            }
            if line.starts_with('(') {
                continue;
            }
            let fields: Vec<&str> = line.split(['|', '\t']).collect();
            let sql = if table == "migrate_version" {
                format!(
                    "INSERT INTO migrate_version (repository_id, repository_path, version) VALUES ('{}', '{}', {})",
                    fields[0], fields[1], fields[2]
                )
            } else {
                format!("INSERT INTO alembic_version (version_num) VALUES ('{}')", fields[0])
            };
            self.conn().exec(&sql);
        }
        self.insert_root_domain();
    }

    /// The row keystone's data migration writes.
    pub fn insert_root_domain(&mut self) {
        let (no, yes) = if self.engine == Engine::Postgresql { ("false", "true") } else { ("0", "1") };
        self.conn().exec(&format!(
            "INSERT INTO project (id, name, extra, description, enabled, domain_id, parent_id, is_domain) \
             VALUES ('<<keystone.domain.root>>', '<<keystone.domain.root>>', '{{}}', '', {no}, '<<keystone.domain.root>>', NULL, {yes})"
        ));
    }

    /// Puts the database under legacy control at `version` with no other table, as Yoga's
    /// `db_sync` does first on an empty database.
    pub fn put_under_legacy_control(&mut self, version: i64) {
        self.conn().exec(
            "CREATE TABLE migrate_version (repository_id VARCHAR(250) NOT NULL, repository_path TEXT, version INTEGER, PRIMARY KEY (repository_id))",
        );
        for (id, dir) in [
            ("keystone_expand", "expand_repo"),
            ("keystone_data_migrate", "data_migration_repo"),
            ("keystone_contract", "contract_repo"),
        ] {
            self.conn().exec(&format!(
                "INSERT INTO migrate_version (repository_id, repository_path, version) VALUES ('{id}', '/legacy_migrations/{dir}', {version})"
            ));
        }
    }
}

/// strata's MySQL lock table, as a test sets up a holder.
pub const LOCK_TABLE_SQL: &str =
    "CREATE TABLE strata_db_sync_lock (id INTEGER NOT NULL, holder VARCHAR(255) NOT NULL, \
    server VARCHAR(255) NOT NULL, db_user VARCHAR(255) NOT NULL, connection_id BIGINT NOT NULL, \
    work_connection_id BIGINT NOT NULL, beat BIGINT NOT NULL, PRIMARY KEY (id)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";

impl TestDb {
    /// Holds the `db_sync` lock the way each backend takes it, from the test's own
    /// connection (until it is closed), and returns how a waiting run names the holder.
    pub fn hold_db_sync_lock(&mut self) -> String {
        match self.engine {
            Engine::Sqlite => {
                self.conn().exec("BEGIN IMMEDIATE");
                // This test process holds it: the kernel's lock table names it.
                format!("process {} writing to", std::process::id())
            }
            Engine::Postgresql => {
                self.conn().exec("SELECT pg_advisory_lock(6004514643731611649)");
                "PostgreSQL session".to_owned()
            }
            Engine::Mysql => {
                self.conn().exec(LOCK_TABLE_SQL);
                // The test's own connection is alive: the holder is busy, not dead.
                self.conn().exec(
                    "INSERT INTO strata_db_sync_lock VALUES (1, 'test holder on node9', CONCAT(@@hostname, ':', @@port), CURRENT_USER(), CONNECTION_ID(), CONNECTION_ID(), 0)",
                );
                "test holder on node9".to_owned()
            }
        }
    }
}

impl Drop for TestDb {
    /// A failed test keeps its database (and scratch directory) for inspection.
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dir.disable_cleanup(true);
            eprintln!(
                "kept {} test database {} and scratch directory {} for inspection",
                self.engine.name(),
                self.name,
                self.dir.path().display()
            );
        }
    }
}

/// Fingerprints of freshly synced databases, one per engine.
type FreshFingerprints = std::sync::Mutex<Vec<(Engine, Vec<String>)>>;

/// The fingerprint of a freshly synced database on `engine`, computed once per engine (the
/// lock is held while computing, so two tests never build the reference database at once).
pub fn fresh_fingerprint(engine: Engine) -> Vec<String> {
    static CACHE: OnceLock<FreshFingerprints> = OnceLock::new();
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, found)) = cache.iter().find(|(e, _)| *e == engine) {
        return found.clone();
    }
    let mut db = TestDb::create(engine, "fresh_reference");
    db.manage(&["db_sync"]).expect(0);
    let fingerprint = db.fingerprint();
    db.destroy();
    cache.push((engine, fingerprint.clone()));
    fingerprint
}
