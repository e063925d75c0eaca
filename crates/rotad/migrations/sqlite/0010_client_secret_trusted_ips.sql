-- clientSecretTrustedIps (docs/SECURITY.md, "Access tokens"): where a login with the identity's
-- client secrets may come from; JSON array of {ipAddress}. The default allows every address.
ALTER TABLE universal_auths ADD COLUMN client_secret_trusted_ips TEXT NOT NULL
    DEFAULT '[{"ipAddress":"0.0.0.0/0"},{"ipAddress":"::/0"}]';
