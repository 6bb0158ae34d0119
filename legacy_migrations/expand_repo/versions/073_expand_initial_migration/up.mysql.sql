-- Keystone's squashed Yoga schema (legacy expand 073) on MySQL/MariaDB: the same 48 tables
-- as alembic revision 27e647c0fad4, created in the order of the legacy migration, except
-- that id_mapping.local_id is still VARCHAR(64) (079 widens it) and the root-domain row is
-- inserted by data-migration 073.
--
-- Naming that the server chooses, and that this file therefore has to provoke exactly:
-- * an unnamed FOREIGN KEY is named `<table>_ibfk_<n>`, n counting the unnamed FKs in the
--   order of their clauses, so the FK clauses follow the column order keystone declares;
-- * InnoDB adds an index for every FK that no other index starts with; it is named after
--   the constraint (named FK) or after the first column (unnamed FK), and it is dropped
--   silently when a later CREATE INDEX covers the FK (endpoint.service_id,
--   user_group_membership.group_id, access_token/request_token.consumer_id);
-- * an unnamed UNIQUE is named after its first column (`idp_id`, `endpoint_id`,
--   `domain_id`, `user_id`, `project_id`).
-- `ENGINE=InnoDB CHARSET=utf8` appears exactly where keystone declares mysql_engine /
-- mysql_charset; the other tables (consumer, project_endpoint, request_token,
-- revocation_event, access_token, endpoint_group, local_user, password,
-- project_endpoint_group) take the database defaults set by the second statement.

-- "In Folsom we explicitly converted migrate_version to UTF8." (keystone)
ALTER TABLE migrate_version CONVERT TO CHARACTER SET utf8;

-- keystone runs `ALTER DATABASE <name> DEFAULT CHARACTER SET utf8`; without a name the
-- statement applies to the connection's current database.
ALTER DATABASE DEFAULT CHARACTER SET utf8;

CREATE TABLE access_rule (
    id INTEGER NOT NULL AUTO_INCREMENT,
    service VARCHAR(64),
    path VARCHAR(128),
    method VARCHAR(16),
    external_id VARCHAR(64),
    user_id VARCHAR(64),
    PRIMARY KEY (id),
    CONSTRAINT access_rule_external_id_key UNIQUE (external_id),
    CONSTRAINT duplicate_access_rule_for_user_constraint UNIQUE (user_id, service, path, method)
) ENGINE=InnoDB CHARSET=utf8;

CREATE INDEX user_id ON access_rule (user_id);

CREATE INDEX external_id ON access_rule (external_id);

CREATE TABLE application_credential (
    internal_id INTEGER NOT NULL AUTO_INCREMENT,
    id VARCHAR(64) NOT NULL,
    name VARCHAR(255) NOT NULL,
    secret_hash VARCHAR(255) NOT NULL,
    description TEXT,
    user_id VARCHAR(64) NOT NULL,
    project_id VARCHAR(64),
    expires_at BIGINT,
    `system` VARCHAR(64),
    unrestricted BOOL,
    PRIMARY KEY (internal_id),
    CONSTRAINT duplicate_app_cred_constraint UNIQUE (user_id, name)
) ENGINE=InnoDB CHARSET=utf8;

CREATE TABLE assignment (
    `type` ENUM('UserProject','GroupProject','UserDomain','GroupDomain') NOT NULL,
    actor_id VARCHAR(64) NOT NULL,
    target_id VARCHAR(64) NOT NULL,
    role_id VARCHAR(64) NOT NULL,
    inherited BOOL NOT NULL,
    PRIMARY KEY (`type`, actor_id, target_id, role_id, inherited)
) ENGINE=InnoDB CHARSET=utf8;

CREATE INDEX ix_actor_id ON assignment (actor_id);

CREATE TABLE config_register (
    `type` VARCHAR(64) NOT NULL,
    domain_id VARCHAR(64) NOT NULL,
    PRIMARY KEY (`type`)
) ENGINE=InnoDB CHARSET=utf8;

CREATE TABLE consumer (
    id VARCHAR(64) NOT NULL,
    description VARCHAR(64),
    secret VARCHAR(64) NOT NULL,
    extra TEXT NOT NULL,
    PRIMARY KEY (id)
);

CREATE TABLE credential (
    id VARCHAR(64) NOT NULL,
    user_id VARCHAR(64) NOT NULL,
    project_id VARCHAR(64),
    `type` VARCHAR(255) NOT NULL,
    extra TEXT,
    key_hash VARCHAR(64) NOT NULL,
    encrypted_blob TEXT NOT NULL,
    PRIMARY KEY (id)
) ENGINE=InnoDB CHARSET=utf8;

CREATE TABLE `group` (
    id VARCHAR(64) NOT NULL,
    domain_id VARCHAR(64) NOT NULL,
    name VARCHAR(64) NOT NULL,
    description TEXT,
    extra TEXT,
    PRIMARY KEY (id),
    CONSTRAINT ixu_group_name_domain_id UNIQUE (domain_id, name)
) ENGINE=InnoDB CHARSET=utf8;

-- The unique constraint really is named `domain_id`. local_id is widened to 255 by 079.
CREATE TABLE id_mapping (
    public_id VARCHAR(64) NOT NULL,
    domain_id VARCHAR(64) NOT NULL,
    local_id VARCHAR(64) NOT NULL,
    entity_type ENUM('user','group') NOT NULL,
    PRIMARY KEY (public_id),
    CONSTRAINT domain_id UNIQUE (domain_id, local_id, entity_type)
) ENGINE=InnoDB CHARSET=utf8;

CREATE TABLE identity_provider (
    id VARCHAR(64) NOT NULL,
    enabled BOOL NOT NULL,
    description TEXT,
    domain_id VARCHAR(64) NOT NULL,
    authorization_ttl INTEGER,
    PRIMARY KEY (id)
) ENGINE=InnoDB CHARSET=utf8;

-- FK -> idp_remote_ids_ibfk_1, backed by the generated KEY `idp_id`.
CREATE TABLE idp_remote_ids (
    idp_id VARCHAR(64),
    remote_id VARCHAR(255) NOT NULL,
    PRIMARY KEY (remote_id),
    FOREIGN KEY (idp_id) REFERENCES identity_provider (id) ON DELETE CASCADE
) ENGINE=InnoDB CHARSET=utf8;

CREATE TABLE mapping (
    id VARCHAR(64) NOT NULL,
    rules TEXT NOT NULL,
    PRIMARY KEY (id)
) ENGINE=InnoDB CHARSET=utf8;

CREATE TABLE policy (
    id VARCHAR(64) NOT NULL,
    `type` VARCHAR(255) NOT NULL,
    `blob` TEXT NOT NULL,
    extra TEXT,
    PRIMARY KEY (id)
) ENGINE=InnoDB CHARSET=utf8;

-- Unnamed UNIQUE -> `endpoint_id`.
CREATE TABLE policy_association (
    id VARCHAR(64) NOT NULL,
    policy_id VARCHAR(64) NOT NULL,
    endpoint_id VARCHAR(64),
    service_id VARCHAR(64),
    region_id VARCHAR(64),
    PRIMARY KEY (id),
    UNIQUE (endpoint_id, service_id, region_id)
) ENGINE=InnoDB CHARSET=utf8;

-- The domain_id FK is covered by the unique key; parent_id gets the generated KEY
-- `project_parent_id_fkey`.
CREATE TABLE project (
    id VARCHAR(64) NOT NULL,
    name VARCHAR(64) NOT NULL,
    extra TEXT,
    description TEXT,
    enabled BOOL,
    domain_id VARCHAR(64) NOT NULL,
    parent_id VARCHAR(64),
    is_domain BOOL NOT NULL DEFAULT '0',
    PRIMARY KEY (id),
    CONSTRAINT ixu_project_name_domain_id UNIQUE (domain_id, name),
    CONSTRAINT project_domain_id_fkey FOREIGN KEY (domain_id) REFERENCES project (id),
    CONSTRAINT project_parent_id_fkey FOREIGN KEY (parent_id) REFERENCES project (id)
) ENGINE=InnoDB CHARSET=utf8;

CREATE TABLE project_endpoint (
    endpoint_id VARCHAR(64) NOT NULL,
    project_id VARCHAR(64) NOT NULL,
    PRIMARY KEY (endpoint_id, project_id)
);

CREATE TABLE project_option (
    project_id VARCHAR(64) NOT NULL,
    option_id VARCHAR(4) NOT NULL,
    option_value TEXT,
    PRIMARY KEY (project_id, option_id),
    FOREIGN KEY (project_id) REFERENCES project (id) ON DELETE CASCADE
) ENGINE=InnoDB CHARSET=utf8;

-- The unnamed UNIQUE duplicating the primary key becomes the index `project_id`, which
-- contract c88cdce8f248 drops.
CREATE TABLE project_tag (
    project_id VARCHAR(64) NOT NULL,
    name VARCHAR(255) NOT NULL,
    PRIMARY KEY (project_id, name),
    UNIQUE (project_id, name),
    FOREIGN KEY (project_id) REFERENCES project (id) ON DELETE CASCADE
) ENGINE=InnoDB CHARSET=utf8;

CREATE TABLE region (
    id VARCHAR(255) NOT NULL,
    description VARCHAR(255) NOT NULL,
    parent_region_id VARCHAR(255),
    extra TEXT,
    PRIMARY KEY (id)
) ENGINE=InnoDB CHARSET=utf8;

CREATE TABLE registered_limit (
    id VARCHAR(64) NOT NULL,
    service_id VARCHAR(255),
    region_id VARCHAR(64),
    resource_name VARCHAR(255),
    default_limit INTEGER NOT NULL,
    description TEXT,
    internal_id INTEGER NOT NULL AUTO_INCREMENT,
    PRIMARY KEY (internal_id),
    CONSTRAINT registered_limit_id_key UNIQUE (id)
) ENGINE=InnoDB CHARSET=utf8;

CREATE TABLE request_token (
    id VARCHAR(64) NOT NULL,
    request_secret VARCHAR(64) NOT NULL,
    verifier VARCHAR(64),
    authorizing_user_id VARCHAR(64),
    requested_project_id VARCHAR(64) NOT NULL,
    role_ids TEXT,
    consumer_id VARCHAR(64) NOT NULL,
    expires_at VARCHAR(64),
    PRIMARY KEY (id),
    FOREIGN KEY (consumer_id) REFERENCES consumer (id)
);

-- Column index=True: replaces the FK's generated index.
CREATE INDEX ix_request_token_consumer_id ON request_token (consumer_id);

CREATE TABLE revocation_event (
    id INTEGER NOT NULL AUTO_INCREMENT,
    domain_id VARCHAR(64),
    project_id VARCHAR(64),
    user_id VARCHAR(64),
    role_id VARCHAR(64),
    trust_id VARCHAR(64),
    consumer_id VARCHAR(64),
    access_token_id VARCHAR(64),
    issued_before DATETIME NOT NULL,
    expires_at DATETIME,
    revoked_at DATETIME NOT NULL,
    audit_id VARCHAR(32),
    audit_chain_id VARCHAR(32),
    PRIMARY KEY (id)
);

-- Historical name (the table was once revocation_event_new).
CREATE INDEX ix_revocation_event_new_revoked_at ON revocation_event (revoked_at);

CREATE INDEX ix_revocation_event_issued_before ON revocation_event (issued_before);

CREATE INDEX ix_revocation_event_project_id_issued_before ON revocation_event (project_id, issued_before);

CREATE INDEX ix_revocation_event_user_id_issued_before ON revocation_event (user_id, issued_before);

CREATE INDEX ix_revocation_event_audit_id_issued_before ON revocation_event (audit_id, issued_before);

CREATE TABLE role (
    id VARCHAR(64) NOT NULL,
    name VARCHAR(255) NOT NULL,
    extra TEXT,
    domain_id VARCHAR(64) NOT NULL DEFAULT '<<null>>',
    description VARCHAR(255),
    PRIMARY KEY (id),
    CONSTRAINT ixu_role_name_domain_id UNIQUE (name, domain_id)
) ENGINE=InnoDB CHARSET=utf8;

CREATE TABLE role_option (
    role_id VARCHAR(64) NOT NULL,
    option_id VARCHAR(4) NOT NULL,
    option_value TEXT,
    PRIMARY KEY (role_id, option_id),
    FOREIGN KEY (role_id) REFERENCES role (id) ON DELETE CASCADE
) ENGINE=InnoDB CHARSET=utf8;

CREATE TABLE sensitive_config (
    domain_id VARCHAR(64) NOT NULL,
    `group` VARCHAR(255) NOT NULL,
    `option` VARCHAR(255) NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (domain_id, `group`, `option`)
) ENGINE=InnoDB CHARSET=utf8;

CREATE TABLE service (
    id VARCHAR(64) NOT NULL,
    `type` VARCHAR(255),
    enabled BOOL NOT NULL DEFAULT '1',
    extra TEXT,
    PRIMARY KEY (id)
) ENGINE=InnoDB CHARSET=utf8;

-- The default is keystone's `[saml] relay_state_prefix` default; expand 11c3b243b4cb
-- drops it again.
CREATE TABLE service_provider (
    auth_url VARCHAR(256) NOT NULL,
    id VARCHAR(64) NOT NULL,
    enabled BOOL NOT NULL,
    description TEXT,
    sp_url VARCHAR(256) NOT NULL,
    relay_state_prefix VARCHAR(256) NOT NULL DEFAULT 'ss:mem:',
    PRIMARY KEY (id)
) ENGINE=InnoDB CHARSET=utf8;

CREATE TABLE system_assignment (
    `type` VARCHAR(64) NOT NULL,
    actor_id VARCHAR(64) NOT NULL,
    target_id VARCHAR(64) NOT NULL,
    role_id VARCHAR(64) NOT NULL,
    inherited BOOL NOT NULL,
    PRIMARY KEY (`type`, actor_id, target_id, role_id, inherited)
) ENGINE=InnoDB CHARSET=utf8;

CREATE TABLE token (
    id VARCHAR(64) NOT NULL,
    expires DATETIME,
    extra TEXT,
    valid BOOL NOT NULL,
    trust_id VARCHAR(64),
    user_id VARCHAR(64),
    PRIMARY KEY (id)
) ENGINE=InnoDB CHARSET=utf8;

CREATE INDEX ix_token_expires ON token (expires);

CREATE INDEX ix_token_expires_valid ON token (expires, valid);

CREATE INDEX ix_token_user_id ON token (user_id);

CREATE INDEX ix_token_trust_id ON token (trust_id);

CREATE TABLE trust (
    id VARCHAR(64) NOT NULL,
    trustor_user_id VARCHAR(64) NOT NULL,
    trustee_user_id VARCHAR(64) NOT NULL,
    project_id VARCHAR(64),
    impersonation BOOL NOT NULL,
    deleted_at DATETIME,
    expires_at DATETIME,
    remaining_uses INTEGER,
    extra TEXT,
    expires_at_int BIGINT,
    redelegated_trust_id VARCHAR(64),
    redelegation_count INTEGER,
    PRIMARY KEY (id),
    CONSTRAINT duplicate_trust_constraint_expanded UNIQUE (trustor_user_id, trustee_user_id, project_id, impersonation, expires_at, expires_at_int)
) ENGINE=InnoDB CHARSET=utf8;

CREATE TABLE trust_role (
    trust_id VARCHAR(64) NOT NULL,
    role_id VARCHAR(64) NOT NULL,
    PRIMARY KEY (trust_id, role_id)
) ENGINE=InnoDB CHARSET=utf8;

CREATE TABLE `user` (
    id VARCHAR(64) NOT NULL,
    extra TEXT,
    enabled BOOL,
    default_project_id VARCHAR(64),
    created_at DATETIME,
    last_active_at DATE,
    domain_id VARCHAR(64) NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT ixu_user_id_domain_id UNIQUE (id, domain_id)
) ENGINE=InnoDB CHARSET=utf8;

CREATE INDEX ix_default_project_id ON `user` (default_project_id);

-- The user_id FK is covered by the primary key; the group_id FK's generated index is
-- replaced by the explicit index `group_id`.
CREATE TABLE user_group_membership (
    user_id VARCHAR(64) NOT NULL,
    group_id VARCHAR(64) NOT NULL,
    PRIMARY KEY (user_id, group_id),
    CONSTRAINT fk_user_group_membership_user_id FOREIGN KEY (user_id) REFERENCES `user` (id),
    CONSTRAINT fk_user_group_membership_group_id FOREIGN KEY (group_id) REFERENCES `group` (id)
) ENGINE=InnoDB CHARSET=utf8;

CREATE INDEX group_id ON user_group_membership (group_id);

CREATE TABLE user_option (
    user_id VARCHAR(64) NOT NULL,
    option_id VARCHAR(4) NOT NULL,
    option_value TEXT,
    PRIMARY KEY (user_id, option_id),
    FOREIGN KEY (user_id) REFERENCES `user` (id) ON DELETE CASCADE
) ENGINE=InnoDB CHARSET=utf8;

CREATE TABLE whitelisted_config (
    domain_id VARCHAR(64) NOT NULL,
    `group` VARCHAR(255) NOT NULL,
    `option` VARCHAR(255) NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (domain_id, `group`, `option`)
) ENGINE=InnoDB CHARSET=utf8;

CREATE TABLE access_token (
    id VARCHAR(64) NOT NULL,
    access_secret VARCHAR(64) NOT NULL,
    authorizing_user_id VARCHAR(64) NOT NULL,
    project_id VARCHAR(64) NOT NULL,
    role_ids TEXT NOT NULL,
    consumer_id VARCHAR(64) NOT NULL,
    expires_at VARCHAR(64),
    PRIMARY KEY (id),
    FOREIGN KEY (consumer_id) REFERENCES consumer (id)
);

CREATE INDEX ix_access_token_authorizing_user_id ON access_token (authorizing_user_id);

CREATE INDEX ix_access_token_consumer_id ON access_token (consumer_id);

-- ibfk_1 = application_credential_id, ibfk_2 = access_rule_id (generated KEY
-- `access_rule_id`).
CREATE TABLE application_credential_access_rule (
    application_credential_id INTEGER NOT NULL,
    access_rule_id INTEGER NOT NULL,
    PRIMARY KEY (application_credential_id, access_rule_id),
    FOREIGN KEY (application_credential_id) REFERENCES application_credential (internal_id) ON DELETE CASCADE,
    FOREIGN KEY (access_rule_id) REFERENCES access_rule (id) ON DELETE CASCADE
) ENGINE=InnoDB CHARSET=utf8;

CREATE TABLE application_credential_role (
    application_credential_id INTEGER NOT NULL,
    role_id VARCHAR(64) NOT NULL,
    PRIMARY KEY (application_credential_id, role_id),
    FOREIGN KEY (application_credential_id) REFERENCES application_credential (internal_id) ON DELETE CASCADE
) ENGINE=InnoDB CHARSET=utf8;

-- The service_id FK's generated index is replaced by the explicit index `service_id`;
-- the region_id FK keeps its generated KEY `fk_endpoint_region_id`.
CREATE TABLE endpoint (
    id VARCHAR(64) NOT NULL,
    legacy_endpoint_id VARCHAR(64),
    interface VARCHAR(8) NOT NULL,
    service_id VARCHAR(64) NOT NULL,
    url TEXT NOT NULL,
    extra TEXT,
    enabled BOOL NOT NULL DEFAULT '1',
    region_id VARCHAR(255),
    PRIMARY KEY (id),
    CONSTRAINT endpoint_service_id_fkey FOREIGN KEY (service_id) REFERENCES service (id),
    CONSTRAINT fk_endpoint_region_id FOREIGN KEY (region_id) REFERENCES region (id)
) ENGINE=InnoDB CHARSET=utf8;

CREATE INDEX service_id ON endpoint (service_id);

CREATE TABLE endpoint_group (
    id VARCHAR(64) NOT NULL,
    name VARCHAR(255) NOT NULL,
    description TEXT,
    filters TEXT NOT NULL,
    PRIMARY KEY (id)
);

-- ibfk_1 = user_id, ibfk_2 = group_id, ibfk_3 = idp_id.
CREATE TABLE expiring_user_group_membership (
    user_id VARCHAR(64) NOT NULL,
    group_id VARCHAR(64) NOT NULL,
    idp_id VARCHAR(64) NOT NULL,
    last_verified DATETIME NOT NULL,
    PRIMARY KEY (user_id, group_id, idp_id),
    FOREIGN KEY (user_id) REFERENCES `user` (id),
    FOREIGN KEY (group_id) REFERENCES `group` (id),
    FOREIGN KEY (idp_id) REFERENCES identity_provider (id) ON DELETE CASCADE
) ENGINE=InnoDB CHARSET=utf8;

CREATE TABLE federation_protocol (
    id VARCHAR(64) NOT NULL,
    idp_id VARCHAR(64) NOT NULL,
    mapping_id VARCHAR(64) NOT NULL,
    remote_id_attribute VARCHAR(64),
    PRIMARY KEY (id, idp_id),
    FOREIGN KEY (idp_id) REFERENCES identity_provider (id) ON DELETE CASCADE
) ENGINE=InnoDB CHARSET=utf8;

CREATE TABLE implied_role (
    prior_role_id VARCHAR(64) NOT NULL,
    implied_role_id VARCHAR(64) NOT NULL,
    PRIMARY KEY (prior_role_id, implied_role_id),
    CONSTRAINT implied_role_prior_role_id_fkey FOREIGN KEY (prior_role_id) REFERENCES role (id) ON DELETE CASCADE,
    CONSTRAINT implied_role_implied_role_id_fkey FOREIGN KEY (implied_role_id) REFERENCES role (id) ON DELETE CASCADE
) ENGINE=InnoDB CHARSET=utf8;

-- No FK on registered_limit_id (keystone's FIXME); its MySQL-only index is created below.
CREATE TABLE `limit` (
    id VARCHAR(64) NOT NULL,
    project_id VARCHAR(64),
    resource_limit INTEGER NOT NULL,
    description TEXT,
    internal_id INTEGER NOT NULL AUTO_INCREMENT,
    registered_limit_id VARCHAR(64),
    domain_id VARCHAR(64),
    PRIMARY KEY (internal_id),
    CONSTRAINT limit_id_key UNIQUE (id)
) ENGINE=InnoDB CHARSET=utf8;

-- Unnamed uniques -> `domain_id` and `user_id`; the composite FK gets the generated KEY
-- `local_user_user_id_fkey`.
CREATE TABLE local_user (
    id INTEGER NOT NULL AUTO_INCREMENT,
    user_id VARCHAR(64) NOT NULL,
    domain_id VARCHAR(64) NOT NULL,
    name VARCHAR(255) NOT NULL,
    failed_auth_count INTEGER,
    failed_auth_at DATETIME,
    PRIMARY KEY (id),
    CONSTRAINT local_user_user_id_fkey FOREIGN KEY (user_id, domain_id) REFERENCES `user` (id, domain_id) ON DELETE CASCADE ON UPDATE CASCADE,
    UNIQUE (domain_id, name),
    UNIQUE (user_id)
);

CREATE TABLE nonlocal_user (
    domain_id VARCHAR(64) NOT NULL,
    name VARCHAR(255) NOT NULL,
    user_id VARCHAR(64) NOT NULL,
    PRIMARY KEY (domain_id, name),
    CONSTRAINT nonlocal_user_user_id_fkey FOREIGN KEY (user_id, domain_id) REFERENCES `user` (id, domain_id) ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT ixu_nonlocal_user_user_id UNIQUE (user_id)
) ENGINE=InnoDB CHARSET=utf8;

-- created_at has only a Python-side default in keystone: no server default.
CREATE TABLE password (
    id INTEGER NOT NULL AUTO_INCREMENT,
    local_user_id INTEGER NOT NULL,
    expires_at DATETIME,
    self_service BOOL NOT NULL DEFAULT '0',
    password_hash VARCHAR(255),
    created_at_int BIGINT NOT NULL DEFAULT '0',
    expires_at_int BIGINT,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY (local_user_id) REFERENCES local_user (id) ON DELETE CASCADE
);

CREATE TABLE project_endpoint_group (
    endpoint_group_id VARCHAR(64) NOT NULL,
    project_id VARCHAR(64) NOT NULL,
    PRIMARY KEY (endpoint_group_id, project_id),
    FOREIGN KEY (endpoint_group_id) REFERENCES endpoint_group (id)
);

-- ibfk_1 = user_id (generated KEY `user_id`), ibfk_2 = idp_id (covered by the unnamed
-- UNIQUE, which is named `idp_id`); the composite FK gets the generated KEY
-- `federated_user_protocol_id_fkey`.
CREATE TABLE federated_user (
    id INTEGER NOT NULL AUTO_INCREMENT,
    user_id VARCHAR(64) NOT NULL,
    idp_id VARCHAR(64) NOT NULL,
    protocol_id VARCHAR(64) NOT NULL,
    unique_id VARCHAR(255) NOT NULL,
    display_name VARCHAR(255),
    PRIMARY KEY (id),
    FOREIGN KEY (user_id) REFERENCES `user` (id) ON DELETE CASCADE,
    FOREIGN KEY (idp_id) REFERENCES identity_provider (id) ON DELETE CASCADE,
    CONSTRAINT federated_user_protocol_id_fkey FOREIGN KEY (protocol_id, idp_id) REFERENCES federation_protocol (id, idp_id) ON DELETE CASCADE,
    UNIQUE (idp_id, protocol_id, unique_id)
) ENGINE=InnoDB CHARSET=utf8;

-- MySQL-only indexes keystone keeps as leftovers of foreign keys removed long ago.
CREATE INDEX region_id ON registered_limit (region_id);

CREATE INDEX registered_limit_id ON `limit` (registered_limit_id);

CREATE INDEX domain_id ON identity_provider (domain_id);

CREATE INDEX domain_id ON `user` (domain_id);
