-- Secret rotations and the crash-safe rotation engine's records.

CREATE TABLE secret_rotations (
    id                         TEXT PRIMARY KEY,
    org_id                     TEXT NOT NULL,
    project_id                 TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    env_id                     TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    folder_id                  TEXT NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
    connection_id              TEXT NOT NULL REFERENCES app_connections(id),
    name                       TEXT NOT NULL,
    description                TEXT,
    rotation_type              TEXT NOT NULL,
    -- JSON, as the API shows them.
    parameters                 TEXT NOT NULL,
    secrets_mapping            TEXT NOT NULL,
    -- Sealed JSON array of one or two credentials (the slots).
    credentials                BLOB NOT NULL,
    active_index               BIGINT NOT NULL,
    is_auto_rotation_enabled   BOOLEAN NOT NULL,
    rotation_interval          BIGINT NOT NULL,
    rotate_at_hours            BIGINT NOT NULL,
    rotate_at_minutes          BIGINT NOT NULL,
    rotation_status            TEXT NOT NULL,
    last_rotation_attempted_at BIGINT NOT NULL,
    last_rotated_at            BIGINT NOT NULL,
    last_rotation_job_id       TEXT,
    -- Sealed; may quote the provider's error.
    last_rotation_message      BLOB,
    next_rotation_at           BIGINT,
    is_last_rotation_manual    BOOLEAN NOT NULL,
    -- Failed attempts in the current failure episode (scheduler).
    failed_attempts            BIGINT NOT NULL,
    -- The one executor allowed to rotate, until its lease expires.
    lease_owner                TEXT,
    lease_expires_at           BIGINT,
    created_at                 BIGINT NOT NULL,
    updated_at                 BIGINT NOT NULL,
    UNIQUE (folder_id, name)
);
CREATE INDEX secret_rotations_project ON secret_rotations(project_id);
CREATE INDEX secret_rotations_due ON secret_rotations(next_rotation_at)
    WHERE is_auto_rotation_enabled;

-- An issuance in flight: written before the provider is called, carries the new credential as
-- soon as it exists, removed by the commit. What recovery resumes or sweeps after a crash.
CREATE TABLE rotation_intents (
    id            TEXT PRIMARY KEY,
    rotation_id   TEXT NOT NULL,
    project_id    TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    token_name    TEXT NOT NULL,
    started_at    BIGINT NOT NULL,
    credential    BLOB,
    created_at    BIGINT NOT NULL
);
CREATE INDEX rotation_intents_rotation ON rotation_intents(rotation_id);

-- Credentials to revoke, kept until the provider confirms.
CREATE TABLE revocations (
    id              TEXT PRIMARY KEY,
    rotation_id     TEXT NOT NULL,
    connection_id   TEXT NOT NULL,
    credential_id   TEXT NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX revocations_due ON revocations(next_attempt_at);
