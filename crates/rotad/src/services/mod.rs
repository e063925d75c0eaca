//! The domain. Handlers, the scheduler and the CLI call these; nothing else touches the store.

pub mod audit;
pub mod auth;
pub mod authz;
pub mod cache;
pub mod connections;
pub mod environments;
pub mod folders;
pub mod identities;
pub mod keyring;
pub mod login_guard;
pub mod memberships;
pub mod projects;
pub mod read_audit;
pub mod rotations;
pub mod secret_imports;
pub mod secret_references;
pub mod secrets;
pub mod sessions;
pub mod tags;
pub mod universal_auth;
pub mod webhooks;

use std::sync::Arc;

pub use keyring::Keyring;

use crate::config::TimeUnit;
use crate::store::Store;

/// Settings the services read (a subset of the configuration).
#[derive(Debug, Clone)]
pub struct Settings {
    pub allow_internal_ip_connections: bool,
    pub rotation_time_unit: TimeUnit,
    pub rotation_max_attempts: u32,
    /// How long one executor may hold a rotation before others may take it over (ms).
    pub lease_ms: i64,
    /// The scheduler's tick (ms); also the base of the retry backoff.
    pub scheduler_poll_ms: i64,
    /// Time allowed for one dbt request.
    pub dbt_request_timeout: std::time::Duration,
    /// Whether the API may bootstrap an empty instance (`ROTAD_BOOTSTRAP`).
    pub api_bootstrap: bool,
    /// Time one request may take (`ROTAD_REQUEST_TIMEOUT`).
    pub request_timeout: std::time::Duration,
    /// Slow clients and shutdown (`ROTAD_HEADER_READ_TIMEOUT`, `ROTAD_SHUTDOWN_GRACE`).
    pub header_read_timeout: std::time::Duration,
    pub shutdown_grace: std::time::Duration,
    /// Proxies whose `X-Forwarded-For` is believed (`ROTAD_TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<String>,
    /// Where browsers reach the dashboard (`ROTAD_PUBLIC_URL`), as an origin.
    pub public_url: Option<String>,
}

/// Shared state: the store, the keys and the settings.
pub struct App {
    pub store: Arc<dyn Store>,
    pub keys: Arc<Keyring>,
    pub settings: Settings,
    /// The rotation engine: everything that mints, publishes, sweeps and revokes credentials.
    pub engine: Arc<rotations::Engine>,
    /// Caps and throttles on login (docs/SECURITY.md, "Login").
    pub login_guard: login_guard::LoginGuard,
    /// The read path's caches (docs/ARCHITECTURE.md, "Caches").
    pub caches: cache::Caches,
    /// Read events waiting for the audit log's background writer.
    pub read_audit: read_audit::ReadAudit,
    /// This process's PATCHes, queued per rotation.
    pub patch_lanes: rotations::PatchLanes,
}

pub type AppState = Arc<App>;

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Actor {
    pub identity_id: String,
    pub name: String,
    pub org_id: String,
    pub org_role: String,
    pub token_id: String,
    /// The `actor` of this caller's audit entries, rendered once per cached token context.
    pub audit_actor: axum::body::Bytes,
}

impl Actor {
    pub fn is_org_admin(&self) -> bool {
        self.org_role == "admin"
    }
}

/// Where a call came from, for the audit log.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub ip_address: String,
    pub user_agent: String,
}

/// An authenticated call.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub actor: Actor,
    pub meta: RequestMeta,
}

/// A new random (version 4) id. Its bits come from the thread's CSPRNG (`rand`'s, seeded and
/// reseeded from the OS), not from one `getrandom` system call per id as `Uuid::new_v4` does:
/// ids are made on the read path (audit entries), where that call cost 4% of a request.
pub fn new_id() -> String {
    uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::new_id;

    #[test]
    fn ids_are_random_version_4_uuids() {
        let ids: std::collections::HashSet<String> = (0..10_000).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 10_000);
        for id in ids.iter().take(100) {
            let parsed = uuid::Uuid::parse_str(id).expect("a uuid");
            assert_eq!(parsed.get_version_num(), 4, "{id}");
            assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122, "{id}");
        }
    }
}
