//! `heads [--format json]`: the head revision of each branch of the tree.

use super::output::{print_json, Format, FormatArg};
use super::{print, Cli, Failure};

pub fn run(cli: &Cli, args: &FormatArg) -> Result<u8, Failure> {
    let heads = strata::report::heads(&cli.trees()?);
    match args.format {
        Format::Json => print_json(&heads)?,
        Format::Text => {
            let lines: Vec<String> =
                heads.iter().map(|head| format!("{} ({}) (head)", head.revision, head.branch.label())).collect();
            print(&lines.join("\n"));
        }
    }
    Ok(0)
}
