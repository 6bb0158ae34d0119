//! `show REV [--dialect D] [--format json]`: one revision's metadata and the statements it
//! runs on one dialect.

use strata::report::{self, RevisionDetail};
use strata::Dialect;

use super::output::{print_json, Format, FormatArg};
use super::{print, Cli, Failure};

/// The dialects, as `--dialect` spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DialectArg {
    Sqlite,
    #[value(alias = "postgres")]
    Postgresql,
    #[value(alias = "mariadb")]
    Mysql,
}

impl From<DialectArg> for Dialect {
    fn from(dialect: DialectArg) -> Dialect {
        match dialect {
            DialectArg::Sqlite => Dialect::Sqlite,
            DialectArg::Postgresql => Dialect::Postgresql,
            DialectArg::Mysql => Dialect::Mysql,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The revision: its id, or the start of it if no other id starts the same way
    #[arg(value_name = "REV")]
    revision: String,
    /// Show the statements for this dialect [default: the configured database's, else sqlite]
    #[arg(long, value_enum)]
    dialect: Option<DialectArg>,
    #[command(flatten)]
    output: FormatArg,
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, Failure> {
    let dialect = match args.dialect {
        Some(dialect) => dialect.into(),
        // show never connects, so a configuration without a database is no error here.
        None => cli.configured_database_url()?.map_or(strata::dialect::Dialect::Sqlite, |url| url.dialect),
    };
    let trees = cli.trees()?;
    let detail = report::revision_detail(&trees, &args.revision, dialect)?;
    match args.output.format {
        Format::Json => print_json(&detail)?,
        Format::Text => print(&render(&detail)),
    }
    Ok(0)
}

/// `Label: value` lines, a blank line, then the statements, each closed by `;`.
fn render(detail: &RevisionDetail) -> String {
    let head = if detail.is_head { " (head)" } else { "" };
    let mut lines = vec![format!("Revision: {}{head}", detail.revision), format!("Branch: {}", detail.branch.label())];
    if detail.down_revisions.is_empty() {
        lines.push("Down revisions: none (the base revision)".to_owned());
    } else {
        lines.push(format!("Down revisions: {}", detail.down_revisions.join(", ")));
    }
    if !detail.branch_labels.is_empty() {
        lines.push(format!("Branch labels: {}", detail.branch_labels.join(", ")));
    }
    if !detail.depends_on.is_empty() {
        lines.push(format!("Depends on: {}", detail.depends_on.join(", ")));
    }
    lines.push(format!("Message: {}", detail.message));
    if let Some(date) = &detail.create_date {
        lines.push(format!("Create date: {date}"));
    }
    lines.push(format!("Path: {}", detail.path));
    lines.push(String::new());
    lines.push(match detail.statements.len() {
        0 => format!("-- {}: no statements", detail.dialect),
        1 => format!("-- {}: 1 statement", detail.dialect),
        count => format!("-- {}: {count} statements", detail.dialect),
    });
    let statements: Vec<String> = detail.statements.iter().map(|statement| format!("{statement};")).collect();
    if !statements.is_empty() {
        lines.push(statements.join("\n\n"));
    }
    lines.join("\n")
}
