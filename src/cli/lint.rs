//! `lint [--format json]`: checks the tree's revisions against the expand/contract rules;
//! exit status 3 when anything is found.

use super::output::{print_json, Format, FormatArg};
use super::{print, Cli, Failure};

/// The exit status when lint finds something.
pub const FINDINGS: u8 = 3;

pub fn run(cli: &Cli, args: &FormatArg) -> Result<u8, Failure> {
    let report = match &cli.alembic_dir {
        Some(dir) => strata::lint::lint_dir(dir)?,
        None => strata::lint::lint_embedded()?,
    };
    match args.format {
        Format::Json => print_json(&report)?,
        Format::Text => print(&report.to_string()),
    }
    Ok(if report.is_clean() { 0 } else { FINDINGS })
}
