//! The engines' own command-line clients (`sqlite3`, `psql`, `mariadb`) and the shared
//! `dump_schema.py`, for tests that run what `db_sync --sql` prints and compare the result
//! with keystone's reference dumps.
//!
//! CI's machine has all of them (its image ships the clients, and `.ci/run` uses them and
//! `../shared` for conformance): a missing one fails the test when
//! `STRATA_TEST_REQUIRE_ALL_BACKENDS=1`, and skips it loudly otherwise.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{Engine, Run, TestDb};

/// Whether a tool a test needs is there; if not, fails (all backends required) or says
/// `SKIPPED` on stderr and returns false.
fn available(test: &str, tool: &str, found: bool) -> bool {
    if found {
        return true;
    }
    if std::env::var("STRATA_TEST_REQUIRE_ALL_BACKENDS").is_ok_and(|v| v == "1") {
        panic!("{test} needs {tool}, which is missing, and STRATA_TEST_REQUIRE_ALL_BACKENDS=1");
    }
    eprintln!("SKIPPED {test}: {tool} is missing");
    false
}

fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The client program of an engine: `sqlite3`, `psql`, `mariadb` (or `mysql`).
fn client_program(engine: Engine) -> Option<&'static str> {
    let candidates: &[&str] = match engine {
        Engine::Sqlite => &["sqlite3"],
        Engine::Postgresql => &["psql"],
        Engine::Mysql => &["mariadb", "mysql"],
    };
    candidates.iter().copied().find(|program| installed(program))
}

/// The shared folder beside the repository (reference dumps and tools).
fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

impl TestDb {
    /// Whether this engine's command-line client is installed (see the module doc for what
    /// happens when it is not).
    pub fn has_native_client(&self, test: &str) -> bool {
        available(
            &format!("{test} on {}", self.engine.name()),
            "its command-line client",
            client_program(self.engine).is_some(),
        )
    }

    /// Runs a script through the engine's own client, stopping at its first error:
    /// `sqlite3 -bail FILE`, `psql -X -q -v ON_ERROR_STOP=1`, `mariadb DBNAME`.
    pub fn run_in_native_client(&mut self, script: &str) -> Run {
        self.disconnect();
        let program = client_program(self.engine).expect("checked with has_native_client");
        let file = self.dir.path().join("script.sql");
        fs::write(&file, script).expect("write the script");
        let mut command = Command::new(program);
        match self.engine {
            Engine::Sqlite => command.arg("-bail").arg(self.sqlite_path()),
            Engine::Postgresql => command
                .args(["-h", "127.0.0.1", "-p", "5432", "-U", "postgres", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
                .arg(&self.name),
            Engine::Mysql => {
                // The standalone server, or the cluster's node 1 for the galera runs.
                let port = self.backend.ports()[0].to_string();
                command.args(["--protocol=tcp", "-h", "127.0.0.1", "-P", &port, "-uroot"]).arg(&self.name)
            }
        };
        command.stdin(fs::File::open(&file).expect("open the script"));
        let shown = format!("{program} … < {}", file.display());
        Run::from_output(shown, command.output().expect("the client runs"))
    }

    /// Whether `../shared/tools/dump_schema.py`, keystone's reference dumps and what the
    /// tool runs (python3, the engine's clients) are there.
    pub fn can_dump_schema(&self, test: &str) -> bool {
        let found = shared().join("tools/dump_schema.py").is_file()
            && shared().join("reference/latest").join(self.engine.name()).is_dir()
            && installed("python3")
            && client_program(self.engine).is_some()
            && (self.engine != Engine::Postgresql || installed("pg_dump"));
        available(&format!("{test} on {}", self.engine.name()), "../shared/tools/dump_schema.py or what it runs", found)
    }

    /// The differences between this database, dumped by `../shared/tools/dump_schema.py`,
    /// and keystone's reference dump `reference/latest/<engine>/<scenario>` (`""`: a fresh
    /// `db_sync`), file by file as `../shared/tools/conformance` compares them, leaving out
    /// lines that contain any of `ignored`; empty when they are equal.
    pub fn differences_from_reference(&mut self, scenario: &str, ignored: &[&str]) -> Vec<String> {
        self.disconnect();
        let out = self.dir.path().join("dump");
        let _ = fs::remove_dir_all(&out);
        fs::create_dir_all(&out).expect("dump folder");
        let (kind, target) = match self.engine {
            Engine::Sqlite => ("sqlite", self.sqlite_path().to_string_lossy().into_owned()),
            Engine::Postgresql => ("postgres", self.name.clone()),
            Engine::Mysql => ("mysql", self.name.clone()),
        };
        let mysql_port = self.backend.ports().first().copied().unwrap_or(3306).to_string();
        let dumped = Command::new("python3")
            .env("DUMP_MYSQL_PORT", mysql_port)
            .arg(shared().join("tools/dump_schema.py"))
            .args([kind, &target])
            .arg(&out)
            .output()
            .expect("python3 runs");
        assert!(dumped.status.success(), "dump_schema.py failed: {}", String::from_utf8_lossy(&dumped.stderr));
        let reference = shared().join("reference/latest").join(self.engine.name()).join(scenario);
        let schema = if reference.join("schema-sorted.sql").exists() { "schema-sorted.sql" } else { "schema.sql" };
        let mut differences = Vec::new();
        for name in [schema, "schema-normalized.txt", "versions.txt", "data.txt"] {
            let read = |path: PathBuf| -> String {
                let text = fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
                text.lines()
                    .filter(|line| !ignored.iter().any(|part| line.contains(part)))
                    .map(|line| format!("{line}\n"))
                    .collect()
            };
            let (want, got) = (read(reference.join(name)), read(out.join(name)));
            if want != got {
                let (line, (want, got)) = want
                    .lines()
                    .chain(std::iter::repeat(""))
                    .zip(got.lines().chain(std::iter::repeat("")))
                    .enumerate()
                    .find(|(_, (want, got))| want != got)
                    .unwrap_or((0, ("", "")));
                differences.push(format!(
                    "{name}, line {}: reference {:?}, this database {:?} (dump kept in {})",
                    line + 1,
                    want,
                    got,
                    out.display()
                ));
            }
        }
        differences
    }
}
