CREATE INDEX idx_project_id ON project_endpoint_group (project_id);
