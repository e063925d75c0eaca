-- Issuances in flight and revocations owed, in one queue (docs/ARCHITECTURE.md, "Statement
-- budget"). A row starts as an issuance ('issue': written before the provider is called, carries
-- the new credential, sealed, as soon as it exists) and, when its commit displaces a credential
-- from a slot, the same statement turns it into that credential's revocation ('revoke'), kept
-- until the provider confirms. A commit that displaces nothing deletes it. Recovery resumes or
-- sweeps issuances after a crash; the revocation worker drains revocations.
CREATE TABLE credential_queue (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('issue', 'revoke')),
    rotation_id     TEXT NOT NULL,
    connection_id   TEXT NOT NULL,
    -- Where the credential lives: the provider's target when it was minted.
    target          TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    -- 'issue' only: the rotation's project (for its data key), the name asked of the provider,
    -- when the attempt started, the new credential (sealed) and when it was first swept.
    project_id      TEXT,
    token_name      TEXT,
    started_at      BIGINT,
    credential      BYTEA,
    swept_at        BIGINT,
    -- 'revoke' only: the provider's id of the credential (never the secret itself) and the
    -- worker's retry state.
    credential_id   TEXT,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    last_error      TEXT
);
INSERT INTO credential_queue (id, kind, rotation_id, connection_id, target, created_at,
    project_id, token_name, started_at, credential, swept_at)
SELECT id, 'issue', rotation_id, connection_id, target, created_at,
    project_id, token_name, started_at, credential, swept_at
FROM rotation_intents;
INSERT INTO credential_queue (id, kind, rotation_id, connection_id, target, created_at,
    credential_id, attempts, next_attempt_at, last_error)
SELECT id, 'revoke', rotation_id, connection_id, target, created_at,
    credential_id, attempts, next_attempt_at, last_error
FROM revocations;
DROP TABLE rotation_intents;
DROP TABLE revocations;
CREATE INDEX credential_queue_rotation ON credential_queue(rotation_id);
CREATE INDEX credential_queue_connection ON credential_queue(connection_id);
CREATE INDEX credential_queue_due ON credential_queue(next_attempt_at) WHERE kind = 'revoke';
