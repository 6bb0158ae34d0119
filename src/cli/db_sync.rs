//! `db_sync [--expand | --migrate | --contract | --check] [--sql [--dialect D] | --dry-run] [version]`.

use std::time::{Duration, Instant};

use clap::builder::TypedValueParser;
use strata::lock::LockOptions;
use strata::manager::{self, ScriptFor};
use strata::plan::{CheckOutcome, CheckReport, Target};
use strata::{report, Dialect};

use super::output::{print_json, Format};
use super::{print, Cli, Failure, PROGRAM};

/// keystone's answer to `--migrate` since the switch to alembic.
const MIGRATE_NO_OP: &str = "Data migrations are no longer supported with alembic. This is now a no-op.";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run the expand phase of a rolling upgrade (legacy migrations, stamp, expand branch)
    #[arg(long, group = "phase")]
    expand: bool,
    /// Kept for compatibility: data migrations are part of expand; does nothing
    #[arg(long, group = "phase")]
    migrate: bool,
    /// Run the contract phase; refused until expand is complete
    #[arg(long, group = "phase")]
    contract: bool,
    /// Report whether a sync is needed, without changing anything: exit 0 up to date, 2 run
    /// --expand next, 4 run --contract next, 1 a database db_sync would refuse or a MySQL
    /// revision left unfinished
    #[arg(long, group = "phase")]
    check: bool,
    /// Print the SQL db_sync would run (with --expand/--contract: that phase's) as a script
    /// for the database's client, instead of running it; reads the database, takes no lock
    #[arg(long, conflicts_with_all = ["check", "migrate", "dry_run"])]
    sql: bool,
    /// With --sql: write the script for an empty database of this dialect, without reading
    /// any database (conflicts with --database-url)
    #[arg(
        long,
        value_name = "DIALECT",
        requires = "sql",
        conflicts_with_all = ["database_url", "dry_run"],
        value_parser = clap::builder::PossibleValuesParser::new(Dialect::ALL.map(Dialect::name)).map(dialect_named)
    )]
    dialect: Option<Dialect>,
    /// Print what db_sync would do (with --expand/--contract: that phase), unit by unit with
    /// its version-table change, without changing anything; takes no lock
    #[arg(long, conflicts_with_all = ["check", "migrate"])]
    dry_run: bool,
    /// No longer supported (as in keystone-manage): giving one without a flag is an error
    #[arg(hide = true)]
    version: Option<String>,
    /// Seconds to wait for another db_sync on the same database to finish
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    lock_timeout: u64,
    /// MySQL/MariaDB: seconds after which a lock holder on another server whose heartbeat
    /// stopped counts as dead (holders on the same server are checked directly)
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    lock_stale_after: u64,
    /// With --check or --dry-run: print the report as text or as one JSON document
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = Format::Text)]
    format: Format,
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, Failure> {
    // Checked here rather than by clap's `requires`, which lets it through as soon as another
    // flag is given: a run or a script must not be mistaken for a JSON report.
    if args.format == Format::Json && !(args.check || args.dry_run) {
        usage_error("--format json is accepted only with --check or --dry-run");
    }
    if args.migrate {
        // Nothing to do, but a broken configuration is reported here as by every other
        // command, rather than found out at the next --contract.
        cli.named_database()?;
        cli.trees()?;
        print(MIGRATE_NO_OP);
        return Ok(0);
    }
    let target = if args.check {
        None
    } else if args.expand {
        Some(Target::Expand)
    } else if args.contract {
        Some(Target::Contract)
    } else {
        // keystone ignores the version argument when a flag is given, and refuses it alone.
        if args.version.as_deref().is_some_and(|version| !version.is_empty()) {
            return Err(strata::Error::VersionArgument.into());
        }
        Some(Target::Full)
    };
    if let (Some(target), true) = (target, args.sql || args.dry_run) {
        return run_without_changes(cli, args, target);
    }
    let database = cli.named_database()?;
    if target.is_some() {
        // Always said, so that nobody believes another database was upgraded.
        log::info!("Using database {} (from {})", database.url, database.origin);
    }
    let url = database.url;
    let trees = cli.trees()?;
    match target {
        None if args.format == Format::Json => {
            let status = manager::check_status(&url, &trees)?;
            print_json(&status)?;
            Ok(status.exit_status)
        }
        None => {
            let report = manager::check(&url, &trees)?;
            print(&render_check(&report));
            Ok(report.outcome.exit_status())
        }
        Some(target) => {
            let lock = LockOptions {
                timeout: Duration::from_secs(args.lock_timeout),
                stale_after: Duration::from_secs(args.lock_stale_after.max(1)),
            };
            let started = Instant::now();
            let applied = manager::sync(&url, &trees, target, &lock)?;
            let command = match target {
                Target::Full => "db_sync",
                Target::Expand => "db_sync --expand",
                Target::Contract => "db_sync --contract",
            };
            // Read again, so that the line says where the database really stands.
            let after = manager::check(&url, &trees)
                .inspect_err(|error| log::warn!("cannot read the database again for the summary: {error}"))
                .ok();
            log::info!("{}", report::sync_summary(command, started.elapsed(), &applied, after.as_ref()));
            Ok(0)
        }
    }
}

/// `--sql` and `--dry-run`: what db_sync would do, on stdout.
fn run_without_changes(cli: &Cli, args: &Args, target: Target) -> Result<u8, Failure> {
    // clap checks the conflict only when --database-url comes after `db_sync`.
    if args.dialect.is_some() && cli.database_url.is_some() {
        usage_error("the argument '--database-url <URL>' cannot be used with '--dialect <DIALECT>'");
    }
    let trees = cli.trees()?;
    // Which database the script or the plan is for, as db_sync itself says.
    let read_database = || -> Result<strata::url::DatabaseUrl, Failure> {
        let database = cli.named_database()?;
        log::info!("Reading database {} (from {})", database.url, database.origin);
        Ok(database.url)
    };
    let text = match (args.sql, args.dialect) {
        (true, Some(dialect)) => manager::script(ScriptFor::EmptyDatabase(dialect), &trees, target)?,
        (true, None) => manager::script(ScriptFor::Database(&read_database()?), &trees, target)?,
        (false, _) => {
            let dry_run = manager::dry_run(&read_database()?, &trees, target)?;
            if args.format == Format::Json {
                print_json(&report::DryRunReport::from(&dry_run))?;
                return Ok(0);
            }
            dry_run.to_string()
        }
    };
    print(text.trim_end());
    Ok(0)
}

/// Exits as clap does for a usage error (status 2), with `db_sync`'s usage line.
fn usage_error(message: &str) -> ! {
    let mut command = <Cli as clap::CommandFactory>::command();
    command.build();
    let db_sync = command.find_subcommand_mut("db_sync").expect("db_sync is a subcommand");
    db_sync.error(clap::error::ErrorKind::ArgumentConflict, message).exit()
}

/// A `--dialect` value, one of [`Dialect::ALL`]'s names.
fn dialect_named(name: String) -> Dialect {
    Dialect::ALL.into_iter().find(|dialect| dialect.name() == name).expect("clap allows only the dialects' names")
}

/// keystone's `--check` messages, with this program's name.
fn render_check(report: &CheckReport) -> String {
    let message = match report.outcome {
        CheckOutcome::NotUnderVersionControl | CheckOutcome::ExpandPending => {
            format!("Your database is not up to date. Your first step is to run `{PROGRAM} db_sync --expand`.")
        }
        CheckOutcome::LegacyControlled => {
            // keystone stops here, without the version summary.
            return format!("Your database is currently using legacy version control. Your first step is to run `{PROGRAM} db_sync --expand`.");
        }
        CheckOutcome::ContractPending => {
            format!("Expand version is ahead of contract. Your next step is to run `{PROGRAM} db_sync --contract`.")
        }
        CheckOutcome::UpToDate => "All db_sync commands are upgraded to the same version and up-to-date.".to_owned(),
    };
    let shown = |value: &Option<String>| value.clone().unwrap_or_else(|| "None".to_owned());
    format!(
        "{message}\nCurrent repository versions:\nExpand: {} (head: {})\nContract: {} (head: {})",
        shown(&report.expand),
        shown(&report.expand_head),
        shown(&report.contract),
        shown(&report.contract_head)
    )
}
