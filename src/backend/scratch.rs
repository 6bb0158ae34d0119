//! The scratch database `verify` builds the expected schema in: in memory on SQLite; on
//! PostgreSQL and MySQL a database `strata_verify_<16 hex digits>` on the target's server,
//! created with the target's credentials and always dropped.
//!
//! "Always" covers three ways out: [`ScratchDatabase::drop_now`] on success, `Drop` on an
//! error or a panic, and [`drop_registered`] from a signal handler (the CLI calls it on
//! Ctrl-C and SIGTERM before exiting). Every scratch database is registered before it is
//! created, with a closure that drops it from a connection of its own (`DROP DATABASE IF
//! EXISTS`; PostgreSQL `WITH (FORCE)`, MySQL after killing the session that builds it), so
//! that a signal arriving while a migration runs in it still leaves nothing behind.

use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::sync::{Mutex, OnceLock};

#[cfg(feature = "mysql")]
use super::mysql;
#[cfg(feature = "postgresql")]
use super::postgres;
use super::{sqlite, Backend, DbError};
use crate::dialect::Dialect;
use crate::url::DatabaseUrl;

/// The prefix of every scratch database's name.
pub const PREFIX: &str = "strata_verify_";

/// Drops one scratch database from a connection of its own.
pub(super) type Dropper = Box<dyn FnOnce() -> Result<(), DbError> + Send>;

fn registry() -> &'static Mutex<BTreeMap<String, Dropper>> {
    static REGISTRY: OnceLock<Mutex<BTreeMap<String, Dropper>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// Registers how to drop `name`, before it is created.
#[cfg(any(feature = "postgresql", feature = "mysql"))]
pub(super) fn register(name: &str, dropper: Dropper) {
    registry().lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(name.to_owned(), dropper);
}

/// Takes `name`'s dropper out of the registry: whoever takes it drops the database, once.
fn take(name: &str) -> Option<Dropper> {
    registry().lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(name)
}

/// Forgets `name` after its creation failed: there is nothing to drop.
#[cfg(any(feature = "postgresql", feature = "mysql"))]
pub(super) fn forget(name: &str) {
    take(name);
}

/// Drops every scratch database this process created and has not dropped yet, saying so on
/// the log. For signal handlers; safe to call from any thread, at any time.
pub fn drop_registered() {
    let droppers: Vec<(String, Dropper)> =
        std::mem::take(&mut *registry().lock().unwrap_or_else(|poisoned| poisoned.into_inner())).into_iter().collect();
    for (name, dropper) in droppers {
        match dropper() {
            Ok(()) => log::info!("Dropped the scratch database {name}"),
            Err(error) => log::error!("could not drop the scratch database {name}: {error}; drop it by hand"),
        }
    }
}

/// A new scratch database's name: `strata_verify_` and 16 hexadecimal digits.
pub fn new_name() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let random = std::collections::hash_map::RandomState::new().hash_one((std::process::id(), nanos));
    format!("{PREFIX}{random:016x}")
}

/// A database to build a schema in, dropped when it goes away.
pub struct ScratchDatabase {
    backend: Option<Box<dyn Backend>>,
    /// `None` in memory.
    name: Option<String>,
}

impl ScratchDatabase {
    /// Creates a scratch database on the server (or in memory) of the database `url` names.
    /// A user who may not create databases gets [`DbError::ScratchDenied`].
    pub fn create(url: &DatabaseUrl) -> Result<ScratchDatabase, DbError> {
        match url.dialect {
            Dialect::Sqlite => Ok(ScratchDatabase { backend: Some(sqlite::in_memory()?), name: None }),
            #[cfg(any(feature = "postgresql", feature = "mysql"))]
            Dialect::Postgresql | Dialect::Mysql => {
                let name = new_name();
                let scratch_url = with_database(url, &name);
                // From here on, dropping `scratch` drops whatever was created.
                let mut scratch = ScratchDatabase { backend: None, name: Some(name.clone()) };
                scratch.backend = Some(match url.dialect {
                    #[cfg(feature = "postgresql")]
                    Dialect::Postgresql => postgres::create_scratch(url, &name, &scratch_url)?,
                    #[cfg(feature = "mysql")]
                    Dialect::Mysql => mysql::create_scratch(url, &name, &scratch_url)?,
                    #[allow(unreachable_patterns)]
                    _ => return Err(super::missing_engine(url)),
                });
                Ok(scratch)
            }
            #[allow(unreachable_patterns)]
            _ => Err(super::missing_engine(url)),
        }
    }

    /// The database's name; `None` in memory.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The backend connected to it.
    pub fn backend(&mut self) -> &mut dyn Backend {
        self.backend.as_deref_mut().expect("present until dropped")
    }

    /// Closes the connection and drops the database, reporting a failure to do so.
    pub fn drop_now(mut self) -> Result<(), DbError> {
        self.close()
    }

    fn close(&mut self) -> Result<(), DbError> {
        self.backend = None;
        match self.name.take().and_then(|name| take(&name).map(|dropper| (name, dropper))) {
            Some((name, dropper)) => {
                dropper()?;
                log::debug!("dropped the scratch database {name}");
                Ok(())
            }
            None => Ok(()),
        }
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        if let Err(error) = self.close() {
            log::error!("could not drop the scratch database {}: {error}; drop it by hand", name.unwrap_or_default());
        }
    }
}

/// `url` naming another database on the same server.
#[cfg(any(feature = "postgresql", feature = "mysql"))]
fn with_database(url: &DatabaseUrl, name: &str) -> DatabaseUrl {
    let mut other = url.clone();
    if let crate::url::Target::Server(server) = &mut other.target {
        server.database = name.to_owned();
    }
    other
}
