//! `completions <bash|zsh|fish>`: a shell completion script generated from the command-line
//! definitions, on stdout.

use clap::CommandFactory;
use clap_complete::Shell;

use super::{print_bytes, Cli, Failure, PROGRAM};

/// The shells a completion script can be written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ShellArg {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to write the script for
    #[arg(value_enum)]
    shell: ShellArg,
}

pub fn run(args: &Args) -> Result<u8, Failure> {
    let shell = match args.shell {
        ShellArg::Bash => Shell::Bash,
        ShellArg::Zsh => Shell::Zsh,
        ShellArg::Fish => Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), PROGRAM, &mut script);
    print_bytes(&script);
    Ok(0)
}
