-- The server default came from [saml] relay_state_prefix at install time; keystone
-- now fills the column itself.
ALTER TABLE service_provider ALTER COLUMN relay_state_prefix DROP DEFAULT;
