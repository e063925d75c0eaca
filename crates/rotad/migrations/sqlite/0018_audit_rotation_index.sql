-- A rotation's audit entries by time (the dashboard's timeline, the audit API's
-- eventMetadata.rotationId filter), without scanning the project's whole log. The expression
-- is `Dialect::ROTATION_ID_OF_METADATA`; a query must use it verbatim for the index to serve.
CREATE INDEX audit_logs_rotation_time ON audit_logs(json_extract(metadata, '$.rotationId'), created_at);
