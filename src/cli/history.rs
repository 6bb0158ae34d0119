//! `history [--no-database] [--format json]`: every revision of the tree, newest first, one
//! line each in alembic's style, `(current)` on the revisions the database records.

use strata::report::HistoryEntry;

use super::output::{print_json, Format, FormatArg};
use super::{print, Cli, Failure};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Do not read the database even when one is configured (no "(current)" marks)
    #[arg(long)]
    no_database: bool,
    #[command(flatten)]
    output: FormatArg,
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, Failure> {
    // Only a database the operator named is read: the tree alone needs none.
    let url = if args.no_database { None } else { cli.configured_database_url()? };
    let trees = cli.trees()?;
    let entries = strata::manager::history(url.as_ref(), &trees)?;
    match args.output.format {
        Format::Json => print_json(&entries)?,
        Format::Text => print(&entries.iter().map(line).collect::<Vec<_>>().join("\n")),
    }
    Ok(0)
}

/// `<down>[, <down>] -> <rev> (<branch>)[ (head)][ (current)], <message>`; the base's down
/// revision is written `<base>`, as alembic writes it.
fn line(entry: &HistoryEntry) -> String {
    let down = match entry.down_revisions.as_slice() {
        [] => "<base>".to_owned(),
        parents => parents.join(", "),
    };
    let mut line = format!("{down} -> {} ({})", entry.revision, entry.branch.label());
    if entry.is_head {
        line.push_str(" (head)");
    }
    if entry.is_current == Some(true) {
        line.push_str(" (current)");
    }
    line.push_str(", ");
    line.push_str(&entry.message);
    line
}
