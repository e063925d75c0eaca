-- Platform core: organizations, identities and auth, projects, secrets, audit log.
-- Times are milliseconds since the Unix epoch (UTC); ids are UUID text.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE data_keys (
    scope      TEXT PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    wrapped    BLOB NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE organizations (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    slug       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE identities (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    org_role   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE universal_auths (
    identity_id         TEXT PRIMARY KEY REFERENCES identities(id) ON DELETE CASCADE,
    client_id           TEXT NOT NULL UNIQUE,
    access_token_ttl    BIGINT NOT NULL,
    access_token_max_ttl BIGINT NOT NULL,
    access_token_num_uses_limit BIGINT NOT NULL,
    trusted_ips         TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);

CREATE TABLE client_secrets (
    id             TEXT PRIMARY KEY,
    identity_id    TEXT NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    description    TEXT NOT NULL,
    prefix         TEXT NOT NULL,
    hash           TEXT NOT NULL,
    ttl            BIGINT NOT NULL,
    num_uses_limit BIGINT NOT NULL,
    num_uses       BIGINT NOT NULL,
    revoked        BOOLEAN NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX client_secrets_identity ON client_secrets(identity_id);

CREATE TABLE access_tokens (
    id              TEXT PRIMARY KEY,
    identity_id     TEXT NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    auth_method     TEXT NOT NULL,
    ttl             BIGINT NOT NULL,
    max_ttl         BIGINT NOT NULL,
    expires_at      BIGINT,
    revoked         BOOLEAN NOT NULL,
    created_at      BIGINT NOT NULL,
    last_renewed_at BIGINT
);
CREATE INDEX access_tokens_identity ON access_tokens(identity_id);

CREATE TABLE projects (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    slug        TEXT NOT NULL,
    description TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (org_id, slug)
);

CREATE TABLE environments (
    id         TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    slug       TEXT NOT NULL,
    position   BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (project_id, slug)
);

CREATE TABLE folders (
    id         TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    env_id     TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    parent_id  TEXT REFERENCES folders(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    path       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (env_id, path)
);

CREATE TABLE memberships (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    identity_id TEXT NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    role        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (project_id, identity_id)
);

CREATE TABLE secrets (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    env_id      TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    folder_id   TEXT NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    secret_type TEXT NOT NULL,
    version     BIGINT NOT NULL,
    value       BLOB NOT NULL,
    comment     BLOB NOT NULL,
    skip_multiline BOOLEAN NOT NULL,
    rotation_id TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (folder_id, key, secret_type)
);

CREATE TABLE secret_versions (
    id         TEXT PRIMARY KEY,
    secret_id  TEXT NOT NULL REFERENCES secrets(id) ON DELETE CASCADE,
    version    BIGINT NOT NULL,
    key        TEXT NOT NULL,
    value      BLOB NOT NULL,
    comment    BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (secret_id, version)
);

CREATE TABLE audit_logs (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL,
    project_id  TEXT,
    event_type  TEXT NOT NULL,
    actor       TEXT NOT NULL,
    metadata    TEXT NOT NULL,
    ip_address  TEXT NOT NULL,
    user_agent  TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX audit_logs_org_time ON audit_logs(org_id, created_at);
CREATE INDEX audit_logs_project_time ON audit_logs(project_id, created_at);

CREATE TRIGGER audit_logs_no_update BEFORE UPDATE ON audit_logs
BEGIN SELECT RAISE(ABORT, 'audit_logs is append-only'); END;
CREATE TRIGGER audit_logs_no_delete BEFORE DELETE ON audit_logs
BEGIN SELECT RAISE(ABORT, 'audit_logs is append-only'); END;
