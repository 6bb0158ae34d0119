# The two commands a fresh machine needs (see README.md):
#   make db_sync   build strata-manage and run `db_sync` on the default sqlite:///keystone.db
#   make test      run the whole test suite (unit, integration on every reachable backend)
# Both first install the MySQL/MariaDB client library diesel links against, if missing.

.PHONY: db_sync test bootstrap

bootstrap:
	@./scripts/bootstrap

db_sync: bootstrap
	cargo run --release --bin strata-manage -- db_sync

test: bootstrap
	cargo test --all-targets
