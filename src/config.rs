//! Where the database URL comes from: `--database-url` > `STRATA_DATABASE_URL` > the
//! `[database] connection` option of oslo.config-style INI files > `sqlite:///keystone.db`.
//!
//! Files are read as keystone-manage reads them: every `--config-file` in order, then every
//! `*.conf` in `--config-dir` sorted by name, later files winning; with neither option, the
//! first of oslo.config's default locations for project `keystone` that exists.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

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
    /// A source that names the database was given but is empty; strata does not guess.
    #[error("{origin} is set but empty: strata will not guess which database to upgrade; give the database URL there, or remove the setting")]
    EmptyUrl {
        /// The empty source.
        origin: UrlOrigin,
    },
    /// `--config-dir` was given, holds no `*.conf` file, and nothing else names a database:
    /// the operator meant a configuration that is not there.
    #[error("--config-dir {} holds no *.conf file and nothing else names a database: check the directory, or name the database with --database-url or STRATA_DATABASE_URL (strata does not fall back to sqlite:///keystone.db when a configuration was asked for)", .dir.display())]
    EmptyConfigDir {
        /// The directory as given.
        dir: PathBuf,
    },
    /// Configuration files were read but none sets `[database] connection`.
    #[error("no [database] connection in {}: name the database there, with --database-url or with STRATA_DATABASE_URL (unlike keystone-manage, strata does not fall back to sqlite:///keystone.db when configuration files exist){}", show_paths(.files), sql_section_hint(.sql_section.as_deref()))]
    NoConnection {
        /// The files read, in order.
        files: Vec<PathBuf>,
        /// A file with `[sql] connection`, a name keystone no longer reads.
        sql_section: Option<PathBuf>,
    },
}

fn show_paths(files: &[PathBuf]) -> String {
    files.iter().map(|file| file.display().to_string()).collect::<Vec<_>>().join(", ")
}

fn sql_section_hint(file: Option<&Path>) -> String {
    match file {
        Some(file) => format!(
            "; {} sets [sql] connection, a name keystone no longer reads: move it to [database]",
            file.display()
        ),
        None => String::new(),
    }
}

/// Where the database URL came from, as told to the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlOrigin {
    /// The `--database-url` option.
    Flag,
    /// The `STRATA_DATABASE_URL` environment variable.
    Environment,
    /// `[database] connection` in this configuration file.
    ConfigFile(PathBuf),
    /// No configuration file exists and nothing else names a database.
    BuiltInDefault,
}

impl fmt::Display for UrlOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlOrigin::Flag => f.write_str("--database-url"),
            UrlOrigin::Environment => f.write_str(DATABASE_URL_ENV),
            UrlOrigin::ConfigFile(path) => write!(f, "[database] connection in {}", path.display()),
            UrlOrigin::BuiltInDefault => f.write_str("the built-in default, as no configuration file exists"),
        }
    }
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
    /// Where it came from.
    pub origin: UrlOrigin,
}

/// A parsed database URL and where it came from.
#[derive(Debug, Clone)]
pub struct NamedDatabase {
    /// The URL (its `Display` hides the password).
    pub url: DatabaseUrl,
    /// Where it came from.
    pub origin: UrlOrigin,
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

/// Reads `[database] connection` from one INI file as oslo.config reads it: `None` when the
/// file does not set it, `Some("")` when it sets it to nothing (which the caller refuses).
pub fn connection_setting_in_file(path: &Path) -> Result<Option<String>, ConfigError> {
    let options = read_options(path)?;
    // A section may appear several times; as in oslo.config, the last value wins.
    Ok(options
        .into_iter()
        .rfind(|option| option.group == DATABASE_GROUP && option.name == CONNECTION_OPTION)
        .map(|option| option.value))
}

fn read_options(path: &Path) -> Result<Vec<OsloOption>, ConfigError> {
    let text = fs::read_to_string(path).map_err(|source| ConfigError::Unreadable { path: path.to_owned(), source })?;
    parse_oslo_ini(&text).map_err(|(line, message)| ConfigError::Malformed {
        path: path.to_owned(),
        message: format!("line {line}: {message}"),
    })
}

/// Reads `[database] connection` from one INI file: `None` when it is not set or blank.
pub fn connection_from_file(path: &Path) -> Result<Option<String>, ConfigError> {
    Ok(connection_setting_in_file(path)?.map(|value| value.trim().to_owned()).filter(|value| !value.is_empty()))
}

/// The group and option oslo.db registers for the database URL. oslo.db declares no
/// deprecated names for it any more, so `[sql] connection` (keystone's name before oslo.db)
/// is not read, by keystone or by strata.
const DATABASE_GROUP: &str = "database";
const CONNECTION_OPTION: &str = "connection";

/// One `name = value` line of an oslo.config file, with its group name normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OsloOption {
    group: String,
    name: String,
    value: String,
}

/// oslo.config's group names are case-insensitive (`[Database]` is `[database]`), except
/// `DEFAULT`, which is kept as written; option names are case-sensitive.
fn normalize_group(section: &str) -> String {
    if section == "DEFAULT" {
        section.to_owned()
    } else {
        section.to_lowercase()
    }
}

/// Parses INI text with oslo.config's rules (`oslo_config/iniparser.py`): `#` and `;` start a
/// comment only at the start of a line; `name = value` or `name: value`, split at the first
/// `=` or `:`; the value is stripped, and one pair of matching quotes around it removed; an
/// indented line continues the previous value (joined with a newline) and a blank line ends
/// it; an option before any section is an error. Errors carry the line number.
fn parse_oslo_ini(text: &str) -> Result<Vec<OsloOption>, (usize, String)> {
    struct Pending {
        name: String,
        lines: Vec<String>,
        line: usize,
    }
    let mut options = Vec::new();
    let mut section: Option<String> = None;
    let mut pending: Option<Pending> = None;
    let flush = |pending: &mut Option<Pending>, section: &Option<String>, options: &mut Vec<OsloOption>| {
        let Some(Pending { name, lines, line }) = pending.take() else { return Ok(()) };
        let Some(group) = section else {
            return Err((
                line,
                "an option before any [section]: start the file with a section such as [database]".to_owned(),
            ));
        };
        options.push(OsloOption { group: normalize_group(group), name, value: lines.join("\n") });
        Ok(())
    };
    for (index, raw_line) in text.lines().enumerate() {
        let number = index + 1;
        let line = raw_line.trim_end();
        if line.is_empty() {
            flush(&mut pending, &section, &mut options)?;
            continue;
        }
        if line.starts_with([' ', '\t']) {
            match pending.as_mut() {
                Some(pending) => pending.lines.push(line.trim_start().to_owned()),
                None => return Err((number, "an indented line that continues no option".to_owned())),
            }
            continue;
        }
        flush(&mut pending, &section, &mut options)?;
        if let Some(rest) = line.strip_prefix('[') {
            let Some(name) = rest.strip_suffix(']') else {
                return Err((number, "a section header must end with ']'".to_owned()));
            };
            if name.is_empty() {
                return Err((number, "empty section name".to_owned()));
            }
            section = Some(name.to_owned());
        } else if line.starts_with(['#', ';']) {
            continue;
        } else {
            let Some(split) = line.find(['=', ':']) else {
                return Err((number, "no '=' or ':' in an option line".to_owned()));
            };
            let name = line[..split].trim();
            if name.is_empty() {
                return Err((number, "an option line without a name".to_owned()));
            }
            pending = Some(Pending {
                name: name.to_owned(),
                lines: vec![unquote(line[split + 1..].trim()).to_owned()],
                line: number,
            });
        }
    }
    flush(&mut pending, &section, &mut options)?;
    Ok(options)
}

/// Removes one pair of matching quotes around a value, as oslo.config does.
fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if value.len() >= 2 && value.starts_with(quote) && value.ends_with(quote) {
            return &value[1..value.len() - 1];
        }
    }
    if value.len() == 1 && (value == "\"" || value == "'") {
        return "";
    }
    value
}

/// Applies the precedence rules. `flag` is `--database-url`, `env` the value of
/// `STRATA_DATABASE_URL`. The built-in default applies only when no configuration file
/// exists; files that exist but do not set `[database] connection` are an error.
pub fn resolve_database_url(
    flag: Option<&str>,
    env: Option<&str>,
    sources: &ConfigSources,
) -> Result<ResolvedUrl, ConfigError> {
    let lookup = look_up(flag, env, sources)?;
    let resolved = match lookup.named {
        Some(resolved) => resolved,
        None if lookup.files.is_empty() => match &sources.dir {
            Some(dir) => return Err(ConfigError::EmptyConfigDir { dir: dir.clone() }),
            None => ResolvedUrl { url: DEFAULT_DATABASE_URL.into(), origin: UrlOrigin::BuiltInDefault },
        },
        None => return Err(ConfigError::NoConnection { files: lookup.files, sql_section: lookup.sql_section }),
    };
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
    Ok(look_up(flag, env, sources)?.named)
}

/// What the sources say: the winning URL, if any, and the files read.
struct Lookup {
    named: Option<ResolvedUrl>,
    files: Vec<PathBuf>,
    sql_section: Option<PathBuf>,
}

fn look_up(flag: Option<&str>, env: Option<&str>, sources: &ConfigSources) -> Result<Lookup, ConfigError> {
    // Config files are read even when a flag wins, so a broken file is reported rather than
    // silently ignored on one node and used on the next.
    let mut from_files = None;
    let mut sql_section = None;
    let files = sources.files_to_read()?;
    if files.is_empty() {
        log::debug!("no config file found, using default configs");
    }
    for file in &files {
        log::debug!("reading config file {}", file.display());
        let options = read_options(file)?;
        let connection =
            |group: &str| options.iter().rfind(|option| option.group == group && option.name == CONNECTION_OPTION);
        if let Some(option) = connection(DATABASE_GROUP) {
            from_files = Some(ResolvedUrl { url: option.value.clone(), origin: UrlOrigin::ConfigFile(file.clone()) });
        }
        if connection("sql").is_some() {
            sql_section = Some(file.clone());
        }
    }
    // The first source given wins; given but empty is an error, never a reason to go on.
    let named = if let Some(url) = flag {
        Some(ResolvedUrl { url: url.to_owned(), origin: UrlOrigin::Flag })
    } else if let Some(url) = env {
        Some(ResolvedUrl { url: url.to_owned(), origin: UrlOrigin::Environment })
    } else {
        from_files
    };
    if let Some(resolved) = &named {
        if resolved.url.trim().is_empty() {
            return Err(ConfigError::EmptyUrl { origin: resolved.origin.clone() });
        }
    }
    Ok(Lookup { named, files, sql_section })
}

/// Resolves and parses in one go.
pub fn database_url(flag: Option<&str>, env: Option<&str>, sources: &ConfigSources) -> crate::Result<DatabaseUrl> {
    Ok(named_database(flag, env, sources)?.url)
}

/// Resolves and parses, keeping where the URL came from (for the log).
pub fn named_database(flag: Option<&str>, env: Option<&str>, sources: &ConfigSources) -> crate::Result<NamedDatabase> {
    let resolved = resolve_database_url(flag, env, sources)?;
    Ok(NamedDatabase { url: DatabaseUrl::parse(&resolved.url)?, origin: resolved.origin })
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
        assert_eq!(resolved.origin, UrlOrigin::ConfigFile(second));
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
    fn an_empty_config_dir_names_no_default_database() {
        let dir = tempfile::tempdir().unwrap();
        let sources = ConfigSources { files: vec![], dir: Some(dir.path().to_owned()) };
        let error = resolve_database_url(None, None, &sources).unwrap_err();
        assert!(matches!(error, ConfigError::EmptyConfigDir { .. }), "{error}");
        assert!(error.to_string().contains("holds no *.conf file"), "{error}");
        // Another source still names the database.
        assert_eq!(resolve_database_url(Some("sqlite:///x.db"), None, &sources).unwrap().url, "sqlite:///x.db");
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
    fn files_without_a_connection_are_refused_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "k.conf", "[DEFAULT]\ndebug = false\n[sql]\nconnection = sqlite:///old.db\n");
        let sources = ConfigSources { files: vec![file.clone()], dir: None };
        let error = resolve_database_url(None, None, &sources).unwrap_err();
        assert!(
            matches!(&error, ConfigError::NoConnection { files, .. } if files == std::slice::from_ref(&file)),
            "{error}"
        );
        let message = error.to_string();
        assert!(message.contains(&file.display().to_string()) && message.contains("[sql] connection"), "{message}");
    }

    #[test]
    fn an_empty_source_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let named = write(dir.path(), "named.conf", "[database]\nconnection = sqlite:///file.db\n");
        let empty = write(dir.path(), "empty.conf", "[database]\nconnection =\n");
        let sources = ConfigSources { files: vec![named.clone()], dir: None };
        let origin = |flag, env, sources: &ConfigSources| match resolve_database_url(flag, env, sources) {
            Err(ConfigError::EmptyUrl { origin }) => origin,
            other => panic!("expected an empty-source error, got {other:?}"),
        };
        assert_eq!(origin(Some(""), None, &sources), UrlOrigin::Flag);
        assert_eq!(origin(None, Some(" "), &sources), UrlOrigin::Environment);
        let both = ConfigSources { files: vec![named, empty.clone()], dir: None };
        assert_eq!(origin(None, None, &both), UrlOrigin::ConfigFile(empty));
        assert_eq!(resolve_database_url(Some("sqlite:///flag.db"), Some(""), &both).unwrap().url, "sqlite:///flag.db");
    }

    #[test]
    fn files_are_read_with_oslo_config_rules() {
        let dir = tempfile::tempdir().unwrap();
        let read = |text: &str| {
            let file = write(dir.path(), "k.conf", text);
            connection_setting_in_file(&file)
        };
        // Group names are case-insensitive, option names are not.
        assert_eq!(read("[Database]\nconnection = sqlite:///a.db\n").unwrap().as_deref(), Some("sqlite:///a.db"));
        assert_eq!(read("[database]\nConnection = sqlite:///a.db\n").unwrap(), None);
        // ':' separates too; one pair of quotes is removed; '#' inside a value is kept.
        assert_eq!(read("[database]\nconnection: 'sqlite:///a#b.db'\n").unwrap().as_deref(), Some("sqlite:///a#b.db"));
        assert_eq!(read("[database]\nconnection =\n").unwrap().as_deref(), Some(""));
        // An indented line continues the value; a trailing backslash is literal.
        assert_eq!(read("[database]\nconnection = a\n  b\n\nx = 1\n").unwrap().as_deref(), Some("a\nb"));
        assert_eq!(read("[database]\nconnection = a\\\nx = 1\n").unwrap().as_deref(), Some("a\\"));
        // An option before any section is an error, as in oslo.config.
        let error = read("connection = sqlite:///a.db\n[database]\n").unwrap_err().to_string();
        assert!(error.contains("line 1") && error.contains("before any [section]"), "{error}");
    }

    #[test]
    fn only_a_named_database_is_configured() {
        let dir = tempfile::tempdir().unwrap();
        let silent = write(dir.path(), "silent.conf", "[DEFAULT]\ndebug = false\n");
        let sources = ConfigSources { files: vec![silent], dir: None };
        let configured = |flag, env| resolve_configured_database_url(flag, env, &sources).unwrap().map(|r| r.url);
        assert_eq!(configured(None, None), None, "the built-in default is not a configured database");
        assert_eq!(configured(None, Some("sqlite:///env.db")).as_deref(), Some("sqlite:///env.db"));
        assert_eq!(configured(Some("sqlite:///flag.db"), None).as_deref(), Some("sqlite:///flag.db"));
        let named = write(dir.path(), "named.conf", "[database]\nconnection = sqlite:///file.db\n");
        let sources = ConfigSources { files: vec![named], dir: None };
        let resolved = resolve_configured_database_url(None, None, &sources).unwrap().unwrap();
        assert_eq!(resolved.url, "sqlite:///file.db");
    }
}
