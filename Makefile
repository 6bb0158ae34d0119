# The two commands a fresh machine needs (see README.md); nothing beyond a Rust toolchain and
# a C compiler (for the SQLite compiled into the binary): the PostgreSQL and MySQL/MariaDB
# clients are pure Rust, so no system package is installed or linked.
#   make db_sync   build strata-manage and run `db_sync` on the default sqlite:///keystone.db
#   make test      run the whole test suite (unit, integration on every reachable backend)

.PHONY: db_sync test

db_sync:
	cargo run --release --bin strata-manage -- db_sync

test:
	cargo test --all-targets
