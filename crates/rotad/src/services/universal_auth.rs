//! Universal auth of machine identities: its settings, client secrets, and detaching it.

use serde_json::json;

use super::audit::Event;
use super::authz::{Action, Subject};
use super::{new_id, App, Ctx};
use crate::crypto::random_hex;
use crate::error::{Error, Result};
use crate::store::{ClientSecret, UniversalAuth};
use crate::time::now_ms;

/// Upstream's defaults: 30 days.
pub const DEFAULT_TOKEN_TTL: i64 = 2_592_000;
/// Upstream's longest token lifetime (ten years).
const MAX_TTL: i64 = 315_360_000;

/// Settings of an attach (absent: upstream's defaults) or of an update (absent: unchanged).
#[derive(Debug, Clone, Default)]
pub struct UniversalAuthInput {
    pub access_token_ttl: Option<i64>,
    pub access_token_max_ttl: Option<i64>,
    pub access_token_num_uses_limit: Option<i64>,
    pub trusted_ips: Option<serde_json::Value>,
    pub client_secret_trusted_ips: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default)]
pub struct ClientSecretInput {
    pub description: Option<String>,
    pub num_uses_limit: Option<i64>,
    pub ttl: Option<i64>,
}

fn every_address() -> String {
    json!([{"ipAddress": "0.0.0.0/0"}, {"ipAddress": "::/0"}]).to_string()
}

/// `input` over `base`, checked: lifetimes within upstream's bounds, TTL at most the max TTL.
fn merged(base: UniversalAuth, input: UniversalAuthInput) -> Result<UniversalAuth> {
    let ttl = input.access_token_ttl.unwrap_or(base.access_token_ttl);
    let max_ttl = input
        .access_token_max_ttl
        .unwrap_or(base.access_token_max_ttl);
    if !(0..=MAX_TTL).contains(&ttl) {
        return Err(Error::invalid(
            &["accessTokenTTL"],
            format!("accessTokenTTL must be between 0 and {MAX_TTL}"),
        ));
    }
    if !(0..=MAX_TTL).contains(&max_ttl) {
        return Err(Error::invalid(
            &["accessTokenMaxTTL"],
            format!("accessTokenMaxTTL must be between 0 and {MAX_TTL}"),
        ));
    }
    if max_ttl > 0 && ttl > max_ttl {
        return Err(Error::bad_request(
            "Access token TTL cannot be greater than max TTL",
        ));
    }
    let uses = input
        .access_token_num_uses_limit
        .unwrap_or(base.access_token_num_uses_limit);
    if uses < 0 {
        return Err(Error::invalid(
            &["accessTokenNumUsesLimit"],
            "accessTokenNumUsesLimit must be at least 0",
        ));
    }
    Ok(UniversalAuth {
        access_token_ttl: ttl,
        access_token_max_ttl: max_ttl,
        access_token_num_uses_limit: uses,
        trusted_ips: input
            .trusted_ips
            .map_or(base.trusted_ips, |ips| ips.to_string()),
        client_secret_trusted_ips: input
            .client_secret_trusted_ips
            .map_or(base.client_secret_trusted_ips, |ips| ips.to_string()),
        updated_at: now_ms(),
        ..base
    })
}

impl App {
    /// Attaches universal auth to an identity; a 400 when it has it already (as upstream).
    pub async fn attach_universal_auth(
        &self,
        ctx: &Ctx,
        identity_id: &str,
        input: UniversalAuthInput,
    ) -> Result<UniversalAuth> {
        self.authorize_org(ctx, Subject::Identity, Action::Edit)?;
        let identity = self.identity_in_org(ctx, identity_id).await?;
        let now = now_ms();
        let defaults = UniversalAuth {
            identity_id: identity.id.clone(),
            client_id: new_id(),
            access_token_ttl: DEFAULT_TOKEN_TTL,
            access_token_max_ttl: DEFAULT_TOKEN_TTL,
            access_token_num_uses_limit: 0,
            trusted_ips: every_address(),
            client_secret_trusted_ips: every_address(),
            created_at: now,
            updated_at: now,
        };
        let ua = merged(defaults, input)?;
        if !self.store.insert_universal_auth(&ua).await? {
            return Err(already_attached());
        }
        self.audit(
            ctx,
            None,
            Event::new(
                "add-identity-universal-auth",
                json!({"identityId": identity.id}),
            ),
        )
        .await;
        Ok(ua)
    }

    /// Changes the given settings and keeps the others (and the client id).
    pub async fn update_universal_auth(
        &self,
        ctx: &Ctx,
        identity_id: &str,
        input: UniversalAuthInput,
    ) -> Result<UniversalAuth> {
        self.authorize_org(ctx, Subject::Identity, Action::Edit)?;
        let identity = self.identity_in_org(ctx, identity_id).await?;
        let current = self
            .store
            .get_universal_auth(&identity.id)
            .await?
            .ok_or_else(not_attached)?;
        let ua = merged(current, input)?;
        if !self.store.update_universal_auth(&ua).await? {
            return Err(not_attached());
        }
        self.audit(
            ctx,
            None,
            Event::new(
                "update-identity-universal-auth",
                json!({"identityId": identity.id}),
            ),
        )
        .await;
        Ok(ua)
    }

    /// Detaches universal auth: its client secrets and the access tokens it issued are revoked
    /// with it, and refused from the next request on (docs/SECURITY.md).
    pub async fn delete_universal_auth(
        &self,
        ctx: &Ctx,
        identity_id: &str,
    ) -> Result<UniversalAuth> {
        self.authorize_org(ctx, Subject::Identity, Action::Edit)?;
        let identity = self.identity_in_org(ctx, identity_id).await?;
        let current = self
            .store
            .get_universal_auth(&identity.id)
            .await?
            .ok_or_else(not_attached)?;
        if !self.store.delete_universal_auth(&identity.id).await? {
            return Err(not_attached());
        }
        self.audit(
            ctx,
            None,
            Event::new(
                "revoke-identity-universal-auth",
                json!({"identityId": identity.id}),
            ),
        )
        .await;
        Ok(current)
    }

    pub async fn get_client_secret(
        &self,
        ctx: &Ctx,
        identity_id: &str,
        secret_id: &str,
    ) -> Result<ClientSecret> {
        self.authorize_org(ctx, Subject::Identity, Action::Read)?;
        let identity = self.identity_in_org(ctx, identity_id).await?;
        self.store
            .list_client_secrets(&identity.id)
            .await?
            .into_iter()
            .find(|s| s.id == secret_id)
            .ok_or_else(|| Error::not_found(format!("Client secret with ID {secret_id} not found")))
    }

    /// Reads an identity's universal-auth settings.
    pub async fn get_universal_auth(&self, ctx: &Ctx, identity_id: &str) -> Result<UniversalAuth> {
        self.authorize_org(ctx, Subject::Identity, Action::Read)?;
        let identity = self.identity_in_org(ctx, identity_id).await?;
        self.store
            .get_universal_auth(&identity.id)
            .await?
            .ok_or_else(not_attached)
    }

    /// Creates a client secret; returns it in clear text once, with its stored record.
    pub async fn create_client_secret(
        &self,
        ctx: &Ctx,
        identity_id: &str,
        input: ClientSecretInput,
    ) -> Result<(String, ClientSecret)> {
        self.authorize_org(ctx, Subject::Identity, Action::Edit)?;
        let identity = self.identity_in_org(ctx, identity_id).await?;
        if self.store.get_universal_auth(&identity.id).await?.is_none() {
            return Err(Error::bad_request(
                "Failed to create client secret: the identity does not have universal auth",
            ));
        }
        let ttl = input.ttl.unwrap_or(0);
        let uses = input.num_uses_limit.unwrap_or(0);
        if !(0..=315_360_000).contains(&ttl) {
            return Err(Error::invalid(
                &["ttl"],
                "ttl must be between 0 and 315360000",
            ));
        }
        if uses < 0 {
            return Err(Error::invalid(
                &["numUsesLimit"],
                "numUsesLimit must be at least 0",
            ));
        }
        let clear = random_hex(32);
        let record = ClientSecret {
            id: new_id(),
            identity_id: identity.id.clone(),
            description: input.description.unwrap_or_default(),
            prefix: clear[..4].to_string(),
            hash: self.login_guard.hash(clear.clone()).await?,
            ttl,
            num_uses_limit: uses,
            num_uses: 0,
            revoked: false,
            created_at: now_ms(),
        };
        self.store.create_client_secret(&record).await?;
        self.audit(
            ctx,
            None,
            Event::new(
                "create-identity-universal-auth-client-secret",
                json!({"identityId": identity.id, "clientSecretId": record.id}),
            ),
        )
        .await;
        Ok((clear, record))
    }

    pub async fn list_client_secrets(
        &self,
        ctx: &Ctx,
        identity_id: &str,
    ) -> Result<Vec<ClientSecret>> {
        self.authorize_org(ctx, Subject::Identity, Action::Read)?;
        let identity = self.identity_in_org(ctx, identity_id).await?;
        Ok(self
            .store
            .list_client_secrets(&identity.id)
            .await?
            .into_iter()
            .filter(|s| !s.revoked)
            .collect())
    }

    pub async fn revoke_client_secret(
        &self,
        ctx: &Ctx,
        identity_id: &str,
        secret_id: &str,
    ) -> Result<ClientSecret> {
        self.authorize_org(ctx, Subject::Identity, Action::Edit)?;
        let identity = self.identity_in_org(ctx, identity_id).await?;
        let secret = self
            .store
            .list_client_secrets(&identity.id)
            .await?
            .into_iter()
            .find(|s| s.id == secret_id)
            .ok_or_else(|| {
                Error::not_found(format!("Client secret with ID {secret_id} not found"))
            })?;
        self.store
            .revoke_client_secret(&identity.id, secret_id)
            .await?;
        self.audit(
            ctx,
            None,
            Event::new(
                "revoke-identity-universal-auth-client-secret",
                json!({"identityId": identity.id, "clientSecretId": secret_id}),
            ),
        )
        .await;
        Ok(ClientSecret {
            revoked: true,
            ..secret
        })
    }
}

fn already_attached() -> Error {
    Error::bad_request("Failed to add universal auth to already configured identity")
}

fn not_attached() -> Error {
    Error::not_found("The identity does not have universal auth")
}
