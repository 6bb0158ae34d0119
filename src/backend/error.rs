//! Database errors, typed to the end: a driver error keeps its source, the server's error
//! number where the driver can learn it, and what that number means to strata. Decisions
//! (retry, skip an already-applied statement, wait for the lock) are made on
//! [`ErrorKind`], never on message text, which servers translate.

use std::fmt;

use thiserror::Error;

use super::Unit;

/// What a database error means to strata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The object a statement creates is already there (table, column, index, key,
    /// constraint).
    AlreadyExists,
    /// The object a statement drops is not there.
    NothingToDrop,
    /// A row with the same key exists.
    DuplicateRow,
    /// The table a statement names does not exist.
    NoSuchTable,
    /// The transaction lost a conflict (deadlock, lock wait timeout, Galera certification
    /// failure): trying again may succeed.
    Conflict,
    /// SQLite: another connection holds the database's lock.
    Busy,
    /// A Galera node that is not part of the primary component (it lost quorum, or is
    /// still joining) refuses queries.
    ClusterNotReady,
    /// The connection to the server broke.
    ConnectionLost,
    /// The user lacks a privilege.
    PermissionDenied,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// Whether a statement that fails this way had its effect already (re-running a DDL
    /// statement that an interrupted run applied).
    pub fn means_already_applied(self) -> bool {
        matches!(self, ErrorKind::AlreadyExists | ErrorKind::NothingToDrop | ErrorKind::DuplicateRow)
    }
}

/// An error the database or its driver reported.
#[derive(Debug, Error)]
pub struct DriverError {
    /// What it means.
    pub kind: ErrorKind,
    /// The server's error number, when the driver could learn it (MySQL/MariaDB).
    pub code: Option<u32>,
    /// The server's message on one line.
    pub message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl DriverError {
    /// Classifies a driver error.
    pub fn new(
        kind: ErrorKind,
        code: Option<u32>,
        message: &str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> DriverError {
        DriverError { kind, code, message: one_line(message), source: Some(source.into()) }
    }

    /// An error strata itself detected in what the database answered.
    pub fn unexpected(message: impl Into<String>) -> DriverError {
        DriverError { kind: ErrorKind::Other, code: None, message: message.into(), source: None }
    }

    /// What diesel's own classification says, for drivers whose error numbers diesel keeps
    /// to itself (PostgreSQL, SQLite).
    pub fn from_diesel(error: diesel::result::Error) -> DriverError {
        use diesel::result::{DatabaseErrorKind, Error};
        let kind = match &error {
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => ErrorKind::DuplicateRow,
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => ErrorKind::Conflict,
            // tokio-postgres reports a broken connection as a command it could not send.
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand, _) => {
                ErrorKind::ConnectionLost
            }
            _ => ErrorKind::Other,
        };
        let mut message = error.to_string();
        // PostgreSQL's DETAIL and HINT say which row or what to do; diesel's message leaves
        // them out.
        if let Error::DatabaseError(_, information) = &error {
            for (label, text) in [("detail", information.details()), ("hint", information.hint())] {
                if let Some(text) = text.filter(|text| !text.trim().is_empty()) {
                    message.push_str(&format!("; {label}: {text}"));
                }
            }
        }
        DriverError::new(kind, None, &message, error)
    }
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => write!(f, "{} (server error {code})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Database messages can span lines (PostgreSQL adds DETAIL/HINT lines); errors are one line.
pub(crate) fn one_line(message: &str) -> String {
    message.lines().map(str::trim).filter(|line| !line.is_empty()).collect::<Vec<_>>().join("; ")
}

/// A statement of a unit failed: which, and what of the unit is applied.
#[derive(Debug)]
pub struct StatementFailure {
    /// The unit, as the operator knows it.
    pub unit: String,
    /// 0-based index of the failed statement.
    pub index: usize,
    /// How many statements the unit has.
    pub total: usize,
    /// The statement's first line, shortened.
    pub excerpt: String,
    /// What of the unit is applied, and what to do.
    pub applied: String,
    /// What the database said.
    pub source: DriverError,
}

impl StatementFailure {
    /// Describes the failure of `unit.statements[index]`.
    pub fn new(unit: &Unit<'_>, index: usize, applied: String, source: DriverError) -> StatementFailure {
        let statement = unit.statements.get(index).map(String::as_str).unwrap_or_default();
        StatementFailure {
            unit: unit.title.clone(),
            index,
            total: unit.statements.len(),
            excerpt: abbreviate(statement),
            applied,
            source,
        }
    }
}

impl fmt::Display for StatementFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} failed at statement {} of {} ({}); {}: {}",
            self.unit,
            self.index + 1,
            self.total,
            self.excerpt,
            self.applied,
            self.source
        )
    }
}

/// A failure reported by the database or its driver, with what strata was doing.
/// Messages never contain a password: URLs are shown redacted, and drivers do not echo
/// credentials.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DbError {
    /// The connection could not be established.
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// The URL, password hidden.
        url: String,
        /// What the driver said.
        source: DriverError,
    },
    /// A query of strata's own failed.
    #[error("{context}: {source}")]
    Query {
        /// What strata was doing.
        context: String,
        /// What the database said.
        source: DriverError,
    },
    /// A statement of a migration failed.
    #[error("{0}")]
    Statement(Box<StatementFailure>),
    /// Something other than one of its statements failed while a unit was applied (creating
    /// `alembic_version`, writing the version row, the progress record).
    #[error("{unit}: {source}; {outcome}")]
    InUnit {
        /// The unit, as the operator knows it.
        unit: String,
        /// What of the unit is applied, and what to do.
        outcome: String,
        /// What failed.
        source: Box<DbError>,
    },
    /// A MySQL unit stopped at a statement that cannot be named (the session could not be
    /// asked); its progress record knows how far it got.
    #[error("{unit} stopped part way; how far it got is recorded in strata_db_sync_progress, and the next strata-manage db_sync resumes it from there: {source}")]
    UnitStopped {
        /// The unit, as the operator knows it.
        unit: String,
        /// What the database said.
        source: DriverError,
    },
    /// A MySQL unit was interrupted and the tree changed since: its applied statements are
    /// not those of the unit any more.
    #[error("{unit} was interrupted after statement {applied} of it had been applied, but statement {differing} differs now from the one applied (the migration tree changed between the two runs): restore that revision's SQL as it was, finish it, then upgrade; or restore the database from a backup")]
    TreeChanged {
        /// The unit.
        unit: String,
        /// How many statements were applied.
        applied: usize,
        /// The first (1-based) statement that differs.
        differing: usize,
    },
    /// A version row was not where the plan expected it: another process changed it.
    #[error("{0}")]
    Concurrent(String),
    /// Another `db_sync` held the lock for longer than the timeout.
    #[error("gave up after waiting {waited_secs} s for the db_sync lock, held by {holder}: wait for that run to finish (or make sure it is dead), then run db_sync again")]
    LockTimeout {
        /// Who holds it.
        holder: String,
        /// How long strata waited.
        waited_secs: u64,
    },
    /// `verify` may not create its scratch database: the user lacks CREATE DATABASE.
    #[error("verify builds the expected schema in a scratch database of its own, but the database user may not create {name}: {source}; grant it (PostgreSQL: ALTER ROLE <user> CREATEDB; MySQL/MariaDB: GRANT ALL ON `strata\\_verify\\_%`.* TO <user>) or run verify as a user who may")]
    ScratchDenied {
        /// The scratch database's name.
        name: String,
        /// What the database said.
        source: DriverError,
    },
    /// The lock was taken over by another run while this one held it.
    #[error("this run lost the db_sync lock to {holder} (its heartbeat was not seen for too long, see --lock-stale-after): it stopped before its next migration; run strata-manage db_sync --check to see where the database stands")]
    LockLost {
        /// Who took it.
        holder: String,
    },
}

impl DbError {
    /// A closure wrapping a driver error with what strata was doing.
    pub fn query(context: &'static str) -> impl Fn(DriverError) -> DbError {
        move |source| DbError::Query { context: context.to_owned(), source }
    }

    /// Names the unit this error happened in, unless it already does.
    pub fn in_unit(self, unit: &Unit<'_>, outcome: &str) -> DbError {
        match self {
            DbError::Statement(_)
            | DbError::UnitStopped { .. }
            | DbError::TreeChanged { .. }
            | DbError::InUnit { .. } => self,
            other => DbError::InUnit { unit: unit.title.clone(), outcome: outcome.to_owned(), source: Box::new(other) },
        }
    }

    /// The driver error underneath, if any, to refine its kind.
    pub fn driver_mut(&mut self) -> Option<&mut DriverError> {
        match self {
            DbError::Connect { source, .. } | DbError::Query { source, .. } => Some(source),
            DbError::Statement(failure) => Some(&mut failure.source),
            DbError::UnitStopped { source, .. } => Some(source),
            DbError::InUnit { source, .. } => source.driver_mut(),
            _ => None,
        }
    }

    /// The driver error underneath, if any.
    pub fn driver(&self) -> Option<&DriverError> {
        match self {
            DbError::Connect { source, .. } | DbError::Query { source, .. } => Some(source),
            DbError::Statement(failure) => Some(&failure.source),
            DbError::UnitStopped { source, .. } => Some(source),
            DbError::InUnit { source, .. } => source.driver(),
            _ => None,
        }
    }
}

/// The first line of a statement, cut short, for error messages.
fn abbreviate(statement: &str) -> String {
    let first_line = statement.lines().next().unwrap_or_default().trim();
    let mut shown: String = first_line.chars().take(60).collect();
    if shown.len() < first_line.len() || statement.lines().nth(1).is_some() {
        shown.push_str(" …");
    }
    shown
}
