//! Argument parsing (clap), logging set-up and exit statuses; one file per command.
//!
//! Exit statuses: 0 success; 1 error (one line on stderr); 2 usage error, or `db_sync
//! --check`: expand pending; 3 `lint`: findings; 4 `db_sync --check`: contract pending; 5 `verify`:
//! schema drift; 130 interrupted (`verify`).

mod completions;
mod current;
mod db_sync;
mod db_version;
mod heads;
mod history;
mod lint;
mod logging;
mod man;
mod output;
mod revision;
mod show;
mod verify;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use strata::config::{self, ConfigSources, NamedDatabase};
use strata::tree::MigrationTrees;
use strata::url::DatabaseUrl;

/// The heading of the options every command accepts, in `--help`.
const GLOBAL: &str = "Global options";

/// The program name used in messages (keystone-manage's messages, with this name).
pub const PROGRAM: &str = strata::report::PROGRAM;

/// Command-line interface of strata-manage.
#[derive(Debug, Parser)]
#[command(
    name = "strata-manage",
    version,
    about = "Database sync manager in the style of keystone-manage",
    after_help = "Exit status: 0 success; 1 error; 2 usage error, or db_sync --check: run --expand next; 3 lint: findings; 4 db_sync --check: run --contract next; 5 verify: schema drift."
)]
struct Cli {
    /// Configuration file (INI, oslo.config style); repeatable, later files win
    #[arg(long = "config-file", value_name = "PATH", global = true, help_heading = GLOBAL)]
    config_files: Vec<PathBuf>,

    /// Directory whose *.conf files are read after the --config-file files, sorted by name
    #[arg(long = "config-dir", value_name = "DIR", global = true, help_heading = GLOBAL)]
    config_dir: Option<PathBuf>,

    /// Database URL (overrides STRATA_DATABASE_URL and [database] connection)
    #[arg(long = "database-url", value_name = "URL", global = true, help_heading = GLOBAL)]
    database_url: Option<String>,

    /// Use the alembic revision tree in DIR instead of the one built into this binary
    #[arg(long = "alembic-dir", value_name = "DIR", global = true, help_heading = GLOBAL)]
    alembic_dir: Option<PathBuf>,

    /// With --alembic-dir: the legacy repositories in DIR (default: none)
    #[arg(long = "legacy-dir", value_name = "DIR", global = true, requires = "alembic_dir", help_heading = GLOBAL)]
    legacy_dir: Option<PathBuf>,

    /// Debug logging, including every SQL statement
    #[arg(short, long, global = true, help_heading = GLOBAL)]
    debug: bool,

    /// More verbose logging
    #[arg(short, long, global = true, help_heading = GLOBAL)]
    verbose: bool,

    /// Write the log to this file (appending) instead of stderr; relative to --log-dir if given
    #[arg(long = "log-file", value_name = "PATH", global = true, help_heading = GLOBAL)]
    log_file: Option<PathBuf>,

    /// Write the log to DIR/strata-manage.log (or to --log-file inside DIR)
    #[arg(long = "log-dir", value_name = "DIR", global = true, help_heading = GLOBAL)]
    log_dir: Option<PathBuf>,

    /// Send the log to the local syslog (/dev/log) instead of stderr
    #[arg(long = "use-syslog", global = true, help_heading = GLOBAL)]
    use_syslog: bool,

    /// Send the log to systemd's journal instead of stderr
    #[arg(long = "use-journal", global = true, help_heading = GLOBAL)]
    use_journal: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Bring the database schema to the newest version (legacy, stamp, expand, contract)
    #[command(name = "db_sync", visible_alias = "db-sync")]
    DbSync(db_sync::Args),
    /// Print the database's current version (the expand branch's revision)
    #[command(name = "db_version", visible_alias = "db-version")]
    DbVersion(output::FormatArg),
    /// Print the database's revision on each branch (and its legacy version), read-only
    Current(output::FormatArg),
    /// List the tree's revisions, newest first; "(current)" marks need a configured database
    History(history::Args),
    /// Print the head revision of each branch of the tree
    Heads(output::FormatArg),
    /// Print one revision's metadata and its SQL statements for one dialect
    Show(show::Args),
    /// Create a revision folder in the tree (expand, contract or merge) and print its path
    Revision(revision::Args),
    /// Check every revision against the expand/contract rules (exit status 3 on findings)
    Lint(output::FormatArg),
    /// Check for schema drift: compare the database's schema with the one its recorded
    /// revisions produce (exit 0 identical, 5 drift); read-only
    #[command(
        long_about = "Check for schema drift: build the schema the database's recorded revisions produce (SQLite: in memory; \
PostgreSQL, MySQL: in a scratch database strata_verify_<hex> on the same server, always dropped) and compare it with \
the database's: tables, columns (type, nullability, default), indexes, unique, foreign-key and check constraints, and \
engine, character set and collation on MySQL. Read-only on the database: no lock, no write.",
        after_help = "Exit status: 0 identical; 5 schema drift; 1 error (also when the user may not create the scratch database); 130 interrupted."
    )]
    Verify(output::FormatArg),
    /// Print a shell completion script (bash, zsh or fish)
    Completions(completions::Args),
    /// Print the manual page (roff) of strata-manage or of one of its commands
    #[command(hide = true)]
    Man(man::Args),
}

/// An error ready for the user: one line on stderr, exit status 1.
pub struct Failure(String);

impl<E: Into<strata::Error>> From<E> for Failure {
    fn from(error: E) -> Failure {
        let error = error.into();
        let mut message = error.to_string();
        if let Some(advice) = advice(&error) {
            message.push_str("; ");
            message.push_str(advice);
        }
        Failure(message)
    }
}

/// What to do about a database error, by what it means (never by its wording).
fn advice(error: &strata::Error) -> Option<&'static str> {
    use strata::backend::ErrorKind;
    let driver = match error {
        strata::Error::Database(error) => error.driver(),
        strata::Error::Sync(failure) => failure.error.driver(),
        _ => None,
    }?;
    match driver.kind {
        ErrorKind::ClusterNotReady => Some(
            "this Galera node is not in the cluster's primary component (it lost quorum, or is still joining): check SHOW STATUS LIKE 'wsrep_cluster_status'; once the cluster is whole again, run db_sync on any node and it resumes where this run stopped",
        ),
        ErrorKind::PermissionDenied => {
            Some("the database user lacks a privilege: see README.md, section \"Supported servers and what the database user needs\"")
        }
        _ => None,
    }
}

/// Runs strata-manage with the process's arguments.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let destination = logging::LogDestination {
        file: cli.log_file.clone(),
        dir: cli.log_dir.clone(),
        syslog: cli.use_syslog,
        journal: cli.use_journal,
    };
    let logs_elsewhere = match logging::init(cli.debug, cli.verbose, &destination) {
        Ok(elsewhere) => elsewhere,
        Err(Failure(message)) => {
            let _ = writeln!(std::io::stderr(), "{PROGRAM}: error: {message}");
            return ExitCode::FAILURE;
        }
    };
    match run(&cli) {
        Ok(status) => ExitCode::from(status),
        Err(Failure(message)) => {
            // A log file or syslog read after a cron run must show why it failed.
            if logs_elsewhere {
                log::error!("{message}");
            }
            let _ = writeln!(std::io::stderr(), "{PROGRAM}: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<u8, Failure> {
    match &cli.command {
        Command::DbSync(args) => db_sync::run(cli, args),
        Command::DbVersion(args) => db_version::run(cli, args),
        Command::Current(args) => current::run(cli, args),
        Command::History(args) => history::run(cli, args),
        Command::Heads(args) => heads::run(cli, args),
        Command::Show(args) => show::run(cli, args),
        Command::Revision(args) => revision::run(cli, args),
        Command::Lint(args) => lint::run(cli, args),
        Command::Verify(args) => verify::run(cli, args),
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(args),
    }
}

impl Cli {
    /// The database URL after applying flag > environment > config files > default.
    fn database_url(&self) -> Result<DatabaseUrl, Failure> {
        let database = self.named_database()?;
        log::debug!("using database {} (from {})", database.url, database.origin);
        Ok(database.url)
    }

    /// Like [`Cli::database_url`], with where the URL came from.
    fn named_database(&self) -> Result<NamedDatabase, Failure> {
        let env = database_url_env()?;
        Ok(config::named_database(self.database_url.as_deref(), env.as_deref(), &self.config_sources())?)
    }

    /// The database URL the operator named (flag > environment > config files), without
    /// the built-in default: `None` when nothing names one.
    fn configured_database_url(&self) -> Result<Option<DatabaseUrl>, Failure> {
        let env = database_url_env()?;
        let url =
            config::configured_database_url(self.database_url.as_deref(), env.as_deref(), &self.config_sources())?;
        match &url {
            Some(url) => log::debug!("using database {url}"),
            None => log::debug!("no database configured: reading none"),
        }
        Ok(url)
    }

    fn config_sources(&self) -> ConfigSources {
        ConfigSources { files: self.config_files.clone(), dir: self.config_dir.clone() }
    }

    /// The migration trees: keystone's, built into this binary, unless directories are
    /// given.
    fn trees(&self) -> Result<MigrationTrees, Failure> {
        match &self.alembic_dir {
            Some(alembic) => Ok(MigrationTrees::from_dirs(self.legacy_dir.as_deref(), alembic)?),
            None => Ok(MigrationTrees::embedded()?),
        }
    }
}

/// `STRATA_DATABASE_URL`, if set: set but not valid UTF-8 is an error, not "unset".
fn database_url_env() -> Result<Option<String>, Failure> {
    match std::env::var(config::DATABASE_URL_ENV) {
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(Failure(format!("{} is not valid UTF-8: percent-encode the URL", config::DATABASE_URL_ENV)))
        }
    }
}

/// Writes requested output to stdout; a closed pipe is not an error worth reporting.
fn print(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}");
}

/// Writes generated output (a script, a manual page) to stdout as it is.
fn print_bytes(bytes: &[u8]) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(bytes);
}
