//! `lint`: checks an alembic tree for the expand/contract discipline that rolling upgrades
//! rely on.
//!
//! The tree is loaded and its graph validated as for any command; then every statement of
//! every revision is parsed for its dialect with a real SQL parser (`sqlparser`), in graph
//! order, and judged by the phase rules of [`rules`]: an expand revision only adds, a
//! contract revision does not create tables or add columns. The base revision (keystone's
//! initial schema) and the legacy repositories are exempt: the base is only read so that
//! later type changes can be compared with the columns it created.
//!
//! A finding can be allowed, with a reason, by a comment next to the statement:
//! `-- strata: allow <rule-id>: <why>`. The comment belongs to the statement it stands in or
//! ends the line of, or else to the next statement. Every exception is listed; one that
//! allows nothing is itself a finding.

mod rules;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use serde::Serialize;
use sqlparser::dialect::{Dialect as SqlDialect, GenericDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

pub use rules::Rule;

use crate::dialect::Dialect;
use crate::graph::Branch;
use crate::sql::split_statements;
use crate::tree::{self, TreeError, TreeFile};

/// The prefix of an exception comment's text (after `--`).
const EXCEPTION_PREFIX: &str = "strata:";

/// A broken rule, where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule.
    pub rule: Rule,
    /// The SQL file, as shown to the user (`alembic_versions/…/up.sql`).
    pub file: String,
    /// 1-based line of the statement (or of the comment, for exception findings).
    pub line: usize,
    /// The revision folder, relative to the tree (`2026.1/expand/742c857f1dfb_add_index`).
    pub revision: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}: {} [revision {}]", self.file, self.line, self.rule, self.message, self.revision)
    }
}

/// An exception comment, `-- strata: allow <rule-id>: <why>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exception {
    /// The rule it allows.
    pub rule: Rule,
    /// Why, as written.
    pub reason: String,
    /// The SQL file.
    pub file: String,
    /// 1-based line of the comment.
    pub line: usize,
    /// The revision folder, relative to the tree.
    pub revision: String,
    /// Whether it allowed a finding.
    pub used: bool,
}

impl fmt::Display for Exception {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}: {} [revision {}]", self.file, self.line, self.rule, self.reason, self.revision)
    }
}

/// What `lint` found. Serialized as the `lint --format json` document.
#[derive(Debug, Default, Serialize)]
pub struct LintReport {
    /// Findings not allowed by an exception, unused and malformed exceptions included, in
    /// graph order.
    pub findings: Vec<Finding>,
    /// Every exception, used or not.
    pub exceptions: Vec<Exception>,
    /// Revisions judged (the base excluded).
    pub revisions: usize,
    /// Statements parsed, counted once per dialect.
    pub statements: usize,
}

impl LintReport {
    /// Whether the tree passes.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }
}

impl fmt::Display for LintReport {
    /// The findings, then the exceptions, then a summary line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for finding in &self.findings {
            writeln!(f, "{finding}")?;
        }
        for exception in self.exceptions.iter().filter(|exception| exception.used) {
            writeln!(f, "allowed: {exception}")?;
        }
        write!(
            f,
            "lint: {} revisions, {} statements: {} finding{}, {} exception{} used",
            self.revisions,
            self.statements,
            self.findings.len(),
            if self.findings.len() == 1 { "" } else { "s" },
            self.exceptions.iter().filter(|exception| exception.used).count(),
            if self.exceptions.iter().filter(|exception| exception.used).count() == 1 { "" } else { "s" },
        )
    }
}

/// Lints the alembic tree embedded in this binary.
pub fn lint_embedded() -> Result<LintReport, TreeError> {
    lint_files(tree::EMBEDDED_ALEMBIC_ROOT, &tree::embedded_alembic_files())
}

/// Lints the alembic tree in `dir`.
pub fn lint_dir(dir: &Path) -> Result<LintReport, TreeError> {
    lint_files(&dir.display().to_string(), &tree::read_dir_files(dir)?)
}

/// Lints an alembic tree given as files; `root` names it in the output.
pub fn lint_files(root: &str, files: &[TreeFile]) -> Result<LintReport, TreeError> {
    let graph = tree::alembic::parse(root, files)?;
    let mut folders: BTreeMap<String, Vec<&TreeFile>> = BTreeMap::new();
    for file in files {
        let dir = file.path.rsplit_once('/').map_or("", |(dir, _)| dir);
        folders.entry(tree::shown(root, dir)).or_default().push(file);
    }
    let mut report = LintReport::default();
    let mut schemas: BTreeMap<Dialect, rules::Schema> = BTreeMap::new();
    let base = graph.base().id.clone();
    for revision in graph.in_order() {
        let is_base = revision.id == base;
        let branch = graph.branch_of(&revision.id).unwrap_or(Branch::Expand);
        let folder = folders.get(&revision.path).map(Vec::as_slice).unwrap_or_default();
        let relative =
            revision.path.strip_prefix(root).map_or(revision.path.as_str(), |rest| rest.trim_start_matches('/'));
        let mut created: BTreeMap<Dialect, BTreeSet<String>> = BTreeMap::new();
        if !is_base {
            report.revisions += 1;
        }
        for file in sql_files(folder) {
            let name = file.path.rsplit('/').next().unwrap_or(&file.path);
            let context = FileContext {
                shown: format!("{}/{name}", revision.path),
                revision: relative.to_owned(),
                text: &file.contents,
            };
            let dialects = served_dialects(name, folder);
            lint_file(&context, &dialects, branch, is_base, &mut schemas, &mut created, &mut report);
        }
    }
    Ok(report)
}

/// The SQL files of a revision folder.
fn sql_files<'a>(folder: &[&'a TreeFile]) -> Vec<&'a TreeFile> {
    let mut files: Vec<&TreeFile> = folder.iter().copied().filter(|file| file.path.ends_with(".sql")).collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

/// The dialects whose SQL `name` is: `up.<dialect>.sql` its own, `up.sql` every dialect
/// without its own file (none when every dialect has one: then it is read as generic SQL).
fn served_dialects(name: &str, folder: &[&TreeFile]) -> Vec<Option<Dialect>> {
    if let Some(dialect) = Dialect::ALL.into_iter().find(|dialect| name == format!("up.{dialect}.sql")) {
        return vec![Some(dialect)];
    }
    let own = |dialect: Dialect| folder.iter().any(|file| file.path.ends_with(&format!("/up.{dialect}.sql")));
    let served: Vec<Option<Dialect>> = Dialect::ALL.into_iter().filter(|&dialect| !own(dialect)).map(Some).collect();
    if served.is_empty() {
        vec![None]
    } else {
        served
    }
}

fn parser_dialect(dialect: Option<Dialect>) -> Box<dyn SqlDialect> {
    match dialect {
        Some(Dialect::Sqlite) => Box::new(SQLiteDialect {}),
        Some(Dialect::Postgresql) => Box::new(PostgreSqlDialect {}),
        Some(Dialect::Mysql) => Box::new(MySqlDialect {}),
        None => Box::new(GenericDialect {}),
    }
}

struct FileContext<'a> {
    shown: String,
    revision: String,
    text: &'a str,
}

impl FileContext<'_> {
    fn finding(&self, rule: Rule, line: usize, message: String) -> Finding {
        Finding { rule, file: self.shown.clone(), line, revision: self.revision.clone(), message }
    }
}

/// A statement of a file: where it starts and ends (1-based lines).
struct Located<'a> {
    text: &'a str,
    first_line: usize,
    last_line: usize,
}

fn line_at(text: &str, offset: usize) -> usize {
    text[..offset].bytes().filter(|&byte| byte == b'\n').count() + 1
}

fn lint_file(
    context: &FileContext<'_>,
    dialects: &[Option<Dialect>],
    branch: Branch,
    is_base: bool,
    schemas: &mut BTreeMap<Dialect, rules::Schema>,
    created: &mut BTreeMap<Dialect, BTreeSet<String>>,
    report: &mut LintReport,
) {
    let text = context.text;
    let statements: Vec<Located<'_>> = match split_statements(text) {
        Ok(statements) => statements
            .into_iter()
            .map(|statement| {
                let start = statement.as_ptr() as usize - text.as_ptr() as usize;
                Located {
                    text: statement,
                    first_line: line_at(text, start),
                    last_line: line_at(text, start + statement.len()),
                }
            })
            .collect(),
        // The tree loader has split every file already; this cannot be reached.
        Err(error) => {
            report.findings.push(context.finding(Rule::Unparsable, 1, error.to_string()));
            return;
        }
    };
    // (statement index, rule) -> (line, message), deduplicated over the dialects.
    let mut violations: BTreeMap<(usize, Rule), (usize, String)> = BTreeMap::new();
    for &dialect in dialects {
        let parser = parser_dialect(dialect);
        let dialect_name = dialect.map_or("generic SQL", Dialect::name);
        for (index, statement) in statements.iter().enumerate() {
            report.statements += 1;
            match Parser::parse_sql(parser.as_ref(), statement.text) {
                Ok(parsed) => {
                    for parsed in &parsed {
                        if !is_base {
                            let schema = dialect.and_then(|dialect| schemas.get(&dialect));
                            let empty = rules::Schema::default();
                            let here = dialect.and_then(|dialect| created.get(&dialect)).cloned().unwrap_or_default();
                            for (rule, message) in rules::check(branch, parsed, schema.unwrap_or(&empty), &here) {
                                violations.entry((index, rule)).or_insert((statement.first_line, message));
                            }
                        }
                        if let Some(dialect) = dialect {
                            if let sqlparser::ast::Statement::CreateTable(create) = parsed {
                                let name = create.name.to_string();
                                let name = name.rsplit('.').next().unwrap_or(&name);
                                created
                                    .entry(dialect)
                                    .or_default()
                                    .insert(name.trim_matches(|c| c == '"' || c == '`').to_lowercase());
                            }
                            schemas.entry(dialect).or_default().apply(parsed);
                        }
                    }
                }
                Err(error) if !is_base => {
                    violations.entry((index, Rule::Unparsable)).or_insert((
                        statement.first_line,
                        format!("the SQL parser cannot read this statement as {dialect_name}: {error}"),
                    ));
                }
                Err(_) => {}
            }
        }
    }
    if is_base {
        return;
    }
    let exceptions = exceptions_of(context, dialects[0], &statements, report);
    let mut used = vec![false; exceptions.len()];
    for ((index, rule), (line, message)) in violations {
        let allowed =
            exceptions.iter().position(|(target, exception)| *target == Some(index) && exception.rule == rule);
        match allowed {
            Some(position) => used[position] = true,
            None => report.findings.push(context.finding(rule, line, message)),
        }
    }
    for ((_, mut exception), used) in exceptions.into_iter().zip(used) {
        exception.used = used;
        if !used {
            report.findings.push(context.finding(
                Rule::UnusedException,
                exception.line,
                format!(
                    "the exception for {} allows nothing here: remove it, or move it next to the statement it is for",
                    exception.rule
                ),
            ));
        }
        report.exceptions.push(exception);
    }
}

/// The exception comments of a file, each with the index of the statement it belongs to.
fn exceptions_of(
    context: &FileContext<'_>,
    dialect: Option<Dialect>,
    statements: &[Located<'_>],
    report: &mut LintReport,
) -> Vec<(Option<usize>, Exception)> {
    let parser = parser_dialect(dialect);
    let tokens = match Tokenizer::new(parser.as_ref(), context.text).tokenize_with_location() {
        Ok(tokens) => tokens,
        Err(error) => {
            report.findings.push(context.finding(
                Rule::Unparsable,
                usize::try_from(error.location.line).unwrap_or(1),
                format!("the SQL tokenizer cannot read this file: {}", error.message),
            ));
            return Vec::new();
        }
    };
    let mut exceptions = Vec::new();
    for token in tokens {
        let Token::Whitespace(Whitespace::SingleLineComment { comment, prefix }) = &token.token else {
            continue;
        };
        let Some(rest) = comment.trim().strip_prefix(EXCEPTION_PREFIX) else {
            continue;
        };
        let line = usize::try_from(token.span.start.line).unwrap_or(1);
        if prefix != "--" {
            report.findings.push(context.finding(
                Rule::BadException,
                line,
                "write an exception as a '--' comment: -- strata: allow <rule-id>: <why>".to_owned(),
            ));
            continue;
        }
        match parse_exception(rest) {
            Ok((rule, reason)) => {
                let target = statements
                    .iter()
                    .position(|statement| statement.first_line <= line && line <= statement.last_line)
                    .or_else(|| statements.iter().position(|statement| statement.first_line > line));
                exceptions.push((
                    target,
                    Exception {
                        rule,
                        reason,
                        file: context.shown.clone(),
                        line,
                        revision: context.revision.clone(),
                        used: false,
                    },
                ));
            }
            Err(message) => report.findings.push(context.finding(Rule::BadException, line, message)),
        }
    }
    exceptions
}

/// Parses ` allow <rule-id>: <why>`.
fn parse_exception(text: &str) -> Result<(Rule, String), String> {
    let usage = "write it as -- strata: allow <rule-id>: <why>";
    let rest = text.trim().strip_prefix("allow ").ok_or_else(|| format!("not an exception: {usage}"))?;
    let (id, reason) = rest.split_once(':').ok_or_else(|| format!("the exception gives no reason: {usage}"))?;
    let id = id.trim();
    let rule = Rule::from_id(id).ok_or_else(|| {
        let known: Vec<&str> = Rule::ALL.into_iter().filter(|rule| rule.can_be_allowed()).map(Rule::id).collect();
        format!("unknown rule '{id}' (the rules are {})", known.join(", "))
    })?;
    if !rule.can_be_allowed() {
        return Err(format!("{id} cannot be allowed: fix the exception instead"));
    }
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(format!("the exception for {id} gives no reason: {usage}"));
    }
    Ok((rule, reason.to_owned()))
}
