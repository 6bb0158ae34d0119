//! CLI snapshots: the help texts and every output that needs no database server, kept as
//! files in `tests/cmd/` so that a changed message shows up as a reviewed diff.
//!
//! - `<name>.toml` runs one command; its expected stdout/stderr are `<name>.stdout` and
//!   `<name>.stderr`, its exit status `status.code` (0 when absent).
//! - `<name>.trycmd` runs a sequence of commands in one scratch directory seeded from
//!   `<name>.in/` (a `keystone.conf` naming `sqlite:///keystone.db`); each `$` line is
//!   followed by its `? status` and its output, stdout and stderr merged.
//!
//! After a deliberate change, `TRYCMD=overwrite cargo test --test integration snapshots`
//! rewrites the expected files; review the diff before committing it.

use std::path::Path;

use crate::sync::{CONTRACT_HEAD, EXPAND_HEAD};

#[test]
fn cli_snapshots() {
    // No user configuration can leak in: HOME is empty, the environment names no database (checked above),
    // and logs (timestamps, durations) are off, so only requested output and errors show.
    // An empty STRATA_DATABASE_URL is an error, and the harness can only add variables.
    assert!(
        std::env::var_os(strata::config::DATABASE_URL_ENV).is_none(),
        "unset STRATA_DATABASE_URL to run the CLI snapshots"
    );
    let home = tempfile::tempdir().unwrap();
    let cases = trycmd::TestCases::new();
    // The embedded tree's heads are written [EXPAND_HEAD] and [CONTRACT_HEAD] in the
    // snapshots, so that keystone's next revision changes none of them.
    cases
        .insert_var("[EXPAND_HEAD]", EXPAND_HEAD.to_string())
        .and_then(|cases| cases.insert_var("[CONTRACT_HEAD]", CONTRACT_HEAD.to_string()))
        .expect("the heads are valid snapshot variables");
    cases
        .register_bin("strata-manage", Path::new(env!("CARGO_BIN_EXE_strata-manage")))
        .default_bin_name("strata-manage")
        .env("HOME", home.path().display().to_string())
        .env("RUST_LOG", "off")
        .case("tests/cmd/*.toml")
        .case("tests/cmd/*.trycmd")
        .run();
}
