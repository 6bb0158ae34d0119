//! Logs go to stderr through env_logger. Default: strata's info messages (each migration
//! as it starts and ends); `-v` adds strata's debug messages; `-d` also logs every SQL
//! statement (target `strata::sql`). `RUST_LOG` replaces all of this.
//!
//! oslo.log's options, as keystone-manage accepts them, each adding a destination as
//! oslo.log adds a handler: `--log-file PATH` appends the log to that file (relative to
//! `--log-dir` when both are given), `--log-dir DIR` alone to `DIR/strata-manage.log`,
//! `--use-syslog` sends it to the local syslog socket (`/dev/log`, facility `user`) and
//! `--use-journal` to systemd's journal; the log leaves stderr once it has somewhere else to
//! go. A syslog or journal socket that is not there is warned about once (`STRATA_SYSLOG_SOCKET`
//! and `STRATA_JOURNAL_SOCKET` name other sockets); a log file that cannot be opened is an
//! error. The error that ends a run goes to stderr, and to the log's destinations too.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use env_logger::{Builder, Env, Target};
use log::Level;

use super::{Failure, PROGRAM};

/// The syslog socket of the local machine.
const SYSLOG_SOCKET: &str = "/dev/log";
/// systemd-journald's native protocol socket.
const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// Where the log goes, from oslo.log's options.
#[derive(Debug, Clone, Default)]
pub struct LogDestination {
    /// `--log-file`.
    pub file: Option<PathBuf>,
    /// `--log-dir`.
    pub dir: Option<PathBuf>,
    /// `--use-syslog`.
    pub syslog: bool,
    /// `--use-journal`.
    pub journal: bool,
}

impl LogDestination {
    /// The log file, as oslo.log computes it: the file inside the directory when both are
    /// given, `<dir>/strata-manage.log` for a directory alone.
    fn file_path(&self) -> Option<PathBuf> {
        match (&self.file, &self.dir) {
            (Some(file), Some(dir)) => Some(dir.join(file)),
            (Some(file), None) => Some(file.clone()),
            (None, Some(dir)) => Some(dir.join(format!("{PROGRAM}.log"))),
            (None, None) => None,
        }
    }
}

/// Sets up the logger; fails only when a log file was asked for and cannot be opened.
/// Returns whether the log goes somewhere other than stderr.
pub fn init(debug: bool, verbose: bool, destination: &LogDestination) -> Result<bool, Failure> {
    let default_filter = if debug {
        "warn,strata=debug,strata_manage=debug"
    } else if verbose {
        "warn,strata=debug,strata_manage=debug,strata::sql=info"
    } else {
        "warn,strata=info,strata_manage=info"
    };
    let builder = || {
        let mut builder = Builder::from_env(Env::default().default_filter_or(default_filter));
        builder.format_timestamp_millis().target(Target::Stderr);
        builder
    };
    let mut loggers = Vec::new();
    let mut unavailable = Vec::new();
    let sockets = [
        (destination.journal, "--use-journal", "STRATA_JOURNAL_SOCKET", JOURNAL_SOCKET, format_journal as Format),
        (destination.syslog, "--use-syslog", "STRATA_SYSLOG_SOCKET", SYSLOG_SOCKET, format_syslog as Format),
    ];
    for (wanted, option, variable, default_path, format) in sockets {
        if !wanted {
            continue;
        }
        let path = std::env::var_os(variable).map_or_else(|| PathBuf::from(default_path), PathBuf::from);
        // A datagram waits while the reader's queue is full; a reader that is stuck must not
        // stop the run, so such a record is dropped after a while.
        let connected = UnixDatagram::unbound().and_then(|socket| {
            socket.connect(&path)?;
            socket.set_write_timeout(Some(std::time::Duration::from_secs(2)))?;
            Ok(socket)
        });
        match connected {
            Ok(socket) => {
                loggers.push(builder().format(format).target(Target::Pipe(Box::new(Datagrams(socket)))).build())
            }
            Err(error) => unavailable.push(format!("{option}: cannot reach {} ({error})", path.display())),
        }
    }
    if let Some(path) = destination.file_path() {
        loggers.push(builder().target(Target::Pipe(Box::new(open_log_file(&path)?))).build());
    }
    let elsewhere = !loggers.is_empty();
    if !elsewhere {
        loggers.push(builder().build());
    }
    let max_level = loggers.iter().map(env_logger::Logger::filter).max().unwrap_or(log::LevelFilter::Off);
    log::set_max_level(max_level);
    log::set_boxed_logger(Box::new(FanOut(loggers))).expect("the logger is set once");
    for reason in unavailable {
        let fallback = if elsewhere { "" } else { ": logging to stderr instead" };
        log::warn!("{reason}{fallback}");
    }
    Ok(elsewhere)
}

/// How one destination writes a record.
type Format = fn(&mut env_logger::fmt::Formatter, &log::Record<'_>) -> io::Result<()>;

/// Every destination gets every record its filter lets through.
struct FanOut(Vec<env_logger::Logger>);

impl log::Log for FanOut {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.0.iter().any(|logger| logger.enabled(metadata))
    }

    fn log(&self, record: &log::Record<'_>) {
        for logger in &self.0 {
            if logger.matches(record) {
                logger.log(record);
            }
        }
    }

    fn flush(&self) {
        self.0.iter().for_each(log::Log::flush);
    }
}

fn open_log_file(path: &Path) -> Result<File, Failure> {
    OpenOptions::new().create(true).append(true).open(path).map_err(|error| {
        Failure(format!("cannot open log file {}: {error}; check --log-file and --log-dir", path.display()))
    })
}

/// syslog's severity for a log level.
fn severity(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// One syslog message (facility `user`, as oslo.log's default): `<PRI>strata-manage[PID]: …`.
fn format_syslog(buf: &mut env_logger::fmt::Formatter, record: &log::Record<'_>) -> io::Result<()> {
    const FACILITY_USER: u8 = 1;
    let priority = FACILITY_USER * 8 + severity(record.level());
    write!(buf, "<{priority}>{PROGRAM}[{}]: {}", std::process::id(), record.args())
}

/// One journal entry in the native protocol; the message is length-prefixed so that it may
/// hold any text.
fn format_journal(buf: &mut env_logger::fmt::Formatter, record: &log::Record<'_>) -> io::Result<()> {
    let message = record.args().to_string();
    write!(
        buf,
        "PRIORITY={}\nSYSLOG_IDENTIFIER={PROGRAM}\nCODE_FUNC={}\nMESSAGE\n",
        severity(record.level()),
        record.target()
    )?;
    buf.write_all(&(message.len() as u64).to_le_bytes())?;
    buf.write_all(message.as_bytes())?;
    buf.write_all(b"\n")
}

/// A connected datagram socket: each record (written whole by env_logger) is one datagram.
struct Datagrams(UnixDatagram);

impl Write for Datagrams {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.send(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
