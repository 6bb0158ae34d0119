//! Logs go to stderr through env_logger. Default: strata's info messages (each migration
//! as it starts and ends); `-v` adds strata's debug messages; `-d` also logs every SQL
//! statement (target `strata::sql`). `RUST_LOG` replaces all of this.
//!
//! oslo.log's options, as keystone-manage accepts them: `--log-file PATH` writes the log to
//! that file instead (appending; relative to `--log-dir` when both are given),
//! `--log-dir DIR` alone writes it to `DIR/strata-manage.log`, `--use-syslog` sends it to the
//! local syslog socket (`/dev/log`, facility `user`) and `--use-journal` to systemd's journal.
//! A syslog or journal socket that is not there is warned about once and the log stays on
//! stderr; a log file that cannot be opened is an error. Error lines always go to stderr.

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
pub fn init(debug: bool, verbose: bool, destination: &LogDestination) -> Result<(), Failure> {
    let default_filter = if debug {
        "warn,strata=debug,strata_manage=debug"
    } else if verbose {
        "warn,strata=debug,strata_manage=debug,strata::sql=info"
    } else {
        "warn,strata=info,strata_manage=info"
    };
    let mut builder = Builder::from_env(Env::default().default_filter_or(default_filter));
    builder.format_timestamp_millis().target(Target::Stderr);
    let mut unavailable = None;
    if destination.journal {
        match UnixDatagram::unbound().and_then(|socket| socket.connect(JOURNAL_SOCKET).map(|()| socket)) {
            Ok(socket) => {
                builder.format(format_journal).target(Target::Pipe(Box::new(Datagrams(socket))));
            }
            Err(error) => unavailable = Some(format!("--use-journal: cannot reach {JOURNAL_SOCKET} ({error})")),
        }
    } else if destination.syslog {
        match UnixDatagram::unbound().and_then(|socket| socket.connect(SYSLOG_SOCKET).map(|()| socket)) {
            Ok(socket) => {
                builder.format(format_syslog).target(Target::Pipe(Box::new(Datagrams(socket))));
            }
            Err(error) => unavailable = Some(format!("--use-syslog: cannot reach {SYSLOG_SOCKET} ({error})")),
        }
    } else if let Some(path) = destination.file_path() {
        builder.target(Target::Pipe(Box::new(open_log_file(&path)?)));
    }
    builder.init();
    if let Some(reason) = unavailable {
        log::warn!("{reason}: logging to stderr instead");
    }
    Ok(())
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
