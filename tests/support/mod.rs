//! Test support: a brand-new database per test on each backend, the real `strata-manage`
//! binary, and a catalog fingerprint to compare schemas and to prove "nothing changed".
//!
//! [`dbtest!`] writes a test body once and runs it on SQLite, PostgreSQL, MySQL/MariaDB and
//! the 3-node MariaDB Galera cluster of `scripts/galera` (through its node 1, which answers in
//! German; `db.engine` is `Engine::Mysql` there). Server databases are created by the test and
//! dropped when it passes; when it fails they are kept (and named on stderr) for inspection. A
//! server that cannot be reached makes its tests fail when `STRATA_TEST_REQUIRE_ALL_BACKENDS=1`
//! (as `.ci/run` sets it) and skip loudly otherwise.

#![allow(dead_code, reason = "not every test module uses every helper")]

pub mod db;
pub mod native;

pub use db::{assert_cluster_healthy, cluster_health, cluster_is_healthy, Backend, Engine, TestDb};

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// Runs `body` once per backend, each time with a fresh database.
#[macro_export]
macro_rules! dbtest {
    ($name:ident, |$db:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn body($db: &mut $crate::support::TestDb) $body

            #[test]
            fn sqlite() {
                $crate::support::TestDb::run($crate::support::Engine::Sqlite, stringify!($name), body);
            }

            #[test]
            fn postgresql() {
                $crate::support::TestDb::run($crate::support::Engine::Postgresql, stringify!($name), body);
            }

            #[test]
            fn mysql() {
                $crate::support::TestDb::run($crate::support::Engine::Mysql, stringify!($name), body);
            }

            #[test]
            fn galera() {
                $crate::support::TestDb::run($crate::support::Backend::Galera, stringify!($name), body);
            }
        }
    };
}

/// The outcome of one `strata-manage` run.
#[derive(Debug)]
pub struct Run {
    /// The command line, for failure messages.
    pub command: String,
    /// Exit status.
    pub status: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    fn from_output(command: String, output: Output) -> Run {
        Run {
            command,
            status: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Panics with the whole run shown unless it exited with `status`.
    #[track_caller]
    pub fn expect(&self, status: i32) -> &Run {
        assert_eq!(self.status, status, "unexpected exit status\n{self}");
        assert!(
            !self.stderr.contains("panicked") && !self.stderr.contains("RUST_BACKTRACE"),
            "strata-manage panicked\n{self}"
        );
        self
    }

    /// Panics unless stdout contains `text`.
    #[track_caller]
    pub fn stdout_has(&self, text: &str) -> &Run {
        assert!(self.stdout.contains(text), "stdout lacks {text:?}\n{self}");
        self
    }

    /// Panics unless stderr contains `text`.
    #[track_caller]
    pub fn stderr_has(&self, text: &str) -> &Run {
        assert!(self.stderr.contains(text), "stderr lacks {text:?}\n{self}");
        self
    }

    /// The error line printed on failure (the last line of stderr).
    pub fn error_line(&self) -> &str {
        self.stderr.lines().last().unwrap_or_default()
    }

    /// Panics unless the run failed with exit 1 and one `error:` line on stderr containing
    /// `text`, with nothing on stdout.
    #[track_caller]
    pub fn fails_with(&self, text: &str) -> &Run {
        self.expect(1);
        let errors: Vec<&str> = self.stderr.lines().filter(|line| line.starts_with("strata-manage: error:")).collect();
        assert_eq!(errors.len(), 1, "expected exactly one error line\n{self}");
        assert!(errors[0].contains(text), "error line lacks {text:?}\n{self}");
        assert!(self.stdout.trim().is_empty(), "nothing should be printed on stdout\n{self}");
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "$ {}\nexit status {}\n--- stdout\n{}--- stderr\n{}",
            self.command, self.status, self.stdout, self.stderr
        )
    }
}

/// A `strata-manage` command isolated from the user's environment: no inherited
/// `STRATA_DATABASE_URL` or `RUST_LOG`, `HOME` and the working directory in `dir` (so no
/// `~/keystone.conf` can leak in).
pub fn strata(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_strata-manage"));
    command
        .current_dir(dir)
        .env_remove("STRATA_DATABASE_URL")
        .env_remove("RUST_LOG")
        .env("HOME", dir)
        .stdin(std::process::Stdio::null());
    command
}

/// Runs a prepared command and collects its outcome.
pub fn run(mut command: Command) -> Run {
    let shown = format!(
        "{} {}",
        command.get_program().to_string_lossy(),
        command.get_args().map(|arg| arg.to_string_lossy()).collect::<Vec<_>>().join(" ")
    );
    let output = command.output().expect("strata-manage runs");
    Run::from_output(shown, output)
}

/// A copy of the embedded alembic tree in `dir`, for a test to change.
pub fn copy_alembic_tree(dir: &Path) -> PathBuf {
    let target = dir.join("alembic");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("alembic_versions"), &target);
    target
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            fs::copy(&path, to.join(entry.file_name())).unwrap();
        }
    }
}

/// Replaces `from` (which must be there) by `to` in a file.
pub fn edit(path: &Path, from: &str, to: &str) {
    let text = fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} lacks {from:?}", path.display());
    fs::write(path, text.replace(from, to)).unwrap();
}

/// A numeric setting from the environment (trial counts of the safety tests), or `default`.
pub fn setting(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

/// Waits for a spawned `strata-manage` (stdout and stderr piped) and collects its outcome.
pub fn finish(mut child: Child) -> Run {
    let mut stdout = String::new();
    let mut stderr = String::new();
    child.stdout.take().expect("piped").read_to_string(&mut stdout).expect("read stdout");
    child.stderr.take().expect("piped").read_to_string(&mut stderr).expect("read stderr");
    let status = child.wait().expect("wait").code().unwrap_or(-1);
    Run { command: "strata-manage db_sync (concurrent)".into(), status, stdout, stderr }
}

/// Like [`finish`], but kills the process once `limit` has passed (a run hanging on a broken
/// server must fail the test, not hang it); such a run gets status -1 and a note on stderr.
pub fn finish_within(mut child: Child, limit: Duration) -> Run {
    fn reader(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    }
    let stdout = reader(child.stdout.take().expect("piped"));
    let stderr = reader(child.stderr.take().expect("piped"));
    let deadline = Instant::now() + limit;
    let mut killed = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code().unwrap_or(-1);
        }
        if Instant::now() >= deadline {
            child.kill().expect("SIGKILL");
            child.wait().expect("wait");
            killed = true;
            break -1;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = stderr.join().expect("stderr reader");
    if killed {
        stderr.push_str(&format!("(killed by the test after {limit:?} without an exit)\n"));
    }
    Run { command: "strata-manage (concurrent)".into(), status, stdout: stdout.join().expect("stdout reader"), stderr }
}

/// A concurrency trial's runs: how many failed, and whether any unit was applied more than
/// once; each problem is shown on stderr.
pub fn tally_concurrent_runs(trial: usize, runs: &[Run]) -> (usize, bool) {
    let failed = runs.iter().filter(|run| run.status != 0).inspect(|run| {
        eprintln!("trial {trial}: a concurrent db_sync failed\n{run}");
    });
    let failures = failed.count();
    let repeated: Vec<_> = applications(runs).into_iter().filter(|(_, count)| *count > 1).collect();
    if !repeated.is_empty() {
        eprintln!("trial {trial}: applied more than once: {repeated:?}");
    }
    (failures, !repeated.is_empty())
}

/// How often each revision or legacy version was started across `runs`.
pub fn applications(runs: &[Run]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for run in runs {
        for line in run.stderr.lines() {
            for marker in ["Running upgrade ", "Running legacy upgrade "] {
                if let Some(rest) = line.split(marker).nth(1) {
                    let unit = rest.split(',').next().unwrap_or(rest).split(" (").next().unwrap_or(rest);
                    let unit = unit.rsplit(' ').next().unwrap_or(unit).to_owned();
                    let key = if marker.contains("legacy") {
                        format!("{} {unit}", rest.split(' ').next().unwrap_or(""))
                    } else {
                        unit
                    };
                    *counts.entry(key).or_insert(0) += 1;
                }
            }
        }
    }
    counts
}
