-- The unique constraint keystone's trust model declares (without expires_at_int).
-- It lives next to duplicate_trust_constraint_expanded until contract 99de3849d860
-- drops the old one.
ALTER TABLE trust ADD CONSTRAINT duplicate_trust_constraint UNIQUE (trustor_user_id, trustee_user_id, project_id, impersonation, expires_at);
