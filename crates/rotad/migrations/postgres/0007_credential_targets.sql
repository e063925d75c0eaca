-- Where a token lives: the dbt instance and account it was minted at ("<instance URL>#<account
-- id>"), recorded when it was minted. A revocation or a sweep runs only through a connection that
-- still points there, so a connection edit can never make dbt's 404 at another account count as
-- "revoked" (docs/ARCHITECTURE.md, "Fencing"). Empty for rows written before this column.
ALTER TABLE revocations ADD COLUMN target TEXT NOT NULL DEFAULT '';
ALTER TABLE rotation_intents ADD COLUMN target TEXT NOT NULL DEFAULT '';
