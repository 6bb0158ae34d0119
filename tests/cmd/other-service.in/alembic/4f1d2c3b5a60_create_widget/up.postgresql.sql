-- SERIAL: PostgreSQL numbers the rows itself.
CREATE TABLE widget (
    id SERIAL NOT NULL PRIMARY KEY,
    name VARCHAR(64) NOT NULL,
    legacy_flag INTEGER
);
