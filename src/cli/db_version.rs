//! `db_version [--format json]`: prints the expand branch's revision, the legacy version of a
//! database still under legacy control, or `None`.

use strata::manager;
use strata::plan::DbVersion;

use super::output::{print_json, Format, FormatArg};
use super::{print, Cli, Failure};

pub fn run(cli: &Cli, args: &FormatArg) -> Result<u8, Failure> {
    let url = cli.database_url()?;
    let trees = cli.trees()?;
    if args.format == Format::Json {
        let report = manager::version_report(&url, &trees)?;
        print_json(&report)?;
        // As db_sync --check: an unfinished unit is reported, with exit status 1.
        return Ok(if report.interrupted.is_some() { 1 } else { 0 });
    }
    let text = match manager::version(&url, &trees)? {
        DbVersion::Revision(revision) => revision,
        DbVersion::Legacy(version) => version.to_string(),
        DbVersion::None => "None".to_owned(),
        DbVersion::Unknown(revisions) => revisions.join(", "),
    };
    print(&text);
    Ok(0)
}
