-- access_rule.external_id keeps its plain index "external_id"; only the unique
-- constraint goes.
ALTER TABLE access_rule DROP CONSTRAINT access_rule_external_id_key;

-- Superseded by duplicate_trust_constraint (expand b4f8b3f584e0).
ALTER TABLE trust DROP CONSTRAINT duplicate_trust_constraint_expanded;
