//! strata: a database sync manager in the style of `keystone-manage db_sync`.
//!
//! A service's schema is managed in three layers, oldest first:
//!
//! 1. **legacy** integer-numbered migrations in sqlalchemy-migrate style repositories,
//!    tracked in `migrate_version` ([`tree::legacy`]);
//! 2. the **base** revision of an alembic-style graph, *stamped* on a legacy database
//!    (recorded without running) because its schema already equals the base;
//! 3. the **expand** and **contract** branches of that graph, tracked in `alembic_version`
//!    with one row per branch head ([`graph`]).
//!
//! The crate is layered so that each part can be read alone: [`tree`] loads migration trees
//! (embedded at build time, or from directories), [`graph`] validates the revision graph,
//! [`plan`] decides what to do from a [`state::DatabaseState`] without any I/O, [`executor`]
//! runs a plan on a [`backend::Backend`], [`offline`] describes a plan or writes it as a SQL
//! script instead, [`catalog`] models a schema and diffs two of them (`verify`, the drift
//! check), and [`manager`] ties one command together. The read-only commands' findings are
//! plain, serializable data in [`report`]. For the authors of a tree, [`authoring`] writes new
//! revision folders and [`lint`] checks that expand revisions only add and contract revisions
//! only remove, on statements parsed for their dialect.
//!
//! ```no_run
//! use strata::{manager, plan::Target, tree::MigrationTrees, url::DatabaseUrl};
//!
//! let trees = MigrationTrees::embedded()?;
//! let url = DatabaseUrl::parse("sqlite:///keystone.db")?;
//! let report = manager::sync(&url, &trees, Target::Full, &strata::lock::LockOptions::default())?;
//! println!("applied {} revisions", report.revisions.len());
//! # Ok::<(), strata::Error>(())
//! ```
#![warn(missing_docs)]

pub mod authoring;
pub mod backend;
pub mod catalog;
pub mod config;
pub mod dialect;
pub mod error;
pub mod executor;
pub mod graph;
pub mod lint;
pub mod lock;
pub mod manager;
pub mod offline;
pub mod plan;
pub mod report;
pub mod sql;
pub mod state;
pub mod tree;
pub mod url;

pub use dialect::Dialect;
pub use error::{Error, Result};
