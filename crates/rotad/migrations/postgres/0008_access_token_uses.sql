-- accessTokenNumUsesLimit (docs/SECURITY.md, "Access tokens"): a token minted under a limit
-- counts every authenticated request, atomically in the store, so the limit holds across
-- replicas. 0 means no limit.
ALTER TABLE access_tokens ADD COLUMN num_uses_limit BIGINT NOT NULL DEFAULT 0;
ALTER TABLE access_tokens ADD COLUMN num_uses BIGINT NOT NULL DEFAULT 0;
