-- A unique constraint is an index on MySQL: alembic drops it with DROP INDEX.
-- access_rule keeps its plain index `external_id`.
ALTER TABLE access_rule DROP INDEX access_rule_external_id_key;

ALTER TABLE trust DROP INDEX duplicate_trust_constraint_expanded;
