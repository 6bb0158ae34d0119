//! The library's error type. Each module has its own error enum carrying the context an
//! operator needs (file, revision, URL with the password hidden); `Error` gathers them so the
//! binary can choose an exit status and print one line.

use thiserror::Error;

pub use crate::backend::DbError;
pub use crate::config::ConfigError;
pub use crate::executor::{SyncFailure, SyncReport};
pub use crate::graph::{GraphError, LookupError};
pub use crate::plan::PlanError;
pub use crate::tree::TreeError;
pub use crate::url::UrlError;

/// Anything that can stop a strata command.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration file could not be found, read or parsed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database URL is malformed or names an unsupported dialect.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// A migration tree is malformed.
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// A revision asked for (`show REV`) is not in the tree, or its prefix is ambiguous.
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// The database is in a state strata refuses to touch, or the request is not allowed.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The database server reported an error, or could not be reached.
    #[error(transparent)]
    Database(#[from] DbError),
    /// A `db_sync` run stopped part way; what it applied before is kept in the report.
    #[error("{}{}", .0.error, applied_before(&.0.report))]
    Sync(Box<SyncFailure>),
    /// `db_sync` cannot create files in the directory of its SQLite database (SQLite writes
    /// its journal there, next to the database file).
    #[error("cannot write in {}, the directory of the SQLite database: {source}; SQLite creates the database file and its journal there, so run db_sync as a user who may write in it, or point the URL at a writable directory", .dir.display())]
    SqliteDirectoryNotWritable {
        /// The directory.
        dir: std::path::PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// `revision` cannot create the revision asked for.
    #[error(transparent)]
    Authoring(#[from] crate::authoring::AuthoringError),
    /// `verify` could not build the expected schema; its scratch database is dropped.
    #[error("verify could not build the schema the recorded revisions produce{}: {source}", scratch_note(.scratch, *.dropped))]
    VerifyBuild {
        /// The scratch database; `None` in memory.
        scratch: Option<String>,
        /// Whether the scratch database was dropped (if not, an error line said why).
        dropped: bool,
        /// What failed.
        source: DbError,
    },
    /// `db_sync` was given a version argument, which alembic-era keystone refuses too.
    #[error("Specifying a version is no longer supported")]
    VersionArgument,
}

fn scratch_note(scratch: &Option<String>, dropped: bool) -> String {
    let outcome = if dropped { "dropped" } else { "NOT dropped: drop it by hand" };
    scratch.as_ref().map(|name| format!(" in the scratch database {name} ({outcome})")).unwrap_or_default()
}

fn applied_before(report: &SyncReport) -> String {
    if report.is_empty() {
        String::new()
    } else {
        format!(" (applied before the failure: {report})")
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
