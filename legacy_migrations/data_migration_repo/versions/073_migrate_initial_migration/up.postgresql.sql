-- The root of all domains: every domain's domain_id points at this row, which
-- makes project's self-referencing foreign key satisfiable. Keystone's driver
-- hides it.
INSERT INTO project (id, name, extra, description, enabled, domain_id, parent_id, is_domain)
VALUES ('<<keystone.domain.root>>', '<<keystone.domain.root>>', '{}', '', false, '<<keystone.domain.root>>', NULL, true);
