-- 742c857f1dfb (two indexes on revocation_event), SQLite.
CREATE INDEX ix_revocation_event_project_id_user_id ON revocation_event (project_id, user_id);

CREATE INDEX ix_revocation_event_composite ON revocation_event (issued_before, user_id, project_id, audit_id);
