-- The five-column unique constraint keystone's model declares. The six-column
-- duplicate_trust_constraint_expanded it supersedes is dropped by contract 99de3849d860.
-- strata: allow expand-add-constraint: keystone b4f8b3f584e0 adds the constraint its trust model declares; no existing row violates it, as keystone writes expires_at and expires_at_int together (TrustModel's expires_at setter), so rows unique on the six columns of duplicate_trust_constraint_expanded are unique on these five. keystone's test_sql_banned_operations bans create_unique_constraint in contract only.
ALTER TABLE trust ADD CONSTRAINT duplicate_trust_constraint UNIQUE (trustor_user_id, trustee_user_id, project_id, impersonation, expires_at);
