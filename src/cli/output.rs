//! How requested output is shaped: the `--format text|json` option and JSON printing. The
//! JSON documents are `strata::report` values; their schema is in README.md ("JSON output").

use serde::Serialize;

use super::{print, Failure};

/// The shape of a command's requested output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Text for people
    Text,
    /// One JSON document (schema: README.md, section "JSON output")
    Json,
}

/// `--format`, for the commands that print a report.
#[derive(Debug, clap::Args)]
pub struct FormatArg {
    /// Print the report as text or as one JSON document
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = Format::Text)]
    pub format: Format,
}

/// Prints a report as pretty-printed JSON on stdout.
pub fn print_json<T: Serialize>(report: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(report)
        .map_err(|error| Failure(format!("cannot write the report as JSON: {error}")))?;
    print(&text);
    Ok(())
}
