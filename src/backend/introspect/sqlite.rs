//! SQLite: `sqlite_master` and the `pragma_table_info`, `pragma_index_list`,
//! `pragma_index_info` and `pragma_foreign_key_list` table functions. SQLite keeps check
//! constraints only in the `CREATE TABLE` text, so they are read from there, and it keeps no
//! name for unique constraints and foreign keys.

use diesel::{RunQueryDsl, SqliteConnection};

use super::{action, compared, table_of, Row};
use crate::catalog::{Catalog, Check, Column, ForeignKey, Index, Table, Unique};
use crate::dialect::Dialect;

fn rows(conn: &mut SqliteConnection, sql: &str) -> diesel::QueryResult<Vec<Row>> {
    diesel::sql_query(sql).load::<Row>(conn)
}

/// Reads the catalog of the main database.
pub(in crate::backend) fn read(conn: &mut SqliteConnection) -> diesel::QueryResult<Catalog> {
    let mut catalog = Catalog::default();
    let tables = rows(
        conn,
        "SELECT name AS c1, sql AS c2, NULL AS c3, NULL AS c4, NULL AS c5, NULL AS c6, NULL AS c7, NULL AS c8 \
         FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
    )?;
    for row in tables {
        let name = row.text(1);
        if !compared(&name) {
            continue;
        }
        let mut table = Table::default();
        for (expression, constraint) in checks_in(&row.text(2)) {
            table.checks.insert(Check { expression, name: constraint });
        }
        catalog.tables.insert(name, table);
    }
    let names: Vec<String> = catalog.tables.keys().cloned().collect();
    for name in names {
        let quoted = Dialect::Sqlite.quote_literal(&name);
        let columns = rows(
            conn,
            &format!(
                "SELECT name AS c1, type AS c2, CAST(\"notnull\" AS TEXT) AS c3, dflt_value AS c4, CAST(pk AS TEXT) AS c5, \
                 NULL AS c6, NULL AS c7, NULL AS c8 FROM pragma_table_info({quoted})"
            ),
        )?;
        let indexes = rows(
            conn,
            &format!(
                "SELECT l.name AS c1, CAST(l.\"unique\" AS TEXT) AS c2, l.origin AS c3, \
                 (SELECT group_concat(coalesce(i.name, '<expression>'), char(31)) FROM \
                  (SELECT name FROM pragma_index_info(l.name) ORDER BY seqno) AS i) AS c4, \
                 NULL AS c5, NULL AS c6, NULL AS c7, NULL AS c8 FROM pragma_index_list({quoted}) AS l"
            ),
        )?;
        let foreign_keys = rows(
            conn,
            &format!(
                "SELECT CAST(id AS TEXT) AS c1, \"table\" AS c2, \"from\" AS c3, \"to\" AS c4, on_update AS c5, \
                 on_delete AS c6, NULL AS c7, NULL AS c8 FROM pragma_foreign_key_list({quoted}) ORDER BY id, seq"
            ),
        )?;
        let table = table_of(&mut catalog, &name).expect("listed above");
        let mut key: Vec<(i64, String)> = Vec::new();
        for column in columns {
            let position: i64 = column.text(5).parse().unwrap_or(0);
            if position > 0 {
                key.push((position, column.text(1)));
            }
            table.columns.insert(
                column.text(1),
                Column {
                    data_type: column.text(2).to_ascii_uppercase(),
                    nullable: column.text(3) == "0",
                    default: column.get(4),
                    collation: None,
                },
            );
        }
        key.sort();
        table.primary_key = key.into_iter().map(|(_, column)| column).collect();
        for index in indexes {
            match index.text(3).as_str() {
                "pk" => {}
                "u" => {
                    table.uniques.insert(Unique { columns: index.list(4), name: None });
                }
                _ => {
                    table.indexes.insert(index.text(1), Index { columns: index.list(4), unique: index.text(2) == "1" });
                }
            }
        }
        let mut current: Option<(String, ForeignKey)> = None;
        for row in foreign_keys {
            if current.as_ref().is_some_and(|(id, _)| *id != row.text(1)) {
                table.foreign_keys.extend(current.take().map(|(_, key)| key));
            }
            let entry = current.get_or_insert_with(|| {
                (
                    row.text(1),
                    ForeignKey {
                        columns: Vec::new(),
                        referred_table: row.text(2),
                        referred_columns: Vec::new(),
                        on_update: action(&row.text(5)),
                        on_delete: action(&row.text(6)),
                        name: None,
                    },
                )
            });
            entry.1.columns.push(row.text(3));
            entry.1.referred_columns.push(row.text(4));
        }
        table.foreign_keys.extend(current.map(|(_, key)| key));
    }
    Ok(catalog)
}

/// The check constraints of a `CREATE TABLE` statement: `(expression, name)`, the name when
/// a `CONSTRAINT name` precedes the `CHECK`.
pub(crate) fn checks_in(sql: &str) -> Vec<(String, Option<String>)> {
    let chars: Vec<char> = sql.chars().collect();
    let mut found = Vec::new();
    let mut depth = 0usize;
    // Where the current column or table constraint started (after '(' or ',' at depth 1).
    let mut item_start = 0usize;
    let mut at = 0usize;
    while at < chars.len() {
        let c = chars[at];
        match c {
            '\'' | '"' | '`' | '[' => {
                at = skip_quoted(&chars, at);
                continue;
            }
            '(' => {
                depth += 1;
                if depth == 1 {
                    item_start = at + 1;
                }
            }
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 1 => item_start = at + 1,
            _ if depth >= 1 && is_keyword(&chars, at, "CHECK") => {
                let mut open = at + 5;
                while open < chars.len() && chars[open].is_whitespace() {
                    open += 1;
                }
                if chars.get(open) == Some(&'(') {
                    let close = matching_paren(&chars, open);
                    let expression: String = chars[open + 1..close.min(chars.len())].iter().collect();
                    let before: String = chars[item_start..at].iter().collect();
                    let words: Vec<&str> = before.split_whitespace().collect();
                    let name = match words.as_slice() {
                        [.., keyword, name] if keyword.eq_ignore_ascii_case("CONSTRAINT") => {
                            Some(name.trim_matches(|c| matches!(c, '"' | '`' | '[' | ']')).to_owned())
                        }
                        _ => None,
                    };
                    found.push((expression.trim().to_owned(), name));
                    at = close + 1;
                    continue;
                }
            }
            _ => {}
        }
        at += 1;
    }
    found
}

/// Whether `keyword` starts at `at`, as a whole word, in any case.
fn is_keyword(chars: &[char], at: usize, keyword: &str) -> bool {
    let boundary = |index: Option<&char>| !matches!(index, Some(c) if c.is_alphanumeric() || *c == '_');
    let word: String = chars.iter().skip(at).take(keyword.len()).collect();
    word.eq_ignore_ascii_case(keyword)
        && (at == 0 || boundary(chars.get(at - 1)))
        && boundary(chars.get(at + keyword.len()))
}

/// The index just after a quoted name or string starting at `at`.
fn skip_quoted(chars: &[char], at: usize) -> usize {
    let close = if chars[at] == '[' { ']' } else { chars[at] };
    let mut index = at + 1;
    while index < chars.len() {
        if chars[index] == close {
            // A doubled quote is an escaped one.
            if close != ']' && chars.get(index + 1) == Some(&close) {
                index += 2;
                continue;
            }
            return index + 1;
        }
        index += 1;
    }
    chars.len()
}

/// The index of the ')' that closes the '(' at `open` (the end of the text if none does).
fn matching_paren(chars: &[char], open: usize) -> usize {
    let mut depth = 0usize;
    let mut index = open;
    while index < chars.len() {
        match chars[index] {
            '\'' | '"' | '`' | '[' => {
                index = skip_quoted(chars, index);
                continue;
            }
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return index;
                }
            }
            _ => {}
        }
        index += 1;
    }
    chars.len()
}
