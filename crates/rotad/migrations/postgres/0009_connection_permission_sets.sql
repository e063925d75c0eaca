-- The dbt permission sets a connection hands out to the tokens it mints (JSON array); NULL is
-- the default: every set but the account-wide admin ones (docs/SECURITY.md, "App connections").
ALTER TABLE app_connections ADD COLUMN allowed_permission_sets TEXT;
