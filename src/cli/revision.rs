//! `revision --expand|--contract|--merge -m MESSAGE [--release NAME] [--depends-on REV]`:
//! writes a new revision folder into the tree of `--alembic-dir`, or of the strata checkout
//! the command runs in, and prints the folder.

use strata::authoring::{self, AuthoringError, RevisionRequest};
use strata::graph::Branch;

use super::{print, Cli, Failure};

#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("kind").required(true).multiple(true).args(["expand", "contract", "merge"]))]
pub struct Args {
    /// A revision on the expand branch (only adds; runs while the previous release still runs)
    #[arg(long, conflicts_with = "contract")]
    expand: bool,
    /// A revision on the contract branch (drops and renames; runs once the previous release is gone)
    #[arg(long)]
    contract: bool,
    /// A merge revision joining the two heads of a branch (of --expand or --contract, else the one that has two)
    #[arg(long, conflicts_with = "depends_on")]
    merge: bool,
    /// What the revision does; also its folder name
    #[arg(short, long, value_name = "MESSAGE")]
    message: String,
    /// Release folder to create it in [default: the one holding the newest revision, by create_date]
    #[arg(long, value_name = "NAME")]
    release: Option<String>,
    /// A revision (id or unique start of one) that must run before this one; repeatable
    #[arg(long = "depends-on", value_name = "REV")]
    depends_on: Vec<String>,
    /// The revision id [default: 12 random hex digits]; give keystone's id when bringing a keystone revision over
    #[arg(long = "rev-id", value_name = "ID")]
    rev_id: Option<String>,
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, Failure> {
    let dir = match &cli.alembic_dir {
        Some(dir) => dir.clone(),
        None => std::env::current_dir()
            .ok()
            .and_then(|cwd| authoring::find_checkout_tree(&cwd))
            .ok_or(AuthoringError::NoTree)?,
    };
    let branch = if args.contract {
        Some(Branch::Contract)
    } else if args.expand || !args.merge {
        Some(Branch::Expand)
    } else {
        None
    };
    let request = RevisionRequest {
        branch,
        merge: args.merge,
        message: args.message.clone(),
        release: args.release.clone(),
        depends_on: args.depends_on.clone(),
        id: args.rev_id.clone(),
    };
    let created = authoring::create_revision(&dir, &request)?;
    log::info!(
        "created {} revision {} on {} in {}",
        created.branch,
        created.id,
        created.down_revisions.join(", "),
        created.folder.display()
    );
    // Relative to the working directory when below it, as the user would type it.
    let cwd = std::env::current_dir().unwrap_or_default();
    print(&created.folder.strip_prefix(&cwd).unwrap_or(&created.folder).display().to_string());
    Ok(0)
}
