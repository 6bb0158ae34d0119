//! strata's integration tests: one binary (see Cargo.toml), each module a theme. Every
//! test drives the real `strata-manage` binary against a database of its own; `dbtest!`
//! tests run once per backend.

#[macro_use]
mod support;

/// Bad input and bad database states: clear errors, exit 1, nothing changed.
mod bad_input;
/// Command line: help, usage errors, where the URL comes from, logging.
mod cli;
/// Legacy-controlled databases and fast-forward from databases keystone-manage left.
mod legacy;
/// `db_sync --sql` run in the engines' own clients, and `db_sync --dry-run`.
mod offline;
/// Property tests of the parsers: SQL splitter, URLs, config files, migration trees.
mod parsers;
/// Concurrent runs, killed runs and the lock.
mod safety;
/// Fresh, phased and repeated `db_sync`, with `--check` and `db_version` at every step.
mod sync;
