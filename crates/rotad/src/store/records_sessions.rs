//! Rows of the web dashboard's sessions (docs/SECURITY.md, "Dashboard sessions").

use sqlx::FromRow;

/// A dashboard session, or a one-time sign-in link waiting to be redeemed. `Debug` leaves the
/// sealed token out.
#[derive(Clone, FromRow)]
pub struct DashboardSession {
    /// Keyed hash of the random id the browser holds (the cookie, or the link's `t`).
    pub id_hash: String,
    /// `session` or `link`.
    pub kind: String,
    pub identity_id: String,
    pub org_id: String,
    /// The access token the session acts with, sealed under the organization's data key.
    pub sealed_token: Vec<u8>,
    /// Whether signing out revokes the token (the dashboard minted it at sign-in).
    pub owns_token: bool,
    pub expires_at: i64,
    pub created_at: i64,
}

impl std::fmt::Debug for DashboardSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DashboardSession")
            .field("kind", &self.kind)
            .field("identity_id", &self.identity_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

pub const SESSION_KIND: &str = "session";
pub const LINK_KIND: &str = "link";
