//! The phase rules: what an expand revision and a contract revision may do, decided on the
//! parsed statement (never on its text), with a small model of the schema built from the
//! revisions before it so that a type change can be told to widen or not.
//!
//! Where each rule comes from:
//! - keystone's `test_sql_banned_operations` (`KeystoneMigrationsWalk.BANNED_OPS`): expand
//!   bans `drop_table`, `drop_column`, `drop_constraint`, `drop_index`, `rename_table` and
//!   `alter_column`; contract bans `create_table`, `add_column`, `create_index` and the
//!   `create_*_constraint` operations;
//! - strata's issue 9, which refines `alter_column` for expand: widening a type, dropping a
//!   default or a NOT NULL is allowed, narrowing or adding NOT NULL without a default is not;
//!   and keeps only `create_table` and `add_column` as contract bans (a contract revision
//!   runs when no old code is left, so what it adds cannot break old code; what it creates
//!   for new code belongs in expand).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use sqlparser::ast::{
    AlterColumnOperation, AlterTableOperation, CharacterLength, ColumnDef, ColumnOption, DataType, ExactNumberInfo,
    ObjectName, ObjectType, RenameTableNameKind, Statement, TableConstraint,
};

use crate::graph::Branch;

/// A lint rule, by the id written in findings and in `-- strata: allow <rule-id>: <why>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Rule {
    /// Expand drops a table (keystone: `drop_table` banned in expand).
    ExpandDropTable,
    /// Expand drops a column (keystone: `drop_column`).
    ExpandDropColumn,
    /// Expand renames a table or a column (keystone: `rename_table`, `alter_column`).
    ExpandRename,
    /// Expand changes a column's type to one that is not known to be wider (keystone:
    /// `alter_column`; issue 9: widening is allowed).
    ExpandNarrowType,
    /// Expand adds NOT NULL without a default (issue 9; keystone: `alter_column`).
    ExpandAddNotNull,
    /// Expand adds a constraint that existing rows may violate (issue 9).
    ExpandAddConstraint,
    /// Expand drops a constraint (keystone: `drop_constraint`).
    ExpandDropConstraint,
    /// Expand drops an index (keystone: `drop_index`).
    ExpandDropIndex,
    /// Expand runs DDL strata cannot classify as additive.
    ExpandUnknownDdl,
    /// Contract creates a table (keystone: `create_table` banned in contract).
    ContractCreateTable,
    /// Contract adds a column (keystone: `add_column`).
    ContractAddColumn,
    /// A statement the SQL parser cannot read for its dialect.
    Unparsable,
    /// An exception comment that allows nothing (not markable).
    UnusedException,
    /// A `-- strata:` comment that is not a well-formed exception (not markable).
    BadException,
}

impl Rule {
    /// Every rule, in the order the README documents them.
    pub const ALL: [Rule; 14] = [
        Rule::ExpandDropTable,
        Rule::ExpandDropColumn,
        Rule::ExpandRename,
        Rule::ExpandNarrowType,
        Rule::ExpandAddNotNull,
        Rule::ExpandAddConstraint,
        Rule::ExpandDropConstraint,
        Rule::ExpandDropIndex,
        Rule::ExpandUnknownDdl,
        Rule::ContractCreateTable,
        Rule::ContractAddColumn,
        Rule::Unparsable,
        Rule::UnusedException,
        Rule::BadException,
    ];

    /// The rule's id.
    pub fn id(self) -> &'static str {
        match self {
            Rule::ExpandDropTable => "expand-drop-table",
            Rule::ExpandDropColumn => "expand-drop-column",
            Rule::ExpandRename => "expand-rename",
            Rule::ExpandNarrowType => "expand-narrow-type",
            Rule::ExpandAddNotNull => "expand-add-not-null",
            Rule::ExpandAddConstraint => "expand-add-constraint",
            Rule::ExpandDropConstraint => "expand-drop-constraint",
            Rule::ExpandDropIndex => "expand-drop-index",
            Rule::ExpandUnknownDdl => "expand-unknown-ddl",
            Rule::ContractCreateTable => "contract-create-table",
            Rule::ContractAddColumn => "contract-add-column",
            Rule::Unparsable => "unparsable",
            Rule::UnusedException => "unused-exception",
            Rule::BadException => "bad-exception",
        }
    }

    /// The rule with this id.
    pub fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|rule| rule.id() == id)
    }

    /// Whether an exception comment may allow a finding of this rule.
    pub fn can_be_allowed(self) -> bool {
        !matches!(self, Rule::UnusedException | Rule::BadException)
    }
}

impl serde::Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.id())
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// One column as the schema model knows it.
#[derive(Debug, Clone)]
struct Column {
    data_type: DataType,
    not_null: bool,
}

/// What one dialect's schema holds after the revisions read so far: tables, their columns'
/// types and nullability. Only what the rules need; anything it cannot follow it forgets.
#[derive(Debug, Default)]
pub(super) struct Schema {
    tables: BTreeMap<String, BTreeMap<String, Column>>,
}

/// A table or column name as the model keys it: unquoted, lower case, without schema.
fn key_of(name: &ObjectName) -> String {
    let text = name.to_string();
    let last = text.rsplit('.').next().unwrap_or(&text);
    unquote(last)
}

fn unquote(name: &str) -> String {
    name.trim_matches(|c| c == '"' || c == '`' || c == '[' || c == ']').to_lowercase()
}

fn column_of(def: &ColumnDef) -> Column {
    Column { data_type: def.data_type.clone(), not_null: has_not_null(&def.options()) }
}

trait Options {
    fn options(&self) -> Vec<&ColumnOption>;
}

impl Options for ColumnDef {
    fn options(&self) -> Vec<&ColumnOption> {
        self.options.iter().map(|option| &option.option).collect()
    }
}

fn has_not_null(options: &[&ColumnOption]) -> bool {
    options.iter().any(|option| matches!(option, ColumnOption::NotNull | ColumnOption::PrimaryKey(_)))
}

fn has_default(options: &[&ColumnOption]) -> bool {
    options.iter().any(|option| matches!(option, ColumnOption::Default(_) | ColumnOption::Generated { .. }))
}

fn has_constraint(options: &[&ColumnOption]) -> bool {
    options.iter().any(|option| {
        matches!(
            option,
            ColumnOption::Unique(_)
                | ColumnOption::ForeignKey(_)
                | ColumnOption::Check(_)
                | ColumnOption::PrimaryKey(_)
        )
    })
}

impl Schema {
    /// Follows `statement` (whatever its phase) so that later revisions are judged against
    /// the schema it leaves.
    pub(super) fn apply(&mut self, statement: &Statement) {
        match statement {
            Statement::CreateTable(create) => {
                let columns = create.columns.iter().map(|def| (unquote(&def.name.value), column_of(def))).collect();
                self.tables.insert(key_of(&create.name), columns);
            }
            Statement::Drop { object_type: ObjectType::Table, names, .. } => {
                for name in names {
                    self.tables.remove(&key_of(name));
                }
            }
            Statement::RenameTable(renames) => {
                for rename in renames {
                    self.rename_table(&key_of(&rename.old_name), key_of(&rename.new_name));
                }
            }
            Statement::AlterTable(alter) => {
                let table = key_of(&alter.name);
                for operation in &alter.operations {
                    self.apply_alter(&table, operation);
                }
            }
            _ => {}
        }
    }

    fn rename_table(&mut self, old: &str, new: String) {
        if let Some(columns) = self.tables.remove(old) {
            self.tables.insert(new, columns);
        }
    }

    fn apply_alter(&mut self, table: &str, operation: &AlterTableOperation) {
        if let AlterTableOperation::RenameTable { table_name } = operation {
            let (RenameTableNameKind::As(name) | RenameTableNameKind::To(name)) = table_name;
            self.rename_table(table, key_of(name));
            return;
        }
        let Some(columns) = self.tables.get_mut(table) else {
            return;
        };
        match operation {
            AlterTableOperation::AddColumn { column_def, .. } => {
                columns.insert(unquote(&column_def.name.value), column_of(column_def));
            }
            AlterTableOperation::DropColumn { column_names, .. } => {
                for name in column_names {
                    columns.remove(&unquote(&name.value));
                }
            }
            AlterTableOperation::RenameColumn { old_column_name, new_column_name } => {
                if let Some(column) = columns.remove(&unquote(&old_column_name.value)) {
                    columns.insert(unquote(&new_column_name.value), column);
                }
            }
            AlterTableOperation::ChangeColumn { old_name, new_name, data_type, options, .. } => {
                columns.remove(&unquote(&old_name.value));
                let options: Vec<&ColumnOption> = options.iter().collect();
                columns.insert(
                    unquote(&new_name.value),
                    Column { data_type: data_type.clone(), not_null: has_not_null(&options) },
                );
            }
            AlterTableOperation::ModifyColumn { col_name, data_type, options, .. } => {
                let options: Vec<&ColumnOption> = options.iter().collect();
                columns.insert(
                    unquote(&col_name.value),
                    Column { data_type: data_type.clone(), not_null: has_not_null(&options) },
                );
            }
            AlterTableOperation::AlterColumn { column_name, op } => {
                if let Some(column) = columns.get_mut(&unquote(&column_name.value)) {
                    match op {
                        AlterColumnOperation::SetNotNull => column.not_null = true,
                        AlterColumnOperation::DropNotNull => column.not_null = false,
                        AlterColumnOperation::SetDataType { data_type, .. } => column.data_type = data_type.clone(),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    fn column(&self, table: &str, column: &str) -> Option<&Column> {
        self.tables.get(table)?.get(&unquote(column))
    }
}

/// A finding on one statement, before it is placed in a file.
pub(super) type Violation = (Rule, String);

/// What `statement`, in a revision of `branch`, breaks. `created` holds the tables created
/// earlier in the same revision (empty, so any constraint on them holds).
pub(super) fn check(
    branch: Branch,
    statement: &Statement,
    schema: &Schema,
    created: &BTreeSet<String>,
) -> Vec<Violation> {
    match branch {
        Branch::Expand => check_expand(statement, schema, created),
        Branch::Contract => check_contract(statement),
    }
}

fn check_contract(statement: &Statement) -> Vec<Violation> {
    match statement {
        Statement::CreateTable(create) => vec![(
            Rule::ContractCreateTable,
            format!("CREATE TABLE {}: a contract revision may not create tables; create it in expand", create.name),
        )],
        Statement::AlterTable(alter) => alter
            .operations
            .iter()
            .filter_map(|operation| match operation {
                AlterTableOperation::AddColumn { column_def, .. } => Some((
                    Rule::ContractAddColumn,
                    format!(
                        "ALTER TABLE {} ADD COLUMN {}: a contract revision may not add columns; add it in expand",
                        alter.name, column_def.name
                    ),
                )),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn check_expand(statement: &Statement, schema: &Schema, created: &BTreeSet<String>) -> Vec<Violation> {
    match statement {
        // A unique index is a constraint that existing rows may violate.
        Statement::CreateIndex(index) if index.unique && !created.contains(&key_of(&index.table_name)) => vec![(
            Rule::ExpandAddConstraint,
            format!(
                "CREATE UNIQUE INDEX on {}: existing rows may violate it; expand may add only constraints no existing row can violate (on a table created in the same revision, or a plain index)",
                index.table_name
            ),
        )],
        // Additive, or data only: allowed.
        Statement::CreateTable(_)
        | Statement::CreateIndex(_)
        | Statement::CreateView(_)
        | Statement::CreateTrigger(_)
        | Statement::CreateSequence { .. }
        | Statement::Insert(_)
        | Statement::Update(_)
        | Statement::Delete(_)
        | Statement::Query(_)
        | Statement::Set(_)
        | Statement::Comment { .. } => Vec::new(),
        // A new function (a trigger's, on PostgreSQL) adds; replacing one changes what old
        // code's triggers and queries do.
        Statement::CreateFunction(function) if !function.or_replace => Vec::new(),
        Statement::CreateFunction(function) => vec![(
            Rule::ExpandUnknownDdl,
            format!(
                "CREATE OR REPLACE FUNCTION {}: replacing a function changes what old code relies on; create a new one in expand",
                function.name
            ),
        )],
        Statement::Drop { object_type, names, .. } => {
            let names: Vec<String> = names.iter().map(ToString::to_string).collect();
            let names = names.join(", ");
            match object_type {
                ObjectType::Table => vec![(
                    Rule::ExpandDropTable,
                    format!("DROP TABLE {names}: old code still reads it; drop it in a contract revision"),
                )],
                ObjectType::Index => vec![(
                    Rule::ExpandDropIndex,
                    format!("DROP INDEX {names}: old code may rely on it; drop it in a contract revision"),
                )],
                other => vec![(
                    Rule::ExpandUnknownDdl,
                    format!("DROP {other} {names}: an expand revision only adds; drop it in a contract revision"),
                )],
            }
        }
        Statement::RenameTable(renames) => renames
            .iter()
            .map(|rename| {
                (
                    Rule::ExpandRename,
                    format!(
                        "RENAME TABLE {} TO {}: old code still uses the old name; rename in a contract revision",
                        rename.old_name, rename.new_name
                    ),
                )
            })
            .collect(),
        Statement::AlterTable(alter) => {
            let table = key_of(&alter.name);
            alter
                .operations
                .iter()
                .filter_map(|operation| {
                    check_expand_alter(&alter.name.to_string(), &table, operation, schema, created.contains(&table))
                })
                .collect()
        }
        other => vec![(
            Rule::ExpandUnknownDdl,
            format!(
                "{}: strata cannot tell that this statement only adds",
                other.to_string().split_whitespace().take(3).collect::<Vec<_>>().join(" ")
            ),
        )],
    }
}

fn check_expand_alter(
    shown: &str,
    table: &str,
    operation: &AlterTableOperation,
    schema: &Schema,
    created_here: bool,
) -> Option<Violation> {
    let violation = |rule: Rule, what: String| Some((rule, format!("ALTER TABLE {shown} {what}")));
    match operation {
        AlterTableOperation::AddColumn { column_def, .. } => {
            let options = column_def.options();
            if has_not_null(&options) && !has_default(&options) && !created_here {
                violation(
                    Rule::ExpandAddNotNull,
                    format!(
                        "ADD COLUMN {}: NOT NULL without a default fails on existing rows and on old code's inserts; give it a default or make it nullable",
                        column_def.name
                    ),
                )
            } else if has_constraint(&options) && has_default(&options) && !created_here {
                violation(
                    Rule::ExpandAddConstraint,
                    format!(
                        "ADD COLUMN {}: a constraint on a column with a default applies to every existing row's default",
                        column_def.name
                    ),
                )
            } else {
                None
            }
        }
        AlterTableOperation::AddConstraint { constraint, not_valid } => {
            // MySQL's ADD INDEX / ADD FULLTEXT: an index, which no row can violate.
            let plain_index = matches!(constraint, TableConstraint::Index(_) | TableConstraint::FulltextOrSpatial(_));
            if *not_valid || created_here || plain_index {
                None
            } else {
                violation(
                    Rule::ExpandAddConstraint,
                    format!(
                        "ADD {}: existing rows may violate it; expand may add only constraints no existing row can violate (inside CREATE TABLE, on a table created in the same revision, or PostgreSQL's NOT VALID)",
                        first_words(&constraint.to_string(), 3)
                    ),
                )
            }
        }
        AlterTableOperation::DropColumn { column_names, .. } => violation(
            Rule::ExpandDropColumn,
            format!(
                "DROP COLUMN {}: old code still reads it; drop it in a contract revision",
                column_names.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            ),
        ),
        AlterTableOperation::DropConstraint { name, .. } => violation(
            Rule::ExpandDropConstraint,
            format!("DROP CONSTRAINT {name}: old code may rely on it; drop it in a contract revision"),
        ),
        AlterTableOperation::DropPrimaryKey { .. } => violation(
            Rule::ExpandDropConstraint,
            "DROP PRIMARY KEY: old code may rely on it; drop it in a contract revision".to_owned(),
        ),
        AlterTableOperation::DropForeignKey { name, .. } => violation(
            Rule::ExpandDropConstraint,
            format!("DROP FOREIGN KEY {name}: old code may rely on it; drop it in a contract revision"),
        ),
        AlterTableOperation::DropIndex { name } => violation(
            Rule::ExpandDropIndex,
            format!("DROP INDEX {name}: old code may rely on it; drop it in a contract revision"),
        ),
        AlterTableOperation::RenameTable { table_name } => {
            let (RenameTableNameKind::As(name) | RenameTableNameKind::To(name)) = table_name;
            violation(
                Rule::ExpandRename,
                format!("RENAME TO {name}: old code still uses the old name; rename in a contract revision"),
            )
        }
        AlterTableOperation::RenameColumn { old_column_name, new_column_name } => violation(
            Rule::ExpandRename,
            format!(
                "RENAME COLUMN {old_column_name} TO {new_column_name}: old code still uses the old name; rename in a contract revision"
            ),
        ),
        AlterTableOperation::ChangeColumn { old_name, new_name, data_type, options, .. } => {
            if unquote(&old_name.value) != unquote(&new_name.value) {
                return violation(
                    Rule::ExpandRename,
                    format!("CHANGE COLUMN {old_name} {new_name}: old code still uses the old name; rename in a contract revision"),
                );
            }
            redefine(shown, table, &old_name.value, data_type, options, schema)
        }
        AlterTableOperation::ModifyColumn { col_name, data_type, options, .. } => {
            redefine(shown, table, &col_name.value, data_type, options, schema)
        }
        // MySQL's ALGORITHM= and LOCK= say how the server runs the other operations.
        AlterTableOperation::Algorithm { .. } | AlterTableOperation::Lock { .. } => None,
        AlterTableOperation::AlterColumn { column_name, op } => match op {
            AlterColumnOperation::DropNotNull
            | AlterColumnOperation::DropDefault
            | AlterColumnOperation::SetDefault { .. } => None,
            AlterColumnOperation::SetNotNull => violation(
                Rule::ExpandAddNotNull,
                format!("ALTER COLUMN {column_name} SET NOT NULL: old code may still write NULL; tighten in a contract revision"),
            ),
            AlterColumnOperation::SetDataType { data_type, .. } => {
                change_type(shown, table, &column_name.value, data_type, schema)
            }
            other => violation(
                Rule::ExpandUnknownDdl,
                format!("ALTER COLUMN {column_name} {other}: strata cannot tell that this only adds"),
            ),
        },
        other => violation(
            Rule::ExpandUnknownDdl,
            format!("{}: strata cannot tell that this only adds", first_words(&other.to_string(), 3)),
        ),
    }
}

/// MySQL's MODIFY / CHANGE COLUMN: a new type and a new nullability at once.
fn redefine(
    shown: &str,
    table: &str,
    column: &str,
    data_type: &DataType,
    options: &[ColumnOption],
    schema: &Schema,
) -> Option<Violation> {
    let options: Vec<&ColumnOption> = options.iter().collect();
    let was_not_null = schema.column(table, column).is_some_and(|old| old.not_null);
    if has_not_null(&options) && !was_not_null {
        return Some((
            Rule::ExpandAddNotNull,
            format!("ALTER TABLE {shown} MODIFY {column}: makes the column NOT NULL; old code may still write NULL"),
        ));
    }
    change_type(shown, table, column, data_type, schema)
}

fn change_type(shown: &str, table: &str, column: &str, new: &DataType, schema: &Schema) -> Option<Violation> {
    match schema.column(table, column) {
        Some(old) if widens(&old.data_type, new) => None,
        Some(old) => Some((
            Rule::ExpandNarrowType,
            format!(
                "ALTER TABLE {shown}: column {column} goes from {} to {new}, which is not known to be wider; old code may write values that no longer fit",
                old.data_type
            ),
        )),
        None => Some((
            Rule::ExpandNarrowType,
            format!(
                "ALTER TABLE {shown}: column {column} becomes {new}, and strata does not know its old type (not created by a revision it read), so cannot tell that this widens"
            ),
        )),
    }
}

/// Whether every value of `old` fits `new`: the same type, a longer string, `TEXT`, a larger
/// integer, or a decimal with at least as many digits on each side of the point.
pub(super) fn widens(old: &DataType, new: &DataType) -> bool {
    if old == new {
        return true;
    }
    if let (Some(old), Some(new)) = (string_length(old), string_length(new)) {
        return new >= old;
    }
    if let (Some(old), Some(new)) = (integer_rank(old), integer_rank(new)) {
        return new >= old;
    }
    if let (Some((old_precision, old_scale)), Some((new_precision, new_scale))) = (decimal(old), decimal(new)) {
        return new_scale >= old_scale && new_precision - new_scale >= old_precision - old_scale;
    }
    false
}

/// A string type's length; `u64::MAX` for unbounded ones.
fn string_length(data_type: &DataType) -> Option<u64> {
    let length = |length: &Option<CharacterLength>| match length {
        Some(CharacterLength::IntegerLength { length, .. }) => *length,
        Some(CharacterLength::Max) | None => u64::MAX,
    };
    match data_type {
        DataType::Char(size) | DataType::Character(size) => Some(size.as_ref().map_or(1, |_| length(size))),
        DataType::Varchar(size) | DataType::CharacterVarying(size) | DataType::Nvarchar(size) => Some(length(size)),
        DataType::Text | DataType::MediumText | DataType::LongText | DataType::String(None) => Some(u64::MAX),
        DataType::TinyText => Some(255),
        _ => None,
    }
}

fn integer_rank(data_type: &DataType) -> Option<u8> {
    match data_type {
        DataType::TinyInt(_) => Some(1),
        DataType::SmallInt(_) | DataType::Int2(_) => Some(2),
        DataType::MediumInt(_) => Some(3),
        DataType::Int(_) | DataType::Integer(_) | DataType::Int4(_) => Some(4),
        DataType::BigInt(_) | DataType::Int8(_) => Some(5),
        _ => None,
    }
}

fn decimal(data_type: &DataType) -> Option<(u64, u64)> {
    match data_type {
        DataType::Decimal(info) | DataType::Numeric(info) => match info {
            ExactNumberInfo::PrecisionAndScale(precision, scale) => Some((*precision, u64::try_from(*scale).ok()?)),
            ExactNumberInfo::Precision(precision) => Some((*precision, 0)),
            ExactNumberInfo::None => None,
        },
        _ => None,
    }
}

fn first_words(text: &str, count: usize) -> String {
    text.split_whitespace().take(count).collect::<Vec<_>>().join(" ")
}
