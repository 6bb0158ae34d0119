//! The `db_sync` lock: concurrent runs against one database serialize. The first applies,
//! the others wait (bounded by [`LockOptions::timeout`]), then find nothing to do.
//!
//! Each backend implements it with what survives a killed process and, on MySQL, a Galera
//! cluster (see `backend/*.rs`):
//! - PostgreSQL: a session advisory lock on a dedicated connection (dies with it);
//! - SQLite: one `BEGIN IMMEDIATE` write transaction around the whole run (the file lock dies
//!   with the process);
//! - MySQL/MariaDB: one committed row in `strata_db_sync_lock` (a table created with
//!   `CREATE TABLE IF NOT EXISTS` and an explicit character set), so that on Galera the
//!   cluster's certification decides between two nodes; the row names the holder and beats
//!   while it runs, and a holder whose heartbeat and progress stopped is taken over. Progress
//!   through a revision is recorded apart, in `strata_db_sync_progress`, so that an
//!   interrupted revision is detected and resumed.
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

/// How a holder's start time is written: local time with its UTC offset, so that it can be
/// read back on any machine (`2026-11-28 23:04:20+01:00`).
const STARTED_FORMAT: &str = "%Y-%m-%d %H:%M:%S%:z";
const STARTED: &str = ", started ";
/// How releases before 0.2 wrote the start time.
const STARTED_UNIX: &str = ", started at unix time ";

impl Holder {
    /// This process: host name, process id and start time (local time). A plain string, as
    /// MySQL stores it in its lock row.
    pub fn this_process() -> Holder {
        let started = jiff::Zoned::now().strftime(STARTED_FORMAT).to_string();
        Holder(format!("{}{STARTED}{started}", Holder::this_process_name()))
    }

    /// This process without its start time (`strata-manage db_sync on <host>, pid <pid>`), for
    /// servers that record when the holder's session began themselves.
    pub fn this_process_name() -> String {
        format!("strata-manage db_sync on {}, pid {}", hostname(), std::process::id())
    }

    /// A holder named `name` that started at `unix_seconds`, written as
    /// [`Holder::this_process`] writes its own start.
    pub fn started_at(name: &str, unix_seconds: i64) -> Holder {
        match jiff::Timestamp::from_second(unix_seconds) {
            Ok(timestamp) => {
                let local = timestamp.to_zoned(jiff::tz::TimeZone::system()).strftime(STARTED_FORMAT).to_string();
                Holder(format!("{name}{STARTED}{local}"))
            }
            Err(_) => Holder(name.to_owned()),
        }
    }

    /// The holder with its age at `now` (see [`describe_holder`]).
    pub fn describe(&self, now: SystemTime) -> String {
        describe_holder(&self.0, now)
    }
}

/// A holder as stored, with its age at `now` after the start time: `…, started 2026-11-28
/// 23:04:20+01:00 (4 min 12 s ago)`. The unix time of older releases is shown as local time
/// too; any other text is returned as it is.
pub fn describe_holder(holder: &str, now: SystemTime) -> String {
    let now_secs = now.duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs() as i64);
    let (name, started) = if let Some((name, unix)) = holder.split_once(STARTED_UNIX) {
        match unix.trim().parse::<i64>().ok().and_then(|secs| jiff::Timestamp::from_second(secs).ok()) {
            Some(timestamp) => (name, timestamp),
            None => return holder.to_owned(),
        }
    } else if let Some((name, text)) = holder.rsplit_once(STARTED) {
        match jiff::fmt::strtime::parse(STARTED_FORMAT, text.trim()).and_then(|parsed| parsed.to_timestamp()) {
            Ok(timestamp) => (name, timestamp),
            Err(_) => return holder.to_owned(),
        }
    } else {
        return holder.to_owned();
    };
    let local = started.to_zoned(jiff::tz::TimeZone::system()).strftime(STARTED_FORMAT).to_string();
    let age = Duration::from_secs(u64::try_from(now_secs - started.as_second()).unwrap_or(0));
    format!("{name}{STARTED}{local} ({} ago)", human_duration(age))
}

/// `45 s`, `4 min 12 s`, `2 h 5 min`, `3 d 4 h`.
fn human_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        0..=59 => format!("{secs} s"),
        60..=3599 => format!("{} min {} s", secs / 60, secs % 60),
        3600..=86_399 => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
        _ => format!("{} d {} h", secs / 86_400, secs % 86_400 / 3600),
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
#[cfg(any(feature = "postgresql", feature = "mysql"))]
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(200);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_shows_its_local_start_time_and_age() {
        let holder = Holder::this_process().0;
        assert!(!holder.contains("unix time") && holder.contains(", started "), "{holder}");
        let later = SystemTime::now() + Duration::from_secs(252);
        let described = describe_holder(&holder, later);
        assert!(described.starts_with(&holder), "the local start time is kept: {described}");
        assert!(described.contains(" (4 min 1") && described.ends_with(" s ago)"), "{described}");

        let old = "strata-manage db_sync on vm, pid 7, started at unix time 1795903460";
        let at = UNIX_EPOCH + Duration::from_secs(1_795_903_460 + 7_500);
        let described = describe_holder(old, at);
        assert!(described.starts_with("strata-manage db_sync on vm, pid 7, started 2026-"), "{described}");
        assert!(described.ends_with(" (2 h 5 min ago)"), "{described}");
        assert_eq!(describe_holder("another session", at), "another session");
    }

    #[test]
    fn a_holder_rebuilt_from_a_server_start_time_reads_like_our_own() {
        let name = Holder::this_process_name();
        let holder = Holder::started_at(&name, 1_795_903_460);
        let described = holder.describe(UNIX_EPOCH + Duration::from_secs(1_795_903_460 + 45));
        assert!(described.starts_with(&format!("{name}, started 2026-11-")), "{described}");
        assert!(described.ends_with(" (45 s ago)"), "{described}");
    }
}
