//! Machine identities and the trusted-IP checks of their tokens (universal auth is in
//! `universal_auth.rs`, project memberships in `memberships.rs`).

use std::net::IpAddr;

use serde_json::json;

use super::audit::Event;
use super::authz::{Action, Subject};
use super::{new_id, App, Ctx};
use crate::error::{Error, Result};
use crate::store::Identity;
use crate::time::now_ms;

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

/// A search of the organization's identities (upstream's `POST /api/v1/identities/search`).
#[derive(Debug, Clone, Default)]
pub struct IdentityQuery {
    pub name_eq: Option<String>,
    pub name_contains: Option<String>,
    pub roles: Option<Vec<String>>,
    pub order_by_role: bool,
    pub descending: bool,
    pub offset: usize,
    pub limit: usize,
}

impl IdentityQuery {
    fn matches(&self, identity: &Identity) -> bool {
        self.name_eq.as_ref().is_none_or(|n| &identity.name == n)
            && self
                .name_contains
                .as_ref()
                .is_none_or(|n| identity.name.to_lowercase().contains(&n.to_lowercase()))
            && self
                .roles
                .as_ref()
                .is_none_or(|roles| roles.contains(&identity.org_role))
    }
}

fn checked_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(Error::invalid(&["name"], "Name must be 1 to 64 characters"));
    }
    Ok(name.to_string())
}

fn checked_role(role: &str) -> Result<String> {
    if !ORG_ROLES.contains(&role) {
        return Err(Error::invalid(
            &["role"],
            format!("Role must be one of {}", ORG_ROLES.join(", ")),
        ));
    }
    Ok(role.to_string())
}

impl App {
    pub(super) async fn identity_in_org(&self, ctx: &Ctx, id: &str) -> Result<Identity> {
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
        let org_role = checked_role(role)?;
        let name = checked_name(name)?;
        let now = now_ms();
        let identity = Identity {
            id: new_id(),
            org_id: ctx.actor.org_id.clone(),
            name,
            org_role,
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

    /// One page of the identities matching `query`, and how many match in all.
    pub async fn search_identities(
        &self,
        ctx: &Ctx,
        query: &IdentityQuery,
    ) -> Result<(Vec<Identity>, usize)> {
        self.authorize_org(ctx, Subject::Identity, Action::Read)?;
        let mut found: Vec<Identity> = self
            .store
            .list_identities(&ctx.actor.org_id)
            .await?
            .into_iter()
            .filter(|i| query.matches(i))
            .collect();
        found.sort_by(|a, b| {
            let key = |i: &Identity| {
                let first = if query.order_by_role {
                    &i.org_role
                } else {
                    &i.name
                };
                (first.to_lowercase(), i.name.clone(), i.id.clone())
            };
            key(a).cmp(&key(b))
        });
        if query.descending {
            found.reverse();
        }
        let total = found.len();
        let page = found
            .into_iter()
            .skip(query.offset)
            .take(query.limit)
            .collect();
        Ok((page, total))
    }

    /// Renames an identity or changes its organization role. A new role holds from the very
    /// next request of its tokens (docs/SECURITY.md, "Roles").
    pub async fn update_identity(
        &self,
        ctx: &Ctx,
        id: &str,
        name: Option<&str>,
        role: Option<&str>,
    ) -> Result<Identity> {
        self.authorize_org(ctx, Subject::Identity, Action::Edit)?;
        let current = self.identity_in_org(ctx, id).await?;
        let org_role = role.map(checked_role).transpose()?;
        let name = name.map(checked_name).transpose()?;
        if current.id == ctx.actor.identity_id
            && org_role.as_ref().is_some_and(|r| *r != current.org_role)
        {
            return Err(Error::bad_request(
                "An identity cannot change its own organization role",
            ));
        }
        let identity = Identity {
            name: name.unwrap_or(current.name),
            org_role: org_role.unwrap_or(current.org_role),
            updated_at: now_ms(),
            ..current
        };
        self.store.update_identity(&identity).await?;
        self.audit(
            ctx,
            None,
            Event::new(
                "update-identity",
                json!({"identityId": identity.id, "name": identity.name, "role": identity.org_role}),
            ),
        )
        .await;
        Ok(identity)
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
