//! `db_version`: prints the expand branch's revision, the legacy version of a database
//! still under legacy control, or `None`.

use strata::manager;
use strata::plan::DbVersion;

use super::{print, Cli, Failure};

pub fn run(cli: &Cli) -> Result<u8, Failure> {
    let url = cli.database_url()?;
    let trees = cli.trees()?;
    let text = match manager::version(&url, &trees)? {
        DbVersion::Revision(revision) => revision,
        DbVersion::Legacy(version) => version.to_string(),
        DbVersion::None => "None".to_owned(),
    };
    print(&text);
    Ok(0)
}
