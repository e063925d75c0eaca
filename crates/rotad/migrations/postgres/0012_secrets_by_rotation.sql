-- A rotation's published secret is found by its rotation (the scheduler's claim, deletes), not
-- by scanning the folder it lives in.
CREATE INDEX secrets_rotation ON secrets (rotation_id) WHERE rotation_id IS NOT NULL;
