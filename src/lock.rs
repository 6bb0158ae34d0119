//! The `db_sync` lock: concurrent runs against one database serialize. The first applies,
//! the others wait (bounded by [`LockOptions::timeout`]), then find nothing to do.
//!
//! Each backend implements it with what survives a killed process and, on MySQL, a Galera
//! cluster (see `backend/*.rs`):
//! - PostgreSQL: a session advisory lock on a dedicated connection (dies with it);
//! - SQLite: one `BEGIN IMMEDIATE` write transaction around the whole run (the file lock dies
//!   with the process);
//! - MySQL/MariaDB: a lock table whose creation is the lock (DDL is cluster-wide on Galera),
//!   holding one row that names the holder, beats while it runs, and records the statement
//!   in progress, so that an interrupted revision is detected and resumed.
//!
//! `db_sync --check` and `db_version` take no lock.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long to wait for the lock, and when a silent MySQL lock holder counts as dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockOptions {
    /// Give up waiting after this long (default five minutes).
    pub timeout: Duration,
    /// MySQL: a holder whose heartbeat has not moved for this long, as seen by the waiter,
    /// is considered dead (default one minute). Holders on the same server are recognised
    /// as dead at once, from the server's process list.
    pub stale_after: Duration,
}

impl Default for LockOptions {
    fn default() -> LockOptions {
        LockOptions { timeout: Duration::from_secs(300), stale_after: Duration::from_secs(60) }
    }
}

/// Who holds (or held) the lock, as stored with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder(pub String);

impl Holder {
    /// This process: host name, process id and start time.
    pub fn this_process() -> Holder {
        let host = hostname();
        let started = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
        Holder(format!("strata-manage db_sync on {host}, pid {}, started at unix time {started}", std::process::id()))
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown host".to_owned())
}

/// The pause between two attempts to take a busy lock.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(200);
