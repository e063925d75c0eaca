//! Access tokens: bootstrap, universal-auth login, renew, revoke, and turning a Bearer token
//! into an [`Actor`]. Tokens are HS256-signed JWTs naming a row in `access_tokens`; the row
//! holds expiry and revocation, so a token can be renewed in place and revoked at once.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::cache::{Entry, TokenContext};
use super::{new_id, Actor, App, RequestMeta};
use crate::error::{Error, Result};
use crate::store::changes::scope;
use crate::store::{AccessToken, Identity, Organization, StoreError};
use crate::time::now_ms;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// Identity id.
    sub: String,
    /// Access token row id.
    jti: String,
    iat: i64,
    #[serde(rename = "authTokenType")]
    kind: String,
}

/// A freshly issued token as login and renew answer it. `Debug` redacts the token.
#[derive(Clone)]
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: i64,
    pub max_ttl: i64,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("access_token", &format_args!("[redacted]"))
            .field("expires_in", &self.expires_in)
            .field("max_ttl", &self.max_ttl)
            .finish()
    }
}

/// What bootstrap creates. `Debug` redacts the token.
#[derive(Clone)]
pub struct Bootstrapped {
    pub organization: Organization,
    pub identity: Identity,
    pub token: String,
}

impl std::fmt::Debug for Bootstrapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bootstrapped")
            .field("organization", &self.organization)
            .field("identity", &self.identity)
            .field("token", &format_args!("[redacted]"))
            .finish()
    }
}

const INVALID_TOKEN: &str =
    "Failed to authenticate: the access token is invalid, expired or revoked";

impl App {
    fn sign(&self, identity_id: &str, token_id: &str) -> Result<String> {
        let claims = Claims {
            sub: identity_id.to_string(),
            jti: token_id.to_string(),
            iat: now_ms() / 1000,
            kind: "identityAccessToken".to_string(),
        };
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&self.keys.root().signing_key()),
        )
        .map_err(|e| Error::Unexpected(e.into()))
    }

    /// Bootstrap through the API, when `ROTAD_BOOTSTRAP` allows it (docs/SECURITY.md,
    /// "Bootstrap").
    pub async fn bootstrap_via_api(&self, organization: &str) -> Result<Bootstrapped> {
        if !self.settings.api_bootstrap {
            return Err(Error::forbidden(
                "Bootstrapping through the API is disabled on this server (ROTAD_BOOTSTRAP=cli); \
                 run `rotad bootstrap --organization NAME` on the server instead",
            ));
        }
        self.bootstrap(organization).await
    }

    /// Creates the organization and an admin identity with a non-expiring token, once.
    pub async fn bootstrap(&self, organization: &str) -> Result<Bootstrapped> {
        let name = organization.trim();
        if name.is_empty() || name.len() > 64 {
            return Err(Error::invalid(
                &["organization"],
                "Organization name must be 1 to 64 characters",
            ));
        }
        let now = now_ms();
        let org = Organization {
            id: new_id(),
            name: name.to_string(),
            slug: super::projects::slugify(name),
            created_at: now,
        };
        let identity = Identity {
            id: new_id(),
            org_id: org.id.clone(),
            name: "admin".to_string(),
            org_role: "admin".to_string(),
            created_at: now,
            updated_at: now,
        };
        let row = AccessToken {
            id: new_id(),
            identity_id: identity.id.clone(),
            auth_method: "token-auth".to_string(),
            ttl: 0,
            max_ttl: 0,
            expires_at: None,
            revoked: false,
            created_at: now,
            last_renewed_at: None,
            num_uses_limit: 0,
            num_uses: 0,
        };
        match self.store.bootstrap(&org, &identity, &row).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return Err(Error::bad_request(
                    "Instance has already been set up and cannot be bootstrapped again",
                ))
            }
            Err(e) => return Err(e.into()),
        }
        let token = self.sign(&identity.id, &row.id)?;
        Ok(Bootstrapped {
            organization: org,
            identity,
            token,
        })
    }

    /// Universal-auth login with a client id and secret, behind the login guard: throttled
    /// callers get 429 before any hashing, failures are counted and audited (never the secret).
    pub async fn login(
        &self,
        client_id: &str,
        client_secret: &str,
        meta: &RequestMeta,
    ) -> Result<(IssuedToken, Identity)> {
        let client_id = client_id.trim();
        let attempt = self.login_guard.begin(client_id, &meta.ip_address)?;
        let outcome = {
            let _turn = attempt.turn().await;
            self.try_login(client_id, client_secret, meta).await
        };
        match &outcome {
            Ok(_) => attempt.succeeded(),
            Err(Error::Unauthorized(reason) | Error::Forbidden(reason)) => {
                attempt.failed();
                self.audit_failed_login(client_id, reason, meta).await;
            }
            Err(_) => {}
        }
        outcome
    }

    /// Audits a failed login of a known client id (an unknown one has no organization to
    /// audit in, and is only logged).
    async fn audit_failed_login(&self, client_id: &str, reason: &str, meta: &RequestMeta) {
        let identity = match self.store.get_universal_auth_by_client_id(client_id).await {
            Ok(Some(ua)) => self
                .store
                .get_identity(&ua.identity_id)
                .await
                .ok()
                .flatten(),
            _ => None,
        };
        let Some(identity) = identity else {
            tracing::warn!(address = %meta.ip_address, "failed login for an unknown client id");
            return;
        };
        let event = super::audit::Event::new(
            "login-identity-universal-auth-failed",
            serde_json::json!({"identityId": identity.id, "clientId": client_id, "reason": reason}),
        );
        self.audit_identity(&identity, meta, event).await;
    }

    async fn try_login(
        &self,
        client_id: &str,
        client_secret: &str,
        meta: &RequestMeta,
    ) -> Result<(IssuedToken, Identity)> {
        let invalid = || Error::unauthorized("Invalid credentials");
        let Some(ua) = self
            .store
            .get_universal_auth_by_client_id(client_id)
            .await?
        else {
            // The same work as a wrong secret: an unknown client id is not told apart by time.
            self.login_guard.verify_nothing(client_secret).await;
            return Err(invalid());
        };
        if !super::identities::ip_is_trusted(&ua.client_secret_trusted_ips, &meta.ip_address) {
            return Err(Error::forbidden(
                "Failed to authenticate: logins with this identity's client secrets are not \
                 allowed from the current IP address (clientSecretTrustedIps)",
            ));
        }
        let identity = self
            .store
            .get_identity(&ua.identity_id)
            .await?
            .ok_or_else(invalid)?;
        let now = now_ms();
        let mut matched = None;
        for secret in self.store.list_client_secrets(&identity.id).await? {
            let expired = secret.ttl > 0
                && secret
                    .created_at
                    .saturating_add(secret.ttl.saturating_mul(1000))
                    <= now;
            if secret.revoked || expired {
                continue;
            }
            if self.login_guard.verify(client_secret, &secret.hash).await {
                matched = Some(secret);
                break;
            }
        }
        let secret = matched.ok_or_else(invalid)?;
        if !self.store.use_client_secret(&secret.id).await? {
            return Err(Error::unauthorized(
                "Failed to authenticate identity credentials due to client secret number of uses limit reached",
            ));
        }
        let ttl = ua.access_token_ttl;
        let row = AccessToken {
            id: new_id(),
            identity_id: identity.id.clone(),
            auth_method: "universal-auth".to_string(),
            ttl,
            max_ttl: ua.access_token_max_ttl,
            expires_at: (ttl > 0).then_some(now.saturating_add(ttl.saturating_mul(1000))),
            revoked: false,
            created_at: now,
            last_renewed_at: None,
            num_uses_limit: ua.access_token_num_uses_limit.max(0),
            num_uses: 0,
        };
        self.store.create_access_token(&row).await?;
        let access_token = self.sign(&identity.id, &row.id)?;
        self.audit_login(&identity, meta).await;
        Ok((
            IssuedToken {
                access_token,
                expires_in: ttl,
                max_ttl: ua.access_token_max_ttl,
            },
            identity,
        ))
    }

    /// Resolves a Bearer token, used from address `ip`, to its actor: the signature, then the
    /// token's context from the cache or, on a miss, one statement (docs/ARCHITECTURE.md,
    /// "Caches"). A revoked or renewed token, a changed identity or universal auth is seen
    /// at the next request on this replica and within a second on the others.
    pub async fn authenticate(&self, bearer: &str, ip: &str) -> Result<Actor> {
        let context = self
            .token_context(bearer.trim())
            .await?
            .filter(|c| !c.value.token.revoked)
            .ok_or_else(|| Error::unauthorized(INVALID_TOKEN))?;
        let TokenContext {
            token: row,
            identity,
            trusted_ips,
        } = &context.value;
        let now = now_ms();
        if row.expires_at.is_some_and(|at| at <= now) {
            return Err(Error::unauthorized(INVALID_TOKEN));
        }
        // accessTokenMaxTTL bounds the token's whole life at every use, renewed or not, also
        // when its TTL is 0 (docs/SECURITY.md, "Access tokens").
        if row.max_ttl > 0
            && now
                >= row
                    .created_at
                    .saturating_add(row.max_ttl.saturating_mul(1000))
        {
            return Err(Error::unauthorized(INVALID_TOKEN));
        }
        // Uses are counted in the database at every use, never from the cache.
        if row.num_uses_limit > 0 && !self.store.use_access_token(&row.id).await? {
            return Err(Error::unauthorized(
                "Failed to authenticate: the access token has reached its number of uses limit",
            ));
        }
        if row.auth_method == "universal-auth" {
            if let Some(ips) = trusted_ips {
                if !super::identities::ip_is_trusted(ips, ip) {
                    return Err(Error::forbidden(
                        "You are not allowed to access this resource from the current IP address",
                    ));
                }
            }
        }
        let audit_actor = context.rendered(|c| {
            super::audit::identity_actor(&c.identity.id, &c.identity.name)
                .to_string()
                .into()
        });
        Ok(Actor {
            identity_id: identity.id.clone(),
            name: identity.name.clone(),
            org_id: identity.org_id.clone(),
            org_role: identity.org_role.clone(),
            token_id: row.id.clone(),
            audit_actor,
        })
    }

    /// The context of a bearer token, cached under the token itself: a hit needs neither the
    /// signature check (done when it was read) nor the store.
    async fn token_context(&self, bearer: &str) -> Result<Option<Arc<Entry<TokenContext>>>> {
        let shelf = &self.caches.tokens;
        if let Some(hit) = shelf.get(bearer) {
            return Ok(Some(hit));
        }
        let claims = self.verify(bearer)?;
        let token_id = claims.jti.as_str();
        let at = shelf.snapshot();
        let Some(row) = self
            .store
            .get_token_context(token_id)
            .await?
            .filter(|row| row.token.identity_id == claims.sub)
        else {
            return Ok(None);
        };
        let context = TokenContext {
            identity: row.identity(),
            trusted_ips: row.access_token_trusted_ips,
            token: row.token,
        };
        let scopes = vec![
            scope::token(token_id),
            scope::identity(&context.identity.id),
        ];
        let bytes = 256 + bearer.len() + context.trusted_ips.as_ref().map_or(0, String::len);
        Ok(Some(shelf.put(
            bearer.to_string(),
            context,
            scopes,
            at,
            bytes,
        )))
    }

    /// Checks the token's signature and reads its claims.
    fn verify(&self, bearer: &str) -> Result<Claims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        Ok(decode::<Claims>(
            bearer.trim(),
            &DecodingKey::from_secret(&self.keys.root().signing_key()),
            &validation,
        )
        .map_err(|_| Error::unauthorized(INVALID_TOKEN))?
        .claims)
    }

    /// The token's row and identity, from the database (renew and revoke).
    async fn token_row(&self, bearer: &str) -> Result<(AccessToken, Identity)> {
        let claims = self.verify(bearer)?;
        let row = self
            .store
            .get_access_token(&claims.jti)
            .await?
            .filter(|row| !row.revoked && row.identity_id == claims.sub)
            .ok_or_else(|| Error::unauthorized(INVALID_TOKEN))?;
        let identity = self
            .store
            .get_identity(&row.identity_id)
            .await?
            .ok_or_else(|| Error::unauthorized(INVALID_TOKEN))?;
        Ok((row, identity))
    }

    /// Extends a token by its TTL, never past its maximum lifetime.
    pub async fn renew(&self, bearer: &str) -> Result<IssuedToken> {
        let (row, _) = self.token_row(bearer).await?;
        let now = now_ms();
        let Some(expires_at) = row.expires_at else {
            // A token that does not expire has nothing to renew.
            return Ok(IssuedToken {
                access_token: bearer.trim().to_string(),
                expires_in: 0,
                max_ttl: 0,
            });
        };
        if expires_at <= now {
            return Err(Error::unauthorized(INVALID_TOKEN));
        }
        let max_end = row
            .created_at
            .saturating_add(row.max_ttl.saturating_mul(1000));
        if row.max_ttl > 0 && now >= max_end {
            return Err(Error::bad_request(
                "Failed to renew access token due to Max TTL expiration",
            ));
        }
        let mut new_expiry = now.saturating_add(row.ttl.saturating_mul(1000));
        if row.max_ttl > 0 {
            new_expiry = new_expiry.min(max_end);
        }
        self.store
            .renew_access_token(&row.id, new_expiry, now)
            .await?;
        Ok(IssuedToken {
            access_token: bearer.trim().to_string(),
            expires_in: (new_expiry - now) / 1000,
            max_ttl: row.max_ttl,
        })
    }

    /// When the token stops working on its own: the earlier of its expiry and the end of its
    /// maximum lifetime; `None` for a token that never expires.
    pub async fn token_end(&self, bearer: &str) -> Result<Option<i64>> {
        let (row, _) = self.token_row(bearer).await?;
        let max_end = (row.max_ttl > 0).then(|| {
            row.created_at
                .saturating_add(row.max_ttl.saturating_mul(1000))
        });
        Ok(match (row.expires_at, max_end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    pub async fn revoke_token(&self, bearer: &str) -> Result<()> {
        let (row, _) = self.token_row(bearer).await?;
        self.store.revoke_access_token(&row.id).await?;
        Ok(())
    }
}

#[cfg(test)]
mod redaction_tests {
    use super::{Bootstrapped, IssuedToken};
    use crate::store::{Identity, Organization};

    #[test]
    fn debug_redacts_issued_tokens() {
        let issued = IssuedToken {
            access_token: "eyJKnownSecretAccessToken".to_string(),
            expires_in: 7200,
            max_ttl: 7200,
        };
        let shown = format!("{issued:?}");
        assert!(!shown.contains("KnownSecret"), "{shown}");
        assert!(
            shown.contains("[redacted]") && shown.contains("7200"),
            "{shown}"
        );

        let boot = Bootstrapped {
            organization: Organization {
                id: "org-1".to_string(),
                name: "acme".to_string(),
                slug: "acme".to_string(),
                created_at: 0,
            },
            identity: Identity {
                id: "id-1".to_string(),
                org_id: "org-1".to_string(),
                name: "admin".to_string(),
                org_role: "admin".to_string(),
                created_at: 0,
                updated_at: 0,
            },
            token: "eyJKnownSecretBootstrapToken".to_string(),
        };
        let shown = format!("{boot:?}");
        assert!(!shown.contains("KnownSecret"), "{shown}");
        assert!(
            shown.contains("[redacted]") && shown.contains("acme"),
            "{shown}"
        );
    }
}
