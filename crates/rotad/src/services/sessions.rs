//! Sessions of the web dashboard (docs/SECURITY.md, "Dashboard sessions").
//!
//! A session is a row in the store, shared by every replica, keyed by a keyed hash of a random
//! id that only the browser holds (in an `HttpOnly` cookie). The row holds the access token the
//! session acts with, sealed under the organization's data key, so every dashboard request
//! authenticates exactly as an API request with that token would: the same services, the same
//! permission rules. A session ends at the earlier of its own limit and its token's expiry,
//! when the token is revoked, or at sign-out. The CSRF token of a session is derived from its
//! id with a keyed hash, so it is stored nowhere.

use super::{new_id, App, Ctx, RequestMeta};
use crate::crypto::hmac_hex;
use crate::error::{Error, Result};
use crate::services::keyring::org_scope;
use crate::store::{DashboardSession, LINK_KIND, SESSION_KIND};
use crate::time::now_ms;

/// The longest a dashboard session lasts, whatever its token allows (12 hours).
pub const SESSION_MAX_MS: i64 = 12 * 3600 * 1000;
/// How long a one-time sign-in link may wait to be redeemed (5 minutes).
pub const LINK_TTL_MS: i64 = 5 * 60 * 1000;

const SIGNED_OUT: &str = "Your dashboard session has ended; please sign in again";

/// A new session or link: the random id to hand to the browser and when it expires.
pub struct Issued {
    pub id: String,
    pub expires_at: i64,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A resolved session: the caller, as the API would see it with the session's token.
#[derive(Debug, Clone)]
pub struct Session {
    pub ctx: Ctx,
    pub csrf_token: String,
    pub expires_at: i64,
}

/// Compares two strings in time that does not depend on where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl App {
    fn session_hash(&self, id: &str) -> String {
        hmac_hex(
            &self.keys.root().lookup_key(),
            format!("dashboard-session:{id}").as_bytes(),
        )
    }

    /// The CSRF token of the session whose id is `id`.
    fn csrf_of(&self, id: &str) -> String {
        hmac_hex(
            &self.keys.root().lookup_key(),
            format!("dashboard-csrf:{id}").as_bytes(),
        )
    }

    /// Signs in with a universal-auth client id and secret (the API's login, with its throttle
    /// and audit); signing out revokes the token this mints.
    pub async fn dashboard_sign_in_with_secret(
        &self,
        client_id: &str,
        client_secret: &str,
        meta: &RequestMeta,
    ) -> Result<Issued> {
        let (issued, _) = self.login(client_id, client_secret, meta).await?;
        self.new_session(
            SESSION_KIND,
            &issued.access_token,
            true,
            meta,
            SESSION_MAX_MS,
        )
        .await
    }

    /// Signs in with an access token the caller already holds; signing out leaves it valid.
    pub async fn dashboard_sign_in_with_token(
        &self,
        token: &str,
        meta: &RequestMeta,
    ) -> Result<Issued> {
        self.new_session(SESSION_KIND, token.trim(), false, meta, SESSION_MAX_MS)
            .await
    }

    /// A one-time sign-in link for the holder of `token` (`rotad demo --keep`): redeemed once,
    /// within [`LINK_TTL_MS`].
    pub async fn dashboard_link(&self, token: &str, meta: &RequestMeta) -> Result<Issued> {
        self.new_session(LINK_KIND, token.trim(), false, meta, LINK_TTL_MS)
            .await
    }

    /// Redeems a one-time link: the link is gone, a session takes its place.
    pub async fn redeem_dashboard_link(&self, id: &str, meta: &RequestMeta) -> Result<Issued> {
        let invalid = || Error::unauthorized("This sign-in link is invalid, expired or used");
        let hash = self.session_hash(id);
        let link = self
            .store
            .take_dashboard_link(&hash, now_ms())
            .await?
            .ok_or_else(invalid)?;
        let token = self.open_session_token(&link).await?;
        self.new_session(SESSION_KIND, &token, link.owns_token, meta, SESSION_MAX_MS)
            .await
    }

    async fn new_session(
        &self,
        kind: &str,
        token: &str,
        owns_token: bool,
        meta: &RequestMeta,
        max_ms: i64,
    ) -> Result<Issued> {
        let actor = self.authenticate(token, &meta.ip_address).await?;
        let now = now_ms();
        let mut expires_at = now.saturating_add(max_ms);
        if let Some(end) = self.token_end(token).await? {
            expires_at = expires_at.min(end);
        }
        // Expired rows of every session go now and then, at sign-in.
        self.store.purge_dashboard_sessions(now).await?;
        let id = format!("{}{}", new_id().replace('-', ""), new_id().replace('-', ""));
        let id_hash = self.session_hash(&id);
        let key = self
            .keys
            .key_for(self.store.as_ref(), &org_scope(&actor.org_id))
            .await?;
        let row = DashboardSession {
            sealed_token: key.seal_str(&aad(&id_hash), token),
            id_hash,
            kind: kind.to_string(),
            identity_id: actor.identity_id,
            org_id: actor.org_id,
            owns_token,
            expires_at,
            created_at: now,
        };
        self.store.create_dashboard_session(&row).await?;
        Ok(Issued { id, expires_at })
    }

    async fn open_session_token(&self, row: &DashboardSession) -> Result<String> {
        let key = self
            .keys
            .key_for(self.store.as_ref(), &org_scope(&row.org_id))
            .await?;
        Ok(key.open_str(&aad(&row.id_hash), &row.sealed_token)?)
    }

    /// The session whose id is `id`, authenticated as its token is at the API: 401 when the
    /// session or its token has ended.
    pub async fn dashboard_session(&self, id: &str, meta: RequestMeta) -> Result<Session> {
        let row = self
            .store
            .get_dashboard_session(&self.session_hash(id), now_ms())
            .await?
            .ok_or_else(|| Error::unauthorized(SIGNED_OUT))?;
        let token = self.open_session_token(&row).await?;
        let actor = self
            .authenticate(&token, &meta.ip_address)
            .await
            .map_err(|e| match e {
                Error::Unauthorized(_) => Error::unauthorized(SIGNED_OUT),
                other => other,
            })?;
        Ok(Session {
            ctx: Ctx { actor, meta },
            csrf_token: self.csrf_of(id),
            expires_at: row.expires_at,
        })
    }

    /// Whether `presented` is the CSRF token of the session whose id is `id`.
    pub fn dashboard_csrf_ok(&self, id: &str, presented: &str) -> bool {
        constant_time_eq(&self.csrf_of(id), presented)
    }

    /// Ends the session: its row goes, and the token it minted at sign-in is revoked.
    pub async fn dashboard_sign_out(&self, id: &str) -> Result<()> {
        let hash = self.session_hash(id);
        let Some(row) = self.store.get_dashboard_session(&hash, now_ms()).await? else {
            return Ok(());
        };
        self.store.delete_dashboard_session(&hash).await?;
        if row.owns_token {
            let token = self.open_session_token(&row).await?;
            match self.revoke_token(&token).await {
                Ok(()) | Err(Error::Unauthorized(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

fn aad(id_hash: &str) -> String {
    format!("dashboard-session:{id_hash}")
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn constant_time_eq_compares_whole_strings() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
        assert!(!constant_time_eq("", "a"));
    }
}
