-- The root of all domains: lets project.domain_id carry a foreign key. Keystone's driver
-- hides this row. (A fresh alembic install inserts it in 27e647c0fad4 instead.)
INSERT INTO project (id, name, extra, description, enabled, domain_id, parent_id, is_domain)
VALUES ('<<keystone.domain.root>>', '<<keystone.domain.root>>', '{}', '', 0, '<<keystone.domain.root>>', NULL, 1);
