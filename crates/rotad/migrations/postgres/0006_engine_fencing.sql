-- Fencing for the rotation engine (docs/ARCHITECTURE.md, "Fencing").

-- Bumped by every write of a rotation's content (commit, failure, settings, delete); commits,
-- failures, PATCHes and deletes apply only to the version they read. Lease bookkeeping
-- (owner, expiry) does not bump it: the lease fences executors, the version fences content.
ALTER TABLE secret_rotations ADD COLUMN version BIGINT NOT NULL DEFAULT 0;

-- When recovery (or the executor itself, after an ambiguous create) first swept an intent.
-- From then on no credential can be attached to it and no commit can consume it; the intent
-- is kept only for the final sweep once no late create can land.
ALTER TABLE rotation_intents ADD COLUMN swept_at BIGINT;
