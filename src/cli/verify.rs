//! `verify [--format json]`: the schema drift check. Exit 0 when the database's schema is
//! exactly what its recorded revisions produce, 5 when it differs, 1 on error, 130 when
//! interrupted (the scratch database is dropped first).

use std::sync::atomic::{AtomicBool, Ordering};

use strata::catalog::Change;
use strata::manager;
use strata::report::VerifyReport;

use super::output::{print_json, Format, FormatArg};
use super::{print, Cli, Failure, PROGRAM};

/// The exit status after Ctrl-C or SIGTERM.
const INTERRUPTED: i32 = 130;

/// Set by the signal handler before it drops the scratch database.
static SIGNALLED: AtomicBool = AtomicBool::new(false);

pub fn run(cli: &Cli, args: &FormatArg) -> Result<u8, Failure> {
    let url = cli.database_url()?;
    let trees = cli.trees()?;
    // The scratch database is dropped on Ctrl-C and SIGTERM too, not only on the way out.
    if let Err(error) = ctrlc::set_handler(|| {
        SIGNALLED.store(true, Ordering::SeqCst);
        log::warn!("Interrupted: dropping the scratch database");
        strata::backend::scratch::drop_registered();
        std::process::exit(INTERRUPTED);
    }) {
        log::warn!(
            "cannot handle Ctrl-C and SIGTERM ({error}): an interrupted verify may leave its scratch database behind"
        );
    }
    let outcome = manager::verify(&url, &trees);
    if SIGNALLED.load(Ordering::SeqCst) {
        // The build failed because the handler closed its session: the handler exits.
        loop {
            std::thread::park();
        }
    }
    let report = outcome?;
    match args.format {
        Format::Json => print_json(&report)?,
        Format::Text => print(&render(&report)),
    }
    Ok(report.exit_status)
}

/// A first line with the verdict and what the expected schema was built from, then one
/// line per difference.
fn render(report: &VerifyReport) -> String {
    let recorded = recorded(report);
    if report.identical {
        let tables = if report.tables_compared == 1 { "table" } else { "tables" };
        return format!(
            "The schema matches its recorded revisions ({recorded}): {} {tables} compared, no difference.",
            report.tables_compared
        );
    }
    let count = report.differences.len();
    let mut lines = vec![format!(
        "Schema drift: {count} difference{} from the schema the recorded revisions produce ({recorded}):",
        if count == 1 { "" } else { "s" }
    )];
    lines.extend(report.differences.iter().map(|difference| format!("  {difference}")));
    let missing = report.differences.iter().any(|difference| difference.change == Change::Missing);
    lines.push(format!(
        "Repair the schema by hand (or restore it from a backup) until {PROGRAM} verify exits 0{}.",
        if missing { "; db_sync does not repair drift" } else { "" }
    ));
    lines.join("\n")
}

/// `expand 742c857f1dfb, contract c88cdce8f248`, `legacy 75`, or `nothing recorded`.
fn recorded(report: &VerifyReport) -> String {
    let mut parts = Vec::new();
    if let Some(version) = report.versions.legacy_version {
        parts.push(format!("legacy {version}"));
    }
    for (label, branch) in [("expand", &report.versions.expand), ("contract", &report.versions.contract)] {
        if let Some(current) = &branch.current {
            parts.push(format!("{label} {current}"));
        }
    }
    if parts.is_empty() {
        "nothing recorded".to_owned()
    } else {
        parts.join(", ")
    }
}
