-- Webhooks (per project, environment and secret path) and their delivery outbox, so
-- deliveries survive restarts and are shared by replicas. The scheduler claims due rotations
-- through the lease columns of secret_rotations.

CREATE TABLE webhooks (
    id                     TEXT PRIMARY KEY,
    project_id             TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    env_id                 TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    secret_path            TEXT NOT NULL,
    -- Sealed: a URL may carry a token in its path or query.
    url                    BYTEA NOT NULL,
    -- Sealed HMAC key; never returned.
    secret_key             BYTEA,
    webhook_type           TEXT NOT NULL,
    is_disabled            BOOLEAN NOT NULL,
    last_status            TEXT,
    last_run_error_message TEXT,
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL
);
CREATE INDEX webhooks_scope ON webhooks(project_id, env_id);

-- One event for one webhook, until the receiver answers 2xx or the attempts run out.
-- A claimed row's next_attempt_at is pushed ahead, which is its lease.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    webhook_id      TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event           TEXT NOT NULL,
    payload         TEXT NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at);
