//! Logs go to stderr through env_logger. Default: strata's info messages (each migration
//! as it starts and ends); `-v` adds strata's debug messages; `-d` also logs every SQL
//! statement (target `strata::sql`). `RUST_LOG` replaces all of this.

use env_logger::{Builder, Env, Target};

pub fn init(debug: bool, verbose: bool) {
    let default_filter = if debug {
        "warn,strata=debug,strata_manage=debug"
    } else if verbose {
        "warn,strata=debug,strata_manage=debug,strata::sql=info"
    } else {
        "warn,strata=info,strata_manage=info"
    };
    Builder::from_env(Env::default().default_filter_or(default_filter))
        .target(Target::Stderr)
        .format_timestamp_millis()
        .init();
}
