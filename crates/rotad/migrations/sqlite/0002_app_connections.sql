-- App connections: how rotad reaches a provider (dbt Cloud) on an organization's behalf.
-- `credentials` is sealed JSON `{instanceUrl, accountId, apiToken}` under the organization's
-- data key, with `<id>:credentials` as associated data.

CREATE TABLE app_connections (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    project_id  TEXT REFERENCES projects(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT,
    app         TEXT NOT NULL,
    method      TEXT NOT NULL,
    credentials BLOB NOT NULL,
    version     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (org_id, name)
);
CREATE INDEX app_connections_project ON app_connections(project_id);
