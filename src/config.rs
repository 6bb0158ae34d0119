//! Where the database URL comes from: `--database-url` > `STRATA_DATABASE_URL` > the
//! `[database] connection` option of oslo.config-style INI files > `sqlite:///keystone.db`.
//!
//! Files are read as keystone-manage reads them: every `--config-file` in order, then every
//! `*.conf` in `--config-dir` sorted by name, later files winning; with neither option, the
//! first of oslo.config's default locations for project `keystone` that exists.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use ini::{Ini, ParseOption};
use thiserror::Error;

use crate::url::{redact, DatabaseUrl};

/// keystone's own default when nothing names a database: a SQLite file in the working
/// directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite:///keystone.db";

/// The environment variable that overrides configuration files.
pub const DATABASE_URL_ENV: &str = "STRATA_DATABASE_URL";

/// A configuration problem; every variant names the file involved.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A file given with `--config-file` does not exist.
    #[error("config file {path} not found: check the --config-file path")]
    NotFound {
        /// The path as given.
        path: PathBuf,
    },
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Unreadable {
        /// The path as given.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// The INI syntax is broken.
    #[error("cannot parse config file {path}: {message}; fix the file (INI format, [section] then key = value lines)")]
    Malformed {
        /// The path as given.
        path: PathBuf,
        /// The parser's description, with line and column.
        message: String,
    },
}

/// Which configuration files to read.
#[derive(Debug, Clone, Default)]
pub struct ConfigSources {
    /// `--config-file`, in the order given.
    pub files: Vec<PathBuf>,
    /// `--config-dir`.
    pub dir: Option<PathBuf>,
}

/// The database URL and where it came from (for the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUrl {
    /// The URL text, password included: parse it before showing it.
    pub url: String,
    /// Human-readable origin, e.g. `--database-url` or `/etc/keystone/keystone.conf`.
    pub origin: String,
}

impl ConfigSources {
    /// The files to read, in precedence order (last wins).
    pub fn files_to_read(&self) -> Result<Vec<PathBuf>, ConfigError> {
        if self.files.is_empty() && self.dir.is_none() {
            return Ok(default_config_files().into_iter().take(1).collect());
        }
        let mut files = Vec::new();
        for file in &self.files {
            if !file.exists() {
                return Err(ConfigError::NotFound { path: file.clone() });
            }
            files.push(file.clone());
        }
        if let Some(dir) = &self.dir {
            let entries = fs::read_dir(dir).map_err(|source| ConfigError::Unreadable { path: dir.clone(), source })?;
            let mut confs = Vec::new();
            for entry in entries {
                let path = entry.map_err(|source| ConfigError::Unreadable { path: dir.clone(), source })?.path();
                if path.extension().is_some_and(|ext| ext == "conf") && path.is_file() {
                    confs.push(path);
                }
            }
            confs.sort();
            files.extend(confs);
        }
        Ok(files)
    }
}

/// oslo.config's default search list for project `keystone` (only the first found is read).
fn default_config_files() -> Vec<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(home) = std::env::var_os("HOME").map(PathBuf::from) {
        candidates.push(home.join(".keystone/keystone.conf"));
        candidates.push(home.join("keystone.conf"));
    }
    candidates.push(PathBuf::from("/etc/keystone/keystone.conf"));
    candidates.push(PathBuf::from("/etc/keystone.conf"));
    candidates.into_iter().filter(|path| path.is_file()).collect()
}

/// Reads `[database] connection` from one INI file, if set.
pub fn connection_from_file(path: &Path) -> Result<Option<String>, ConfigError> {
    let text = fs::read_to_string(path).map_err(|source| ConfigError::Unreadable { path: path.to_owned(), source })?;
    // oslo.config values are literal: no quotes, no escapes, and '#' or ';' inside a value
    // (a password, say) are part of it.
    let options = ParseOption {
        enabled_quote: false,
        enabled_escape: false,
        enabled_indented_mutiline_value: true,
        enabled_preserve_key_leading_whitespace: false,
    };
    let ini = Ini::load_from_str_opt(&text, options)
        .map_err(|error| ConfigError::Malformed { path: path.to_owned(), message: error.to_string() })?;
    // A section may appear several times; as in oslo.config, the last value wins.
    let value = ini
        .section_all(Some("database"))
        .flat_map(|section| section.get_all("connection"))
        .last()
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(str::to_owned);
    Ok(value)
}

/// Applies the precedence rules. `flag` is `--database-url`, `env` the value of
/// `STRATA_DATABASE_URL`.
pub fn resolve_database_url(
    flag: Option<&str>,
    env: Option<&str>,
    sources: &ConfigSources,
) -> Result<ResolvedUrl, ConfigError> {
    let resolved = resolve_configured_database_url(flag, env, sources)?
        .unwrap_or_else(|| ResolvedUrl { url: DEFAULT_DATABASE_URL.into(), origin: "the built-in default".into() });
    log::debug!("database URL {} (from {})", redact(&resolved.url), resolved.origin);
    Ok(resolved)
}

/// The precedence rules without the built-in default: `None` when neither the flag, the
/// environment nor a configuration file names a database. Commands that read a database only
/// when the operator named one (`history`) use this.
pub fn resolve_configured_database_url(
    flag: Option<&str>,
    env: Option<&str>,
    sources: &ConfigSources,
) -> Result<Option<ResolvedUrl>, ConfigError> {
    // Config files are read even when a flag wins, so a broken file is reported rather than
    // silently ignored on one node and used on the next.
    let mut from_files = None;
    let files = sources.files_to_read()?;
    if files.is_empty() {
        log::debug!("no config file found, using default configs");
    }
    for file in &files {
        log::debug!("reading config file {}", file.display());
        if let Some(url) = connection_from_file(file)? {
            from_files = Some(ResolvedUrl { url, origin: file.display().to_string() });
        }
    }
    Ok(if let Some(url) = flag.filter(|url| !url.trim().is_empty()) {
        Some(ResolvedUrl { url: url.to_owned(), origin: "--database-url".into() })
    } else if let Some(url) = env.filter(|url| !url.trim().is_empty()) {
        Some(ResolvedUrl { url: url.to_owned(), origin: DATABASE_URL_ENV.into() })
    } else {
        from_files
    })
}

/// Resolves and parses in one go.
pub fn database_url(flag: Option<&str>, env: Option<&str>, sources: &ConfigSources) -> crate::Result<DatabaseUrl> {
    let resolved = resolve_database_url(flag, env, sources)?;
    Ok(DatabaseUrl::parse(&resolved.url)?)
}

/// Resolves without the built-in default and parses: `None` when nothing names a database.
pub fn configured_database_url(
    flag: Option<&str>,
    env: Option<&str>,
    sources: &ConfigSources,
) -> crate::Result<Option<DatabaseUrl>> {
    match resolve_configured_database_url(flag, env, sources)? {
        Some(resolved) => {
            log::debug!("database URL {} (from {})", redact(&resolved.url), resolved.origin);
            Ok(Some(DatabaseUrl::parse(&resolved.url)?))
        }
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn later_files_win_and_values_are_literal() {
        let dir = tempfile::tempdir().unwrap();
        let first = write(dir.path(), "a.conf", "[database]\nconnection = sqlite:///a.db\n");
        let second = write(
            dir.path(),
            "b.conf",
            "# comment\n[DEFAULT]\ndebug = true\n[database]\nconnection = mysql+pymysql://u:p#w;d@h/ks\n",
        );
        let sources = ConfigSources { files: vec![first, second.clone()], dir: None };
        let resolved = resolve_database_url(None, None, &sources).unwrap();
        assert_eq!(resolved.url, "mysql+pymysql://u:p#w;d@h/ks");
        assert_eq!(resolved.origin, second.display().to_string());
    }

    #[test]
    fn flag_beats_env_beats_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "k.conf", "[database]\nconnection = sqlite:///file.db\n");
        let sources = ConfigSources { files: vec![file], dir: None };
        let url = |flag, env| resolve_database_url(flag, env, &sources).unwrap().url;
        assert_eq!(url(Some("sqlite:///flag.db"), Some("sqlite:///env.db")), "sqlite:///flag.db");
        assert_eq!(url(None, Some("sqlite:///env.db")), "sqlite:///env.db");
        assert_eq!(url(None, None), "sqlite:///file.db");
    }

    #[test]
    fn config_dir_reads_conf_files_sorted_after_files() {
        let dir = tempfile::tempdir().unwrap();
        let confd = dir.path().join("keystone.conf.d");
        fs::create_dir(&confd).unwrap();
        write(&confd, "20-b.conf", "[database]\nconnection = sqlite:///b.db\n");
        write(&confd, "10-a.conf", "[database]\nconnection = sqlite:///a.db\n");
        write(&confd, "99-ignored.txt", "[database]\nconnection = sqlite:///txt.db\n");
        let file = write(dir.path(), "main.conf", "[database]\nconnection = sqlite:///main.db\n");
        let sources = ConfigSources { files: vec![file], dir: Some(confd) };
        assert_eq!(resolve_database_url(None, None, &sources).unwrap().url, "sqlite:///b.db");
    }

    #[test]
    fn missing_and_malformed_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.conf");
        let sources = ConfigSources { files: vec![missing], dir: None };
        let error = resolve_database_url(None, None, &sources).unwrap_err();
        assert!(matches!(error, ConfigError::NotFound { .. }), "{error}");
        let broken = write(dir.path(), "broken.conf", "[database\nconnection = x\n");
        let sources = ConfigSources { files: vec![broken], dir: None };
        let error = resolve_database_url(None, None, &sources).unwrap_err();
        assert!(matches!(error, ConfigError::Malformed { .. }), "{error}");
        assert!(error.to_string().contains("broken.conf"));
    }

    #[test]
    fn no_connection_option_means_default() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "k.conf", "[DEFAULT]\ndebug = false\n");
        let sources = ConfigSources { files: vec![file], dir: None };
        assert_eq!(resolve_database_url(None, None, &sources).unwrap().url, DEFAULT_DATABASE_URL);
    }

    #[test]
    fn only_a_named_database_is_configured() {
        let dir = tempfile::tempdir().unwrap();
        let silent = write(dir.path(), "silent.conf", "[DEFAULT]\ndebug = false\n");
        let sources = ConfigSources { files: vec![silent], dir: None };
        let configured = |flag, env| resolve_configured_database_url(flag, env, &sources).unwrap().map(|r| r.url);
        assert_eq!(configured(None, None), None, "the built-in default is not a configured database");
        assert_eq!(configured(None, Some(" ")), None, "an empty environment variable names nothing");
        assert_eq!(configured(None, Some("sqlite:///env.db")).as_deref(), Some("sqlite:///env.db"));
        assert_eq!(configured(Some("sqlite:///flag.db"), None).as_deref(), Some("sqlite:///flag.db"));
        let named = write(dir.path(), "named.conf", "[database]\nconnection = sqlite:///file.db\n");
        let sources = ConfigSources { files: vec![named], dir: None };
        let resolved = resolve_configured_database_url(None, None, &sources).unwrap().unwrap();
        assert_eq!(resolved.url, "sqlite:///file.db");
    }
}
