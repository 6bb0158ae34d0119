//! `strata::sql::split_statements` on any UTF-8 text: no panic, and every statement is a
//! non-overlapping slice of the input, in order, that starts with neither ASCII whitespace nor
//! a comment and does not end with whitespace; splitting the statements again, joined by `;`,
//! gives them back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata::sql::{split_statements, SplitError};

fuzz_target!(|data: &[u8]| {
    let Ok(sql) = std::str::from_utf8(data) else { return };
    let statements = match split_statements(sql) {
        Ok(statements) => statements,
        Err(SplitError::Unterminated { line, .. }) => {
            assert!((1..=sql.matches('\n').count() + 1).contains(&line), "line {line}");
            return;
        }
    };
    let base = sql.as_ptr() as usize;
    let mut end = 0;
    for statement in &statements {
        let start = statement.as_ptr() as usize - base;
        assert!(start >= end && start + statement.len() <= sql.len(), "{statements:?}");
        end = start + statement.len();
        assert!(!statement.starts_with(|c: char| c.is_ascii_whitespace()), "{statement:?}");
        assert!(!statement.starts_with("--") && !statement.starts_with("/*"), "{statement:?}");
        assert!(!statement.ends_with(char::is_whitespace), "{statement:?}");
    }
    // Empty statements (non-ASCII whitespace only) are a known bug, see tests/parsers.rs.
    let statements: Vec<&str> = statements.into_iter().filter(|statement| !statement.is_empty()).collect();
    assert_eq!(split_statements(&statements.join("\n;\n")), Ok(statements));
});
