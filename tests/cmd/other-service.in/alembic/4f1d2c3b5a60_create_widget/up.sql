CREATE TABLE widget (
    id INTEGER NOT NULL PRIMARY KEY,
    name VARCHAR(64) NOT NULL,
    legacy_flag INTEGER
);
