//! strata's integration tests: one binary (see Cargo.toml), each module a theme. Every
//! test drives the real `strata-manage` binary against a database of its own; `dbtest!`
//! tests run once per backend.

#[macro_use]
mod support;

/// Authoring: `revision` (expand, contract, merge, depends_on) run end to end on every
/// backend, and `lint` on the CLI.
mod authoring;
/// Bad input and bad database states: clear errors, exit 1, nothing changed.
mod bad_input;
/// Command line: help, usage errors, where the URL comes from, logging.
mod cli;
/// How a failing migration is reported on every backend.
mod failures;
/// The 3-node Galera cluster of `scripts/galera`: runs on different nodes, concurrent runs
/// spread over the nodes, runs killed on one node and finished from another.
mod galera;
/// The read-only reports: --format json, current, history, heads, show, completions, man.
mod inspect;
/// Legacy-controlled databases and fast-forward from databases keystone-manage left.
mod legacy;
/// `db_sync --sql` run in the engines' own clients, and `db_sync --dry-run`.
mod offline;
/// Property tests of the parsers: SQL splitter, URLs, config files, migration trees.
mod parsers;
/// Concurrent runs, killed runs and the lock.
mod safety;
/// CLI snapshots (trycmd): help texts and server-free outputs, as files in tests/cmd/.
mod snapshots;
/// Fresh, phased and repeated `db_sync`, with `--check` and `db_version` at every step.
mod sync;
/// TLS end to end: PostgreSQL's sslmode and MySQL's ssl_mode against servers with and
/// without TLS, sessions proven encrypted, certificate and host checks refused clearly.
mod tls;
/// `verify`, the schema drift check, and its scratch database.
mod verify;
