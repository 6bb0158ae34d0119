//! `strata-manage`: the command-line front end. It parses arguments, sets up logging and
//! calls the library; every decision is made in the `strata` crate.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
