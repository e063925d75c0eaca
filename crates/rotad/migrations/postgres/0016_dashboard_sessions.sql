-- Sessions of the web dashboard (docs/SECURITY.md, "Dashboard sessions"), shared by every
-- replica. A row is a signed-in session (kind 'session') or an unredeemed one-time sign-in
-- link (kind 'link'). The key is a keyed hash of the random id the browser holds, never the id
-- itself; the access token the session acts with is sealed under the organization's data key.
-- expires_at is the earlier of the session's own limit and the access token's expiry.
CREATE TABLE dashboard_sessions (
    id_hash      TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    identity_id  TEXT NOT NULL,
    org_id       TEXT NOT NULL,
    sealed_token BYTEA NOT NULL,
    owns_token   BOOLEAN NOT NULL,
    expires_at   BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at);
