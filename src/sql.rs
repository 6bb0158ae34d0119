//! Splitting a migration file into statements.
//!
//! Statements are executed one at a time so that each can be logged, timed and named in an
//! error, and so that MySQL (where every DDL statement commits on its own) can record its
//! progress. A `;` ends a statement unless it sits in a quoted string or identifier, a
//! comment, a PostgreSQL dollar-quoted body, or the `BEGIN … END` body of a trigger, function,
//! procedure or event (SQLite's and MySQL's triggers, PostgreSQL's `BEGIN ATOMIC`): there the
//! `;` that ends the statement is the one after the body's `END`, which is recognised as
//! SQLite's own `sqlite3_complete` recognises it, by following a `;`. Comments *between*
//! statements are dropped;
//! the text of a statement is kept byte for byte, because SQLite stores the text of every
//! `CREATE` statement in `sqlite_master` and keystone's schema is compared on that text.

use std::sync::{Arc, OnceLock};

use thiserror::Error;

use crate::dialect::Dialect;

/// A file that cannot be split.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SplitError {
    /// A quote, comment or dollar body opened at `line` is never closed.
    #[error("{what} opened on line {line} is never closed")]
    Unterminated {
        /// What was left open.
        what: &'static str,
        /// 1-based line of the opening.
        line: usize,
    },
}

/// Splits SQL text into statements, without the terminating `;`. Text after the last `;`
/// that is not only whitespace and comments is a statement too.
pub fn split_statements(sql: &str) -> Result<Vec<&str>, SplitError> {
    let bytes = sql.as_bytes();
    let mut statements = Vec::new();
    let mut start: Option<usize> = None;
    let mut body = CompoundBody::default();
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        match byte {
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(bytes.len(), |offset| i + offset + 1);
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let end = sql[i + 2..]
                    .find("*/")
                    .ok_or(SplitError::Unterminated { what: "comment", line: line_of(sql, i) })?;
                i += 2 + end + 2;
                continue;
            }
            b';' if body.depth > 0 => {
                body.after_semicolon = true;
                i += 1;
                continue;
            }
            b';' => {
                if let Some(begin) = start.take() {
                    push_statement(&mut statements, &sql[begin..i]);
                }
                body = CompoundBody::default();
                i += 1;
                continue;
            }
            _ if byte.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            // Any other Unicode whitespace (vertical tab, no-break space) separates too, so
            // that a comment after it is not taken for the start of a statement.
            _ if sql.is_char_boundary(i) && sql[i..].chars().next().is_some_and(char::is_whitespace) => {
                i += sql[i..].chars().next().map_or(1, char::len_utf8);
                continue;
            }
            _ => {}
        }
        start.get_or_insert(i);
        let next = skip_token(sql, i)?;
        body.token(sql, i);
        i = next;
    }
    if let Some(begin) = start {
        push_statement(&mut statements, &sql[begin..]);
    }
    Ok(statements)
}

/// Where the splitter stands in the `BEGIN … END` body of a `CREATE TRIGGER` (or function,
/// procedure, event): `;` inside it does not end the statement.
#[derive(Debug, Default)]
struct CompoundBody {
    /// Words of the statement seen so far.
    words: usize,
    /// What the statement creates is known (the first object word after `CREATE`).
    decided: bool,
    /// The statement creates an object that may have a `BEGIN … END` body.
    routine: bool,
    /// How many `BEGIN`s are open.
    depth: usize,
    /// The last token was a `;` inside the body.
    after_semicolon: bool,
}

impl CompoundBody {
    /// Takes note of the token starting at `start` (a quoted token or one byte; a word is
    /// read whole at its first byte).
    fn token(&mut self, sql: &str, start: usize) {
        let bytes = sql.as_bytes();
        let is_word_byte = |byte: u8| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'$');
        let starts_word = bytes[start].is_ascii_alphabetic() && (start == 0 || !is_word_byte(bytes[start - 1]));
        if !starts_word {
            if !bytes[start].is_ascii_whitespace() && !is_word_byte(bytes[start]) {
                self.after_semicolon = false;
            }
            return;
        }
        let word_end = start + bytes[start..].iter().take_while(|byte| is_word_byte(**byte)).count();
        let word = &sql[start..word_end];
        let is = |keyword: &str| word.eq_ignore_ascii_case(keyword);
        self.words += 1;
        if self.words == 1 {
            self.decided = !is("CREATE");
        } else if !self.decided {
            const ROUTINES: [&str; 4] = ["TRIGGER", "FUNCTION", "PROCEDURE", "EVENT"];
            const OTHERS: [&str; 8] = ["TABLE", "INDEX", "VIEW", "SEQUENCE", "TYPE", "SCHEMA", "DATABASE", "DOMAIN"];
            if ROUTINES.iter().any(|keyword| is(keyword)) {
                (self.decided, self.routine) = (true, true);
            } else if OTHERS.iter().any(|keyword| is(keyword)) {
                self.decided = true;
            }
        } else if self.routine && is("BEGIN") {
            self.depth += 1;
        } else if self.routine && self.depth > 0 && is("END") && self.after_semicolon {
            // `END IF`, `END LOOP`, … close a control statement inside the body, not a block.
            const CONTROL: [&str; 6] = ["IF", "CASE", "LOOP", "WHILE", "REPEAT", "FOR"];
            let closes_control = next_word(sql, word_end)
                .is_some_and(|next| CONTROL.iter().any(|keyword| next.eq_ignore_ascii_case(keyword)));
            if !closes_control {
                self.depth -= 1;
            }
        }
        self.after_semicolon = false;
    }
}

/// The word that follows `from`, past whitespace and comments.
fn next_word(sql: &str, from: usize) -> Option<&str> {
    let bytes = sql.as_bytes();
    let mut i = from;
    loop {
        match bytes.get(i)? {
            byte if byte.is_ascii_whitespace() => i += 1,
            b'-' if bytes.get(i + 1) == Some(&b'-') => i += sql[i..].find('\n')?,
            b'/' if bytes.get(i + 1) == Some(&b'*') => i += 2 + sql[i + 2..].find("*/")? + 2,
            byte if byte.is_ascii_alphabetic() => {
                let length =
                    bytes[i..].iter().take_while(|byte| byte.is_ascii_alphanumeric() || **byte == b'_').count();
                return Some(&sql[i..i + length]);
            }
            _ => return None,
        }
    }
}

/// The position after the token starting at `i` (not a comment or whitespace): a whole
/// quoted string, identifier or dollar-quoted body, or else one byte.
fn skip_token(sql: &str, i: usize) -> Result<usize, SplitError> {
    let bytes = sql.as_bytes();
    match bytes[i] {
        b'\'' | b'"' | b'`' => skip_quoted(sql, i),
        // '$' inside an identifier (`a$b`) opens nothing.
        b'$' if i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || matches!(bytes[i - 1], b'_' | b'$')) => Ok(i + 1),
        b'$' => skip_dollar_quoted(sql, i),
        _ => Ok(i + 1),
    }
}

/// A statement as a script writes it: followed by `;`, on a line of its own when the
/// statement's last line ends in a `--` comment (which would swallow the `;`).
pub fn terminated(statement: &str) -> String {
    if ends_in_line_comment(statement) {
        format!("{statement}\n;")
    } else {
        format!("{statement};")
    }
}

/// Whether a statement holds a `;` of its own (outside strings, comments and dollar-quoted
/// bodies): a trigger, function or procedure with a `BEGIN … END` body, which a client that
/// splits at every `;` (MySQL's) must be told to take whole.
pub fn has_inner_semicolon(statement: &str) -> bool {
    let bytes = statement.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b';' => return true,
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = statement[i..].find('\n').map_or(bytes.len(), |offset| i + offset + 1);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = statement[i + 2..].find("*/").map_or(bytes.len(), |offset| i + 2 + offset + 2);
            }
            _ => i = skip_token(statement, i).unwrap_or(bytes.len()),
        }
    }
    false
}

/// Whether the text ends inside a `--` comment, by the splitter's rules of what opens one.
fn ends_in_line_comment(sql: &str) -> bool {
    let bytes = sql.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'-' && bytes.get(i + 1) == Some(&b'-') {
            match sql[i..].find('\n') {
                Some(offset) => i += offset + 1,
                None => return true,
            }
        } else if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
            match sql[i + 2..].find("*/") {
                Some(offset) => i += 2 + offset + 2,
                None => return false,
            }
        } else {
            // Only whole statements get here; an unterminated quote ends the text.
            i = skip_token(sql, i).unwrap_or(bytes.len());
        }
    }
    false
}

/// Keeps a statement unless only (Unicode) whitespace is left of it.
fn push_statement<'s>(statements: &mut Vec<&'s str>, text: &'s str) {
    let text = text.trim();
    if !text.is_empty() {
        statements.push(text);
    }
}

/// Skips a quoted string or identifier starting at `open`; a doubled quote is an escaped one
/// (SQL standard), and in single-quoted strings a backslash escapes the next byte (MySQL).
fn skip_quoted(sql: &str, open: usize) -> Result<usize, SplitError> {
    let bytes = sql.as_bytes();
    let quote = bytes[open];
    let mut i = open + 1;
    while i < bytes.len() {
        if bytes[i] == b'\\' && quote == b'\'' {
            i += 2;
            continue;
        }
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return Ok(i + 1);
        }
        i += 1;
    }
    let what = match quote {
        b'\'' => "string",
        _ => "quoted identifier",
    };
    Err(SplitError::Unterminated { what, line: line_of(sql, open) })
}

/// Skips a PostgreSQL dollar-quoted body (`$$...$$` or `$tag$...$tag$`) starting at `open`.
/// A `$` that does not open such a body (a `$1` parameter, say) is an ordinary byte.
fn skip_dollar_quoted(sql: &str, open: usize) -> Result<usize, SplitError> {
    let rest = &sql[open + 1..];
    let tag_len = rest.bytes().take_while(|byte| byte.is_ascii_alphanumeric() || *byte == b'_').count();
    let tag_is_valid = !rest.as_bytes().first().is_some_and(u8::is_ascii_digit);
    if !tag_is_valid || rest.as_bytes().get(tag_len) != Some(&b'$') {
        return Ok(open + 1);
    }
    let delimiter = &sql[open..open + tag_len + 2];
    let body_start = open + delimiter.len();
    match sql[body_start..].find(delimiter) {
        Some(offset) => Ok(body_start + offset + delimiter.len()),
        None => Err(SplitError::Unterminated { what: "dollar-quoted body", line: line_of(sql, open) }),
    }
}

fn line_of(sql: &str, offset: usize) -> usize {
    sql[..offset].bytes().filter(|byte| *byte == b'\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded trees are split only when their SQL is needed, on the strength of this
    /// test: every file of them splits, and splitting later gives what a directory tree gets.
    #[test]
    fn every_embedded_sql_file_splits() {
        let trees = crate::tree::MigrationTrees::embedded().unwrap();
        let legacy = trees.legacy.repositories.iter().flat_map(|repository| &repository.versions);
        let all: Vec<&MigrationSql> =
            trees.graph.in_order().map(|revision| &revision.sql).chain(legacy.map(|version| &version.sql)).collect();
        assert!(all.len() > 10, "the embedded trees hold keystone's migrations: {}", all.len());
        for sql in all {
            assert_eq!(sql.check(), Ok(()));
            let eager = sql.clone();
            for dialect in Dialect::ALL {
                assert_eq!(sql.statements(dialect), eager.statements(dialect));
            }
        }
        let mut lazy = MigrationSql::default();
        lazy.set_source(Dialect::Sqlite, "x/up.sql".into(), Arc::from("SELECT 1; SELECT 2;"));
        assert_eq!(lazy.statements(Dialect::Sqlite), ["SELECT 1", "SELECT 2"]);
        let mut bad = MigrationSql::default();
        bad.set_source(Dialect::Mysql, "x/up.sql".into(), Arc::from("SELECT 'open;"));
        assert!(matches!(bad.check(), Err((path, SplitError::Unterminated { .. })) if path == "x/up.sql"));
    }

    #[test]
    fn keeps_statement_text_verbatim_and_drops_comments_between() {
        let sql = "-- leading comment\nCREATE TABLE t (\n\tid INTEGER NOT NULL, \n\tPRIMARY KEY (id)\n);\n\n/* block */ CREATE INDEX i ON t (id);\n-- trailing\n";
        assert_eq!(
            split_statements(sql).unwrap(),
            vec!["CREATE TABLE t (\n\tid INTEGER NOT NULL, \n\tPRIMARY KEY (id)\n)", "CREATE INDEX i ON t (id)"]
        );
    }

    #[test]
    fn semicolons_inside_quotes_comments_and_bodies_do_not_split() {
        let sql = "INSERT INTO t VALUES ('a;b', 'it''s;', \"x;y\", `z;w`);\n\
                   CREATE FUNCTION f() RETURNS trigger AS $$ BEGIN RAISE 'x;y'; RETURN NEW; END; $$ LANGUAGE plpgsql;\n\
                   SELECT $tag$ ; $$ ; $tag$;\nSELECT 1 -- a ; comment\n;";
        let statements = split_statements(sql).unwrap();
        assert_eq!(statements.len(), 4, "{statements:#?}");
        assert!(statements[1].ends_with("LANGUAGE plpgsql"));
        assert_eq!(statements[2], "SELECT $tag$ ; $$ ; $tag$");
        assert_eq!(statements[3], "SELECT 1 -- a ; comment");
    }

    #[test]
    fn trigger_and_routine_bodies_are_one_statement() {
        let sql = "CREATE TRIGGER t AFTER INSERT ON w BEGIN\n  UPDATE w SET n = CASE WHEN n IS NULL THEN 'x' ELSE n END WHERE id = NEW.id;\n  SELECT 1; -- ; END;\nEND;\n\
                   CREATE TRIGGER m BEFORE INSERT ON w FOR EACH ROW BEGIN\n  IF NEW.n IS NULL THEN SET NEW.n = 'x'; END IF;\n  BEGIN SET @a = 1; END;\nEND;\n\
                   create procedure p() begin atomic insert into w values (1); end;\n\
                   CREATE TRIGGER s BEFORE INSERT ON w FOR EACH ROW SET NEW.n = 'begin';\n\
                   CREATE TABLE event (id INTEGER, begin_at INTEGER);\n\
                   BEGIN;\nSELECT 2;\nEND;";
        let statements = split_statements(sql).unwrap();
        assert_eq!(statements.len(), 8, "{statements:#?}");
        assert!(statements[0].starts_with("CREATE TRIGGER t") && statements[0].ends_with("SELECT 1; -- ; END;\nEND"));
        assert!(statements[1].starts_with("CREATE TRIGGER m") && statements[1].ends_with("END;\nEND"));
        assert_eq!(statements[2], "create procedure p() begin atomic insert into w values (1); end");
        assert_eq!(statements[3], "CREATE TRIGGER s BEFORE INSERT ON w FOR EACH ROW SET NEW.n = 'begin'");
        assert_eq!(&statements[5..], ["BEGIN", "SELECT 2", "END"]);
        assert!(has_inner_semicolon(statements[0]) && has_inner_semicolon(statements[2]));
        assert!(!has_inner_semicolon(statements[3]));
        assert!(!has_inner_semicolon("CREATE FUNCTION f() AS $$ BEGIN x; END; $$ -- ;"));
    }

    #[test]
    fn comment_only_file_has_no_statements() {
        assert!(split_statements("-- nothing to do\n\n").unwrap().is_empty());
        assert!(split_statements("").unwrap().is_empty());
    }

    #[test]
    fn unterminated_constructs_are_reported_with_their_line() {
        assert_eq!(
            split_statements("SELECT 1;\nSELECT 'oops;\n").unwrap_err(),
            SplitError::Unterminated { what: "string", line: 2 }
        );
        assert_eq!(
            split_statements("/* never closed").unwrap_err(),
            SplitError::Unterminated { what: "comment", line: 1 }
        );
        assert!(split_statements("SELECT $$ body").is_err());
    }

    #[test]
    fn dollars_inside_identifiers_and_unicode_whitespace_are_ordinary() {
        assert_eq!(split_statements("SELECT a$b$c; SELECT 2").unwrap(), vec!["SELECT a$b$c", "SELECT 2"]);
        assert_eq!(split_statements("SELECT 1;\u{b}").unwrap(), vec!["SELECT 1"]);
        assert_eq!(split_statements("\u{a0};SELECT 1").unwrap(), vec!["SELECT 1"]);
        assert!(split_statements("\u{b}--").unwrap().is_empty());
    }

    #[test]
    fn a_terminated_statement_keeps_its_semicolon_out_of_a_trailing_comment() {
        assert_eq!(terminated("SELECT 1"), "SELECT 1;");
        assert_eq!(terminated("SELECT 1 -- a ; comment"), "SELECT 1 -- a ; comment\n;");
        assert_eq!(terminated("SELECT '--' /* -- */"), "SELECT '--' /* -- */;");
        assert_eq!(terminated("SELECT $$ -- $$"), "SELECT $$ -- $$;");
        assert_eq!(terminated("SELECT 1 -- note\n  + 2"), "SELECT 1 -- note\n  + 2;");
        // What the splitter reads back from a terminated statement is the statement.
        for statement in ["SELECT 1 -- x", "SELECT 'a;b' -- c;", "CREATE FUNCTION f() AS $$ x; $$"] {
            assert_eq!(split_statements(&terminated(statement)).unwrap(), vec![statement]);
        }
    }

    #[test]
    fn positional_parameters_are_not_dollar_quotes() {
        assert_eq!(split_statements("SELECT $1; SELECT 2").unwrap(), vec!["SELECT $1", "SELECT 2"]);
    }
}

/// SQL of one migration for each backend, split into statements when first needed: a
/// command that runs or shows no SQL (`db_sync --check`, `db_version`) never splits any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationSql {
    sources: [Option<SqlSource>; 3],
    statements: [OnceLock<Vec<String>>; 3],
}

/// A SQL file, not yet split.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SqlSource {
    /// The file, for messages.
    path: String,
    /// Its text.
    text: Arc<str>,
}

impl MigrationSql {
    /// The statements to run on `dialect`, in order (empty for a no-op migration).
    ///
    /// # Panics
    /// If the file does not split: trees read from a directory are checked with
    /// [`MigrationSql::check`] when read, and the trees built into the binary by a unit test.
    pub fn statements(&self, dialect: Dialect) -> &[String] {
        self.statements[dialect as usize].get_or_init(|| match &self.sources[dialect as usize] {
            Some(source) => match split_statements(&source.text) {
                Ok(statements) => statements.into_iter().map(str::to_owned).collect(),
                Err(error) => panic!("{} was not checked before use: {error}", source.path),
            },
            None => Vec::new(),
        })
    }

    /// Sets the statements of one dialect.
    pub fn set(&mut self, dialect: Dialect, statements: Vec<String>) {
        self.sources[dialect as usize] = None;
        self.statements[dialect as usize] = OnceLock::from(statements);
    }

    /// Sets the file one dialect's statements come from; it is split when first needed.
    pub fn set_source(&mut self, dialect: Dialect, path: String, text: Arc<str>) {
        self.sources[dialect as usize] = Some(SqlSource { path, text });
        self.statements[dialect as usize] = OnceLock::new();
    }

    /// Splits every file now (keeping the statements), or names the first that does not
    /// split.
    pub fn check(&self) -> Result<(), (String, SplitError)> {
        for dialect in Dialect::ALL {
            let (Some(source), None) = (&self.sources[dialect as usize], self.statements[dialect as usize].get())
            else {
                continue;
            };
            let statements = split_statements(&source.text).map_err(|error| (source.path.clone(), error))?;
            let _ = self.statements[dialect as usize].set(statements.into_iter().map(str::to_owned).collect());
        }
        Ok(())
    }
}
