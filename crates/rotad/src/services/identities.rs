//! Machine identities, their universal-auth settings and client secrets, and project
//! memberships.

use std::net::IpAddr;

use serde_json::json;

use super::audit::Event;
use super::authz::{Action, MemberRole, Role, Subject};
use super::{new_id, App, Ctx};
use crate::crypto::random_hex;
use crate::error::{Error, Result};
use crate::store::{ClientSecret, Identity, Membership, UniversalAuth};
use crate::time::now_ms;

/// Upstream's defaults: 30 days.
pub const DEFAULT_TOKEN_TTL: i64 = 2_592_000;

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

pub const ORG_ROLES: [&str; 3] = ["admin", "member", "no-access"];

/// Whether `ip` (the caller's address) lies in one of the trusted ranges, stored as upstream
/// shapes them: a JSON list of `{"ipAddress": "<address or CIDR>"}`. Anything unreadable
/// trusts nothing.
/// Whether `range` is an address or a CIDR block.
pub fn is_range(range: &str) -> bool {
    let (net, prefix) = match range.split_once('/') {
        Some((net, prefix)) => (net, prefix.parse::<u32>().ok()),
        None => (range, Some(0)),
    };
    match (net.parse::<IpAddr>(), prefix) {
        (Ok(IpAddr::V4(_)), Some(p)) => p <= 32,
        (Ok(IpAddr::V6(_)), Some(p)) => p <= 128,
        _ => false,
    }
}

pub fn ip_is_trusted(trusted_ips: &str, ip: &str) -> bool {
    let Ok(ip) = ip.trim().parse::<IpAddr>() else {
        return false;
    };
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    let Ok(ranges) = serde_json::from_str::<Vec<serde_json::Value>>(trusted_ips) else {
        return false;
    };
    ranges.iter().any(|range| {
        range["ipAddress"]
            .as_str()
            .is_some_and(|range| in_range(ip, range.trim()))
    })
}

/// `ip` in `range`, an address or a CIDR block.
pub(crate) fn in_range(ip: IpAddr, range: &str) -> bool {
    let (net, prefix) = match range.split_once('/') {
        Some((net, prefix)) => match prefix.parse::<u32>() {
            Ok(prefix) => (net, Some(prefix)),
            Err(_) => return false,
        },
        None => (range, None),
    };
    match (ip, net.parse::<IpAddr>()) {
        (IpAddr::V4(ip), Ok(IpAddr::V4(net))) => {
            let prefix = prefix.unwrap_or(32);
            prefix <= 32
                && masked(u32::from(ip).into(), 32, prefix)
                    == masked(u32::from(net).into(), 32, prefix)
        }
        (IpAddr::V6(ip), Ok(IpAddr::V6(net))) => {
            let prefix = prefix.unwrap_or(128);
            prefix <= 128
                && masked(u128::from(ip), 128, prefix) == masked(u128::from(net), 128, prefix)
        }
        _ => false,
    }
}

/// The top `prefix` bits of a `width`-bit address.
fn masked(address: u128, width: u32, prefix: u32) -> u128 {
    if prefix == 0 {
        0
    } else {
        address >> (width - prefix)
    }
}

impl App {
    async fn identity_in_org(&self, ctx: &Ctx, id: &str) -> Result<Identity> {
        self.store
            .get_identity(id)
            .await?
            .filter(|i| i.org_id == ctx.actor.org_id)
            .ok_or_else(|| Error::not_found(format!("Failed to find identity with ID {id}")))
    }

    pub async fn create_identity(
        &self,
        ctx: &Ctx,
        name: &str,
        organization_id: &str,
        role: &str,
    ) -> Result<Identity> {
        self.authorize_org(ctx, Subject::Identity, Action::Create)?;
        if organization_id != ctx.actor.org_id {
            return Err(Error::forbidden(
                "You are not allowed to create on identity in this organization",
            ));
        }
        if !ORG_ROLES.contains(&role) {
            return Err(Error::invalid(
                &["role"],
                format!("Role must be one of {}", ORG_ROLES.join(", ")),
            ));
        }
        let name = name.trim();
        if name.is_empty() || name.len() > 64 {
            return Err(Error::invalid(&["name"], "Name must be 1 to 64 characters"));
        }
        let now = now_ms();
        let identity = Identity {
            id: new_id(),
            org_id: ctx.actor.org_id.clone(),
            name: name.to_string(),
            org_role: role.to_string(),
            created_at: now,
            updated_at: now,
        };
        self.store.create_identity(&identity).await?;
        self.audit(
            ctx,
            None,
            Event::new(
                "create-identity",
                json!({"identityId": identity.id, "name": identity.name}),
            ),
        )
        .await;
        Ok(identity)
    }

    pub async fn get_identity(&self, ctx: &Ctx, id: &str) -> Result<Identity> {
        self.authorize_org(ctx, Subject::Identity, Action::Read)?;
        self.identity_in_org(ctx, id).await
    }

    pub async fn list_identities(&self, ctx: &Ctx) -> Result<Vec<Identity>> {
        self.authorize_org(ctx, Subject::Identity, Action::Read)?;
        Ok(self.store.list_identities(&ctx.actor.org_id).await?)
    }

    pub async fn delete_identity(&self, ctx: &Ctx, id: &str) -> Result<Identity> {
        self.authorize_org(ctx, Subject::Identity, Action::Delete)?;
        let identity = self.identity_in_org(ctx, id).await?;
        if identity.id == ctx.actor.identity_id {
            return Err(Error::bad_request("An identity cannot delete itself"));
        }
        self.store.delete_identity(id).await?;
        self.audit(
            ctx,
            None,
            Event::new("delete-identity", json!({"identityId": id})),
        )
        .await;
        Ok(identity)
    }

    pub async fn attach_universal_auth(
        &self,
        ctx: &Ctx,
        identity_id: &str,
        input: UniversalAuthInput,
    ) -> Result<UniversalAuth> {
        self.authorize_org(ctx, Subject::Identity, Action::Edit)?;
        let identity = self.identity_in_org(ctx, identity_id).await?;
        let ttl = input.access_token_ttl.unwrap_or(DEFAULT_TOKEN_TTL);
        let max_ttl = input.access_token_max_ttl.unwrap_or(DEFAULT_TOKEN_TTL);
        if !(0..=315_360_000).contains(&ttl) {
            return Err(Error::invalid(
                &["accessTokenTTL"],
                "accessTokenTTL must be between 0 and 315360000",
            ));
        }
        if !(0..=315_360_000).contains(&max_ttl) {
            return Err(Error::invalid(
                &["accessTokenMaxTTL"],
                "accessTokenMaxTTL must be between 0 and 315360000",
            ));
        }
        if max_ttl > 0 && ttl > max_ttl {
            return Err(Error::bad_request(
                "Access token TTL cannot be greater than max TTL",
            ));
        }
        let uses = input.access_token_num_uses_limit.unwrap_or(0);
        if uses < 0 {
            return Err(Error::invalid(
                &["accessTokenNumUsesLimit"],
                "accessTokenNumUsesLimit must be at least 0",
            ));
        }
        let now = now_ms();
        let existing = self.store.get_universal_auth(&identity.id).await?;
        let ua = UniversalAuth {
            identity_id: identity.id.clone(),
            client_id: existing
                .as_ref()
                .map(|e| e.client_id.clone())
                .unwrap_or_else(new_id),
            access_token_ttl: ttl,
            access_token_max_ttl: max_ttl,
            access_token_num_uses_limit: uses,
            trusted_ips: input
                .trusted_ips
                .unwrap_or_else(|| json!([{"ipAddress": "0.0.0.0/0"}, {"ipAddress": "::/0"}]))
                .to_string(),
            client_secret_trusted_ips: input
                .client_secret_trusted_ips
                .unwrap_or_else(|| json!([{"ipAddress": "0.0.0.0/0"}, {"ipAddress": "::/0"}]))
                .to_string(),
            created_at: existing.as_ref().map(|e| e.created_at).unwrap_or(now),
            updated_at: now,
        };
        self.store.upsert_universal_auth(&ua).await?;
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

    /// Refuses a universal-auth token used from outside the identity's `accessTokenTrustedIps`
    /// (the settings as they are now).
    pub async fn get_universal_auth(&self, ctx: &Ctx, identity_id: &str) -> Result<UniversalAuth> {
        self.authorize_org(ctx, Subject::Identity, Action::Read)?;
        let identity = self.identity_in_org(ctx, identity_id).await?;
        self.store
            .get_universal_auth(&identity.id)
            .await?
            .ok_or_else(|| Error::not_found("The identity does not have universal auth"))
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

    /// Adds an identity to a project, or changes its role.
    pub async fn set_membership(
        &self,
        ctx: &Ctx,
        project_id: &str,
        identity_id: &str,
        roles: Vec<MemberRole>,
    ) -> Result<Membership> {
        let project = self
            .authorize(ctx, project_id, Subject::Identity, Action::Create)
            .await?;
        for (i, r) in roles.iter().enumerate() {
            if Role::parse(&r.role).is_none() {
                return Err(Error::invalid(
                    &["roles", &i.to_string(), "role"],
                    "Role must be one of admin, member, viewer, no-access",
                ));
            }
        }
        let first = roles
            .first()
            .map(|r| r.role.clone())
            .ok_or_else(|| Error::invalid(&["roles"], "At least one role is required"))?;
        let identity = self.identity_in_org(ctx, identity_id).await?;
        let now = now_ms();
        let membership = self
            .store
            .upsert_membership(&Membership {
                id: new_id(),
                project_id: project.id.clone(),
                identity_id: identity.id.clone(),
                role: first,
                created_at: now,
                updated_at: now,
                roles: serde_json::to_string(&roles).map_err(|e| Error::Unexpected(e.into()))?,
            })
            .await?;
        self.audit(
            ctx,
            Some(&project.id),
            Event::new(
                "add-identity-to-project",
                json!({"identityId": identity.id, "roles": roles}),
            ),
        )
        .await;
        Ok(membership)
    }

    pub async fn get_membership(
        &self,
        ctx: &Ctx,
        project_id: &str,
        identity_id: &str,
    ) -> Result<Membership> {
        let project = self
            .authorize(ctx, project_id, Subject::Identity, Action::Read)
            .await?;
        self.store
            .get_membership(&project.id, identity_id)
            .await?
            .ok_or_else(|| {
                Error::not_found(format!(
                    "Identity with ID {identity_id} is not a member of project {project_id}"
                ))
            })
    }

    pub async fn remove_membership(
        &self,
        ctx: &Ctx,
        project_id: &str,
        identity_id: &str,
    ) -> Result<Membership> {
        let project = self
            .authorize(ctx, project_id, Subject::Identity, Action::Delete)
            .await?;
        let membership = self
            .store
            .get_membership(&project.id, identity_id)
            .await?
            .ok_or_else(|| {
                Error::not_found(format!(
                    "Identity with ID {identity_id} is not a member of project {project_id}"
                ))
            })?;
        self.store
            .delete_membership(&project.id, identity_id)
            .await?;
        self.audit(
            ctx,
            Some(&project.id),
            Event::new(
                "remove-identity-from-project",
                json!({"identityId": identity_id}),
            ),
        )
        .await;
        Ok(membership)
    }
}

#[cfg(test)]
mod tests {
    use super::ip_is_trusted;

    #[test]
    fn trusted_ranges() {
        let open = r#"[{"ipAddress": "0.0.0.0/0"}, {"ipAddress": "::/0"}]"#;
        for ip in ["127.0.0.1", "10.1.2.3", "::1", "2001:db8::1"] {
            assert!(ip_is_trusted(open, ip), "{ip}");
        }
        let some = r#"[{"ipAddress": "10.0.0.0/8"}, {"ipAddress": "2001:db8::/32"}, {"ipAddress": "192.168.1.7"}]"#;
        for (ip, trusted) in [
            ("10.200.0.1", true),
            ("11.0.0.1", false),
            ("::ffff:10.0.0.1", true),
            ("2001:db8:ffff::1", true),
            ("2001:db9::1", false),
            ("192.168.1.7", true),
            ("192.168.1.8", false),
            ("", false),
            ("not-an-ip", false),
        ] {
            assert_eq!(ip_is_trusted(some, ip), trusted, "{ip}");
        }
        assert!(!ip_is_trusted("[]", "10.0.0.1"));
        assert!(!ip_is_trusted("garbage", "10.0.0.1"));
        assert!(!ip_is_trusted(
            r#"[{"ipAddress": "10.0.0.0/40"}]"#,
            "10.0.0.1"
        ));
    }
}
