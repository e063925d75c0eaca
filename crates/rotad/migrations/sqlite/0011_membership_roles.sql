-- Every role of a membership, each with its own expiry (docs/SECURITY.md, "Roles"): JSON array
-- of {role, isTemporary, temporaryMode, temporaryRange, temporaryAccessStartTime,
-- temporaryAccessEndTime}. Empty for rows written before: `role` is then the one role.
ALTER TABLE memberships ADD COLUMN roles TEXT NOT NULL DEFAULT '[]';
