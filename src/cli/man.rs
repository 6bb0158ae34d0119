//! `man [COMMAND]` (hidden): the manual page of strata-manage, or of one of its commands, as
//! roff on stdout, generated from the command-line definitions.

use clap::CommandFactory;

use super::{print_bytes, Cli, Failure, PROGRAM};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A command whose page to print (e.g. db_sync) instead of the program's page
    #[arg(value_name = "COMMAND")]
    command: Option<String>,
}

pub fn run(args: &Args) -> Result<u8, Failure> {
    let mut program = Cli::command();
    // Building names the subcommands' pages `strata-manage-<command>` and gives them the
    // global options.
    program.build();
    let page = match &args.command {
        None => program,
        Some(name) => program
            .get_subcommands()
            .find(|command| command.get_name() == name && !command.is_hide_set())
            .cloned()
            .ok_or_else(|| Failure(format!("no command '{name}': {PROGRAM} --help lists the commands")))?,
    };
    let mut roff = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut roff)
        .map_err(|error| Failure(format!("cannot render the manual page: {error}")))?;
    print_bytes(&roff);
    Ok(0)
}
