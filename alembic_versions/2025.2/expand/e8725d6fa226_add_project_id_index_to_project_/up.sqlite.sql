-- e8725d6fa226 (index project_endpoint_group.project_id), SQLite.
CREATE INDEX idx_project_id ON project_endpoint_group (project_id);
