//! `current [--format json]`: the database's row for each branch, and its legacy version
//! while it is under legacy control. Read-only: never creates anything, not even a SQLite
//! file.

use strata::graph::Branch;
use strata::manager;
use strata::report::DatabaseVersions;

use super::output::{print_json, Format, FormatArg};
use super::{print, Cli, Failure};

pub fn run(cli: &Cli, args: &FormatArg) -> Result<u8, Failure> {
    let url = cli.database_url()?;
    let trees = cli.trees()?;
    let versions = manager::current(&url, &trees)?;
    match args.format {
        Format::Json => print_json(&versions)?,
        Format::Text => print(&render(&versions)),
    }
    Ok(0)
}

/// One line per recorded branch (`742c857f1dfb (expand) (head)`), then the legacy version
/// (`79 (legacy)`); `None` for a database that records nothing.
fn render(versions: &DatabaseVersions) -> String {
    let mut lines = Vec::new();
    for branch in Branch::ALL {
        let entry = versions.branch(branch);
        if let Some(current) = &entry.current {
            let head = if entry.is_at_head() { " (head)" } else { "" };
            lines.push(format!("{current} ({}){head}", branch.label()));
        }
    }
    if let Some(version) = versions.legacy_version {
        lines.push(format!("{version} (legacy)"));
    }
    if lines.is_empty() {
        lines.push("None".to_owned());
    }
    lines.join("\n")
}
