-- Tags of a project's secrets, and secret imports (docs/COMPATIBILITY.md, "Secrets beyond
-- get/set"). A secret keeps the ids of its tags (a JSON array) in its own row, so that reading a
-- secret stays one statement; a deleted tag's id is ignored where it is left.
ALTER TABLE secrets ADD COLUMN tag_ids TEXT NOT NULL DEFAULT '[]';

CREATE TABLE secret_tags (
    id         TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    slug       TEXT NOT NULL,
    name       TEXT NOT NULL,
    color      TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (project_id, slug)
);

-- A folder imports the secrets of another folder of its project (by environment and path, so
-- an import may name a folder created later).
CREATE TABLE secret_imports (
    id            TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    folder_id     TEXT NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
    import_env_id TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    import_path   TEXT NOT NULL,
    position      BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    UNIQUE (folder_id, import_env_id, import_path)
);
CREATE INDEX secret_imports_folder ON secret_imports (folder_id, position);
