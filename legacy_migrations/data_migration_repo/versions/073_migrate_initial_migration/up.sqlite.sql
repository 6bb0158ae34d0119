-- Legacy data migration 073, SQLite: the project acting as the root of all
-- domains (projects that are domains use it as their domain_id).
INSERT INTO project (id, name, extra, description, enabled, domain_id, parent_id, is_domain) VALUES ('<<keystone.domain.root>>', '<<keystone.domain.root>>', '{}', '', 0, '<<keystone.domain.root>>', NULL, 1);
