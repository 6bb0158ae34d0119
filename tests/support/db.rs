//! One test database on one backend, created for the test and dropped after it passes, and
//! the 3-node Galera cluster of `scripts/galera`.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, RunQueryDsl, SqliteConnection};
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;

/// diesel connections over the pure-Rust drivers strata itself uses.
pub type PgConnection = AsyncConnectionWrapper<diesel_async::AsyncPgConnection>;
/// See [`PgConnection`].
pub type MysqlConnection = AsyncConnectionWrapper<diesel_async::AsyncMysqlConnection>;

/// Connects over TCP as strata does: mysql_async would otherwise move a connection to
/// 127.0.0.1 onto the server's socket, where the server knows the test as another account
/// (root@localhost rather than root@127.0.0.1).
pub fn mysql_connect(url: &str) -> diesel::ConnectionResult<MysqlConnection> {
    let separator = if url.contains('?') { '&' } else { '?' };
    MysqlConnection::establish(&format!("{url}{separator}prefer_socket=false"))
}

use super::{run, strata, Run};

const PG_ADMIN_URL: &str = "postgresql://postgres@127.0.0.1:5432/postgres";
const MYSQL_ADMIN_URL: &str = "mysql://root@127.0.0.1:3306/mysql";

/// The database engines strata supports: which SQL, which fixtures. A test that asks
/// `db.engine` gets `Engine::Mysql` on the Galera cluster too (it is MariaDB), so every
/// MySQL-specific branch of a test covers the cluster; `db.backend` tells the two apart.
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
            Engine::Mysql => MY.get_or_init(|| mysql_connect(MYSQL_ADMIN_URL).map(drop).map_err(|e| e.to_string())),
        }
    }
}

/// Where a test database lives: an engine's server, or the Galera cluster (MariaDB too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file.
    Sqlite,
    /// PostgreSQL at 127.0.0.1:5432.
    Postgresql,
    /// The standalone MariaDB/MySQL at 127.0.0.1:3306.
    Mysql,
    /// The 3-node MariaDB Galera cluster of `scripts/galera`; the test database is created
    /// through node 1 (which answers in German) and the test's own connection goes there.
    Galera,
}

impl From<Engine> for Backend {
    fn from(engine: Engine) -> Backend {
        match engine {
            Engine::Sqlite => Backend::Sqlite,
            Engine::Postgresql => Backend::Postgresql,
            Engine::Mysql => Backend::Mysql,
        }
    }
}

impl Backend {
    /// The name in test database names, skip messages and count lines.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Galera => "galera",
            other => other.engine().name(),
        }
    }

    /// The engine it runs: SQL dialect and fixture folder (the cluster is MySQL's).
    pub fn engine(self) -> Engine {
        match self {
            Backend::Sqlite => Engine::Sqlite,
            Backend::Postgresql => Engine::Postgresql,
            Backend::Mysql | Backend::Galera => Engine::Mysql,
        }
    }

    /// Whether it is MariaDB/MySQL (the standalone server or the cluster).
    pub fn is_mysql_family(self) -> bool {
        self.engine() == Engine::Mysql
    }

    /// The client ports of its server(s) on 127.0.0.1: one per node; none for SQLite.
    pub fn ports(self) -> Vec<u16> {
        match self {
            Backend::Sqlite => Vec::new(),
            Backend::Postgresql => vec![5432],
            Backend::Mysql => vec![3306],
            Backend::Galera => galera_ports().to_vec(),
        }
    }

    /// The root URL of a MySQL-family node's database `database`.
    fn mysql_url(self, node: usize, database: &str) -> String {
        assert!(self.is_mysql_family(), "{} is not MySQL", self.name());
        format!("mysql://root@127.0.0.1:{}/{database}", self.ports()[node])
    }

    /// Whether the backend's server(s) answer (checked once per test process); `Err` says why
    /// not.
    pub fn available(self) -> Result<(), String> {
        self.availability().clone()
    }

    /// Whether the backend's server(s) answer; `Err` says why not. The cluster must have all
    /// three nodes Synced in one primary component.
    fn availability(self) -> &'static Result<(), String> {
        static GALERA: OnceLock<Result<(), String>> = OnceLock::new();
        match self {
            Backend::Galera => GALERA.get_or_init(|| {
                let nodes = cluster_health();
                if cluster_is_healthy(&nodes) {
                    Ok(())
                } else {
                    Err(format!("Galera cluster not healthy ({}); run scripts/galera start", describe(&nodes)))
                }
            }),
            other => other.engine().availability(),
        }
    }
}

/// The Galera cluster's client ports: `STRATA_GALERA_PORT_BASE` (default 23306) and the next
/// two, as `scripts/galera` starts it.
pub fn galera_ports() -> [u16; 3] {
    let base: u16 = std::env::var("STRATA_GALERA_PORT_BASE").ok().and_then(|value| value.parse().ok()).unwrap_or(23306);
    [base, base + 1, base + 2]
}

/// The URL strata-manage is given for the cluster's `node` (0-based) and `database`.
fn galera_url(node: usize, database: &str) -> String {
    format!("mysql+pymysql://root@127.0.0.1:{}/{database}", galera_ports()[node])
}

/// One Galera node as it reports itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeHealth {
    /// Client port on 127.0.0.1.
    pub port: u16,
    /// `wsrep_local_state_comment` (`Synced`, `Donor/Desynced`, `Inconsistent`, …), with
    /// ` (non-Primary)` appended outside a primary component, or why the node did not answer.
    pub state: String,
    /// `wsrep_cluster_size` (0 when the node did not answer).
    pub size: u32,
}

impl std::fmt::Display for NodeHealth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "127.0.0.1:{} {} size {}", self.port, self.state, self.size)
    }
}

/// Runs `work` on a thread of its own and gives up after `timeout`: a stopped server accepts
/// TCP connections and then never answers, and a health check must not hang on it.
fn within<T: Send + 'static>(timeout: Duration, work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(work());
    });
    receiver.recv_timeout(timeout).ok()
}

/// Every Galera node's (port, wsrep_local_state_comment, wsrep_cluster_size), in node order.
pub fn cluster_health() -> Vec<NodeHealth> {
    galera_ports()
        .into_iter()
        .map(|port| {
            let asked = within(Duration::from_secs(10), move || -> Result<String, String> {
                let mut conn = mysql_connect(&format!("mysql://root@127.0.0.1:{port}/mysql"))
                    .map_err(|error| error.to_string())?;
                let status = |name: &str| {
                    format!("IFNULL((SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = '{name}'), '?')")
                };
                let sql = format!(
                    "SELECT CAST(CONCAT_WS('|', {}, {}, {}) AS CHAR) AS value",
                    status("WSREP_LOCAL_STATE_COMMENT"),
                    status("WSREP_CLUSTER_SIZE"),
                    status("WSREP_CLUSTER_STATUS")
                );
                let rows = diesel::sql_query(sql).load::<Line>(&mut conn).map_err(|error| error.to_string())?;
                Ok(rows.into_iter().next().map(|line| line.value).unwrap_or_default())
            });
            match asked {
                Some(Ok(line)) => {
                    let fields: Vec<&str> = line.split('|').collect();
                    let mut state = fields.first().copied().unwrap_or("?").to_owned();
                    if fields.get(2).is_some_and(|status| *status != "Primary") {
                        state.push_str(&format!(" ({})", fields[2]));
                    }
                    NodeHealth { port, state, size: fields.get(1).and_then(|size| size.parse().ok()).unwrap_or(0) }
                }
                Some(Err(error)) => NodeHealth { port, state: format!("unreachable: {error}"), size: 0 },
                None => NodeHealth { port, state: "no answer within 10 s".into(), size: 0 },
            }
        })
        .collect()
}

/// Whether every node is `Synced` in a primary component of all three.
pub fn cluster_is_healthy(nodes: &[NodeHealth]) -> bool {
    nodes.len() == 3 && nodes.iter().all(|node| node.state == "Synced" && node.size == 3)
}

fn describe(nodes: &[NodeHealth]) -> String {
    nodes.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// Panics, showing every node, unless all three are `Synced` with cluster size 3.
#[track_caller]
pub fn assert_cluster_healthy() {
    let nodes = cluster_health();
    assert!(
        cluster_is_healthy(&nodes),
        "Galera cluster not healthy: {} (scripts/galera status; scripts/galera reset recovers)",
        describe(&nodes)
    );
}

/// A connection of the test's own, to set up states and read them back.
pub enum Conn {
    /// SQLite.
    Sqlite(SqliteConnection),
    /// PostgreSQL.
    Pg(Box<PgConnection>),
    /// MySQL/MariaDB.
    My(Box<MysqlConnection>),
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
            Conn::Pg(conn) => query.load::<Line>(&mut **conn),
            Conn::My(conn) => query.load::<Line>(&mut **conn),
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
    /// Which engine: SQL and fixtures (`Engine::Mysql` on the Galera cluster).
    pub engine: Engine,
    /// Where the database lives.
    pub backend: Backend,
    /// The database name (server engines) or file stem.
    pub name: String,
    /// Scratch directory: working directory and HOME of every strata-manage run.
    pub dir: tempfile::TempDir,
    /// The SQLAlchemy-style URL strata-manage is given.
    pub url: String,
    /// `--config-file` naming `url`.
    pub config: PathBuf,
    /// One config file per node (`config` first): the same database through each node.
    node_configs: Vec<PathBuf>,
    conn: Option<Conn>,
}

impl TestDb {
    /// Creates the database and runs `body`; drops it afterwards unless the body panicked.
    pub fn run(backend: impl Into<Backend>, test: &str, body: fn(&mut TestDb)) {
        let backend = backend.into();
        if let Err(reason) = backend.availability() {
            if std::env::var("STRATA_TEST_REQUIRE_ALL_BACKENDS").is_ok_and(|v| v == "1") {
                panic!("{} server unreachable and STRATA_TEST_REQUIRE_ALL_BACKENDS=1: {reason}", backend.name());
            }
            eprintln!("SKIPPED {test} on {}: server unreachable ({reason})", backend.name());
            return;
        }
        let mut db = TestDb::create(backend, test);
        body(&mut db);
        db.destroy();
    }

    fn create(backend: Backend, test: &str) -> TestDb {
        let engine = backend.engine();
        let dir = tempfile::Builder::new().prefix("strata-test-").tempdir().expect("temp dir");
        // Server-side names must be unique per test, backend and test process (two checkouts
        // may run their suites against one server), and short (PostgreSQL: 63 bytes).
        let name: String =
            format!("strata_t{}_{}_{}", std::process::id(), backend.name(), test).chars().take(63).collect();
        let (url, conn) = match engine {
            _ if backend == Backend::Galera => {
                galera_recreate(&name);
                (galera_url(0, &name), None)
            }
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
                let mut admin = mysql_connect(MYSQL_ADMIN_URL).expect("mysql admin connection");
                admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS `{name}`; CREATE DATABASE `{name}`"))
                    .expect("create test database");
                (format!("mysql+pymysql://root@127.0.0.1:3306/{name}"), None)
            }
        };
        let config = dir.path().join("keystone.conf");
        fs::write(&config, format!("[database]\nconnection = {url}\n")).expect("write config");
        let mut node_configs = vec![config.clone()];
        if backend == Backend::Galera {
            for node in 1..galera_ports().len() {
                let path = dir.path().join(format!("keystone-node{}.conf", node + 1));
                fs::write(&path, format!("[database]\nconnection = {}\n", galera_url(node, &name)))
                    .expect("write config");
                node_configs.push(path);
            }
        }
        TestDb { engine, backend, name, dir, url, config, node_configs, conn }
    }

    /// Drops and recreates the database (SQLite: deletes the file and its journal), for tests
    /// that run several trials.
    pub fn reset(&mut self) {
        self.conn = None;
        if self.backend == Backend::Galera {
            galera_recreate(&self.name);
            return;
        }
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
                let mut admin = mysql_connect(MYSQL_ADMIN_URL).expect("mysql admin connection");
                admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS `{0}`; CREATE DATABASE `{0}`", self.name))
                    .expect("recreate");
            }
        }
    }

    /// Starts `strata-manage --config-file <this db's config> ARGS` without waiting.
    pub fn spawn(&mut self, args: &[&str]) -> std::process::Child {
        self.spawn_on(0, args)
    }

    /// How many nodes the database can be reached through (3 on the Galera cluster, else 1).
    pub fn node_count(&self) -> usize {
        self.node_configs.len()
    }

    /// The config file naming this database through `node` (0-based; node 0 is `config`).
    pub fn node_config(&self, node: usize) -> &Path {
        assert!(node < self.node_count(), "node {node} of {} on {}", self.node_count(), self.backend.name());
        &self.node_configs[node]
    }

    /// Like [`TestDb::spawn`], connected to `node` (0-based; on the cluster, node 0 is the
    /// German node 1 of `scripts/galera`).
    pub fn spawn_on(&mut self, node: usize, args: &[&str]) -> std::process::Child {
        self.disconnect();
        let config = self.node_config(node).to_owned();
        let mut command = strata(self.dir.path());
        command
            .arg("--config-file")
            .arg(config)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        command.spawn().expect("spawn strata-manage")
    }

    fn destroy(mut self) {
        self.conn = None;
        if self.backend == Backend::Galera {
            let mut admin = mysql_connect(&Backend::Galera.mysql_url(0, "mysql")).expect("galera admin");
            admin.batch_execute(&format!("DROP DATABASE IF EXISTS `{}`", self.name)).expect("drop");
            return;
        }
        match self.engine {
            Engine::Sqlite => {}
            Engine::Postgresql => {
                let mut admin = PgConnection::establish(PG_ADMIN_URL).expect("postgres admin connection");
                admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name)).expect("drop");
            }
            Engine::Mysql => {
                let mut admin = mysql_connect(MYSQL_ADMIN_URL).expect("mysql admin connection");
                admin.batch_execute(&format!("DROP DATABASE IF EXISTS `{}`", self.name)).expect("drop");
            }
        }
    }

    /// The test's own connection (opened on first use; SQLite creates the file).
    pub fn conn(&mut self) -> &mut Conn {
        if self.conn.is_none() && self.backend == Backend::Galera {
            self.conn = Some(Conn::My(Box::new(galera_connection(0, &self.name))));
        }
        if self.conn.is_none() {
            let conn = match self.engine {
                Engine::Sqlite => Conn::Sqlite(
                    SqliteConnection::establish(&self.sqlite_path().to_string_lossy()).expect("open sqlite"),
                ),
                Engine::Postgresql => Conn::Pg(Box::new(
                    PgConnection::establish(&format!("postgresql://postgres@127.0.0.1:5432/{}", self.name))
                        .expect("connect"),
                )),
                Engine::Mysql => Conn::My(Box::new(
                    mysql_connect(&format!("mysql://root@127.0.0.1:3306/{}", self.name)).expect("connect"),
                )),
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
        self.manage_on(0, args)
    }

    /// Like [`TestDb::manage`], connected to `node` (0-based).
    pub fn manage_on(&mut self, node: usize, args: &[&str]) -> Run {
        self.disconnect();
        let config = self.node_config(node).to_owned();
        let mut command = strata(self.dir.path());
        command.arg("--config-file").arg(config).args(args);
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

    /// A connection of the test's own to this database through `node` (0-based), apart from
    /// [`TestDb::conn`]; on the cluster with causal reads (`wsrep_sync_wait=1`).
    pub fn node_conn(&mut self, node: usize) -> Conn {
        assert!(node < self.node_count(), "node {node} of {} on {}", self.node_count(), self.backend.name());
        if self.backend == Backend::Galera {
            return Conn::My(Box::new(galera_connection(node, &self.name)));
        }
        let own = self.conn.take();
        self.conn();
        std::mem::replace(&mut self.conn, own).expect("just opened")
    }

    /// [`TestDb::fingerprint`] read through `node` (0-based), on a connection of its own that
    /// waits for the node to have applied everything the cluster committed before
    /// (`wsrep_sync_wait=1`). The test's own connection is kept.
    pub fn fingerprint_on(&mut self, node: usize) -> Vec<String> {
        assert!(node < self.node_count(), "node {node} of {} on {}", self.node_count(), self.backend.name());
        if self.backend != Backend::Galera {
            return self.fingerprint();
        }
        let own = self.conn.replace(Conn::My(Box::new(galera_connection(node, &self.name))));
        let facts = self.fingerprint();
        self.conn = own;
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
        self.load_keystone_dump(&folder);
    }

    /// Loads a dump of a database keystone-manage migrated (`schema.sql` and `versions.txt` as
    /// `../shared/tools/dump_schema.py` writes them, for this engine), with its version rows
    /// and the root-domain row.
    pub fn load_keystone_dump(&mut self, folder: &Path) {
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
                self.conn().exec("SET application_name = 'test holder on node9'");
                self.conn().exec("SELECT pg_advisory_lock(6004514643731611649)");
                // Named as strata names its own holders: the session's start time comes from
                // the server, then its age and the session.
                "test holder on node9, started ".to_owned()
            }
            Engine::Mysql => {
                self.conn().exec(LOCK_TABLE_SQL);
                // The test's own connection is alive: the holder is busy, not dead.
                self.conn().exec(
                    "INSERT INTO strata_db_sync_lock VALUES (1, 'test holder on node9, started 2026-11-28 23:04:20+00:00', CONCAT(@@hostname, ':', @@port), CURRENT_USER(), CONNECTION_ID(), CONNECTION_ID(), 0)",
                );
                "test holder on node9, started ".to_owned()
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
                self.backend.name(),
                self.name,
                self.dir.path().display()
            );
        }
    }
}

/// Fingerprints of freshly synced databases, one per backend.
type FreshFingerprints = std::sync::Mutex<Vec<(Backend, Vec<String>)>>;

/// The fingerprint of a freshly synced database on `backend`, computed once per backend (the
/// lock is held while computing, so two tests never build the reference database at once).
/// `fresh_fingerprint(db.engine)` on the cluster is the standalone server's: the cluster
/// must build the same schema (tests/galera.rs checks that the two agree).
pub fn fresh_fingerprint(backend: impl Into<Backend>) -> Vec<String> {
    let backend = backend.into();
    static CACHE: OnceLock<FreshFingerprints> = OnceLock::new();
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, found)) = cache.iter().find(|(b, _)| *b == backend) {
        return found.clone();
    }
    let mut db = TestDb::create(backend, "fresh_reference");
    db.manage(&["db_sync"]).expect(0);
    let fingerprint = db.fingerprint();
    db.destroy();
    cache.push((backend, fingerprint.clone()));
    fingerprint
}

/// A root connection to the cluster's `node` (0-based) and `database`, with causal reads
/// (`wsrep_sync_wait=1`): a read waits until the node has applied what the cluster
/// committed before it, whichever node committed it.
fn galera_connection(node: usize, database: &str) -> MysqlConnection {
    let url = Backend::Galera.mysql_url(node, database);
    let mut conn = mysql_connect(&url).unwrap_or_else(|error| panic!("connect to {url}: {error}"));
    conn.batch_execute("SET SESSION wsrep_sync_wait = 1").expect("causal reads");
    conn
}

/// Drops and creates the database through node 1, then waits until every other node has it,
/// empty, so that a run on another node never races the DDL.
fn galera_recreate(name: &str) {
    let mut admin = galera_connection(0, "mysql");
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS `{name}`; CREATE DATABASE `{name}`"))
        .unwrap_or_else(|error| panic!("create {name} on Galera node 1: {error}"));
    let sql = format!(
        "SELECT CAST(CONCAT((SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = '{name}'), '/', \
         (SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '{name}')) AS CHAR) AS value"
    );
    for node in 1..galera_ports().len() {
        let mut conn = galera_connection(node, "mysql");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let seen = diesel::sql_query(&sql)
                .load::<Line>(&mut conn)
                .map(|rows| rows.into_iter().next().map(|line| line.value).unwrap_or_default())
                .unwrap_or_else(|error| error.to_string());
            if seen == "1/0" {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "Galera node {} still does not have the empty database {name} a minute after node 1 created it (schemata/tables: {seen})",
                node + 1
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
