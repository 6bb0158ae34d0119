-- The five-column unique constraint keystone's model declares. The six-column
-- duplicate_trust_constraint_expanded it supersedes is dropped by contract 99de3849d860.
ALTER TABLE trust ADD CONSTRAINT duplicate_trust_constraint UNIQUE (trustor_user_id, trustee_user_id, project_id, impersonation, expires_at);
