//! A database's schema as plain data, the same model for every engine, and the pure
//! comparison `verify` makes between two of them.
//!
//! Each backend reads its own catalog into a [`Catalog`] (`backend/introspect/`): the
//! introspection normalises what is not drift (server-generated constraint names become
//! `None`, lists are sorted), so that [`diff`] compares like with like. Both catalogs that
//! `verify` compares come from one engine, so text such as a column's type or default is
//! compared as that engine prints it. strata's own bookkeeping tables and the version tables
//! are left out by the introspection.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

/// The tables of one database (its schema in use).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Catalog {
    /// Tables by name.
    pub tables: BTreeMap<String, Table>,
}

/// One table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Table {
    /// Columns by name (their order is not compared).
    pub columns: BTreeMap<String, Column>,
    /// The primary key's columns, in key order; empty without one.
    pub primary_key: Vec<String>,
    /// Indexes by name, not those that back a constraint listed here (primary key, unique
    /// constraints on engines that keep them apart from indexes).
    pub indexes: BTreeMap<String, Index>,
    /// Unique constraints (MySQL/MariaDB keeps these as unique indexes).
    pub uniques: BTreeSet<Unique>,
    /// Foreign keys.
    pub foreign_keys: BTreeSet<ForeignKey>,
    /// Check constraints.
    pub checks: BTreeSet<Check>,
    /// Table options: `engine`, `charset`, `collation` on MySQL/MariaDB.
    pub options: BTreeMap<String, String>,
}

/// One column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    /// The type as the engine shows it (`character varying(64)`, `varchar(64)`,
    /// `VARCHAR(64)`), with `auto_increment` and similar attributes on MySQL.
    pub data_type: String,
    /// Whether NULL is allowed.
    pub nullable: bool,
    /// The default expression as the engine shows it; `None` without one.
    pub default: Option<String>,
    /// The collation, where the engine keeps one per column (MySQL/MariaDB).
    pub collation: Option<String>,
}

impl fmt::Display for Column {
    /// `varchar(64) NOT NULL DEFAULT 'x' COLLATE utf8mb3_general_ci`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.data_type)?;
        f.write_str(if self.nullable { " NULL" } else { " NOT NULL" })?;
        if let Some(default) = &self.default {
            write!(f, " DEFAULT {default}")?;
        }
        if let Some(collation) = &self.collation {
            write!(f, " COLLATE {collation}")?;
        }
        Ok(())
    }
}

/// An index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Index {
    /// Its columns (or expressions), in key order.
    pub columns: Vec<String>,
    /// Whether it is unique.
    pub unique: bool,
}

impl fmt::Display for Index {
    /// `UNIQUE (a, b)` or `(a)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.unique {
            f.write_str("UNIQUE ")?;
        }
        write!(f, "({})", self.columns.join(", "))
    }
}

/// A unique constraint.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Unique {
    /// Its columns, in order.
    pub columns: Vec<String>,
    /// Its name; `None` when the server generated it (or the engine keeps none).
    pub name: Option<String>,
}

/// A foreign key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ForeignKey {
    /// The referencing columns, in order.
    pub columns: Vec<String>,
    /// The referenced table.
    pub referred_table: String,
    /// The referenced columns, in order.
    pub referred_columns: Vec<String>,
    /// `ON UPDATE` action, upper case (`NO ACTION` when none was given).
    pub on_update: String,
    /// `ON DELETE` action, upper case.
    pub on_delete: String,
    /// Its name; `None` when the server generated it (or the engine keeps none).
    pub name: Option<String>,
}

/// A check constraint.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Check {
    /// The condition as the engine shows it.
    pub expression: String,
    /// Its name; `None` when the server generated it (or the engine keeps none).
    pub name: Option<String>,
}

/// How an object differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// The recorded revisions produce it; the database lacks it.
    Missing,
    /// The database has it; the recorded revisions do not produce it.
    Unexpected,
    /// Both have it, with different definitions.
    Changed,
}

/// One difference between the expected catalog and the database's.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Difference {
    /// The table.
    pub table: String,
    /// What kind of object: `table`, `column`, `primary key`, `index`, `unique constraint`,
    /// `foreign key`, `check constraint`, `table option`.
    pub object_type: &'static str,
    /// The object, as the operator would look for it: a column or index name, a
    /// constraint's name or (unnamed) its columns.
    pub object: String,
    /// How it differs.
    pub change: Change,
    /// What the recorded revisions produce; `None` when they produce nothing.
    pub expected: Option<String>,
    /// What the database holds; `None` when it holds nothing.
    pub found: Option<String>,
}

impl fmt::Display for Difference {
    /// `table user, column extra: unexpected (found varchar(64) NULL)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "table {}", self.table)?;
        if self.object_type != "table" {
            write!(f, ", {}", self.object_type)?;
            if !self.object.is_empty() {
                write!(f, " {}", self.object)?;
            }
        }
        // An unnamed constraint is shown by its definition already.
        let shown = |text: &Option<String>| text.clone().filter(|text| *text != self.object);
        match (self.change, shown(&self.expected), shown(&self.found)) {
            (Change::Missing, Some(expected), _) => write!(f, ": missing (expected {expected})"),
            (Change::Unexpected, _, Some(found)) => {
                write!(f, ": not produced by the recorded revisions (found {found})")
            }
            (Change::Changed, Some(expected), Some(found)) => write!(f, ": expected {expected}, found {found}"),
            (Change::Missing, ..) => f.write_str(": missing"),
            (Change::Unexpected, ..) => f.write_str(": not produced by the recorded revisions"),
            (Change::Changed, ..) => f.write_str(": differs"),
        }
    }
}

/// Every difference between `expected` (what the recorded revisions produce) and `found`
/// (the database), sorted by table, then object.
pub fn diff(expected: &Catalog, found: &Catalog) -> Vec<Difference> {
    let mut out = Vec::new();
    for (name, table) in &expected.tables {
        match found.tables.get(name) {
            None => out.push(difference(name, "table", name, Change::Missing, Some(summary(table)), None)),
            Some(other) => diff_table(name, table, other, &mut out),
        }
    }
    for (name, table) in &found.tables {
        if !expected.tables.contains_key(name) {
            out.push(difference(name, "table", name, Change::Unexpected, None, Some(summary(table))));
        }
    }
    out.sort();
    out
}

fn summary(table: &Table) -> String {
    let columns: Vec<&str> = table.columns.keys().map(String::as_str).collect();
    format!("columns {}", columns.join(", "))
}

fn difference(
    table: &str,
    object_type: &'static str,
    object: &str,
    change: Change,
    expected: Option<String>,
    found: Option<String>,
) -> Difference {
    Difference { table: table.to_owned(), object_type, object: object.to_owned(), change, expected, found }
}

fn diff_table(name: &str, expected: &Table, found: &Table, out: &mut Vec<Difference>) {
    diff_named(name, "column", &expected.columns, &found.columns, out);
    if expected.primary_key != found.primary_key {
        let shown = |columns: &[String]| (!columns.is_empty()).then(|| format!("({})", columns.join(", ")));
        let change = match (expected.primary_key.is_empty(), found.primary_key.is_empty()) {
            (false, true) => Change::Missing,
            (true, false) => Change::Unexpected,
            _ => Change::Changed,
        };
        out.push(difference(name, "primary key", "", change, shown(&expected.primary_key), shown(&found.primary_key)));
    }
    diff_named(name, "index", &expected.indexes, &found.indexes, out);
    diff_named(name, "table option", &expected.options, &found.options, out);
    diff_unnamed(name, "unique constraint", &expected.uniques, &found.uniques, out);
    diff_unnamed(name, "foreign key", &expected.foreign_keys, &found.foreign_keys, out);
    diff_unnamed(name, "check constraint", &expected.checks, &found.checks, out);
}

/// Objects identified by their name: same name, different definition is a change.
fn diff_named<T: PartialEq + fmt::Display>(
    table: &str,
    object_type: &'static str,
    expected: &BTreeMap<String, T>,
    found: &BTreeMap<String, T>,
    out: &mut Vec<Difference>,
) {
    for (name, want) in expected {
        match found.get(name) {
            None => out.push(difference(table, object_type, name, Change::Missing, Some(want.to_string()), None)),
            Some(have) if have != want => out.push(difference(
                table,
                object_type,
                name,
                Change::Changed,
                Some(want.to_string()),
                Some(have.to_string()),
            )),
            Some(_) => {}
        }
    }
    for (name, have) in found {
        if !expected.contains_key(name) {
            out.push(difference(table, object_type, name, Change::Unexpected, None, Some(have.to_string())));
        }
    }
}

/// A constraint that may have no name of its own.
trait Constraint: Ord + Clone {
    fn name(&self) -> Option<&str>;
    fn without_name(&self) -> Self;
    /// The definition, without the name.
    fn definition(&self) -> String;
}

impl Constraint for Unique {
    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    fn without_name(&self) -> Unique {
        Unique { name: None, ..self.clone() }
    }
    fn definition(&self) -> String {
        format!("UNIQUE ({})", self.columns.join(", "))
    }
}

impl Constraint for ForeignKey {
    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    fn without_name(&self) -> ForeignKey {
        ForeignKey { name: None, ..self.clone() }
    }
    fn definition(&self) -> String {
        let mut text = format!(
            "({}) REFERENCES {} ({})",
            self.columns.join(", "),
            self.referred_table,
            self.referred_columns.join(", ")
        );
        for (clause, action) in [("ON UPDATE", &self.on_update), ("ON DELETE", &self.on_delete)] {
            if action != "NO ACTION" {
                text.push_str(&format!(" {clause} {action}"));
            }
        }
        text
    }
}

impl Constraint for Check {
    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    fn without_name(&self) -> Check {
        Check { name: None, ..self.clone() }
    }
    fn definition(&self) -> String {
        format!("CHECK ({})", self.expression)
    }
}

/// Constraints are matched by their definition, so that an unnamed one (or one the server
/// named) is found whatever its name; two names given by the migrations that differ are a
/// change.
fn diff_unnamed<T: Constraint>(
    table: &str,
    object_type: &'static str,
    expected: &BTreeSet<T>,
    found: &BTreeSet<T>,
    out: &mut Vec<Difference>,
) {
    let key = |item: &T| item.without_name();
    let mut unmatched: Vec<&T> = found.iter().collect();
    for want in expected {
        let position = unmatched
            .iter()
            .position(|have| key(have) == key(want) && have.name() == want.name())
            .or_else(|| unmatched.iter().position(|have| key(have) == key(want)));
        match position {
            Some(at) => {
                let have = unmatched.remove(at);
                if let (Some(wanted), Some(named)) = (want.name(), have.name()) {
                    if wanted != named {
                        out.push(difference(
                            table,
                            object_type,
                            &want.definition(),
                            Change::Changed,
                            Some(format!("named {wanted}")),
                            Some(format!("named {named}")),
                        ));
                    }
                }
            }
            None => {
                out.push(difference(table, object_type, &label(want), Change::Missing, Some(want.definition()), None))
            }
        }
    }
    for have in unmatched {
        out.push(difference(table, object_type, &label(have), Change::Unexpected, None, Some(have.definition())));
    }
}

/// A constraint's name, or its definition when it has none.
fn label<T: Constraint>(item: &T) -> String {
    item.name().map_or_else(|| item.definition(), str::to_owned)
}

#[cfg(test)]
mod tests;
