-- The base revision as a hand-made hotfix left the database: one more column, no NOT NULL
-- on name, and an index nobody's revision creates.
CREATE TABLE widget (
    id INTEGER NOT NULL PRIMARY KEY,
    name VARCHAR(64),
    legacy_flag INTEGER,
    hotfix_note TEXT
);
CREATE INDEX ix_widget_name ON widget (name);
